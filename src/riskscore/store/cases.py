"""Review cases: a signal becomes a case for one reviewer role; every change of status, owner or
note leaves an event (who, when), because care teams must be able to show what they did and why."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, func, insert, or_, select, update
from sqlalchemy.orm import Session

from riskscore.errors import DataError, NotFoundError
from riskscore.store.db import run_write, translate_errors
from riskscore.store.models import CaseEvent, ReviewCase, ReviewOutcome, utcnow

if TYPE_CHECKING:
    from riskscore.access import Principal

CASE_STATUSES = ("open", "in_review", "contacted", "referred", "no_action_needed", "false_alarm", "closed")
#: statuses in which a case still needs work; a new signal updates such a case instead of opening one
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
CASE_ROLES = ("school", "jeugdarts", "leerplicht", "rmc")
#: what a review can find (stored as the code, shown in words by the pages)
OUTCOMES = ("conversation_held", "support_arranged", "referred_care", "reported_leerplicht", "no_concern",
            "unreachable", "other")
#: outcomes that make no sense for a role: the attendance officer does not report to itself, and RMC
#: works with young people past leerplicht age
NOT_FOR_ROLE: dict[str, frozenset[str]] = {"leerplicht": frozenset({"reported_leerplicht"}),
                                           "rmc": frozenset({"reported_leerplicht"})}
MSG_OUTCOME_NOT_FOR_ROLE = "outcome '{outcome}' is not available for a '{role}' case; choose one of: {allowed}"


def outcomes_for(role: str) -> tuple[str, ...]:
    """The outcomes offered to a reviewer of this role, in display order."""
    excluded = NOT_FOR_ROLE.get(role, frozenset())
    return tuple(o for o in OUTCOMES if o not in excluded)


def check_outcome(role: str, outcome: str) -> None:
    """DataError (422) unless the outcome is one this role's cases can have."""
    allowed = outcomes_for(role)
    if outcome not in allowed:
        raise DataError(MSG_OUTCOME_NOT_FOR_ROLE.format(outcome=outcome, role=role, allowed=", ".join(allowed)))
#: the team of a reviewing role: the role plus this scope unit of the case (a school's care team works
#: per school, the leerplicht officers per municipality, RMC and the youth doctors (GGD/JGZ, organised
#: regionally) per RMC region). Capacities and the worklist's ``team`` filter use it.
TEAM_UNITS: dict[str, str] = {"school": "school_id", "leerplicht": "municipality", "rmc": "rmc_region",
                              "jeugdarts": "rmc_region"}

MSG_CASE_NOT_FOUND = "review case not found"
MSG_BAD_TRANSITION = "a case cannot go from '{from_status}' to '{to_status}'; allowed: {allowed}"
MSG_CONCURRENT_CHANGE = "the case was changed by someone else meanwhile; reload and try again"
MSG_BAD_CASE = "invalid review case: {details}"


class InvalidTransitionError(DataError):
    """A status change the case workflow does not allow, or one that lost a race."""

    http_status = 409


