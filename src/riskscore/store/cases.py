"""Review cases in the store: one case per pupil per team holding all its signals, the plan, the
school's report to DUO, and every change as an event (who, when) — care teams must be able to show what
they did and why. What the cases mean (teams, duties, next steps, ordering) is the review core's
(riskscore.review); this module keeps it, in transactions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import CursorResult, and_, case, func, insert, or_, select, update
from sqlalchemy.orm import Session

from riskscore.access import Principal, sees_case, sees_record
from riskscore.errors import DataError, NotFoundError
from riskscore.review import duties, plans
from riskscore.review.candidates import CAPACITY, MODEL, CaseCandidate, SignalIn, main_reason
from riskscore.review.teams import CASE_ROLES, TEAM_UNITS, team_of
from riskscore.store.db import run_write, translate_errors
from riskscore.store.models import (
    CaseAction,
    CaseEvent,
    CaseSignal,
    DuoReport,
    ReviewCase,
    ReviewOutcome,
    utcnow,
)

CASE_STATUSES = ("open", "in_review", "contacted", "referred", "no_action_needed", "false_alarm", "closed")
#: statuses in which a case still needs work; a new signal joins such a case instead of opening one
ACTIVE_STATUSES = ("open", "in_review", "contacted", "referred")
#: a reviewer who phoned the family straight away records that in one save: open → contacted
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"in_review", "contacted", "no_action_needed", "false_alarm", "closed"}),
    "in_review": frozenset({"open", "contacted", "referred", "no_action_needed", "false_alarm"}),
    "contacted": frozenset({"in_review", "referred", "no_action_needed", "closed"}),
    "referred": frozenset({"contacted", "closed"}),
    "no_action_needed": frozenset({"in_review", "closed"}),
    "false_alarm": frozenset({"in_review", "closed"}),
    "closed": frozenset({"in_review"}),
}
OUTCOMES = plans.OUTCOMES
outcomes_for = plans.outcomes_for
check_outcome = plans.check_outcome

MSG_CASE_NOT_FOUND = "review case not found"
MSG_BAD_TRANSITION = "a case cannot go from '{from_status}' to '{to_status}'; allowed: {allowed}"
MSG_CONCURRENT_CHANGE = "the case was changed by someone else meanwhile; reload and try again"
MSG_BAD_CASE = "invalid review case: {details}"
MSG_NOT_REPORTABLE = "this case holds no signal the school reports to DUO"
MSG_ACTION_NOT_FOUND = "plan step not found"
MSG_REPORT_DATE = "the report date lies after today"
MSG_NOT_ACTIVE = "the case is finished; reopen it first"
MSG_EVENT_NOT_FOUND = "case event not found"

__all__ = ["ACTIVE_STATUSES", "ALLOWED_TRANSITIONS", "CASE_ROLES", "CASE_STATUSES", "OUTCOMES", "TEAM_UNITS",
           "InvalidTransitionError", "WorklistCase", "WorklistFilter", "add_action", "add_note", "assign_case", "case_actions",
           "case_history", "case_outcomes", "case_signals", "check_outcome", "get_case", "list_worklist",
           "open_or_update_case", "outcome_trend", "outcomes_for", "record_outcome", "record_report",
           "reports_for", "save_review", "transition_case", "upsert_candidates"]


class InvalidTransitionError(DataError):
    """A status change the case workflow does not allow, or one that lost a race."""

    http_status = 409


# --- signals in, cases out (the batch job and the API's tests) --------------------------------------------
def upsert_candidates(s: Session, cands: Iterable[CaseCandidate], *, as_of: date, run_id: int | None,
                      actor: str = "system") -> dict[str, int]:
    """Inside the caller's transaction (no commit): for each candidate, the pupil's active case of that
    team gets the new signals (a rule that fired again in a new period is a new signal; one already
    held is refreshed), or a case opens with them. A case of the team already finished for this as-of
    date stays as it is (a rerun never reopens it). Returns {"opened", "updated", "unchanged"}."""
    rows: dict[tuple[str, str, str], CaseCandidate] = {}
    for c in cands:
        if c.role not in CASE_ROLES:
            raise DataError(MSG_BAD_CASE.format(details=f"role {c.role!r} not in {CASE_ROLES}"))
        rows[(c.student_id, c.role, c.team.unit)] = c  # the last one wins
    counts = {"opened": 0, "updated": 0, "unchanged": 0}
    if not rows:
        return counts
    now = utcnow()
    ids = sorted({k[0] for k in rows})
    existing: list[Any] = []
    with translate_errors():
        for start in range(0, len(ids), 900):
            existing += s.execute(
                select(ReviewCase.id, ReviewCase.student_id, ReviewCase.role, ReviewCase.team, ReviewCase.status,
                       ReviewCase.as_of)
                .where(ReviewCase.student_id.in_(ids[start:start + 900]),
                       or_(ReviewCase.status.in_(ACTIVE_STATUSES), ReviewCase.as_of == as_of))
                .order_by(ReviewCase.id)).all()
    active: dict[tuple[str, str, str], int] = {}
    finished_same_day: set[tuple[str, str, str]] = set()
    for case_id, sid, role, team, status, _ in existing:
        key = (sid, role, team)
        if status in ACTIVE_STATUSES:
            active[key] = case_id
        else:
            finished_same_day.add(key)
    held = _held_signals(s, list(active.values()))
    updates: list[dict[str, Any]] = []
    new_signals: list[dict[str, Any]] = []
    touched: list[int] = []
    inserts: list[tuple[dict[str, Any], CaseCandidate]] = []
    for key, c in rows.items():
        fields = {"school_id": c.place.school_id, "municipality": c.place.municipality,
                  "rmc_region": c.place.rmc_region, "probability": c.probability, "band": c.band, "updated_at": now}
        if key in active:
            case_id = active[key]
            have = held.get(case_id, {})
            for sig in c.signals:
                if sig.key in have:
                    touched.append(have[sig.key])
                else:
                    new_signals.append(_signal_row(case_id, sig, as_of, run_id))
            updates.append({"id": case_id, **fields})
        elif key in finished_same_day:
            counts["unchanged"] += 1
        else:
            inserts.append(({"student_id": c.student_id, "role": c.role, "team": c.team.unit, "reason": c.reason,
                             "as_of": as_of, "opened_at": now, "opened_by_run": run_id, "status": "open",
                             "priority": 1 if c.reason != CAPACITY else 0, **fields}, c))
    if updates:
        s.execute(update(ReviewCase), updates)
    if touched:
        for start in range(0, len(touched), 900):
            s.execute(update(CaseSignal).where(CaseSignal.id.in_(touched[start:start + 900]))
                      .values(last_seen=as_of, run_id=run_id).execution_options(synchronize_session=False))
    counts["updated"] = len(updates)
    if inserts:
        created = s.execute(insert(ReviewCase).returning(ReviewCase.id, sort_by_parameter_order=True),
                            [row for row, _ in inserts]).scalars().all()
        s.execute(insert(CaseEvent), [{"case_id": case_id, "at": now, "actor": actor, "action": "open",
                                       "from_status": None, "to_status": "open", "note": c.reason}
                                      for case_id, (_, c) in zip(created, inserts, strict=True)])
        new_signals += [_signal_row(case_id, sig, as_of, run_id)
                        for case_id, (_, c) in zip(created, inserts, strict=True) for sig in c.signals]
        counts["opened"] = len(inserts)
    if new_signals:
        s.execute(insert(CaseSignal), new_signals)
    changed = sorted({int(r["case_id"]) for r in new_signals} | {int(u["id"]) for u in updates})
    _refresh(s, changed)
    return counts


def _signal_row(case_id: int, sig: SignalIn, as_of: date, run_id: int | None) -> dict[str, Any]:
    return {"case_id": case_id, "kind": sig.kind, "rule_id": sig.rule_id, "fired_on": sig.fired_on,
            "deadline": sig.deadline, "detail": sig.detail, "first_seen": as_of, "last_seen": as_of, "run_id": run_id}


def _held_signals(s: Session, case_ids: list[int]) -> dict[int, dict[tuple[str, str | None, date | None], int]]:
    out: dict[int, dict[tuple[str, str | None, date | None], int]] = {}
    for start in range(0, len(case_ids), 900):
        for sid, case_id, kind, rule_id, fired_on in s.execute(
                select(CaseSignal.id, CaseSignal.case_id, CaseSignal.kind, CaseSignal.rule_id, CaseSignal.fired_on)
                .where(CaseSignal.case_id.in_(case_ids[start:start + 900]))):
            out.setdefault(case_id, {})[(kind, rule_id, fired_on)] = sid
    return out


def _refresh(s: Session, case_ids: Sequence[int]) -> None:
    """Recompute each case's main reason and its legal duty from its signals and the reports recorded:
    the deadline is the earliest of the duty signals not yet reported; done when all are reported."""
    if not case_ids:
        return
    for start in range(0, len(case_ids), 500):
        chunk = list(case_ids[start:start + 500])
        cases = {c.id: c for c in s.execute(select(ReviewCase.id, ReviewCase.student_id, ReviewCase.role)
                                            .where(ReviewCase.id.in_(chunk)))}
        sigs: dict[int, list[Any]] = {}
        for row in s.execute(select(CaseSignal.case_id, CaseSignal.kind, CaseSignal.rule_id, CaseSignal.fired_on,
                                    CaseSignal.deadline).where(CaseSignal.case_id.in_(chunk))):
            sigs.setdefault(row.case_id, []).append(row)
        reports = _reports_by_period(s, sorted({c.student_id for c in cases.values()}))
        values = []
        for case_id, c in cases.items():
            mine = sigs.get(case_id, [])
            open_duties = [r.deadline for r in mine if r.deadline is not None
                           and (c.student_id, r.rule_id, r.fired_on) not in reports]
            done = [reports[(c.student_id, r.rule_id, r.fired_on)] for r in mine if r.deadline is not None
                    and (c.student_id, r.rule_id, r.fired_on) in reports]
            values.append({"id": case_id, "reason": main_reason(r.rule_id for r in mine if r.kind == "rule"),
                           "legal_deadline": min(open_duties) if open_duties
                           else (None if not done else max(r.deadline for r in mine if r.deadline is not None)),
                           "legal_done_on": None if open_duties or not done else max(done)})
        if values:
            s.execute(update(ReviewCase), values)


def _reports_by_period(s: Session, student_ids: list[str]) -> dict[tuple[str, str, date | None], date]:
    out: dict[tuple[str, str, date | None], date] = {}
    for start in range(0, len(student_ids), 900):
        for sid, rule_id, fired_on, reported_on in s.execute(
                select(DuoReport.student_id, DuoReport.rule_id, DuoReport.fired_on, DuoReport.reported_on)
                .where(DuoReport.student_id.in_(student_ids[start:start + 900]))):
            key = (sid, rule_id, fired_on)
            out[key] = max(out.get(key, reported_on), reported_on)
    return out


def open_or_update_case(
    session: Session,
    *,
    student_id: str,
    role: str,
    reason: str,
    as_of: date,
    school_id: str | None = None,
    municipality: str | None = None,
    rmc_region: str | None = None,
    priority: int = 0,
    due_date: date | None = None,
    probability: float | None = None,
    band: str | None = None,
    opened_by_run: int | None = None,
    actor: str = "system",
    detail: str | None = None,
    fired_on: date | None = None,
) -> tuple[ReviewCase, bool]:
    """One signal in its own transaction (tests, the soak driver): ``reason`` 'capacity' (the model) or
    'rule:<id>'; ``due_date`` the rule's legal deadline (kept when the role holds a duty for it).
    Returns (the pupil's case of that team, whether it was opened now)."""
    from riskscore.access import Place

    if role not in CASE_ROLES:
        raise DataError(MSG_BAD_CASE.format(details=f"role {role!r} not in {CASE_ROLES}"))
    if not (reason == CAPACITY or (reason.startswith("rule:") and len(reason) > 5)):
        raise DataError(MSG_BAD_CASE.format(details=f"reason {reason!r} must be 'rule:<id>' or 'capacity'"))
    place = Place(school_id, municipality, rmc_region)
    team = team_of(role, place)
    if team is None:
        raise DataError(MSG_BAD_CASE.format(details=f"no {TEAM_UNITS[role]} to place the {role} team"))
    rule = reason[5:] if reason.startswith("rule:") else None
    signal = SignalIn(MODEL) if rule is None else SignalIn(
        "rule", rule, fired_on or as_of, due_date if duties.duty(role, rule) is not None else None, detail)
    cand = CaseCandidate(student_id, team, place, (signal,), probability, band)

    def work(s: Session) -> tuple[ReviewCase, bool]:
        counts = upsert_candidates(s, [cand], as_of=as_of, run_id=opened_by_run, actor=actor)
        row = s.scalars(select(ReviewCase).where(ReviewCase.student_id == student_id, ReviewCase.role == role,
                                                 ReviewCase.team == team.unit)
                        .order_by(ReviewCase.status.in_(ACTIVE_STATUSES).desc(), ReviewCase.id.desc())).first()
        assert row is not None
        if priority and row.priority != priority:
            row.priority = priority
        return row, counts["opened"] == 1

    return run_write(session, work)


# --- one case ---------------------------------------------------------------------------------------------
def get_case(session: Session, case_id: int, *, principal: Principal | None = None) -> ReviewCase:
    """The case, or NotFoundError — also when it lies outside the principal's scope (never says which)."""
    with translate_errors():
        row = session.get(ReviewCase, case_id)
    if row is None or (principal is not None and not sees_record(principal, row)):
        raise NotFoundError(MSG_CASE_NOT_FOUND)
    return row


def transition_case(session: Session, case_id: int, to_status: str, *, actor: str,
                    note: str | None = None) -> ReviewCase:
    """Move a case to a new status if the workflow allows it, with an event row.

    The update is conditional on the status read, so two reviewers racing cannot both win."""
    if to_status not in CASE_STATUSES:
        raise InvalidTransitionError(
            MSG_BAD_TRANSITION.format(from_status="?", to_status=to_status, allowed=", ".join(CASE_STATUSES)))
    return run_write(session, lambda s: _transition(s, case_id, to_status, actor=actor, note=note))


def _transition(s: Session, case_id: int, to_status: str, *, actor: str, note: str | None) -> ReviewCase:
    row = get_case(s, case_id)
    from_status = row.status
    allowed = ALLOWED_TRANSITIONS[from_status]
    if to_status not in allowed:
        raise InvalidTransitionError(
            MSG_BAD_TRANSITION.format(from_status=from_status, to_status=to_status, allowed=", ".join(sorted(allowed))))
    if to_status in ACTIVE_STATUSES and from_status not in ACTIVE_STATUSES:
        other = s.scalar(select(func.count()).select_from(ReviewCase).where(
            ReviewCase.student_id == row.student_id, ReviewCase.role == row.role, ReviewCase.team == row.team,
            ReviewCase.status.in_(ACTIVE_STATUSES), ReviewCase.id != row.id))
        if other:  # reopening would make a second active case of the team: the newer one holds the signals
            raise InvalidTransitionError(MSG_CONCURRENT_CHANGE)
    now = utcnow()
    result = cast(CursorResult[Any], s.execute(
        update(ReviewCase).where(ReviewCase.id == case_id, ReviewCase.status == from_status)
        .values(status=to_status, updated_at=now).execution_options(synchronize_session=False)))
    if result.rowcount != 1:
        raise InvalidTransitionError(MSG_CONCURRENT_CHANGE)
    s.add(CaseEvent(case_id=case_id, at=now, actor=actor, action="status", from_status=from_status,
                    to_status=to_status, note=note))
    s.flush()
    s.refresh(row)
    return row


def assign_case(session: Session, case_id: int, owner: str | None, *, actor: str) -> ReviewCase:
    """Set (or clear, with None) the person who owns the case: taking it, or handing it over."""

    def work(s: Session) -> ReviewCase:
        row = get_case(s, case_id)
        previous = row.owner
        row.owner = owner
        row.updated_at = utcnow()
        s.add(CaseEvent(case_id=case_id, at=row.updated_at, actor=actor, action="assign",
                        from_status=row.status, to_status=row.status,
                        note=f"owner: {previous or '-'} -> {owner or '-'}"))
        return row

    return run_write(session, work)


def save_review(session: Session, case_id: int, *, actor: str, to_status: str | None = None,
                outcome: str | None = None, worth_conversation: bool | None = None,
                note: str | None = None) -> ReviewCase:
    """What a reviewer records in one save — a new status, an outcome, a note, or any of them — in one
    transaction: all of it is kept or none (e.g. open → contacted with 'conversation held')."""
    if outcome is not None and (not outcome.strip() or len(outcome) > 64 or worth_conversation is None):
        raise DataError(MSG_BAD_CASE.format(details="an outcome needs 1-64 characters and worth_conversation"))
    if not (to_status or outcome or (note and note.strip())):
        raise DataError(MSG_BAD_CASE.format(details="nothing to save"))
    if to_status and to_status not in CASE_STATUSES:
        raise InvalidTransitionError(
            MSG_BAD_TRANSITION.format(from_status="?", to_status=to_status, allowed=", ".join(CASE_STATUSES)))

    def work(s: Session) -> ReviewCase:
        if to_status:
            _transition(s, case_id, to_status, actor=actor, note=None)
        if outcome:
            _outcome(s, case_id, outcome=outcome, worth_conversation=bool(worth_conversation), recorded_by=actor,
                     note=note or None)
        elif note and note.strip():
            _note(s, case_id, note, actor=actor)
        return get_case(s, case_id)

    return run_write(session, work)


def add_note(session: Session, case_id: int, note: str, *, actor: str) -> CaseEvent:
    """Append a note to the case history (notes are events; they are never edited)."""
    if not note.strip():
        raise DataError(MSG_BAD_CASE.format(details="empty note"))
    return run_write(session, lambda s: _note(s, case_id, note, actor=actor))


def _note(s: Session, case_id: int, note: str, *, actor: str, action: str = "note") -> CaseEvent:
    row = get_case(s, case_id)
    row.updated_at = utcnow()
    event = CaseEvent(case_id=case_id, at=row.updated_at, actor=actor, action=action,
                      from_status=row.status, to_status=row.status, note=note)
    s.add(event)
    s.flush()
    return event


def record_event(session: Session, case_id: int, action: str, note: str, *, actor: str) -> CaseEvent:
    """A history line of another kind (e.g. 'letter': a letter to the parents was made)."""
    return run_write(session, lambda s: _note(s, case_id, note, actor=actor, action=action))


def record_outcome(session: Session, case_id: int, *, outcome: str, worth_conversation: bool, recorded_by: str,
                   note: str | None = None) -> ReviewOutcome:
    """Record what the review found; monitoring uses worth_conversation as the reviewers' label."""
    if not outcome.strip() or len(outcome) > 64:
        raise DataError(MSG_BAD_CASE.format(details="outcome must be 1-64 characters"))
    return run_write(session, lambda s: _outcome(s, case_id, outcome=outcome, worth_conversation=worth_conversation,
                                                 recorded_by=recorded_by, note=note))


def _outcome(s: Session, case_id: int, *, outcome: str, worth_conversation: bool, recorded_by: str,
             note: str | None) -> ReviewOutcome:
    row = get_case(s, case_id)
    now = utcnow()
    out = ReviewOutcome(case_id=case_id, outcome=outcome, worth_conversation=worth_conversation, note=note,
                        recorded_by=recorded_by, recorded_at=now)
    s.add(out)
    row.updated_at = now
    s.add(CaseEvent(case_id=case_id, at=now, actor=recorded_by, action="outcome", from_status=row.status,
                    to_status=row.status,
                    note=f"{outcome} (worth a conversation: {'yes' if worth_conversation else 'no'})"))
    s.flush()
    return out


# --- the plan ---------------------------------------------------------------------------------------------
def add_action(session: Session, case_id: int, *, kind: str, owner: str | None, due_on: date | None,
               actor: str, note: str | None = None) -> CaseAction:
    """A step of the plan: who does what by when (review.plans.ACTION_KINDS of the case's role)."""

    def work(s: Session) -> CaseAction:
        row = get_case(s, case_id)
        plans.check_action(row.role, kind)
        if row.status not in ACTIVE_STATUSES:
            raise DataError(MSG_NOT_ACTIVE)
        now = utcnow()
        action = CaseAction(case_id=case_id, kind=kind, owner=owner, due_on=due_on, result=note, created_by=actor,
                            created_at=now, updated_at=now)
        s.add(action)
        row.updated_at = now
        s.add(CaseEvent(case_id=case_id, at=now, actor=actor, action="plan", from_status=row.status,
                        to_status=row.status, note=f"{kind} by {due_on.isoformat() if due_on else '-'}"))
        s.flush()
        return action

    return run_write(session, work)


def complete_action(session: Session, case_id: int, action_id: int, *, done_on: date, actor: str,
                    result: str | None = None, follow_up_on: date | None = None) -> CaseAction:
    """Mark a plan step done (with what came of it) and set its follow-up check (default six weeks)."""

    def work(s: Session) -> CaseAction:
        row = get_case(s, case_id)
        action = s.get(CaseAction, action_id)
        if action is None or action.case_id != case_id:
            raise NotFoundError(MSG_ACTION_NOT_FOUND)
        now = utcnow()
        action.done_on = done_on
        action.result = result or action.result
        action.follow_up_on = follow_up_on or duties.follow_up_on(done_on)
        action.updated_at = now
        row.updated_at = now
        s.add(CaseEvent(case_id=case_id, at=now, actor=actor, action="plan_done", from_status=row.status,
                        to_status=row.status, note=f"{action.kind} done {done_on.isoformat()}"))
        s.flush()
        return action

    return run_write(session, work)


def record_follow_up(session: Session, case_id: int, action_id: int, *, result: str, actor: str,
                     note: str | None = None) -> CaseAction:
    """The result of a step's follow-up check: improved, unchanged or worse."""
    plans.check_follow_up(result)

    def work(s: Session) -> CaseAction:
        row = get_case(s, case_id)
        action = s.get(CaseAction, action_id)
        if action is None or action.case_id != case_id or action.done_on is None:
            raise NotFoundError(MSG_ACTION_NOT_FOUND)
        now = utcnow()
        action.follow_up_result = result
        action.updated_at = now
        row.updated_at = now
        s.add(CaseEvent(case_id=case_id, at=now, actor=actor, action="follow_up", from_status=row.status,
                        to_status=row.status, note=f"{action.kind}: {result}" + (f" – {note}" if note else "")))
        s.flush()
        return action

    return run_write(session, work)


def case_actions(session: Session, case_ids: Iterable[int]) -> dict[int, list[CaseAction]]:
    """The plan of each case, in order of creation."""
    ids = sorted(set(case_ids))
    out: dict[int, list[CaseAction]] = {}
    with translate_errors():
        for start in range(0, len(ids), 900):
            for a in session.scalars(select(CaseAction).where(CaseAction.case_id.in_(ids[start:start + 900]))
                                     .order_by(CaseAction.id)):
                out.setdefault(a.case_id, []).append(a)
    return out


def open_steps(actions: Iterable[CaseAction]) -> list[tuple[str, date]]:
    """The plan's open items as (text key, date): steps not done by their date ('step_<kind>'), follow-up
    checks not yet made ('act_follow_up'); review.duties.next_step takes the earliest."""
    out = []
    for a in actions:
        if a.done_on is None and a.due_on is not None:
            out.append((f"step_{a.kind}", a.due_on))
        elif a.done_on is not None and a.follow_up_on is not None and a.follow_up_result is None:
            out.append(("act_follow_up", a.follow_up_on))
    return out


# --- the school's report to DUO -----------------------------------------------------------------------------
def record_report(session: Session, case_id: int, *, reported_on: date, reference: str | None, actor: str,
                  today: date) -> DuoReport:
    """The school records that it reported the case's 16-hour signal(s) to DUO (date, DUO's reference):
    its legal duty is met, and the attendance officer's case of the pupil shows the report came."""
    if reported_on > today:
        raise DataError(MSG_REPORT_DATE)

    def work(s: Session) -> DuoReport:
        row = get_case(s, case_id)
        open_periods = [(r.rule_id, r.fired_on) for r in s.execute(
            select(CaseSignal.rule_id, CaseSignal.fired_on).where(
                CaseSignal.case_id == case_id, CaseSignal.rule_id.in_(sorted(duties.REPORTABLE_RULES))))]
        if row.role != "school" or not open_periods:
            raise DataError(MSG_NOT_REPORTABLE)
        reported = _reports_by_period(s, [row.student_id])
        todo = [p for p in open_periods if (row.student_id, *p) not in reported] or open_periods[-1:]
        now = utcnow()
        last = None
        for rule_id, fired_on in todo:
            last = DuoReport(student_id=row.student_id, case_id=case_id, rule_id=rule_id, fired_on=fired_on,
                             reported_on=reported_on, reference=(reference or "").strip()[:64] or None,
                             recorded_by=actor, recorded_at=now)
            s.add(last)
        row.updated_at = now
        s.add(CaseEvent(case_id=case_id, at=now, actor=actor, action="duo_report", from_status=row.status,
                        to_status=row.status, note=f"{reported_on.isoformat()} {reference or ''}".strip()))
        s.flush()
        others = list(s.scalars(select(ReviewCase.id).where(ReviewCase.student_id == row.student_id)))
        _refresh(s, others)
        assert last is not None
        return last

    return run_write(session, work)


def reports_for(session: Session, student_ids: Iterable[str]) -> dict[str, list[DuoReport]]:
    """The reports recorded for these pupils, oldest first."""
    ids = sorted(set(student_ids))
    out: dict[str, list[DuoReport]] = {}
    with translate_errors():
        for start in range(0, len(ids), 900):
            for r in session.scalars(select(DuoReport).where(DuoReport.student_id.in_(ids[start:start + 900]))
                                     .order_by(DuoReport.reported_on, DuoReport.id)):
                out.setdefault(r.student_id, []).append(r)
    return out


# --- reading ------------------------------------------------------------------------------------------------
def cases_of_pupil(session: Session, student_id: str, principal: Principal) -> list[ReviewCase]:
    """The pupil's cases that are the principal's team's (access.view.sees_case: its role, in its scope),
    newest first — what a pupil page shows."""
    stmt = (select(ReviewCase).where(ReviewCase.student_id == student_id, ReviewCase.role == principal.role)
            .order_by(ReviewCase.opened_at.desc(), ReviewCase.id.desc()))
    with translate_errors():
        return [c for c in session.scalars(stmt) if sees_case(principal, c)]


def case_event(session: Session, case_id: int, event_id: int) -> CaseEvent:
    """One event of a case (e.g. the 'letter' event a printable letter page belongs to), or NotFoundError."""
    with translate_errors():
        event = session.get(CaseEvent, event_id)
    if event is None or event.case_id != case_id:
        raise NotFoundError(MSG_EVENT_NOT_FOUND)
    return event


def case_history(session: Session, case_id: int) -> list[CaseEvent]:
    """The case's events, oldest first."""
    with translate_errors():
        return list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)))


