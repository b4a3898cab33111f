"""Which scoring run put whom on which list (run_signals): the treatment record of the impact
evaluation. Cases cannot tell it: an active case is refreshed by later runs and keeps its first
as-of date, and human work changes its timestamps."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from riskscore.store.models import RunSignal


def record_signals(s: Session, run_id: int, signals: Iterable[tuple[str, str, str]]) -> int:
    """Inside the caller's (the run's) transaction: replace the run's signals with these (pupil, role,
    reason) triples (review.signal_keys). Returns how many were written."""
    rows = {(str(sid), str(role), str(reason)) for sid, role, reason in signals}
    s.execute(sa.delete(RunSignal).where(RunSignal.run_id == run_id))
    if rows:
        s.execute(sa.insert(RunSignal), [{"run_id": run_id, "student_id": sid, "role": role, "reason": reason}
                                         for sid, role, reason in sorted(rows)])
    return len(rows)
