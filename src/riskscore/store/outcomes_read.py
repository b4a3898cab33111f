"""Read review outcomes for monitoring: did the reviewers find the flags worth a conversation?

The label-free precision of the model: weeks before VSV outcomes exist, each reviewed case says
whether a flag led to a useful conversation. Read-only (never commits); one row per reviewed case
(its latest outcome), with the case's role, reason, band and place, so monitoring can break the
rate down per group and join audit columns from the scored frame by student_id.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from riskscore.store.db import translate_errors
from riskscore.store.models import ReviewCase, ReviewOutcome

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.orm import Session

COLUMNS = ("case_id", "student_id", "school_id", "municipality", "rmc_region", "role", "reason", "reason_kind",
           "as_of", "band", "probability", "outcome", "worth_conversation", "recorded_at")


def review_outcomes(session: Session, *, since: datetime | None = None) -> pd.DataFrame:
    """One row per review case with an outcome recorded (at or after `since`, when given): the case's
    latest outcome. `reason_kind` is `rule` for a legal/protocol trigger, `model` for a capacity flag."""
    import pandas as pd

    latest = select(ReviewOutcome.case_id, func.max(ReviewOutcome.id).label("outcome_id")).group_by(ReviewOutcome.case_id)
    if since is not None:
        latest = latest.where(ReviewOutcome.recorded_at >= since)
    latest_sq = latest.subquery()
    stmt = (
        select(ReviewCase.id, ReviewCase.student_id, ReviewCase.school_id, ReviewCase.municipality,
               ReviewCase.rmc_region, ReviewCase.role, ReviewCase.reason, ReviewCase.as_of, ReviewCase.band,
               ReviewCase.probability, ReviewOutcome.outcome, ReviewOutcome.worth_conversation,
               ReviewOutcome.recorded_at)
        .join(latest_sq, latest_sq.c.case_id == ReviewCase.id)
        .join(ReviewOutcome, ReviewOutcome.id == latest_sq.c.outcome_id)
        .order_by(ReviewCase.id)
    )
    with translate_errors():
        rows = session.execute(stmt).all()
    frame = pd.DataFrame(
        [(r[0], r[1], r[2], r[3], r[4], r[5], r[6], "rule" if str(r[6]).startswith("rule:") else "model", *r[7:])
         for r in rows],
        columns=list(COLUMNS),
    )
    frame["worth_conversation"] = frame["worth_conversation"].astype(bool)
    return frame