def case_outcomes(session: Session, case_id: int) -> list[ReviewOutcome]:
    """Recorded outcomes of a case, oldest first."""
    with translate_errors():
        return list(session.scalars(select(ReviewOutcome).where(ReviewOutcome.case_id == case_id)
                                    .order_by(ReviewOutcome.id)))


def case_signals(session: Session, case_ids: Iterable[int]) -> dict[int, list[CaseSignal]]:
    """The signals each case holds, newest first."""
    ids = sorted(set(case_ids))
    out: dict[int, list[CaseSignal]] = {}
    with translate_errors():
        for start in range(0, len(ids), 900):
            for sig in session.scalars(select(CaseSignal).where(CaseSignal.case_id.in_(ids[start:start + 900]))
                                       .order_by(CaseSignal.fired_on.desc(), CaseSignal.id.desc())):
                out.setdefault(sig.case_id, []).append(sig)
    return out


@dataclass(frozen=True)
class WorklistCase:
    """A case as a worklist reads it, with overdue computed by the database from the one definition."""

    case: ReviewCase
    overdue: bool


def overdue_clause(today: date) -> sa.ColumnElement[bool]:
    """review.duties.is_overdue as SQL: a legal deadline before today that is not met."""
    return and_(ReviewCase.legal_deadline.is_not(None), ReviewCase.legal_done_on.is_(None),
                ReviewCase.legal_deadline < today)


