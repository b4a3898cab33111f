"""THE role view: what a role sees of a pupil. Every door (API, pages, dossier, CLI exports, worklists)
calls this module; nothing else redacts.

What each viewer sees of a pupil inside its scope:

| viewer | scores | model reasons | legal triggers | cases, notes, outcomes |
|---|---|---|---|---|
| jeugdarts | yes | all | all, with detail | its own role's cases |
| school | yes | health reasons as "a signal for the youth doctor" (no value, no contribution) | a MAZL trigger only as that same line (no dates, no detail) | its own role's cases |
| leerplicht, rmc | yes | no health reason at all | no MAZL trigger at all | its own role's cases |
| data_team, admin | no single pupil | – | – | – |
| the pupil's own export (``SELF``) | everything | everything | everything | everything |

Health content is data about health (AVG art. 9): sick reports, sick-reporting (MAZL) signals, the
jeugdarts' notes. The school signals to the jeugdarts, so it may know *that* there is a signal; the
attendance officer and RMC need not know even that. Reviewer roles on a score are cut the same way (a
score routed to the jeugdarts tells leerplicht nothing about it). The access log shown to a viewer holds
its own role's reads: that a youth doctor opened the file is itself health information.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from riskscore.access.principal import Principal
from riskscore.access.scope import PUPIL_ROLES, Place, in_scope

#: trigger ids whose detail is health data (MAZL)
HEALTH_RULES = frozenset({"mazl_frequent", "mazl_long"})
HEALTH_CATEGORY = "sick"
HEALTH_ROLE = "jeugdarts"
#: roles that may know *that* a health signal exists, never its content (the school signals to the jeugdarts)
KNOWS_HEALTH_SIGNAL = frozenset({"school"})
#: the pupil's (or parent's) own export: sees everything stored about them
SELF: None = None
#: what the school sees instead of health detail (sick reasons, MAZL triggers)
HEALTH_REDACTED_NL = "gezondheidssignaal – zie jeugdarts"
HEALTH_REDACTED_EN = "health-related signal – see the youth doctor (jeugdarts)"
HEALTH_CODE = "HEALTH_SIGNAL"

Viewer = str | None  # a role, or SELF


def sees_health(viewer: Viewer) -> bool:
    """Whether the viewer sees health content in full."""
    return viewer is SELF or viewer == HEALTH_ROLE


def is_health_reason(reason: Mapping[str, Any]) -> bool:
    return reason.get("category") == HEALTH_CATEGORY or reason.get("code") == HEALTH_CODE


def is_health_trigger(trigger: Mapping[str, Any] | str) -> bool:
    rule_id = trigger if isinstance(trigger, str) else trigger.get("id", trigger.get("rule_id"))
    return str(rule_id) in HEALTH_RULES


def is_health_reason_code(reason: str) -> bool:
    """A case reason ('rule:<id>', 'capacity', ...) that names a health rule."""
    return reason.startswith("rule:") and reason[5:] in HEALTH_RULES


def view_reasons(reasons: Iterable[Mapping[str, Any]], viewer: Viewer) -> list[dict[str, Any]]:
    """A score's model reasons as the viewer may see them."""
    out: list[dict[str, Any]] = []
    for r in reasons or []:
        if not is_health_reason(r) or sees_health(viewer):
            out.append(dict(r))
        elif viewer in KNOWS_HEALTH_SIGNAL:
            out.append({"code": HEALTH_CODE, "category": HEALTH_CATEGORY, "feature": None, "value": None,
                        "contribution": None, "text_nl": HEALTH_REDACTED_NL, "text_en": HEALTH_REDACTED_EN,
                        "withheld": True})
    return out