def _check_reason(reason: str) -> None:
    if not (reason == "capacity" or (reason.startswith("rule:") and len(reason) > 5)):
        raise DataError(MSG_BAD_CASE.format(details=f"reason {reason!r} must be 'rule:<id>' or 'capacity'"))


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
) -> tuple[ReviewCase, bool]:
    """Open a case, or refresh the active one for the same student, role and reason.

    Idempotent: a rerun for the same as_of never duplicates (also enforced by a unique key);
    a case already closed for this as_of is returned unchanged. Returns (case, created)."""
    if role not in CASE_ROLES:
        raise DataError(MSG_BAD_CASE.format(details=f"role {role!r} not in {CASE_ROLES}"))
    _check_reason(reason)

    def work(s: Session) -> tuple[ReviewCase, bool]:
        now = utcnow()
        key = (ReviewCase.student_id == student_id, ReviewCase.role == role, ReviewCase.reason == reason)
        active = s.scalars(
            select(ReviewCase).where(*key, ReviewCase.status.in_(ACTIVE_STATUSES)).order_by(ReviewCase.id.desc())
        ).first()
        same_day = s.scalars(select(ReviewCase).where(*key, ReviewCase.as_of == as_of)).first()
        case = active or same_day
        if case is not None:
            if case.status in ACTIVE_STATUSES:
                case.school_id, case.municipality, case.rmc_region = school_id, municipality, rmc_region
                case.priority, case.probability, case.band = priority, probability, band
                if due_date is not None:
                    case.due_date = due_date
                case.updated_at = now
            return case, False
        case = ReviewCase(
            student_id=student_id, school_id=school_id, municipality=municipality, rmc_region=rmc_region,
            role=role, as_of=as_of, opened_at=now, opened_by_run=opened_by_run, reason=reason,
            priority=priority, probability=probability, band=band, due_date=due_date, status="open",
            updated_at=now,
        )
        s.add(case)
        s.flush()
        s.add(CaseEvent(case_id=case.id, at=now, actor=actor, action="open", from_status=None,
                        to_status="open", note=reason))
        return case, True

    return run_write(session, work)


def upsert_cases(
    session: Session,
    candidates: Iterable[Mapping[str, Any]],
    *,
    as_of: date,
    run_id: int | None,
    actor: str = "system",
) -> dict[str, int]:
    """open_or_update_case for many signals at once, inside the caller's transaction (no commit).

    Same rules: an active case for the same student, role and reason is refreshed; a case for the
    same as_of that was already finished stays as it is; otherwise a case opens (with an 'open'
    event). Bulk statements, so a batch of thousands of cases costs a few round trips. Returns the
    counts {"opened", "updated", "unchanged"}."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for c in candidates:
        if c["role"] not in CASE_ROLES:
            raise DataError(MSG_BAD_CASE.format(details=f"role {c['role']!r} not in {CASE_ROLES}"))
        _check_reason(str(c["reason"]))
        rows[(str(c["student_id"]), str(c["role"]), str(c["reason"]))] = dict(c)  # the last one wins
    counts = {"opened": 0, "updated": 0, "unchanged": 0}
    if not rows:
        return counts
    now = utcnow()
    with translate_errors():
        existing = session.execute(
            select(ReviewCase.id, ReviewCase.student_id, ReviewCase.role, ReviewCase.reason, ReviewCase.status)
            .where(or_(ReviewCase.status.in_(ACTIVE_STATUSES), ReviewCase.as_of == as_of))
            .order_by(ReviewCase.id)
        ).all()
    active: dict[tuple[str, str, str], int] = {}
    finished_same_day: set[tuple[str, str, str]] = set()
    for case_id, sid, role, reason, status in existing:
        key = (sid, role, reason)
        if key not in rows:
            continue
        if status in ACTIVE_STATUSES:
            active[key] = case_id  # ordered by id: the newest active case wins, as in open_or_update_case
        else:
            finished_same_day.add(key)
    updates, inserts = [], []
    for key, c in rows.items():
        fields = {"school_id": c.get("school_id"), "municipality": c.get("municipality"),
                  "rmc_region": c.get("rmc_region"), "priority": int(c.get("priority") or 0),
                  "probability": c.get("probability"), "band": c.get("band"), "updated_at": now}
        if key in active:
            if c.get("due_date") is not None:
                fields["due_date"] = c["due_date"]
            updates.append({"id": active[key], **fields})
        elif key in finished_same_day:
            counts["unchanged"] += 1
        else:
            inserts.append({"student_id": key[0], "role": key[1], "reason": key[2], "as_of": as_of,
                            "opened_at": now, "opened_by_run": run_id, "due_date": c.get("due_date"),
                            "status": "open", **fields})
    # executemany by primary key; rows without a due date are a separate batch so theirs is kept
    for batch in ([u for u in updates if "due_date" in u], [u for u in updates if "due_date" not in u]):
        if batch:
            session.execute(update(ReviewCase), batch)
    counts["updated"] = len(updates)
    if inserts:
        created = session.execute(
            insert(ReviewCase).returning(ReviewCase.id, ReviewCase.reason, sort_by_parameter_order=True), inserts
        ).all()
        session.execute(insert(CaseEvent), [
            {"case_id": case_id, "at": now, "actor": actor, "action": "open", "from_status": None,
             "to_status": "open", "note": reason}
            for case_id, reason in created
        ])
    counts["opened"] = len(inserts)
    return counts


def get_case(session: Session, case_id: int, *, principal: Principal | None = None) -> ReviewCase:
    """The case, or NotFoundError — also when it lies outside the principal's scope (never says which)."""
    with translate_errors():
        case = session.get(ReviewCase, case_id)
    if case is None or (
        principal is not None and not principal.can_see(case.school_id, case.municipality, case.rmc_region)
    ):
        raise NotFoundError(MSG_CASE_NOT_FOUND)
    return case


