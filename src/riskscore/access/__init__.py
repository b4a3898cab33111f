"""Who is asking and what they may see.

- ``principal``: the caller (a person or a named machine key), roles and scopes;
- ``scope``: where a pupil belongs (from registrations) against a principal's scope;
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
from riskscore.access.scope import PUPIL_ROLES, Place, Span, in_scope, place_for, pupil_in_scope
from riskscore.access.view import (
    HEALTH_CATEGORY,
    HEALTH_REDACTED_EN,
    HEALTH_REDACTED_NL,
    HEALTH_ROLE,
    HEALTH_RULES,
    SELF,
    redact,
    sees_case,
    sees_health,
    sees_pupils,
    sees_record,
    view_dossier,
    view_reasons,
    view_result,
    view_roles,
    view_triggers,
)

__all__ = [
    "HEALTH_CATEGORY", "HEALTH_REDACTED_EN", "HEALTH_REDACTED_NL", "HEALTH_ROLE", "HEALTH_RULES", "MACHINE",
    "MSG_BAD_ROLE", "MSG_BAD_SCOPE", "PERSON", "PUPIL_ROLES", "ROLES", "SCOPE_KINDS", "SELF", "Place", "Principal",
    "Span", "in_scope", "parse_scope", "place_for", "pupil_in_scope", "redact", "sees_case", "sees_health",
    "sees_pupils", "sees_record", "validate_role", "validate_scope", "view_dossier", "view_reasons", "view_result",
    "view_roles", "view_triggers",
]