def view_triggers(triggers: Iterable[Mapping[str, Any]], viewer: Viewer) -> list[dict[str, Any]]:
    """A score's legal triggers as the viewer may see them: the school learns only that a MAZL signal
    exists (no date, no detail), leerplicht and RMC not even that."""
    out: list[dict[str, Any]] = []
    for t in triggers or []:
        if not is_health_trigger(t) or sees_health(viewer):
            out.append(dict(t))
        elif viewer in KNOWS_HEALTH_SIGNAL:
            out.append({**t, "detail": HEALTH_REDACTED_NL, "fired_on": None, "due_date": None, "withheld": True})
    return out


def view_roles(roles: Iterable[str], viewer: Viewer) -> list[str]:
    """The reviewer roles of a score: who else reviews it, without revealing a health route to those who
    may not know of one."""
    return [r for r in roles or [] if r != HEALTH_ROLE or sees_health(viewer) or viewer in KNOWS_HEALTH_SIGNAL]


def view_result(result: Mapping[str, Any] | Any, viewer: Viewer) -> dict[str, Any]:
    """A score (scoring.ScoredStudent, its ``to_dict()`` or its stored form) as the viewer may see it."""
    if not isinstance(result, Mapping) and hasattr(result, "to_dict"):
        result = result.to_dict()
    out = dict(result)
    hidden = not sees_health(viewer) and any(is_health_reason(r) for r in out.get("reasons") or [])
    if "reasons" in out:
        out["reasons"] = view_reasons(out.get("reasons") or [], viewer)
    base = out.get("base")
    if hidden and isinstance(base, Mapping):
        # the rest of the sum (base + shown reasons + other = logit p) would give a withheld or left-out health
        # reason's contribution away by subtraction
        out["base"] = {**base, "other": None}
    if "triggers" in out:
        out["triggers"] = view_triggers(out.get("triggers") or [], viewer)
    if "roles" in out:
        out["roles"] = view_roles(out.get("roles") or [], viewer)
    return out


#: the old name (callers written before the role view had its own module)
redact = view_result


def place_of(record: Mapping[str, Any] | Any) -> Place:
    """The place stamped on a stored record (score, case, objection)."""
    get = record.get if isinstance(record, Mapping) else (lambda k: getattr(record, k, None))
    return Place(get("school_id"), get("municipality"), get("rmc_region"))


def sees_record(principal: Principal, record: Mapping[str, Any] | Any) -> bool:
    """Whether a stored score or objection about a pupil is the principal's to see (its stamped place)."""
    return in_scope(principal, place_of(record), check_groups=False)


def sees_case(principal: Principal, case: Mapping[str, Any] | Any) -> bool:
    """A review case, its notes and outcomes are for its own team: the case's role, inside the scope.
    So the jeugdarts' notes reach nobody but the jeugdarts (and the pupil's own export)."""
    role = case.get("role") if isinstance(case, Mapping) else getattr(case, "role", None)
    return principal.role in PUPIL_ROLES and role == principal.role and sees_record(principal, case)


def sees_pupils(principal: Principal) -> bool:
    """Whether the principal's role works with single pupils at all (data_team and admin do not)."""
    return principal.role in PUPIL_ROLES


def view_dossier(data: Mapping[str, Any], principal: Principal | None) -> dict[str, Any]:
    """The dossier (store.privacy.dossier) as this viewer may see it; ``None``: the pupil's own export.

    Scores: those stamped inside the scope, cut by role. Cases with their history, notes, plan and outcomes:
    the viewer's own team's only, their signals cut as a score's triggers are. Access log: its own role's reads. The objection mark is the pupil's
    own and shown to every reviewer of the pupil."""
    if principal is None:
        return dict(data)
    viewer = principal.role
    out = dict(data)
    out["scores"] = [view_result(s, viewer) for s in data.get("scores", []) if sees_record(principal, s)]
    out["cases"] = [{**c, "signals": view_triggers(c.get("signals") or [], viewer)} if "signals" in c else dict(c)
                    for c in data.get("cases", []) if sees_case(principal, c)]
    out["access_log"] = [dict(e) for e in data.get("access_log", []) if e.get("role") == viewer]
    return out
