"""Admin pages (role admin only): people who may sign in, machine API keys, live sessions, the audit log,
and reloading the model. Plain server-rendered forms: POST + CSRF token + redirect; every change and every
read of the audit log is itself audited. (Erasing a pupil lives in web/rights.py.)"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from riskscore.access import ROLES, Principal, parse_scope, validate_role
from riskscore.access.signin import parse_groups
from riskscore.errors import ConfigError, ModelError, NotFoundError, RiskscoreError
from riskscore.service.deps import ADMIN_ONLY, SessionDep
from riskscore.store.actors import actor_labels
from riskscore.store.audit import append_audit
from riskscore.store.audit_read import search_audit
from riskscore.store.keys import create_key, list_keys, revoke_key
from riskscore.store.users import UserError, create_user, get_user, list_users, set_active, update_user
from riskscore.store.web_sessions import list_live_sessions, revoke_session
from riskscore.web.auth import check_csrf, require_principal, require_roles, signin_state
from riskscore.web.pages import WebRoute, lang_of, redirect, render

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

router = APIRouter(prefix="/admin", route_class=WebRoute, include_in_schema=False)

_STUDENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_SAFE_TEXT = re.compile(r"^[\w .:@+/-]{0,120}$")
PURPOSE = "beheer"

TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "title": "Beheer", "intro": "Wie zich mag aanmelden, de sleutels van systemen, wie nu is aangemeld, de "
        "auditlog en het model.", "users": "Personen", "api_keys": "API-sleutels (systemen)", "sessions": "Sessies",
        "audit": "Auditlog", "model": "Model herladen", "erasure": "Gegevens van een leerling wissen",
        "users_intro": "Personen melden zich aan met het account van hun instelling. Bij de eerste aanmelding wordt "
        "het e-mailadres gekoppeld aan hun account bij de instelling. Wie hier niet staat, krijgt geen toegang "
        "(tenzij rollen uit het account van de instelling komen).", "name": "Naam", "email": "E-mailadres",
        "role": "Rol", "scope": "Bereik", "scope_help": "school:BRIN1,BRIN2 · municipality:GM0363 · "
        "rmc_region:RMC27 · all", "groups": "Mentorgroepen (optioneel)", "groups_help": "Gescheiden door komma's; "
        "leeg: het hele bereik.", "add_user": "Persoon toevoegen", "save": "Opslaan", "status": "Status",
        "active": "actief", "inactive": "uitgeschakeld", "deactivate": "Uitschakelen (beëindigt alle sessies)",
        "reactivate": "Weer inschakelen", "bound": "Gekoppeld account", "not_bound": "nog niet aangemeld",
        "source": "Bron", "source_table": "beheerder", "source_claims": "account van de instelling",
        "last_sign_in": "Laatst aangemeld", "never": "nooit", "edit": "Wijzigen", "demo": "demo",
        "saved": "Opgeslagen.", "saved_ended": "Opgeslagen. Rol of bereik veranderde: de sessies van deze persoon "
        "zijn beëindigd.", "actions": "Acties", "edit_title": "Persoon wijzigen",
        "err_name": "Vul een naam in (hoogstens 200 tekens).", "err_email": "Dit is geen e-mailadres.",
        "err_email_taken": "Een andere actieve persoon heeft dit e-mailadres al.",
        "err_needs_identity": "Vul een e-mailadres in: daarmee wordt de persoon bij de eerste aanmelding herkend.",
        "err_role": "Kies een rol uit de lijst.", "err_scope": "Schrijf het bereik als school:BRIN1,BRIN2, "
        "municipality:GM0363, rmc_region:RMC27 of all.", "err_label": "Vul een omschrijving in (hoogstens 200 "
        "tekens).",
        "keys_intro": "Sleutels zijn voor systemen (bijvoorbeeld een schoolsysteem dat verzuim doorstuurt), niet "
        "voor personen. Alleen een hash wordt bewaard.", "label": "Omschrijving (welk systeem)",
        "create_key": "Sleutel maken", "key_once": "De nieuwe sleutel. Hij wordt maar één keer getoond: bewaar hem "
        "nu veilig.", "key_id": "Sleutel-id", "created": "Gemaakt", "revoked": "ingetrokken", "revoke": "Intrekken",
        "revoked_done": "Ingetrokken.", "no_keys": "Er zijn geen sleutels.",
        "sessions_intro": "Sessies die nu geldig zijn. Intrekken meldt de persoon meteen af.",
        "person": "Persoon", "client": "Adres", "started": "Begonnen", "seen": "Laatst actief", "ends": "Eindigt uiterlijk",
        "no_sessions": "Er is nu niemand aangemeld.", "session_ended": "De sessie is beëindigd.",
        "audit_intro": "Elke inzage en wijziging, nieuwste eerst. Zoek op leerling, persoon of sleutel, en "
        "handeling.", "student": "Leerling (schuilnaam)", "actor": "Persoon of sleutel", "action": "Handeling "
        "(begin)", "filter": "Zoeken", "when": "Tijd", "resource": "Waarover", "purpose": "Doel",
        "outcome": "Uitkomst", "entry": "Nr.", "no_entries": "Geen regels gevonden.", "erased": "(inhoud gewist)",
        "previous": "Nieuwste", "next": "Oudere",
        "model_intro": "Laad het model dat nu als 'champion' is aangewezen. Een model dat niet laadt of niet goed "
        "rekent, wordt geweigerd; het huidige blijft dan.", "serving": "Nu in gebruik", "none": "geen",
        "reload": "Model herladen", "reloaded": "Herladen: nu versie {version}.", "unchanged": "Geen nieuwe "
        "versie; versie {version} blijft.", "reload_failed": "Niet herladen: {message}",
    },
    "en": {
        "title": "Administration", "intro": "Who may sign in, the keys of systems, who is signed in now, the audit "
        "log and the model.", "users": "People", "api_keys": "API keys (systems)", "sessions": "Sessions",
        "audit": "Audit log", "model": "Reload the model", "erasure": "Erase a pupil's data",
        "users_intro": "People sign in with their institution's account. At the first sign-in their e-mail address "
        "is bound to that account. Whoever is not listed here gets no access (unless roles come from the "
        "institution's account).", "name": "Name", "email": "E-mail address", "role": "Role", "scope": "Scope",
        "scope_help": "school:BRIN1,BRIN2 · municipality:GM0363 · rmc_region:RMC27 · all",
        "groups": "Mentor groups (optional)", "groups_help": "Separated by commas; empty: the whole scope.",
        "add_user": "Add person", "save": "Save", "status": "Status", "active": "active", "inactive": "deactivated",
        "deactivate": "Deactivate (ends all sessions)", "reactivate": "Reactivate", "bound": "Bound account",
        "not_bound": "not signed in yet", "source": "Source", "source_table": "administrator",
        "source_claims": "institution's account", "last_sign_in": "Last signed in", "never": "never",
        "edit": "Edit", "demo": "demo", "saved": "Saved.", "saved_ended": "Saved. Role or scope changed: this "
        "person's sessions were ended.", "actions": "Actions", "edit_title": "Edit person",
        "err_name": "Enter a name (at most 200 characters).", "err_email": "This is not an e-mail address.",
        "err_email_taken": "Another active person already has this e-mail address.",
        "err_needs_identity": "Enter an e-mail address: it recognises the person at their first sign-in.",
        "err_role": "Choose a role from the list.", "err_scope": "Write the scope as school:BRIN1,BRIN2, "
        "municipality:GM0363, rmc_region:RMC27 or all.", "err_label": "Enter a description (at most 200 "
        "characters).",
        "keys_intro": "Keys are for systems (for example a school system that sends absence), not for people. "
        "Only a hash is stored.", "label": "Description (which system)", "create_key": "Create key",
        "key_once": "The new key. It is shown only this once: store it safely now.", "key_id": "Key id",
        "created": "Created", "revoked": "revoked", "revoke": "Revoke", "revoked_done": "Revoked.",
        "no_keys": "There are no keys.",
        "sessions_intro": "Sessions that are valid now. Revoking signs the person out at once.",
        "person": "Person", "client": "Address", "started": "Started", "seen": "Last active", "ends": "Ends at the latest",
        "no_sessions": "Nobody is signed in now.", "session_ended": "The session was ended.",
        "audit_intro": "Every view and change, newest first. Search by pupil, person or key, and action.",
        "student": "Pupil (pseudonym)", "actor": "Person or key", "action": "Action (start)", "filter": "Search",
        "when": "Time", "resource": "About", "purpose": "Purpose", "outcome": "Outcome", "entry": "No.",
        "no_entries": "No entries found.", "erased": "(content erased)", "previous": "Newest", "next": "Older",
        "model_intro": "Load the model now marked 'champion'. A model that does not load or does not score sanely "
        "is refused; the current one then stays.", "serving": "Serving now", "none": "none",
        "reload": "Reload model", "reloaded": "Reloaded: now version {version}.", "unchanged": "No new version; "
        "version {version} stays.", "reload_failed": "Not reloaded: {message}",
    },
}


def _admin(request: Request, session: Session) -> Principal:
    principal = require_principal(request, session)
    require_roles(principal, ADMIN_ONLY)
    return principal


def _audit(session: Session, request: Request, principal: Principal, *, action: str, resource: str,
           outcome: str = "allowed", detail: dict[str, Any] | None = None) -> None:
    append_audit(session, actor=principal.actor_id, role=principal.role, action=action, resource=resource,
                 outcome=outcome, purpose=PURPOSE, request_id=getattr(request.state, "request_id", None),
                 detail=detail)


def _page(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    return render(request, template, status_code=status_code, r=TEXTS[lang_of(request)], roles=ROLES, **context)


def _scope_text(kind: str, values: Any) -> str:
    return kind if kind == "all" else f"{kind}:{','.join(values or [])}"


@router.get("")
def admin_index(request: Request, session: SessionDep) -> HTMLResponse:
    _admin(request, session)
    return _page(request, "admin_index.html")


# --- people ----------------------------------------------------------------------------------------
def _user_form_errors(name: str, role: str, scope: str) -> tuple[list[str], tuple[str, tuple[str, ...]] | None]:
    errors: list[str] = []
    if not name.strip() or len(name.strip()) > 200:
        errors.append("err_name")
    try:
        validate_role(role)
    except ConfigError:
        errors.append("err_role")
    parsed = None
    try:
        parsed = parse_scope(scope)
    except ConfigError:
        errors.append("err_scope")
    return errors, parsed


def _users_page(request: Request, session: Session, *, status_code: int = 200, errors: list[str] | None = None,
                form: dict[str, str] | None = None, saved: bool = False) -> HTMLResponse:
    users = list_users(session)
    return _page(request, "admin_users.html", status_code=status_code, users=users, errors=errors or [],
                 form=form or {"name": "", "email": "", "role": "school", "scope": "", "groups": ""}, saved=saved,
                 scope_text=_scope_text)


@router.get("/users")
def users_page(request: Request, session: SessionDep, saved: str | None = None) -> HTMLResponse:
    _admin(request, session)
    return _users_page(request, session, saved=bool(saved))


@router.post("/users")
def add_user(
    request: Request,
    session: SessionDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=400)] = "",
    email: Annotated[str, Form(max_length=400)] = "",
    role: Annotated[str, Form(max_length=40)] = "",
    scope: Annotated[str, Form(max_length=2000)] = "",
    groups: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    principal = _admin(request, session)
    check_csrf(request, csrf_token)
    form = {"name": name, "email": email, "role": role, "scope": scope, "groups": groups}
    errors, parsed = _user_form_errors(name, role, scope)
    if not errors and parsed is not None:
        try:
            user = create_user(session, display_name=name, email=email, role=role, scope_kind=parsed[0],
                               scope_values=parsed[1], groups=parse_groups(groups))
        except UserError as exc:
            errors.append(f"err_{exc.code}")
        else:
            _audit(session, request, principal, action="admin.user.create", resource=f"user:{user.id}",
                   detail={"role": user.role, "scope": _scope_text(user.scope_kind, user.scope_values)})
            return redirect("/admin/users?saved=1")
    return _users_page(request, session, status_code=400, errors=errors, form=form)


def _user_page(request: Request, session: Session, user_id: str, *, status_code: int = 200,
               errors: list[str] | None = None, form: dict[str, str] | None = None, saved: str | None = None) -> HTMLResponse:
    user = get_user(session, user_id)
    form = form or {"name": user.display_name, "email": user.email or "", "role": user.role,
                    "scope": _scope_text(user.scope_kind, user.scope_values), "groups": ", ".join(user.groups or [])}
    state = signin_state(request)
    live = list_live_sessions(session, idle=state.idle, user_id=user.id)
    return _page(request, "admin_user.html", status_code=status_code, user=user, errors=errors or [], form=form,
                 saved=saved, live=live)


@router.get("/users/{user_id}")
def user_page(request: Request, session: SessionDep, user_id: str, saved: str | None = None) -> HTMLResponse:
    _admin(request, session)
    return _user_page(request, session, user_id, saved=saved if saved in ("1", "ended") else None)


@router.post("/users/{user_id}")
def edit_user(
    request: Request,
    session: SessionDep,
    user_id: str,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=400)] = "",
    email: Annotated[str, Form(max_length=400)] = "",
    role: Annotated[str, Form(max_length=40)] = "",
    scope: Annotated[str, Form(max_length=2000)] = "",
    groups: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    principal = _admin(request, session)
    check_csrf(request, csrf_token)
    get_user(session, user_id)  # 404 first
    form = {"name": name, "email": email, "role": role, "scope": scope, "groups": groups}
    errors, parsed = _user_form_errors(name, role, scope)
    if not errors and parsed is not None:
        try:
            user, ended = update_user(session, user_id, display_name=name, email=email, role=role,
                                      scope_kind=parsed[0], scope_values=parsed[1], groups=parse_groups(groups))
        except UserError as exc:
            errors.append(f"err_{exc.code}")
        else:
            _audit(session, request, principal, action="admin.user.update", resource=f"user:{user.id}",
                   detail={"role": user.role, "scope": _scope_text(user.scope_kind, user.scope_values),
                           "sessions_ended": ended})
            return redirect(f"/admin/users/{user.id}?saved={'ended' if ended else '1'}")
    return _user_page(request, session, user_id, status_code=400, errors=errors, form=form)


@router.post("/users/{user_id}/active")
def user_active(
    request: Request,
    session: SessionDep,
    user_id: str,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    active: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    principal = _admin(request, session)
    check_csrf(request, csrf_token)
    get_user(session, user_id)
    user = set_active(session, user_id, active == "yes")
    _audit(session, request, principal, action="admin.user.activate" if active == "yes" else "admin.user.deactivate",
           resource=f"user:{user.id}")
    return redirect(f"/admin/users/{user.id}?saved=1")


# --- API keys --------------------------------------------------------------------------------------
def _keys_page(request: Request, session: Session, *, status_code: int = 200, errors: list[str] | None = None,
               form: dict[str, str] | None = None, new_key: str | None = None, saved: bool = False) -> HTMLResponse:
    return _page(request, "admin_keys.html", status_code=status_code, keys=list_keys(session), errors=errors or [],
                 form=form or {"label": "", "role": "school", "scope": ""}, new_key=new_key, saved=saved,
                 scope_text=_scope_text)


@router.get("/keys")
def keys_page(request: Request, session: SessionDep, saved: str | None = None) -> HTMLResponse:
    _admin(request, session)
    return _keys_page(request, session, saved=bool(saved))


@router.post("/keys")
def add_key(
    request: Request,
    session: SessionDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    label: Annotated[str, Form(max_length=400)] = "",
    role: Annotated[str, Form(max_length=40)] = "",
    scope: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The key is in this one answer (no redirect: it cannot be shown again); the page is never cached."""
    principal = _admin(request, session)
    check_csrf(request, csrf_token)
    form = {"label": label, "role": role, "scope": scope}
    errors, parsed = _user_form_errors(label, role, scope)
    errors = ["err_label" if e == "err_name" else e for e in errors]
    if errors or parsed is None:
        return _keys_page(request, session, status_code=400, errors=errors, form=form)
    key_id, plaintext = create_key(session, role, parsed[0], parsed[1], label.strip())
    _audit(session, request, principal, action="admin.key.create", resource=f"key:{key_id}",
           detail={"role": role, "scope": _scope_text(*parsed)})
    return _keys_page(request, session, new_key=plaintext)