@dataclass(frozen=True)
class WorklistFilter:
    """Which cases a worklist holds: the principal's scope and role, and the filters a reader chose."""

    principal: Principal | None = None
    role: str | None = None
    bands: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = ACTIVE_STATUSES
    school_id: str | None = None
    team: str | None = None
    search: str | None = None
    students: tuple[str, ...] | None = None  # e.g. a mentor's own pupils (their mentor groups)

    def where(self) -> list[sa.ColumnElement[bool]] | None:
        """The SQL conditions; None when nothing can match (an empty scope or pupil list)."""
        out: list[sa.ColumnElement[bool]] = []
        p = self.principal
        if p is not None and p.scope_kind != "all":
            column = {"school": ReviewCase.school_id, "municipality": ReviewCase.municipality,
                      "rmc_region": ReviewCase.rmc_region}.get(p.scope_kind)
            if column is None or not p.scope_values:
                return None
            out.append(column.in_(p.scope_values))
        if self.role is not None:
            out.append(ReviewCase.role == self.role)
        if self.bands is not None:
            out.append(ReviewCase.band.in_(list(self.bands)))
        if self.statuses is not None:
            out.append(ReviewCase.status.in_(list(self.statuses)))
        if self.school_id is not None:
            out.append(ReviewCase.school_id == self.school_id)
        if self.team is not None:
            out.append(ReviewCase.team == self.team if self.role is not None else or_(
                ReviewCase.school_id == self.team, ReviewCase.municipality == self.team,
                ReviewCase.rmc_region == self.team))
        if self.search:
            out.append(ReviewCase.student_id.contains(self.search, autoescape=True))
        if self.students is not None:
            if not self.students:
                return None
            out.append(ReviewCase.student_id.in_(sorted(set(self.students))))
        return out


