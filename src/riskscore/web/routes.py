"""The care team's pages: sign in, worklist, student, review form, model and monitoring.

Same access rules as the API (api/deps.py): single students only for the reviewing roles, outside the
scope looks exactly like unknown (404), every view and write of a student's data is audited before it
is shown. Routes are plain `def` (database work), forms are POST + CSRF token + redirect (PRG)."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from riskscore.access import Principal
from riskscore.errors import DataError, NotFoundError
from riskscore.service.deps import ADMIN_ROLES, STUDENT_ROLES, SessionDep
from riskscore.store.models import Score
from riskscore.web import i18n
from riskscore.web.auth import (
    MAX_LOGIN_FAILURES,
    check_csrf,
    client_of,
    current_principal,
    require_principal,
    require_roles,
    web_session,
)
from riskscore.web.data import (
    WORKLIST_LIMIT,
    CaseView,
    actor_labels,
    build_worklist,
    contribution_bars,
    redacted,
    rule_text,
    student_cases,
)
from riskscore.web.pages import WebRoute, lang_of, redirect, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

_STUDENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
WORKLIST_ROLES = STUDENT_ROLES | {"admin"}
MAX_NOTE = 2000
PURPOSE_WORKLIST = "werklijst"
PURPOSE_STUDENT = "signalering"
PURPOSE_REVIEW = "beoordeling"


def _audit(session: Session, request: Request, principal: Principal | None, *, action: str, resource: str,
           outcome: str, purpose: str, actor: str | None = None) -> None:
    from riskscore.store.audit import append_audit

    append_audit(session, actor=actor or (principal.key_id if principal else "anonymous"),
                 role=principal.role if principal else None, action=action, resource=resource, outcome=outcome,
                 purpose=purpose, request_id=getattr(request.state, "request_id", None))


def _home_for(principal: Principal) -> str:
    return "/worklist" if principal.role in WORKLIST_ROLES else "/monitoring"


def _safe_next(target: str | None) -> str | None:
    """Only a local path: never an open redirect to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


# --- sign in / out -------------------------------------------------------------------------------
@router.get("/")
def home(request: Request, session: SessionDep) -> Response:
    principal = current_principal(request, session)
    return redirect(_home_for(principal) if principal else "/login")


