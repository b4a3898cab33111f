"""Which scoring run put whom on which list (run_signals): the treatment record of the impact
evaluation. Cases cannot tell it: an active case is refreshed by later runs and keeps its first
as-of date, and human work changes its timestamps."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from riskscore.store.models import RunSignal


def record_signals(s: Session, run_id: int, candidates: Iterable[Mapping[str, Any]]) -> int:
    """Inside the caller's (the run's) transaction: replace the run's signals with these candidates
    (each: student_id, role, reason). Returns how many were written."""
    rows = {(str(c["student_id"]), str(c["role"]), str(c["reason"])) for c in candidates}
    s.execute(sa.delete(RunSignal).where(RunSignal.run_id == run_id))
    if rows:
        s.execute(sa.insert(RunSignal), [{"run_id": run_id, "student_id": sid, "role": role, "reason": reason}
                                         for sid, role, reason in sorted(rows)])
    return len(rows)
