"""Who is asking and what they may see.

- ``principal``: the caller (a person or a named machine key), roles and scopes;
- ``view``: THE role view — what a role sees of a pupil (every door calls it, nothing else redacts).
"""

from riskscore.access.principal import (
    MACHINE,
    MSG_BAD_ROLE,
    MSG_BAD_SCOPE,
    PERSON,
    ROLES,
    SCOPE_KINDS,
    Principal,
    parse_scope,
    validate_role,
    validate_scope,
)
from riskscore.access.view import (
    HEALTH_CATEGORY,
    HEALTH_REDACTED_EN,
    HEALTH_REDACTED_NL,
    HEALTH_ROLE,
    HEALTH_RULES,
    redact,
)

__all__ = [
    "HEALTH_CATEGORY", "HEALTH_REDACTED_EN", "HEALTH_REDACTED_NL", "HEALTH_ROLE", "HEALTH_RULES", "MACHINE",
    "MSG_BAD_ROLE", "MSG_BAD_SCOPE", "PERSON", "ROLES", "SCOPE_KINDS", "Principal", "parse_scope", "redact",
    "validate_role", "validate_scope",
]
