"""Pages for the pupil's rights and the impact evaluation:

- /students/{id}/privacy   reviewing roles in scope: the objection mark (set / withdraw, with a reason)
                           and a link to the printable dossier;
- /students/{id}/dossier   the printable dossier for the pupil and parent (web/dossier.py), audited;
- /admin/erasure           admin only: erase everything about a pupil, with a reason; shows the receipt;
- /impact                  data team and admin: the newest `riskscore impact` report (read from its JSON,
                           so the service never imports rdrobust or scipy).

Same rules as the other pages: scope from stored data, outside it a 404 that looks like unknown, every
view and write audited, forms POST + CSRF + redirect."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from riskscore.access import Principal, view_dossier
from riskscore.errors import MSG_NOT_FOUND, DataError, NotFoundError
from riskscore.ingest.pseudonym import is_pseudonym
from riskscore.service.deps import (
    ADMIN_ONLY,
    ADMIN_ROLES,
    STUDENT_ROLES,
    SessionDep,
    audit,
    request_id_of,
    require_student_in_scope,
)
from riskscore.web.auth import check_csrf, require_principal, require_roles
from riskscore.web.pages import WebRoute, lang_of, redirect, render

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

router = APIRouter(route_class=WebRoute, include_in_schema=False)
_STUDENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "privacy_title": "Privacy van deze leerling", "objecting": "Deze leerling heeft bezwaar gemaakt tegen het "
        "rekenmodel. Het model berekent geen kans; de regels uit de wet gelden wel (wettelijke plicht).",
        "not_objecting": "Er is geen bezwaar vastgelegd.", "reason": "Reden", "recorded": "Vastgelegd op",
        "set": "Bezwaar vastleggen", "withdraw": "Bezwaar intrekken", "dossier": "Overzicht voor leerling en ouders "
        "(afdrukken)", "saved": "Opgeslagen.", "reason_needed": "Vul een reden in.",
        "erase_title": "Gegevens van een leerling verwijderen", "erase_intro": "Verwijdert scores, casussen, notities, "
        "uitkomsten en het bezwaar van deze leerling, en haalt de leerling uit de bestanden en rapporten. De "
        "auditlog blijft controleerbaar. Dit kan niet ongedaan worden gemaakt.", "student": "Leerlingnummer "
        "(schuilnaam)", "confirm": "Ik weet dat dit niet ongedaan kan worden", "erase": "Verwijderen",
        "not_pseudonym": "Dit is geen schuilnaam van een leerling: vul de schuilnaam in zoals die is opgeslagen (64 "
        "tekens 0-9 en a-f, of S met minstens 6 cijfers). Er is niets verwijderd.",
        "erased": "Verwijderd. Bewijsnummer: {receipt}. Geef dit nummer aan de leerling of ouders.",
        "impact_title": "Helpt een signaal?", "impact_none": "Er is nog geen impactrapport. Maak er een met "
        "`riskscore impact --data <map>`.", "role": "Rol", "outcome": "Uitkomst", "jump": "Sprong (95%-interval)",
        "n": "Leerlingen rond de grens (links | rechts)", "first": "Casus beoordeeld (links | rechts)",
        "density": "Dichtheidstest p", "conclusion": "Conclusie", "made": "Gemaakt op",
        "runs": "scoringsronde(s)", "rows": "leerlingen in de lijsten", "hours": "uur", "points": "procentpunt",
        "c_none": "Geen meetbaar effect: het 95%-interval bevat 0. Dat bewijst niet dat er geen effect is.",
        "c_lower": "Na een signaal minder {what}: het hele 95%-interval ligt onder 0.",
        "c_higher": "Na een signaal méér {what}: het hele 95%-interval ligt boven 0. Zoek uit waarom.",
        "c_small": "Te weinig leerlingen rond de grens om iets te zeggen ({left} links, {right} rechts).",
        "c_failed": "De berekening lukte niet met deze gegevens; er is geen uitkomst.",
        "what_absence_8w": "ongeoorloofd verzuim", "what_vsv_12m": "voortijdig schoolverlaten",
        "cutoffs": "Vergeleken teams", "window_note": "Elk team telt mee tot zo ver van zijn grens als het aan beide "
        "kanten leerlingen heeft. Een team waar iedereen op de lijst een casus kreeg, telt niet mee: daar is niemand "
        "om mee te vergelijken.",
    },
    "en": {
        "privacy_title": "Privacy of this pupil", "objecting": "This pupil objected to the model. The model calculates "
        "no chance; the rules from the law still apply (statutory duty).",
        "not_objecting": "No objection is recorded.", "reason": "Reason", "recorded": "Recorded on",
        "set": "Record objection", "withdraw": "Withdraw objection", "dossier": "Overview for pupil and parents "
        "(print)", "saved": "Saved.", "reason_needed": "Fill in a reason.",
        "erase_title": "Erase a pupil's data", "erase_intro": "Deletes this pupil's scores, cases, notes, outcomes and "
        "objection, and removes the pupil from files and reports. The audit log stays verifiable. This cannot be "
        "undone.", "student": "Student id (pseudonym)", "confirm": "I know this cannot be undone", "erase": "Erase",
        "not_pseudonym": "This is not a pupil's pseudonym: enter the pseudonym as it is stored (64 characters 0-9 "
        "and a-f, or S followed by at least 6 digits). Nothing was erased.",
        "erased": "Erased. Receipt number: {receipt}. Give this number to the pupil or parents.",
        "impact_title": "Does a flag help?", "impact_none": "There is no impact report yet. Make one with "
        "`riskscore impact --data <folder>`.", "role": "Role", "outcome": "Outcome", "jump": "Jump (95% interval)",
        "n": "Pupils near the cut-off (left | right)", "first": "Case reviewed (left | right)",
        "density": "Density test p", "conclusion": "Conclusion", "made": "Made on",
        "runs": "scoring run(s)", "rows": "pupils on the lists", "hours": "hours", "points": "percentage points",
        "c_none": "No measurable effect: the 95% interval contains 0. That does not prove there is no effect.",
        "c_lower": "Less {what} after a flag: the whole 95% interval is below 0.",
        "c_higher": "More {what} after a flag: the whole 95% interval is above 0. Find out why.",
        "c_small": "Too few pupils near the cut-off to say anything ({left} left, {right} right).",
        "c_failed": "The calculation did not work with these data; there is no result.",
        "what_absence_8w": "unauthorised absence", "what_vsv_12m": "early school leaving",
        "cutoffs": "Teams compared", "window_note": "Each team counts only as far from its cut-off as it has pupils on "
        "both sides. A team where everyone on the list got a case does not count: there is nobody to compare with.",
    },
}
OUTCOME_WORDS = {"nl": {"absence_8w": "ongeoorloofd verzuim, 8 lesweken erna (uren)", "vsv_12m": "vsv binnen 12 maanden"},
                 "en": {"absence_8w": "unauthorised absence, next 8 lesson weeks (hours)", "vsv_12m": "VSV within 12 months"}}


def _in_scope(request: Request, session: Session, principal: Principal, student_id: str, action: str) -> None:
    if not _STUDENT_ID.match(student_id):
        raise NotFoundError(MSG_NOT_FOUND)
    require_student_in_scope(session, request, principal, student_id, action=action, purpose="inzage")


@router.get("/students/{student_id}/privacy")
def privacy_page(request: Request, session: SessionDep, student_id: str, saved: str | None = None,
                 error: str | None = None) -> HTMLResponse:
    from riskscore.store.privacy import get_objection

    principal = require_principal(request, session)
    require_roles(principal, STUDENT_ROLES, "error_403_student")
    _in_scope(request, session, principal, student_id, "privacy.view")
    audit(session, request, principal, action="privacy.view", resource=f"student:{student_id}", outcome="allowed",
           purpose="avg-21")
    lang = lang_of(request)
    return render(request, "privacy.html", r=TEXTS[lang], student_id=student_id,
                  objection=get_objection(session, student_id), saved=bool(saved), error=bool(error))


@router.post("/students/{student_id}/objection")
def objection_form(
    request: Request,
    session: SessionDep,
    student_id: str,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    action: Annotated[str, Form(max_length=16)] = "set",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    from riskscore.store.privacy import set_objection, withdraw_objection

    principal = require_principal(request, session)
    check_csrf(request, csrf_token)
    require_roles(principal, STUDENT_ROLES, "error_403_student")
    _in_scope(request, session, principal, student_id, "privacy.objection.set")
    rid = request_id_of(request)
    if action == "withdraw":
        withdraw_objection(session, student_id, actor=principal.key_id, role=principal.role, request_id=rid,
                           missing_ok=True)
    else:
        if not reason.strip():
            return redirect(f"/students/{student_id}/privacy?error=1")
        set_objection(session, student_id, reason=reason, actor=principal.key_id, role=principal.role, request_id=rid)
    return redirect(f"/students/{student_id}/privacy?saved=1")


@router.get("/students/{student_id}/dossier")
def dossier_page(request: Request, session: SessionDep, student_id: str) -> Response:
    """The printable page, in the page language; health detail as the viewer's role may see it."""
    from riskscore.rules import RULES
    from riskscore.store.privacy import dossier
    from riskscore.web.dossier import PRIVACY_CONFIG, content_security_policy, load_contact
    from riskscore.web.dossier import render as render_dossier

    principal = require_principal(request, session)
    require_roles(principal, STUDENT_ROLES, "error_403_student")
    _in_scope(request, session, principal, student_id, "dossier.read")
    audit(session, request, principal, action="dossier.read", resource=f"student:{student_id}", outcome="allowed",
           purpose="inzage")
    data = dossier(session, student_id, rule_sources={k: r.source for k, r in RULES.items()})
    if data is None:
        raise NotFoundError("student not found")
    page = render_dossier(view_dossier(data, principal), lang=lang_of(request), contact=load_contact(PRIVACY_CONFIG))
    response = HTMLResponse(page)
    response.headers["Content-Security-Policy"] = content_security_policy()
    return response