def list_worklist(session: Session, *, principal: Principal | None = None, role: str | None = None,
                  bands: Iterable[str] | None = None, statuses: Iterable[str] | None = ACTIVE_STATUSES,
                  limit: int | None = None, offset: int = 0, school_id: str | None = None,
                  team: str | None = None) -> list[ReviewCase]:
    """The cases of a worklist in the review core's order (list_worklist_rows without the overdue flags)."""
    flt = WorklistFilter(principal=principal, role=role, bands=tuple(bands) if bands is not None else None,
                         statuses=tuple(statuses) if statuses is not None else None, school_id=school_id, team=team)
    return [w.case for w in list_worklist_rows(session, flt, limit=limit, offset=offset)]


#: the orders a worklist can be read in ("urgency" is the review core's)
ORDERS = ("urgency", "probability", "student", "school", "status")


def list_worklist_rows(session: Session, flt: WorklistFilter, *, limit: int | None = None, offset: int = 0,
                       today: date | None = None, order: str = "urgency",
                       descending: bool = False) -> list[WorklistCase]:
    """Cases for a worklist, in the review core's order (``urgency``): overdue legal duties first, then
    legal duties by deadline, then risk (highest first); or by ``probability``, ``student``, ``school``,
    ``status`` (``descending`` reverses these). The database sorts and pages, so a team of any size gets
    its first page without reading the rest."""
    day = today or duties.today()
    where = flt.where()
    if where is None:
        return []
    overdue = overdue_clause(day)
    legal_open = and_(ReviewCase.legal_deadline.is_not(None), ReviewCase.legal_done_on.is_(None))

    def way(column: Any) -> Any:
        return column.desc() if descending else column.asc()

    by: dict[str, list[Any]] = {
        "urgency": [case((overdue, 0), else_=1), case((legal_open, 0), else_=1),
                    case((legal_open, ReviewCase.legal_deadline), else_=None),
                    func.coalesce(ReviewCase.probability, -1.0).desc(), ReviewCase.id],
        "probability": [way(func.coalesce(ReviewCase.probability, -1.0)), ReviewCase.id],
        "student": [way(ReviewCase.student_id), ReviewCase.id],
        "school": [way(ReviewCase.school_id), ReviewCase.student_id, ReviewCase.id],
        "status": [way(ReviewCase.status), ReviewCase.id],
    }
    stmt = (select(ReviewCase, overdue.label("overdue")).where(*where).order_by(*by.get(order, by["urgency"]))
            .offset(offset))
    if limit is not None:
        stmt = stmt.limit(limit)
    with translate_errors():
        return [WorklistCase(row[0], bool(row[1])) for row in session.execute(stmt)]


