"""Which scoring run put whom on which list (run_signals): the treatment record of the impact
evaluation. Cases cannot tell it: an active case is refreshed by later runs and keeps its first
as-of date, and human work changes its timestamps."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from riskscore.store.db import translate_errors
from riskscore.store.models import ReviewCase, ReviewOutcome, RunSignal, Score, ScoringRun


def record_signals(s: Session, run_id: int, signals: Iterable[tuple[str, str, str]]) -> int:
    """Inside the caller's (the run's) transaction: replace the run's signals with these (pupil, role,
    reason) triples (review.signal_keys). Returns how many were written."""
    rows = {(str(sid), str(role), str(reason)) for sid, role, reason in signals}
    s.execute(sa.delete(RunSignal).where(RunSignal.run_id == run_id))
    if rows:
        s.execute(sa.insert(RunSignal), [{"run_id": run_id, "student_id": sid, "role": role, "reason": reason}
                                         for sid, role, reason in sorted(rows)])
    return len(rows)


def impact_rows(session: Session, *, run_ids: Iterable[int] | None = None,
                reviewed_statuses: Iterable[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For the impact evaluation (monitoring.impact): the scores of complete runs (run_id, as_of,
    student_id, probability, roles, school, municipality, region) and what each run put on which list
    (run_id, as_of, student_id, role, reason, reviewed). 'reviewed': the pupil's case of that role was
    worked on — its status in ``reviewed_statuses`` or an outcome recorded."""
    q = sa.select(ScoringRun.id, ScoringRun.as_of).where(ScoringRun.status == "complete")
    if run_ids is not None:
        q = q.where(ScoringRun.id.in_(list(run_ids)))
    done = set(reviewed_statuses)
    with translate_errors():
        runs = {int(i): a for i, a in session.execute(q)}
        signals = session.execute(sa.select(RunSignal.run_id, RunSignal.student_id, RunSignal.role, RunSignal.reason)
                                  .where(RunSignal.run_id.in_(list(runs)))).all() if runs else []
        srows = session.execute(sa.select(Score.run_id, Score.as_of, Score.student_id, Score.probability, Score.roles,
                                          Score.school_id, Score.municipality, Score.rmc_region)
                                .where(Score.run_id.in_(list(runs)))).all() if runs else []
        crows = session.execute(sa.select(ReviewCase.id, ReviewCase.student_id, ReviewCase.role,
                                          ReviewCase.status)).all()
        with_outcome = set(session.scalars(sa.select(ReviewOutcome.case_id).distinct()))
    reviewed = {(sid, role) for cid, sid, role, st in crows if st in done or cid in with_outcome}
    scores = pd.DataFrame(srows, columns=["run_id", "as_of", "student_id", "probability", "roles", "school_id",
                                          "municipality", "rmc_region"])
    cases = pd.DataFrame([(r, runs[r], sid, role, why, (sid, role) in reviewed) for r, sid, role, why in signals],
                         columns=["run_id", "as_of", "student_id", "role", "reason", "reviewed"])
    return scores, cases
