"""The care team's pages: the worklist, the model and monitoring (the pupil page and its forms: pupil.py;
signing in and out: signin.py).

Same access rules as the API (api/deps.py): single pupils only for the reviewing roles, outside the
scope looks exactly like unknown (404), every view of a pupil's data is audited before it is shown.
Routes are plain `def` (database work); the worklist is a thin caller of the store and the review core
(web/data.py)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from riskscore.access import Principal
from riskscore.errors import NotFoundError
from riskscore.monitoring import verdicts
from riskscore.review import duties
from riskscore.service.deps import (
    ADMIN_ROLES,
    STUDENT_ROLES,
    SessionDep,
    access_entry,
)
from riskscore.store.audit import append_audit_many
from riskscore.store.cases import ACTIVE_STATUSES, CASE_STATUSES
from riskscore.store.incomplete import data_incomplete_schools
from riskscore.web import i18n
from riskscore.web.auth import require_principal, require_roles
from riskscore.web.data import SORTS, build_worklist
from riskscore.web.pages import WebRoute, lang_of, render

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from riskscore.access import Principal

router = APIRouter(route_class=WebRoute, include_in_schema=False)

_STUDENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
WORKLIST_ROLES = STUDENT_ROLES
PURPOSE_WORKLIST = "werklijst"
#: the old name of the default order in links people may have kept
SORT_ALIASES = {"due": "urgency"}


def _audit(session: Session, request: Request, principal: Principal | None, *, action: str, resource: str,
           outcome: str, purpose: str, actor: str | None = None) -> None:
    append_audit_many(session, [access_entry(request, principal, action=action, resource=resource, outcome=outcome,
                                             purpose=purpose, actor=actor)])


# --- worklist ------------------------------------------------------------------------------------
@router.get("/worklist")
def worklist(
    request: Request,
    session: SessionDep,
    school: str | None = None,
    band: str | None = None,
    status: str | None = None,
    q: str | None = None,
    group: str | None = None,
    sort: str | None = None,
    dir: str | None = None,
    page: str | None = None,
) -> HTMLResponse:
    """The team's cases, in the review core's order by default: overdue legal duties first (marked
    "Verlopen", and counted at the top), then legal duties by deadline, then risk. Each row keeps the
    legal duty apart from the next step. A person narrowed to mentor groups sees only their pupils."""
    principal = require_principal(request, session)
    require_roles(principal, WORKLIST_ROLES)
    lang = lang_of(request)
    # unknown filter values are ignored (as if "all"), never an error page
    band_filter = band if band in ("low", "medium", "high") else None
    status_value = status if status in (*CASE_STATUSES, "all") else "active"
    statuses = None if status_value == "all" else (ACTIVE_STATUSES if status_value == "active" else (status_value,))
    school_filter = school.strip() if school and school.strip() else None
    group_filter = group if group in principal.groups else None
    search = (q or "").strip()[:64] or None
    if search is not None and not _STUDENT_ID.match(search):
        search = re.sub(r"[^A-Za-z0-9_.:-]", "", search) or None
    sort_key = SORT_ALIASES.get(sort or "", sort or "")
    sort_key = sort_key if sort_key in SORTS else "urgency"
    descending = dir == "desc"
    page_no = int(page) if page and page.isdigit() and len(page) < 7 else 1
    today = duties.today()
    wl = build_worklist(session, principal, lang=lang, school=school_filter, band=band_filter, statuses=statuses,
                        search=search, group=group_filter, sort=sort_key, descending=descending, page=page_no,
                        today=today)
    # the list and every pupil shown on it, in one transaction, before the page leaves the service
    resources = [f"worklist:{principal.role}", *dict.fromkeys(f"student:{r.case.student_id}" for r in wl.rows)]
    append_audit_many(session, [access_entry(request, principal, action="worklist.read", resource=res,
                                             outcome="allowed", purpose=PURPOSE_WORKLIST) for res in resources])
    selected = {"school": school_filter or "", "band": band_filter or "", "status": status_value,
                "group": group_filter or "", "q": search or "", "sort": sort_key,
                "dir": "desc" if descending else "asc"}

    def link(**changes: Any) -> str:
        """This list with some parameters changed (empty values dropped, page reset unless given)."""
        params = {**selected, "page": "", **{k: str(v) for k, v in changes.items()}}
        if params["status"] == "active":
            params["status"] = ""
        if params["sort"] == "urgency" and params["dir"] == "asc":
            params["sort"] = params["dir"] = ""
        return "/worklist?" + urlencode({k: v for k, v in params.items() if v})

    def sort_link(column: str) -> str:
        flip = "desc" if sort_key == column and not descending and column != "urgency" else "asc"
        return link(sort=column, dir=flip)

    incomplete = [d for d in data_incomplete_schools(session, principal) if school_filter in (None, d["school_id"])]
    return render(
        request, "worklist.html", wl=wl, data_incomplete=incomplete, statuses=CASE_STATUSES,
        can_open=principal.role in STUDENT_ROLES, selected=selected, quote=quote, link=link, sort_link=sort_link,
        show_school=len(wl.schools) != 1 or principal.role != "school", show_group=principal.role == "school",
        role=principal.role,
    )


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