def transition_case(
    session: Session, case_id: int, to_status: str, *, actor: str, note: str | None = None
) -> ReviewCase:
    """Move a case to a new status if the workflow allows it, with an event row.

    The update is conditional on the status read, so two reviewers racing cannot both win."""
    if to_status not in CASE_STATUSES:
        raise InvalidTransitionError(
            MSG_BAD_TRANSITION.format(from_status="?", to_status=to_status, allowed=", ".join(CASE_STATUSES))
        )
    return run_write(session, lambda s: _transition(s, case_id, to_status, actor=actor, note=note))


def _transition(s: Session, case_id: int, to_status: str, *, actor: str, note: str | None) -> ReviewCase:
    case = get_case(s, case_id)
    from_status = case.status
    allowed = ALLOWED_TRANSITIONS[from_status]
    if to_status not in allowed:
        raise InvalidTransitionError(
            MSG_BAD_TRANSITION.format(from_status=from_status, to_status=to_status, allowed=", ".join(sorted(allowed)))
        )
    now = utcnow()
    result = cast(CursorResult[Any], s.execute(
        update(ReviewCase)
        .where(ReviewCase.id == case_id, ReviewCase.status == from_status)
        .values(status=to_status, updated_at=now)
        .execution_options(synchronize_session=False)
    ))
    if result.rowcount != 1:
        raise InvalidTransitionError(MSG_CONCURRENT_CHANGE)
    s.add(CaseEvent(case_id=case_id, at=now, actor=actor, action="status", from_status=from_status,
                    to_status=to_status, note=note))
    s.flush()
    s.refresh(case)
    return case


def assign_case(session: Session, case_id: int, owner: str | None, *, actor: str) -> ReviewCase:
    """Set (or clear, with None) the reviewer who owns the case."""

    def work(s: Session) -> ReviewCase:
        case = get_case(s, case_id)
        previous = case.owner
        case.owner = owner
        case.updated_at = utcnow()
        s.add(CaseEvent(case_id=case_id, at=case.updated_at, actor=actor, action="assign",
                        from_status=case.status, to_status=case.status,
                        note=f"owner: {previous or '-'} -> {owner or '-'}"))
        return case

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


def _note(s: Session, case_id: int, note: str, *, actor: str) -> CaseEvent:
    case = get_case(s, case_id)
    case.updated_at = utcnow()
    event = CaseEvent(case_id=case_id, at=case.updated_at, actor=actor, action="note",
                      from_status=case.status, to_status=case.status, note=note)
    s.add(event)
    s.flush()
    return event


def record_outcome(
    session: Session,
    case_id: int,
    *,
    outcome: str,
    worth_conversation: bool,
    recorded_by: str,
    note: str | None = None,
) -> ReviewOutcome:
    """Record what the review found; monitoring uses worth_conversation as the reviewers' label."""
    if not outcome.strip() or len(outcome) > 64:
        raise DataError(MSG_BAD_CASE.format(details="outcome must be 1-64 characters"))
    return run_write(session, lambda s: _outcome(s, case_id, outcome=outcome, worth_conversation=worth_conversation,
                                                 recorded_by=recorded_by, note=note))


