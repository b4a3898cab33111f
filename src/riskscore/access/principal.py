"""Who is calling: a person signed in through their institution's identity provider, or a named machine
key (a school system pushing events). Roles and scopes; kept free of SQLAlchemy so the API's auth path
and the templates can import it cheaply."""

from __future__ import annotations

from dataclasses import dataclass

from riskscore.errors import ConfigError

ROLES: tuple[str, ...] = ("school", "jeugdarts", "leerplicht", "rmc", "data_team", "admin")
SCOPE_KINDS: tuple[str, ...] = ("school", "municipality", "rmc_region", "all")

MSG_BAD_ROLE = "unknown role '{role}'; choose one of: " + ", ".join(ROLES)
MSG_BAD_SCOPE = (
    "invalid scope '{scope}'; use school:BRIN1,BRIN2 | municipality:GM0363 | rmc_region:RMC27 | all"
)


#: what kind of caller a principal is
PERSON, MACHINE = "person", "machine"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a person (signed in over OpenID Connect, or a demo person) or a machine
    (a named API key). ``actor_id`` is what the audit log and case history record: the key's id, or
    ``user:<id>`` for a person — never a secret. ``groups`` optionally narrows a school scope to mentor
    groups (empty: the whole scope)."""

    actor_id: str
    label: str
    role: str
    scope_kind: str
    scope_values: tuple[str, ...]
    kind: str = MACHINE
    groups: tuple[str, ...] = ()

    @property
    def key_id(self) -> str:
        """The actor id under its old name (callers written before people could sign in)."""
        return self.actor_id


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