@router.post("/keys/{key_id}/revoke")
def revoke(request: Request, session: SessionDep, key_id: str,
           csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    principal = _admin(request, session)
    check_csrf(request, csrf_token)
    if not re.fullmatch(r"[0-9a-f]{1,32}", key_id):
        raise NotFoundError("no such key")
    revoke_key(session, key_id)
    _audit(session, request, principal, action="admin.key.revoke", resource=f"key:{key_id}")
    return redirect("/admin/keys?saved=1")


# --- sessions --------------------------------------------------------------------------------------
@router.get("/sessions")
def sessions_page(request: Request, session: SessionDep, saved: str | None = None) -> HTMLResponse:
    _admin(request, session)
    live = list_live_sessions(session, idle=signin_state(request).idle)
    return _page(request, "admin_sessions.html", live=live, saved=bool(saved))


@router.post("/sessions/{session_id}/revoke")
def revoke_web_session(request: Request, session: SessionDep, session_id: str,
                       csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    principal = _admin(request, session)
    check_csrf(request, csrf_token)
    row = revoke_session(session, session_id)
    _audit(session, request, principal, action="admin.session.revoke", resource=f"session:{row.id}",
           detail={"person": f"user:{row.user_id}"})
    return redirect("/admin/sessions?saved=1")


# --- audit log -------------------------------------------------------------------------------------
@router.get("/audit")
def audit_page(request: Request, session: SessionDep, student: str | None = None, actor: str | None = None,
               action: str | None = None, before: str | None = None) -> HTMLResponse:
    principal = _admin(request, session)
    student_id = (student or "").strip() or None
    if student_id is not None and not _STUDENT_ID.match(student_id):
        student_id = None
    actor_text = (actor or "").strip()[:120] or None
    if actor_text is not None and not _SAFE_TEXT.match(actor_text):
        actor_text = None
    action_text = (action or "").strip()[:64] or None
    if action_text is not None and not re.fullmatch(r"[a-z_.]{1,64}", action_text):
        action_text = None
    before_id = int(before) if before and before.isdigit() and len(before) < 12 else None
    # looking into the log is itself on the record (what was asked for, not what was shown)
    _audit(session, request, principal, action="audit.read",
           resource=f"student:{student_id}" if student_id else "audit",
           detail={"actor": actor_text, "action": action_text, "before": before_id})
    result = search_audit(session, student_id=student_id, actor=actor_text, action=action_text, before=before_id)
    labels = actor_labels(session, [e.actor for e in result.entries if e.actor])
    selected = {"student": student_id or "", "actor": actor_text or "", "action": action_text or ""}

    def link(older_than: int | None) -> str:
        params = {k: v for k, v in selected.items() if v}
        if older_than is not None:
            params["before"] = str(older_than)
        return "/admin/audit" + (f"?{urlencode(params)}" if params else "")

    return _page(request, "admin_audit.html", result=result, labels=labels, selected=selected, link=link)


# --- model -----------------------------------------------------------------------------------------
def _model_page(request: Request, *, status_code: int = 200, message: str | None = None,
                failed: bool = False) -> HTMLResponse:
    try:
        version: str | None = request.app.state.riskscore.require_loaded().bundle.version
    except ModelError:
        version = None
    return _page(request, "admin_model.html", status_code=status_code, version=version, message=message,
                 failed=failed)


@router.get("/model")
def model_admin_page(request: Request, session: SessionDep, done: str | None = None,
                     version: str | None = None) -> HTMLResponse:
    _admin(request, session)
    lang = lang_of(request)
    message = None
    if done in ("reloaded", "unchanged") and version and _SAFE_TEXT.match(version):
        message = TEXTS[lang][done].format(version=version)
    return _model_page(request, message=message)


@router.post("/model/reload")
def reload_model(request: Request, session: SessionDep,
                 csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """As POST /v1/admin/reload: a candidate that fails to load or to score smoke rows is refused and the
    serving model stays."""
    principal = _admin(request, session)
    check_csrf(request, csrf_token)
    try:
        swapped, version, _previous = request.app.state.riskscore.reload(reason="web")
    except RiskscoreError as exc:
        _audit(session, request, principal, action="model.reload", resource="model", outcome="denied")
        lang = lang_of(request)
        return _model_page(request, status_code=409, failed=True,
                           message=TEXTS[lang]["reload_failed"].format(message=str(exc)[:300]))
    _audit(session, request, principal, action="model.reload", resource=f"model:{version}")
    return redirect(f"/admin/model?{urlencode({'done': 'reloaded' if swapped else 'unchanged', 'version': version})}")
