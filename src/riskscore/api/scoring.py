"""Scoring a request: model + reasons + rule triggers + routing, storage, and per-role redaction.

Results are stored in full (the jeugdarts must be able to read them later); what a caller sees is
cut to its role at response time by `redact`, for both fresh and stored scores.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from riskscore.api.schemas import StudentFeatures, TriggerIn
from riskscore.errors import ModelError
from riskscore.service.state import Loaded, ServiceState


def _due_date(state: ServiceState, rule_id: str, fired_on: dt.date) -> dt.date | None:
    """Legal deadline where the law sets one: the DUO report for the 16-hour rule (5 working days)."""
    if rule_id != "leerplicht_16h_4w":
        return None
    from riskscore.rules import RuleConfig

    return state.calendar().add_working_days(fired_on, RuleConfig.model_fields["leerplicht_report_working_days"].default)  # type: ignore[no-any-return]


def _triggers(state: ServiceState, student: StudentFeatures) -> list[dict[str, Any]]:
    from riskscore.rules import RULES

    out: dict[str, dict[str, Any]] = {}
    for item in student.triggers:
        trig = item if isinstance(item, TriggerIn) else TriggerIn.model_validate({"id": item})
        rule = RULES[trig.id]
        fired = trig.fired_on or student.as_of
        out[trig.id] = {  # one entry per rule: a repeated id keeps the last
            "id": trig.id, "source": rule.source, "role": rule.role, "fired_on": fired.isoformat(),
            "due_date": (trig.due_date or _due_date(state, trig.id, fired) or None),
            "detail": trig.detail,
        }
        if out[trig.id]["due_date"] is not None:
            out[trig.id]["due_date"] = out[trig.id]["due_date"].isoformat()
    return list(out.values())


def score_students(state: ServiceState, loaded: Loaded, students: Sequence[StudentFeatures]) -> list[dict[str, Any]]:
    """Full (unredacted) results, ready to store; one dict per student in request order."""
    from riskscore.model import explain
    from riskscore.routing import route

    bundle = loaded.bundle
    missing = [f for f in bundle.features if f not in StudentFeatures.model_fields]
    if missing:
        raise ModelError(f"the serving model needs features the API does not accept: {missing}")
    X = np.array([[np.nan if getattr(s, f) is None else float(getattr(s, f)) for f in bundle.features]
                  for s in students], dtype=np.float64).reshape(len(students), len(bundle.features))
    scored = bundle.score(X, top_k=3)
    results: list[dict[str, Any]] = []
    for i, student in enumerate(students):
        reasons = explain.reasons(bundle, X[i], scored.contributions[i], top_k=3)
        triggers = _triggers(state, student)
        age = student.age_at_as_of()
        band = str(scored.band[i])
        roles = route(reasons, triggers, age=age, has_sk=student.has_sk, band=band, table=state.routing)
        results.append({
            "student_id": student.student_id, "school_id": student.school_id,
            "municipality": student.municipality, "rmc_region": student.rmc_region, "age": age,
            "as_of": student.as_of, "probability": float(scored.probability[i]), "band": band,
            "reasons": [r.to_dict() for r in reasons], "triggers": triggers, "roles": roles,
            "model_version": bundle.version,
        })
    return results


def public(result: Mapping[str, Any]) -> dict[str, Any]:
    """The response fields (drops scope attributes the response model does not carry)."""
    out = {k: v for k, v in result.items() if k not in ("school_id", "municipality", "rmc_region", "age", "roles")}
    out["reviewer_roles"] = list(result.get("roles") or [])
    return out
