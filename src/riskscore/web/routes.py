"""The care team's pages: worklist, student, review form, model and monitoring (signing in and out: signin.py).

Same access rules as the API (api/deps.py): single students only for the reviewing roles, outside the
scope looks exactly like unknown (404), every view and write of a student's data is audited before it
is shown. Routes are plain `def` (database work), forms are POST + CSRF token + redirect (PRG)."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from riskscore.access import Principal
from riskscore.errors import DataError, NotFoundError
from riskscore.monitoring import verdicts
from riskscore.service.deps import (
    ADMIN_ROLES,
    STUDENT_ROLES,
    SessionDep,
    access_entry,
    require_student_in_scope,
)
from riskscore.web import i18n
from riskscore.web.auth import check_csrf, require_principal, require_roles
from riskscore.web.data import (
    SORTS,
    WORKLIST_LIMIT,
    CaseView,
    actor_labels,
    build_worklist,
    contribution_bars,
    own_cases,
    redacted,
    student_cases,
    visible_triggers,
)
from riskscore.web.pages import WebRoute, lang_of, redirect, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

_STUDENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
WORKLIST_ROLES = STUDENT_ROLES
MAX_NOTE = 2000
PURPOSE_WORKLIST = "werklijst"
PURPOSE_STUDENT = "signalering"
PURPOSE_REVIEW = "beoordeling"


def _audit(session: Session, request: Request, principal: Principal | None, *, action: str, resource: str,
           outcome: str, purpose: str, actor: str | None = None) -> None:
    from riskscore.store.audit import append_audit_many

    append_audit_many(session, [access_entry(request, principal, action=action, resource=resource, outcome=outcome,
                                             purpose=purpose, actor=actor)])


# --- worklist ------------------------------------------------------------------------------------
@router.get("/worklist")
def worklist(
    request: Request,
    session: SessionDep,
    role: str | None = None,
    school: str | None = None,
    band: str | None = None,
    status: str | None = None,
    q: str | None = None,
    sort: str | None = None,
    dir: str | None = None,
    page: str | None = None,
) -> HTMLResponse:
    from riskscore.store.cases import ACTIVE_STATUSES, CASE_ROLES, CASE_STATUSES

    principal = require_principal(request, session)
    require_roles(principal, WORKLIST_ROLES)
    lang = lang_of(request)
    # unknown filter values are ignored (as if "all"), never an error page
    role_filter = (role if role in CASE_ROLES else None) if principal.role == "admin" else principal.role
    band_filter = band if band in ("low", "medium", "high") else None
    status_value = status if status in (*CASE_STATUSES, "all") else "active"
    statuses = None if status_value == "all" else (ACTIVE_STATUSES if status_value == "active" else (status_value,))
    school_filter = school.strip() if school and school.strip() else None
    search = (q or "").strip()[:64] or None
    if search is not None and not _STUDENT_ID.match(search):
        search = re.sub(r"[^A-Za-z0-9_.:-]", "", search) or None
    sort_key = sort if sort in SORTS else "due"
    descending = dir == "desc"
    page_no = int(page) if page and page.isdigit() and len(page) < 7 else 1
    wl = build_worklist(session, principal, lang=lang, role=role_filter, school=school_filter, band=band_filter,
                        statuses=statuses, search=search, sort=sort_key, descending=descending, page=page_no)
    from riskscore.store.audit import append_audit_many

    # the list and every pupil shown on it, in one transaction, before the page leaves the service
    resources = [f"worklist:{role_filter or 'all'}", *dict.fromkeys(f"student:{r.case.student_id}" for r in wl.rows)]
    append_audit_many(session, [access_entry(request, principal, action="worklist.read", resource=res,
                                             outcome="allowed", purpose=PURPOSE_WORKLIST) for res in resources])
    selected = {"role": role_filter if principal.role == "admin" and role_filter else "",
                "school": school_filter or "", "band": band_filter or "", "status": status_value,
                "q": search or "", "sort": sort_key, "dir": "desc" if descending else "asc"}

    def link(**changes: Any) -> str:
        """This list with some parameters changed (empty values dropped, page reset unless given)."""
        params = {**selected, "page": "", **{k: str(v) for k, v in changes.items()}}
        if params["status"] == "active":
            params["status"] = ""
        if params["sort"] == "due" and params["dir"] == "asc":
            params["sort"] = params["dir"] = ""
        return "/worklist?" + urlencode({k: v for k, v in params.items() if v})

    def sort_link(column: str) -> str:
        flip = "desc" if sort_key == column and not descending else "asc"
        return link(sort=column, dir=flip)

    from riskscore.store.incomplete import data_incomplete_schools

    incomplete = [d for d in data_incomplete_schools(session, principal) if school_filter in (None, d["school_id"])]
    return render(
        request, "worklist.html", wl=wl, limit=WORKLIST_LIMIT, data_incomplete=incomplete, case_roles=CASE_ROLES, statuses=CASE_STATUSES,
        can_open=principal.role in STUDENT_ROLES, is_admin=principal.role == "admin", selected=selected,
        quote=quote, link=link, sort_link=sort_link, days_left=lambda n: i18n.days_left(n, lang),
        show_school=len(wl.schools) != 1 or principal.role != "school",
    )


# --- one student ---------------------------------------------------------------------------------
def _visible_student(request: Request, session: Session, principal: Principal, student_id: str,
                     *, lang: str) -> tuple[dict[str, Any] | None, list[CaseView]]:
    """The score this principal may see beside the student's cases (as the worklist: the case's own
    score, else the newest score stamped inside its scope), cut by the role view, with its date and
    source, and the viewer's own team's cases; NotFoundError unless the pupil's registrations place
    them in the scope (audited as unknown or out of scope — the page never says which)."""
    from riskscore.store.runs import case_scores, latest_visible_score

    resource = f"student:{student_id}"
    if not _STUDENT_ID.match(student_id):
        raise NotFoundError("student not found")
    require_student_in_scope(session, request, principal, student_id, action="student.view", purpose=PURPOSE_STUDENT)
    cases = own_cases(session, student_id, principal)
    chosen = case_scores(session, cases)
    picked = next((chosen[c.id] for c in cases if c.id in chosen), None)
    if picked is None:
        latest = latest_visible_score(session, student_id, principal)
        if latest is not None:
            picked = (latest, "batch")
    if picked is None and not cases:
        _audit(session, request, principal, action="student.view", resource=resource, outcome="not_found",
               purpose=PURPOSE_STUDENT)
        raise NotFoundError("student not found")
    view = None
    if picked is not None:
        score, source = picked
        view = {**redacted(score, principal.role), "source": source, "score_as_of": score.as_of}
        view["triggers"] = visible_triggers(view.get("triggers", []), principal.role, lang)
    elif cases and cases[0].probability is not None:  # no score of its own left: the case's, labelled so
        case = cases[0]
        view = {"probability": case.probability, "band": case.band, "reasons": [], "triggers": [], "source": "case",
                "score_as_of": case.as_of, "as_of": case.as_of, "model_version": "–", "scored_at": case.opened_at}
    views = student_cases(session, cases, principal, lang=lang, triggers=view["triggers"] if view else ())
    return view, views


@router.get("/students/{student_id}")
def student_page(request: Request, session: SessionDep, student_id: str, saved: str | None = None) -> HTMLResponse:
    principal = require_principal(request, session)
    require_roles(principal, STUDENT_ROLES, "error_403_student")
    lang = lang_of(request)
    score, cases = _visible_student(request, session, principal, student_id, lang=lang)
    _audit(session, request, principal, action="student.view", resource=f"student:{student_id}",
           outcome="allowed", purpose=PURPOSE_STUDENT)
    return _render_student(request, session, principal, student_id, score, cases, saved=bool(saved),
                           errors=[], status_code=200)


def _render_student(request: Request, session: Session, principal: Principal, student_id: str,
                    score: dict[str, Any] | None, cases: list[CaseView], *, saved: bool, errors: list[str],
                    status_code: int, form: dict[str, str] | None = None, form_case: int | None = None) -> HTMLResponse:
    lang = lang_of(request)
    shown = {cv.trigger.get("id") for cv in cases if cv.trigger}
    other_triggers = [t for t in (score or {}).get("triggers", []) if t.get("id") not in shown]
    actors = actor_labels(session, [e.actor for cv in cases for e in cv.events]
                          + [o.recorded_by for cv in cases for o in cv.outcomes], lang)
    return render(
        request, "student.html", status_code=status_code, student_id=student_id, score=score,
        bars=contribution_bars(score["reasons"], lang) if score else [], triggers=other_triggers, cases=cases,
        actors=actors, saved=saved, errors=errors, form=form or {}, form_case=form_case,
        max_note=MAX_NOTE, days_left=lambda n: i18n.days_left(n, lang),
    )


@router.post("/cases/{case_id}/review")
def review_case(
    request: Request,
    session: SessionDep,
    case_id: int,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    to_status: Annotated[str, Form(max_length=40)] = "",
    outcome: Annotated[str, Form(max_length=64)] = "",
    worth_conversation: Annotated[str, Form(max_length=10)] = "",
    note: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    from riskscore.store.cases import InvalidTransitionError, get_case, save_review

    principal = require_principal(request, session)
    check_csrf(request, csrf_token)
    require_roles(principal, STUDENT_ROLES, "error_403_student")
    lang = lang_of(request)
    resource = f"case:{case_id}"
    try:
        case = get_case(session, case_id, principal=principal)
        if case.role != principal.role:
            raise NotFoundError("review case not found")
    except NotFoundError:
        _audit(session, request, principal, action="case.review", resource=resource, outcome="not_found",
               purpose=PURPOSE_REVIEW)
        raise
    student_id, from_status = case.student_id, case.status

    errors: list[str] = []
    to_status = to_status.strip()
    outcome = outcome.strip()
    note_text = note.strip()
    worth = {"yes": True, "no": False}.get(worth_conversation.strip())
    if to_status and to_status != from_status:
        from riskscore.store.cases import ALLOWED_TRANSITIONS

        if to_status not in ALLOWED_TRANSITIONS[from_status]:
            errors.append(i18n.translate("err_bad_status", lang, status=i18n.label("status", from_status, lang)))
    else:
        to_status = ""
    from riskscore.store.cases import outcomes_for

    if outcome and outcome not in outcomes_for(case.role):
        errors.append(i18n.translate("err_bad_outcome", lang))
    if outcome and worth is None:
        errors.append(i18n.translate("err_worth_required", lang))
    if len(note_text) > MAX_NOTE:
        errors.append(i18n.translate("err_note_long", lang, n=MAX_NOTE))
    if not (to_status or outcome or note_text):
        errors.append(i18n.translate("err_nothing", lang))

    if not errors:
        try:  # status, outcome and note in one transaction: all kept, or nothing
            save_review(session, case_id, actor=principal.key_id, to_status=to_status or None,
                        outcome=outcome or None, worth_conversation=worth if outcome else None,
                        note=note_text or None)
        except InvalidTransitionError:
            errors.append(i18n.translate("err_concurrent", lang))
        except DataError as exc:
            errors.append(str(exc))

    _audit(session, request, principal, action="case.review", resource=resource,
           outcome="denied" if errors else "allowed", purpose=PURPOSE_REVIEW)
    if not errors:
        return redirect(f"/students/{quote(student_id, safe='')}?{urlencode({'saved': case_id})}#case-{case_id}")
    session.expire_all()
    score, cases = _visible_student(request, session, principal, student_id, lang=lang)
    form = {"to_status": to_status, "outcome": outcome, "worth_conversation": worth_conversation, "note": note}
    return _render_student(request, session, principal, student_id, score, cases, saved=False, errors=errors,
                           status_code=400, form=form, form_case=case_id)


# --- model and monitoring --------------------------------------------------------------------------
CARD_FILES = ("model_card.html", "model_card.md")
#: the PSI thresholds of monitoring/config.yaml's defaults, for reports written before they were stored
PSI_WARN, PSI_ALERT = 0.1, 0.2


@router.get("/model")
def model_page(request: Request, session: SessionDep) -> HTMLResponse:
    require_principal(request, session)
    loaded = request.app.state.riskscore.require_loaded()  # ModelError → the 503 page
    bundle = loaded.bundle
    meta = dict(bundle.metadata)
    raw_metrics = meta.get("metrics")
    metrics: dict[str, object] = raw_metrics if isinstance(raw_metrics, dict) else {}
    card_html = None
    has_card = False
    if loaded.folder is not None:
        if (loaded.folder / "model_card.html").is_file():
            has_card = True
        elif (loaded.folder / "model_card.md").is_file():
            import markdown

            # the card is written by our own training pipeline (trusted), rendered to HTML here
            card_html = markdown.markdown((loaded.folder / "model_card.md").read_text(encoding="utf-8"),
                                          extensions=["tables"])
    flat_metrics = [(k, v) for k, v in sorted(metrics.items()) if isinstance(v, int | float | str)]
    lang = lang_of(request)

    def feature_label(name: str) -> str:
        key = f"feature_{name}"
        return i18n.translate(key, lang) if key in i18n.TEXTS else name

    def metric_label(name: str) -> str:
        key = f"metric_{name}"
        return i18n.translate(key, lang) if key in i18n.TEXTS else name.replace("_", " ")

    return render(request, "model.html", bundle=bundle, loaded=loaded, metrics=flat_metrics,
                  metric_label=metric_label, feature_label=feature_label,
                  thresholds=sorted(dict(bundle.band_thresholds).items(), key=lambda kv: kv[1]),
                  has_card=has_card, card_html=card_html)


@router.get("/model/card")
def model_card(request: Request, session: SessionDep) -> Response:
    """The bundle's own HTML model card, as written by training (inline styles and images, no scripts)."""
    require_principal(request, session)
    loaded = request.app.state.riskscore.require_loaded()
    path = loaded.folder / "model_card.html" if loaded.folder is not None else None
    if path is None or not path.is_file():
        raise NotFoundError("no model card")
    response = HTMLResponse(path.read_text(encoding="utf-8"))
    response.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                                   "frame-ancestors 'none'; base-uri 'none'")
    return response


