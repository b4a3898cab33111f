"""Who is calling and what they may see: roles, scopes, and redaction by role (health detail is for the
jeugdarts only). Kept free of SQLAlchemy so the API's auth path and the templates can import it cheaply."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from riskscore.errors import ConfigError

ROLES: tuple[str, ...] = ("school", "jeugdarts", "leerplicht", "rmc", "data_team", "admin")
SCOPE_KINDS: tuple[str, ...] = ("school", "municipality", "rmc_region", "all")

#: trigger ids whose detail is health data (MAZL)
HEALTH_RULES = frozenset({"mazl_frequent", "mazl_long"})
HEALTH_CATEGORY = "sick"
HEALTH_ROLE = "jeugdarts"
#: what non-jeugdarts roles see instead of health detail (sick reasons, mazl_* trigger detail)
HEALTH_REDACTED_NL = "gezondheidssignaal – zie jeugdarts"
HEALTH_REDACTED_EN = "health-related signal – see the youth doctor (jeugdarts)"

MSG_BAD_ROLE = "unknown role '{role}'; choose one of: " + ", ".join(ROLES)
MSG_BAD_SCOPE = (
    "invalid scope '{scope}'; use school:BRIN1,BRIN2 | municipality:GM0363 | rmc_region:RMC27 | all"
)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the key's id and label (never the key), its role and scope."""

    key_id: str
    label: str
    role: str
    scope_kind: str
    scope_values: tuple[str, ...]

    def can_see(self, school_id: str | None, municipality: str | None, rmc_region: str | None) -> bool:
        """True when the student's school, municipality or region lies inside this caller's scope.

        Unknown (None) attributes never match, so missing data fails closed."""
        if self.scope_kind == "all":
            return True
        value = {"school": school_id, "municipality": municipality, "rmc_region": rmc_region}.get(
            self.scope_kind
        )
        return value is not None and value in self.scope_values


def validate_role(role: str) -> str:
    """Return the role or raise ConfigError: a typo must not silently create a powerless key."""
    if role not in ROLES:
        raise ConfigError(MSG_BAD_ROLE.format(role=role))
    return role


def validate_scope(scope_kind: str, scope_values: list[str] | tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """Normalise a scope; 'all' takes no values, the others need at least one non-empty value."""
    values = tuple(v.strip() for v in scope_values if v and v.strip())
    if scope_kind == "all":
        if values:
            raise ConfigError(MSG_BAD_SCOPE.format(scope=f"all:{','.join(values)}"))
        return "all", ()
    if scope_kind not in SCOPE_KINDS or not values:
        raise ConfigError(MSG_BAD_SCOPE.format(scope=f"{scope_kind}:{','.join(values)}"))
    return scope_kind, tuple(dict.fromkeys(values))


def parse_scope(text: str) -> tuple[str, tuple[str, ...]]:
    """Parse the CLI form 'school:BRIN1,BRIN2', 'municipality:GM0363', 'rmc_region:RMC27' or 'all'."""
    text = text.strip()
    if text == "all":
        return validate_scope("all", ())
    kind, sep, rest = text.partition(":")
    if not sep:
        raise ConfigError(MSG_BAD_SCOPE.format(scope=text))
    return validate_scope(kind.strip(), rest.split(","))


def redact(result: Mapping[str, Any] | Any, role: str) -> dict[str, Any]:
    """The result (a scoring.ScoredStudent or its ``to_dict()``/stored form) as this role may see it:
    health detail only for the jeugdarts.

    Other roles see *that* a health-related signal exists (a reason of category 'sick', a mazl_*
    trigger routed to the jeugdarts) but not its code, feature, value, contribution or detail: the
    jeugdarts shares content only with the pupil's or parents' consent."""
    if not isinstance(result, Mapping) and hasattr(result, "to_dict"):
        result = result.to_dict()
    out = dict(result)
    if role == HEALTH_ROLE:
        return out
    out["reasons"] = [
        {"code": "HEALTH_SIGNAL", "category": HEALTH_CATEGORY, "feature": None, "value": None, "contribution": None,
         "text_nl": HEALTH_REDACTED_NL, "text_en": HEALTH_REDACTED_EN, "withheld": True}
        if r.get("category") == HEALTH_CATEGORY else r
        for r in result.get("reasons") or []
    ]
    out["triggers"] = [
        {**t, "detail": HEALTH_REDACTED_NL, "withheld": True} if t.get("id") in HEALTH_RULES else t
        for t in result.get("triggers") or []
    ]
    base = result.get("base")
    if base and any(r.get("withheld") for r in out["reasons"]):
        # the rest of the sum would give the withheld reason's contribution away by subtraction
        out["base"] = {**base, "other": None}
    return out