def count_worklist(session: Session, flt: WorklistFilter, *, today: date | None = None) -> dict[str, Any]:
    """How many cases the list holds, how many of their legal duties are overdue, how many pupils, their
    summed probability (each pupil once: the expected true cases), how many pupils have no probability
    at all (``unscored``: not in the sum), and the schools it spans."""
    where = flt.where()
    if where is None:
        return {"cases": 0, "overdue": 0, "pupils": 0, "expected": 0.0, "unscored": 0, "schools": []}
    overdue = overdue_clause(today or duties.today())
    with translate_errors():
        n, late, pupils = session.execute(select(
            func.count(), func.coalesce(func.sum(case((overdue, 1), else_=0)), 0),
            func.count(sa.distinct(ReviewCase.student_id))).where(*where)).one()
        per_pupil = select(ReviewCase.student_id, func.max(ReviewCase.probability).label("p")).where(
            *where).group_by(ReviewCase.student_id).subquery()
        expected, scored = session.execute(select(func.coalesce(func.sum(per_pupil.c.p), 0.0),
                                                  func.count(per_pupil.c.p))).one()
        schools = sorted(s for s in session.scalars(select(ReviewCase.school_id).where(*where).distinct()) if s)
    return {"cases": int(n), "overdue": int(late), "pupils": int(pupils), "expected": float(expected or 0.0),
            "unscored": int(pupils) - int(scored), "schools": schools}


