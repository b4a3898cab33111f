"""Scoring a request: model + reasons + rule triggers + routing, storage, and per-role redaction.

Results are stored in full (the jeugdarts must be able to read them later); what a caller sees is
cut to its role at response time by `redact`, for both fresh and stored scores.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import numpy as np
from sqlalchemy.orm import Session

from riskscore.api.schemas import HEALTH_REDACTED_EN, HEALTH_REDACTED_NL, StudentFeatures, TriggerIn
from riskscore.api.state import Loaded, ServiceState
from riskscore.errors import ModelError

#: trigger ids whose detail is health data (MAZL)
HEALTH_RULES = frozenset({"mazl_frequent", "mazl_long"})
HEALTH_CATEGORY = "sick"
HEALTH_ROLE = "jeugdarts"


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
    from riskscore import explain
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


def redact(result: Mapping[str, Any], role: str) -> dict[str, Any]:
    """The result as this role may see it: health detail only for the jeugdarts.

    Other roles see *that* a health-related signal exists (a reason of category 'sick', a mazl_*
    trigger routed to the jeugdarts) but not its code, feature, value, contribution or detail: the
    jeugdarts shares content only with the pupil's or parents' consent."""
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


def store_scores(session: Session, results: Iterable[Mapping[str, Any]]) -> None:
    """Add API scores to the run of their (as_of, model version), replacing the same student's earlier
    score in that run, in one transaction (all or nothing).

    store.runs.write_scoring_run replaces a whole run, which suits batch jobs but would wipe other
    students' API scores of the same day; this appends instead."""
    import sqlalchemy as sa

    from riskscore.store.db import run_write

    rows = list(results)
    try:
        run_write(session, lambda s: store_scores_rows(s, rows))
    except sa.exc.IntegrityError:  # another worker created the same run meanwhile: it exists now
        run_write(session, lambda s: store_scores_rows(s, rows))


def store_scores_rows(s: Session, results: Iterable[Mapping[str, Any]]) -> None:
    """Inside the caller's transaction: the work of store_scores (no commit)."""
    import sqlalchemy as sa

    from riskscore.store.models import Score, ScoringRun, utcnow

    by_run: dict[tuple[dt.date, str], list[Mapping[str, Any]]] = {}
    for r in results:
        by_run.setdefault((r["as_of"], r["model_version"]), []).append(r)

    # Core statements on the tables: no ORM unit of work (identity map, flush) per request
    runs, scores = cast(sa.Table, ScoringRun.__table__), cast(sa.Table, Score.__table__)
    now = utcnow()
    for (as_of, version), rows in by_run.items():
        run_id = s.execute(sa.select(runs.c.id).where(runs.c.as_of == as_of,
                                                      runs.c.model_version == version)).scalar_one_or_none()
        if run_id is None:
            created = cast("sa.CursorResult[Any]", s.execute(sa.insert(runs).values(
                as_of=as_of, model_version=version, status="complete", started_at=now, finished_at=now,
                n_scored=0, source="api")))
            key = created.inserted_primary_key
            assert key is not None  # an INSERT of one row always has one
            run_id = key[0]
        latest = {str(r["student_id"]): r for r in rows}  # a student twice in one batch: keep the last
        deleted = cast("sa.CursorResult[Any]", s.execute(sa.delete(scores).where(
            scores.c.run_id == run_id, scores.c.student_id.in_(list(latest))))).rowcount
        s.execute(sa.insert(scores), [
            {"run_id": run_id, "student_id": sid, "school_id": r["school_id"], "municipality": r["municipality"],
             "rmc_region": r["rmc_region"], "as_of": as_of, "age": r["age"], "probability": r["probability"],
             "band": r["band"], "reasons": r["reasons"], "triggers": r["triggers"], "roles": r["roles"],
             "model_version": version, "created_at": now}
            for sid, r in latest.items()
        ])
        # counted incrementally inside the write transaction: a count(*) would scan the whole run
        # (a batch run holds every enrolled student) on every request
        s.execute(sa.update(runs).where(runs.c.id == run_id).values(
            n_scored=runs.c.n_scored + (len(latest) - max(deleted, 0)), finished_at=now))


def stored_to_result(row: Any) -> dict[str, Any]:
    """A store.models.Score row as a result dict (the shape score_students returns)."""
    return {
        "student_id": row.student_id, "school_id": row.school_id, "municipality": row.municipality,
        "rmc_region": row.rmc_region, "age": row.age, "as_of": row.as_of, "probability": row.probability,
        "band": row.band, "reasons": list(row.reasons or []), "triggers": list(row.triggers or []),
        "roles": list(row.roles or []), "model_version": row.model_version, "scored_at": row.created_at,
    }


def public(result: Mapping[str, Any]) -> dict[str, Any]:
    """The response fields (drops scope attributes the response model does not carry)."""
    out = {k: v for k, v in result.items() if k not in ("school_id", "municipality", "rmc_region", "age", "roles")}
    out["reviewer_roles"] = list(result.get("roles") or [])
    return out
