"""THE role view: what a role sees of a pupil. Every door (API, pages, dossier, CLI exports) calls this
module; nothing else redacts. Health detail (sick reports, MAZL signals, the jeugdarts' notes) is for
the jeugdarts and the pupil's own export only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: trigger ids whose detail is health data (MAZL)
HEALTH_RULES = frozenset({"mazl_frequent", "mazl_long"})
HEALTH_CATEGORY = "sick"
HEALTH_ROLE = "jeugdarts"
#: what non-jeugdarts roles see instead of health detail (sick reasons, mazl_* trigger detail)
HEALTH_REDACTED_NL = "gezondheidssignaal – zie jeugdarts"
HEALTH_REDACTED_EN = "health-related signal – see the youth doctor (jeugdarts)"


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
    return out