def _outcome(s: Session, case_id: int, *, outcome: str, worth_conversation: bool, recorded_by: str,
             note: str | None) -> ReviewOutcome:
    case = get_case(s, case_id)
    now = utcnow()
    row = ReviewOutcome(case_id=case_id, outcome=outcome, worth_conversation=worth_conversation,
                        note=note, recorded_by=recorded_by, recorded_at=now)
    s.add(row)
    case.updated_at = now
    s.add(CaseEvent(case_id=case_id, at=now, actor=recorded_by, action="outcome",
                    from_status=case.status, to_status=case.status,
                    note=f"{outcome} (worth a conversation: {'yes' if worth_conversation else 'no'})"))
    s.flush()
    return row


def case_history(session: Session, case_id: int) -> list[CaseEvent]:
    """The case's events, oldest first."""
    with translate_errors():
        return list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)))


def case_outcomes(session: Session, case_id: int) -> list[ReviewOutcome]:
    """Recorded outcomes of a case, oldest first."""
    with translate_errors():
        return list(
            session.scalars(select(ReviewOutcome).where(ReviewOutcome.case_id == case_id).order_by(ReviewOutcome.id))
        )


def list_worklist(
    session: Session,
    *,
    principal: Principal | None = None,
    role: str | None = None,
    bands: Iterable[str] | None = None,
    statuses: Iterable[str] | None = ACTIVE_STATUSES,
    due_before: date | None = None,
    limit: int | None = None,
    offset: int = 0,
    school_id: str | None = None,
    team: str | None = None,
) -> list[ReviewCase]:
    """Cases for a worklist: within the principal's scope, filtered by role, band, status, school and
    team (the value of the role's TEAM_UNITS column; without a role, any of the three scope columns),
    ordered by due date (soonest first, undated last), then probability (highest first), then id."""
    stmt = select(ReviewCase)
    if principal is not None and principal.scope_kind != "all":
        column = {"school": ReviewCase.school_id, "municipality": ReviewCase.municipality,
                  "rmc_region": ReviewCase.rmc_region}.get(principal.scope_kind)
        if column is None or not principal.scope_values:
            return []
        stmt = stmt.where(column.in_(principal.scope_values))
    if role is not None:
        stmt = stmt.where(ReviewCase.role == role)
    if bands is not None:
        stmt = stmt.where(ReviewCase.band.in_(list(bands)))
    if statuses is not None:
        stmt = stmt.where(ReviewCase.status.in_(list(statuses)))
    if due_before is not None:
        stmt = stmt.where(ReviewCase.due_date <= due_before)
    if school_id is not None:
        stmt = stmt.where(ReviewCase.school_id == school_id)
    if team is not None:
        scope_columns = {"school_id": ReviewCase.school_id, "municipality": ReviewCase.municipality,
                         "rmc_region": ReviewCase.rmc_region}
        if role is not None and role in TEAM_UNITS:
            stmt = stmt.where(scope_columns[TEAM_UNITS[role]] == team)
        else:
            stmt = stmt.where(or_(*(col == team for col in scope_columns.values())))
    stmt = stmt.order_by(
        ReviewCase.due_date.is_(None), ReviewCase.due_date, func.coalesce(ReviewCase.probability, -1.0).desc(),
        ReviewCase.id,
    ).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    with translate_errors():
        return list(session.scalars(stmt))


def outcome_trend(session: Session, *, months: int = 12) -> list[dict[str, Any]]:
    """Recorded review outcomes per calendar month (UTC), the last `months` months, oldest first:
    {"month": "2026-11", "n": reviews, "worth": how many found the signal worth a conversation}.
    No pupil data: counts only (for the data team's monitoring page)."""
    from datetime import timedelta

    since = utcnow() - timedelta(days=31 * months)
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