@router.get("/monitoring")
def monitoring_page(request: Request, session: SessionDep) -> HTMLResponse:
    from riskscore.monitoring.status import chart_data, latest_status
    from riskscore.store.cases import outcome_trend
    from riskscore.web import charts

    principal = require_principal(request, session)
    require_roles(principal, ADMIN_ROLES)
    lang = lang_of(request)

    def t(key: str) -> str:
        return i18n.translate(key, lang)

    folder = request.app.state.riskscore.settings.resolved_reports_dir() / "monitoring"
    status = latest_status(folder)
    data = chart_data(folder)
    # the chart's lines are the thresholds the report judged by (reports before they were stored: the defaults)
    psi_warn, psi_alert = status["psi_warn"] or PSI_WARN, status["psi_alert"] or PSI_ALERT
    trend = outcome_trend(session)
    history = [(i18n.when(h["as_of"] or (h["created_at"] or "")[:10], lang), h["psi"]) for h in data["history"]]
    flag_history = [(i18n.when(h["as_of"] or (h["created_at"] or "")[:10], lang), h["flag_rate"])
                    for h in data["history"]]
    figures = {
        "hist": charts.histogram(data["hist"], lang=lang, title=t("mon_score_dist"), ref_label=t("mon_reference"),
                                 cur_label=t("mon_current")),
        "psi": charts.line(history, lang=lang, title=t("mon_psi_over_time"), ident="psi",
                           thresholds=((psi_warn, charts.WARN), (psi_alert, charts.ALERT))),
        "flag": charts.line(flag_history, lang=lang, title=t("mon_flag_over_time"), ident="flag",
                            as_percent=True),
        "groups": charts.intervals(data["selection"], lang=lang, title=t("mon_flag_rate"), ident="groups",
                                   value="rate_cur", lo="rate_lo", hi="rate_hi", ref="rate_ref",
                                   ref_label=t("mon_reference"), cur_label=t("mon_current")),
        "tpr": charts.intervals(data["tpr"], lang=lang, title=t("mon_tpr"), ident="tpr", value="tpr", lo="tpr_lo",
                                hi="tpr_hi"),
        "reviews": charts.bars(trend, lang=lang, title=t("mon_outcomes"), ident="reviews", n_label=t("mon_reviews"),
                               share_label=t("mon_worth")),
    }
    # the verdict and the findings that caused it, in the page's language; the headline numbers beside
    # the thresholds they are judged by, so a number never seems to contradict the verdict
    head = verdicts.headline(status, lang)
    findings = []
    for b in status["breaches"]:
        message, action, ours = verdicts.breach_text(b, lang)
        findings.append({"check": verdicts.check_word(b.get("check"), lang), "subject": b.get("subject") or "–",
                         "severity": b.get("severity"), "message": message, "action": action, "ours": ours})
    actions = [a.get("text_nl" if lang == "nl" else "text_en") or a.get("text_en") or ""
               for a in status.get("actions") or []]
    psi_judged = verdicts.psi_judgement(status["psi"], status["psi_warn"], status["psi_alert"], lang)
    return render(request, "monitoring.html", status=status, figures=figures, data=data, trend=trend, head=head,
                  findings=findings, actions=actions, psi_judged=psi_judged,
                  psi_limits=i18n.translate("mon_psi_help_limits", lang, warn=i18n.number(psi_warn, lang, 2),
                                            alert=i18n.number(psi_alert, lang, 2)),
                  other_lang_code="en" if lang == "nl" else "nl")


REPORT_CSP = ("sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
              "style-src 'unsafe-inline'; img-src data:; font-src data:; frame-ancestors 'none'; base-uri 'none'")


@router.get("/monitoring/reports/{run}/{name}")
def monitoring_report(request: Request, session: SessionDep, run: str, name: str) -> Response:
    """A published report (the full HTML report or evidently's drift report) for the data team, one click
    from the monitoring page. Sandboxed: its scripts run in an opaque origin, away from the session."""
    from riskscore.monitoring.status import report_file

    principal = require_principal(request, session)
    require_roles(principal, ADMIN_ROLES)
    folder = request.app.state.riskscore.settings.resolved_reports_dir() / "monitoring"
    path = report_file(folder, run, name) if name.endswith(".html") else None
    if path is None:
        raise NotFoundError("no such report")
    response = HTMLResponse(path.read_text(encoding="utf-8"))
    response.headers["Content-Security-Policy"] = REPORT_CSP
    return response
