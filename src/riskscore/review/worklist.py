"""The rows a team sees: each case with the score that belongs to it, its signals, its legal duty and its
next step — cut by the role view (access.view), so the API and the pages show the same thing.

The order is the store's (store.cases.list_worklist_rows, from review.duties): overdue legal duties
first, then legal duties by deadline, then risk within the team's capacity. Overdue is computed once, by
the database, from review.duties.is_overdue's definition; the next step comes from the plan."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from riskscore.access import Principal, sees_health, view_reasons, view_triggers
from riskscore.access.view import HEALTH_REDACTED_NL, is_health_trigger
from riskscore.review import duties


@dataclass(frozen=True)
class SignalView:
    """A signal of a case as the viewer may see it."""

    kind: str  # "rule" | "model"
    rule_id: str | None
    fired_on: dt.date | None
    deadline: dt.date | None
    detail: str | None
    withheld: bool = False


@dataclass(frozen=True)
class Duty:
    """The team's legal duty on the case: the school's report to DUO, or leerplicht awaiting it."""

    kind: str  # duties.REPORT_DUO | duties.EXPECT_REPORT
    deadline: dt.date
    done_on: dt.date | None
    overdue: bool
    days_left: int


@dataclass(frozen=True)
class WorklistRow:
    case_id: int
    student_id: str
    role: str
    team: str
    school_id: str | None
    municipality: str | None
    rmc_region: str | None
    status: str
    owner: str | None
    reason: str
    as_of: dt.date
    opened_at: dt.datetime
    updated_at: dt.datetime
    probability: float | None
    band: str | None
    age: float | None
    score_as_of: dt.date | None
    score_source: str | None
    reasons: list[dict[str, Any]]
    triggers: list[dict[str, Any]]
    signals: list[SignalView]
    duty: Duty | None
    next_step: duties.NextStep
    priority: int = 0
    steps: list[Any] = field(default_factory=list)

    @property
    def overdue(self) -> bool:
        return self.duty is not None and self.duty.overdue


def signal_views(signals: Sequence[Any], viewer: str) -> list[SignalView]:
    """A case's signals (store rows with kind, rule_id, fired_on, deadline, detail), health detail only
    for the viewer who may see it."""
    out = []
    for s in signals:
        if s.kind == "rule" and is_health_trigger(str(s.rule_id)) and not sees_health(viewer):
            out.append(SignalView(s.kind, s.rule_id, None, None, HEALTH_REDACTED_NL if viewer == "school" else None,
                                  True))
        else:
            out.append(SignalView(s.kind, s.rule_id, s.fired_on, s.deadline, s.detail))
    return out


def duty_of(case: Any, on: dt.date, overdue: bool | None = None) -> Duty | None:
    """The case's legal duty (None when the team holds none for its signals)."""
    if case.legal_deadline is None:
        return None
    rule = case.reason[5:] if case.reason.startswith("rule:") else None
    kind = duties.duty(case.role, rule) or duties.REPORT_DUO
    late = duties.is_overdue(case.legal_deadline, case.legal_done_on, on) if overdue is None else overdue
    return Duty(kind, case.legal_deadline, case.legal_done_on, late, (case.legal_deadline - on).days)


def row(case: Any, *, viewer: Principal, on: dt.date, overdue: bool | None = None,
        score: tuple[Any, str] | None = None, signals: Sequence[Any] = (), steps: Sequence[Any] = (),
        open_steps: Sequence[tuple[str, dt.date]] = ()) -> WorklistRow:
    """One row. ``score``: (the stored score that belongs to the case, its source) or None; ``signals``
    and ``steps``: the case's stored signals and plan; ``open_steps``: the plan's open items."""
    role = viewer.role
    stored, source = score if score is not None else (None, None)
    triggers = list(stored.triggers or []) if stored is not None else []
    reasons = list(stored.reasons or []) if stored is not None else []
    opened = duties.local_day(case.opened_at) or case.as_of
    return WorklistRow(
        case_id=case.id, student_id=case.student_id, role=case.role, team=case.team, school_id=case.school_id,
        municipality=case.municipality, rmc_region=case.rmc_region, status=case.status, owner=case.owner,
        reason=case.reason, as_of=case.as_of, opened_at=case.opened_at, updated_at=case.updated_at,
        probability=stored.probability if stored is not None else case.probability,
        band=stored.band if stored is not None else case.band, age=stored.age if stored is not None else None,
        score_as_of=stored.as_of if stored is not None else None, score_source=source,
        reasons=view_reasons(reasons, role), triggers=view_triggers(triggers, role),
        signals=signal_views(signals, role), duty=duty_of(case, on, overdue),
        next_step=duties.next_step(case.role, case.reason, opened_on=opened, plan=open_steps, on=on,
                                   open_duty=case.legal_deadline if case.legal_done_on is None else None),
        priority=case.priority, steps=list(steps))


def rows(cases: Sequence[Any], *, viewer: Principal, on: dt.date, scores: Mapping[int, tuple[Any, str]],
         signals: Mapping[int, Sequence[Any]], steps: Mapping[int, Sequence[Any]],
         open_steps: Mapping[int, Sequence[tuple[str, dt.date]]]) -> list[WorklistRow]:
    """Rows for worklist cases (store.cases.WorklistCase: a case and its overdue flag), in their order."""
    return [row(w.case, viewer=viewer, on=on, overdue=w.overdue, score=scores.get(w.case.id),
                signals=signals.get(w.case.id, ()), steps=steps.get(w.case.id, ()),
                open_steps=open_steps.get(w.case.id, ())) for w in cases]


__all__ = ["Duty", "SignalView", "WorklistRow", "duty_of", "row", "rows", "signal_views"]