@router.get("/admin/erasure")
def erasure_form(request: Request, session: SessionDep, receipt: str | None = None,
                 error: str | None = None) -> HTMLResponse:
    principal = require_principal(request, session)
    require_roles(principal, ADMIN_ONLY)
    lang = lang_of(request)
    return render(request, "erasure.html", r=TEXTS[lang], receipt=receipt if receipt and
                  re.fullmatch(r"ERA-[0-9A-F]{12}", receipt) else None, error=bool(error),
                  error_id=error == "id")


@router.post("/admin/erasure")
def erasure(
    request: Request,
    session: SessionDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    student_id: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    from riskscore.store.erasure import registry
    from riskscore.store.privacy import erase_student

    principal = require_principal(request, session)
    check_csrf(request, csrf_token)
    require_roles(principal, ADMIN_ONLY)
    sid = student_id.strip()
    if not is_pseudonym(sid):  # refused before anything is touched
        return redirect("/admin/erasure?error=id")
    if not reason.strip() or confirm != "yes":
        return redirect("/admin/erasure?error=1")
    settings = request.app.state.riskscore.settings
    try:
        report = erase_student(session, sid, reason=reason, actor=principal.key_id, role=principal.role,
                               stores=registry(settings.erasure_roots()), request_id=request_id_of(request))
    except DataError:
        return redirect("/admin/erasure?error=1")
    return redirect(f"/admin/erasure?receipt={report.receipt}")


def latest_impact(reports_dir: Path) -> dict[str, Any] | None:
    """The newest impact.json under <reports>/impact/<stamp>/ (None when there is none or it is unreadable)."""
    root = Path(reports_dir) / "impact"
    for path in sorted(root.glob("*/impact.json"), reverse=True) if root.is_dir() else ():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("estimates"), list):
            return data
    return None


@router.get("/impact")
def impact_page(request: Request, session: SessionDep) -> HTMLResponse:
    principal = require_principal(request, session)
    require_roles(principal, ADMIN_ROLES)
    lang = lang_of(request)
    report = latest_impact(request.app.state.riskscore.settings.resolved_reports_dir())
    return render(request, "impact.html", r=TEXTS[lang], report=report, outcomes=OUTCOME_WORDS[lang])