def outcome_trend(session: Session, *, months: int = 12) -> list[dict[str, Any]]:
    """Recorded review outcomes per calendar month (UTC), the last `months` months, oldest first:
    {"month": "2026-11", "n": reviews, "worth": how many found the signal worth a conversation}.
    No pupil data: counts only (for the data team's monitoring page)."""
    since = utcnow() - dt.timedelta(days=31 * months)
    with translate_errors():
        rows = session.execute(select(ReviewOutcome.recorded_at, ReviewOutcome.worth_conversation)
                               .where(ReviewOutcome.recorded_at >= since)).all()
    by_month: dict[str, list[int]] = {}
    for at, worth in rows:
        key = f"{at.year:04d}-{at.month:02d}"
        counts = by_month.setdefault(key, [0, 0])
        counts[0] += 1
        counts[1] += int(bool(worth))
    return [{"month": k, "n": v[0], "worth": v[1]} for k, v in sorted(by_month.items())]


def action_counts(session: Session, *, since: date | None = None) -> list[dict[str, Any]]:
    """Plan steps per role and kind, done or not, and their follow-up results (counts only; for the
    monitoring page and the impact report: which follow-up preceded what — an association)."""
    stmt = (select(ReviewCase.role, CaseAction.kind, func.count(),
                   func.sum(case((CaseAction.done_on.is_not(None), 1), else_=0)),
                   func.sum(case((CaseAction.follow_up_result == "improved", 1), else_=0)),
                   func.sum(case((CaseAction.follow_up_result == "unchanged", 1), else_=0)),
                   func.sum(case((CaseAction.follow_up_result == "worse", 1), else_=0)))
            .join(ReviewCase, ReviewCase.id == CaseAction.case_id)
            .group_by(ReviewCase.role, CaseAction.kind).order_by(ReviewCase.role, CaseAction.kind))
    if since is not None:
        stmt = stmt.where(CaseAction.created_at >= dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC))
    with translate_errors():
        return [{"role": r, "kind": k, "n": int(n), "done": int(d or 0), "improved": int(i or 0),
                 "unchanged": int(u or 0), "worse": int(w or 0)} for r, k, n, d, i, u, w in session.execute(stmt)]


@dataclass(frozen=True)
class CaseParts:
    """What the rows of some cases need from the store besides the cases themselves."""

    scores: dict[int, tuple[Any, str]]
    signals: dict[int, list[CaseSignal]]
    steps: dict[int, list[CaseAction]]
    open_steps: dict[int, list[tuple[str, date]]]


def case_parts(session: Session, cases: Sequence[ReviewCase]) -> CaseParts:
    """For these cases: the score each may show (store.runs.case_scores: its own scope only), its
    signals, its plan and the plan's open items — four queries, whatever the number of cases."""
    from riskscore.store.runs import case_scores

    ids = [c.id for c in cases]
    steps = case_actions(session, ids)
    return CaseParts(scores=case_scores(session, cases), signals=case_signals(session, ids), steps=steps,
                     open_steps={cid: open_steps(actions) for cid, actions in steps.items()})