@router.get("/login")
def login_form(request: Request, session: SessionDep, next: str | None = None, expired: str | None = None,
               logged_out: str | None = None) -> Response:
    principal = current_principal(request, session)
    if principal is not None:
        return redirect(_safe_next(next) or _home_for(principal))
    message = "session_ended" if expired else ("logged_out" if logged_out else None)
    return render(request, "login.html", next=_safe_next(next) or "", info=message, error=None)


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    api_key: Annotated[str, Form(max_length=400)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    from riskscore.store.keys import authenticate, key_id_of, recent_auth_failures, record_auth_failure

    check_csrf(request, csrf_token)
    client = client_of(request)
    key = api_key.strip()
    if not key:
        return render(request, "login.html", status_code=400, next=_safe_next(next) or "", info=None,
                      error="login_empty")
    if recent_auth_failures(session, client=client) >= MAX_LOGIN_FAILURES:
        return render(request, "login.html", status_code=429, next=_safe_next(next) or "", info=None,
                      error="login_throttled")
    principal = authenticate(session, key)
    if principal is None:
        key_id = key_id_of(key)
        record_auth_failure(session, client=client, key_id=key_id)
        _audit(session, request, None, actor=f"key:{key_id}" if key_id else "anonymous", action="web.login",
               resource="web:login", outcome="denied", purpose="aanmelden")
        return render(request, "login.html", status_code=401, next=_safe_next(next) or "", info=None,
                      error="login_failed")
    web_session(request).sign_in(principal)
    request.state.web_principal = principal
    _audit(session, request, principal, action="web.login", resource="web:login", outcome="allowed",
           purpose="aanmelden")
    return redirect(_safe_next(next) or _home_for(principal))


@router.get("/logout")
def logout_form(request: Request, session: SessionDep) -> Response:
    if current_principal(request, session) is None:
        return redirect("/login")
    return render(request, "logout.html")


@router.post("/logout")
def logout(request: Request, session: SessionDep,
           csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(request, csrf_token)
    principal = current_principal(request, session)
    if principal is not None:
        _audit(session, request, principal, action="web.logout", resource="web:login", outcome="allowed",
               purpose="afmelden")
    web_session(request).sign_out()
    return redirect("/login?logged_out=1")


# --- worklist ------------------------------------------------------------------------------------
@router.get("/worklist")
def worklist(
    request: Request,
    session: SessionDep,
    role: str | None = None,
    school: str | None = None,
    band: str | None = None,
    status: str | None = None,
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
    wl = build_worklist(session, principal, lang=lang, role=role_filter, school=school_filter, band=band_filter,
                        statuses=statuses)
    from riskscore.store.audit import append_audit_many

    # the list and every pupil shown on it, in one transaction, before the page leaves the service
    resources = [f"worklist:{role_filter or 'all'}", *dict.fromkeys(f"student:{r.case.student_id}" for r in wl.rows)]
    append_audit_many(session, [{"actor": principal.key_id, "role": principal.role, "action": "worklist.read",
                                 "resource": res, "outcome": "allowed", "purpose": PURPOSE_WORKLIST,
                                 "request_id": getattr(request.state, "request_id", None)} for res in resources])
    from riskscore.store.incomplete import data_incomplete_schools

    incomplete = [d for d in data_incomplete_schools(session, principal) if school_filter in (None, d["school_id"])]
    return render(
        request, "worklist.html", wl=wl, limit=WORKLIST_LIMIT, data_incomplete=incomplete, case_roles=CASE_ROLES, statuses=CASE_STATUSES,
        can_open=principal.role in STUDENT_ROLES, is_admin=principal.role == "admin",
        selected={"role": role_filter or "", "school": school_filter or "", "band": band_filter or "",
                  "status": status_value},
        quote=quote,
    )


# --- one student ---------------------------------------------------------------------------------
def _visible_student(request: Request, session: Session, principal: Principal, student_id: str,
                     *, lang: str) -> tuple[Score | None, list[CaseView]]:
    """The student's latest score and cases as this principal may see them; NotFoundError otherwise
    (after auditing whether it was unknown or out of scope — the page never says which)."""
    from riskscore.store.runs import latest_score

    resource = f"student:{student_id}"
    if not _STUDENT_ID.match(student_id):
        raise NotFoundError("student not found")
    score = latest_score(session, student_id)
    score_visible = score is not None and principal.can_see(score.school_id, score.municipality, score.rmc_region)
    cases = student_cases(session, student_id, principal, lang=lang)
    if not score_visible and not cases:
        _audit(session, request, principal, action="student.view", resource=resource,
               outcome="not_found" if score is None else "denied", purpose=PURPOSE_STUDENT)
        raise NotFoundError("student not found")
    return (score if score_visible else None), cases


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


def _render_student(request: Request, session: Session, principal: Principal, student_id: str, score: Score | None,
                    cases: list[CaseView], *, saved: bool, errors: list[str], status_code: int,
                    form: dict[str, str] | None = None, form_case: int | None = None) -> HTMLResponse:
    lang = lang_of(request)
    view = redacted(score, principal.role) if score is not None else None
    triggers = []
    if view is not None:
        triggers = [{**t, "text": rule_text(str(t.get("id")), lang)} for t in view["triggers"]]
    actors = actor_labels(session, [e.actor for cv in cases for e in cv.events]
                          + [o.recorded_by for cv in cases for o in cv.outcomes])
    return render(
        request, "student.html", status_code=status_code, student_id=student_id, score=view,
        bars=contribution_bars(view["reasons"], lang) if view else [], triggers=triggers, cases=cases,
        actors=actors, saved=saved, errors=errors, outcomes=i18n.OUTCOMES, form=form or {}, form_case=form_case,
        max_note=MAX_NOTE,
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
    from riskscore.store.cases import (
        InvalidTransitionError,
        add_note,
        get_case,
        record_outcome,
        transition_case,
    )

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
    if outcome and outcome not in i18n.OUTCOMES:
        errors.append(i18n.translate("err_bad_outcome", lang))
    if outcome and worth is None:
        errors.append(i18n.translate("err_worth_required", lang))
    if len(note_text) > MAX_NOTE:
        errors.append(i18n.translate("err_note_long", lang, n=MAX_NOTE))
    if not (to_status or outcome or note_text):
        errors.append(i18n.translate("err_nothing", lang))

    if not errors:
        try:
            if to_status:
                transition_case(session, case_id, to_status, actor=principal.key_id, note=None)
            if outcome:
                record_outcome(session, case_id, outcome=outcome, worth_conversation=bool(worth),
                               recorded_by=principal.key_id, note=note_text or None)
            elif note_text:
                add_note(session, case_id, note_text, actor=principal.key_id)
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
    return render(request, "model.html", bundle=bundle, loaded=loaded, metrics=flat_metrics,
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
    from riskscore.monitoring.status import latest_status

    principal = require_principal(request, session)
    require_roles(principal, ADMIN_ROLES)
    status = latest_status(request.app.state.riskscore.settings.resolved_reports_dir() / "monitoring")
    return render(request, "monitoring.html", status=status)
