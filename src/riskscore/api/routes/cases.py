"""The review workflow: read a case with its plan and history; change its status, owner, notes and
outcome; plan steps and their follow-up checks; the school's report to DUO; the letter to the parents.

Every change is an event with who (the person's name or machine key's label and id) and when; outcomes
and plan steps feed monitoring. A case is its own team's (access.view.sees_case: its role, inside the
scope); any other is answered exactly like a missing one (404), and data_team and admin never read a case
(403). A thin caller: the store keeps, the review core decides, the role view cuts."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Request

from riskscore.access import Principal, sees_case
from riskscore.api.routes.worklists import CASE_READ_ROLES, actor_of
from riskscore.api.schemas import (
    ActionDoneIn,
    ActionIn,
    AssignIn,
    CaseDetail,
    CaseRow,
    ErrorBody,
    FollowUpIn,
    LetterIn,
    LetterOut,
    NoteIn,
    OutcomeIn,
    ReportIn,
    TransitionIn,
)
from riskscore.errors import NotFoundError
from riskscore.review import duties, letters
from riskscore.review.worklist import row
from riskscore.service.deps import STUDENT_ROLES, PrincipalDep, SessionDep, audit, purpose_of, require_role
from riskscore.store import cases as store

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

router = APIRouter(prefix="/v1/cases", tags=["review"])

#: the routes match `{case_id:int}` (digits only), so '/v1/cases/1.0' or '/v1/cases/+1' is a 404, not case 1
CaseId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Review case id (digits only).")]
ActionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Plan step id (digits only).")]
_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody}, 403: {"model": ErrorBody},
                                            404: {"model": ErrorBody}}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {**_ERRORS, 409: {"model": ErrorBody}}


def _visible(session: Session, request: Request, principal: Principal, case_id: int, action: str) -> Any:
    """The case if the caller's team owns it; else audit (which it was) and raise the same 404 as for a
    missing case, so the answer never says whether a case of another team exists."""
    try:
        case = store.get_case(session, case_id)
    except NotFoundError:
        case = None
    if case is None or not sees_case(principal, case):
        audit(session, request, principal, action=action, resource=f"case:{case_id}",
              outcome="not_found" if case is None else "denied", purpose=purpose_of(request, "signalering"))
        raise NotFoundError(store.MSG_CASE_NOT_FOUND)
    return case


def _detail(session: Session, request: Request, principal: Principal, case: Any, action: str) -> CaseDetail:
    audit(session, request, principal, action=action, resource=f"student:{case.student_id}", outcome="allowed",
          purpose=purpose_of(request, "signalering"))
    session.refresh(case)
    today = duties.today()
    parts = store.case_parts(session, [case])
    shown = row(case, viewer=principal, on=today, score=parts.scores.get(case.id),
                signals=parts.signals.get(case.id, ()), steps=parts.steps.get(case.id, ()),
                open_steps=parts.open_steps.get(case.id, ()))
    reports = store.reports_for(session, [case.student_id]).get(case.student_id, []) \
        if case.role in ("school", "leerplicht") else []
    history = [{"id": e.id, "at": e.at, "actor": e.actor, "action": e.action, "from_status": e.from_status,
                "to_status": e.to_status, "note": e.note} for e in store.case_history(session, case.id)]
    outcomes = [{"id": o.id, "outcome": o.outcome, "worth_conversation": o.worth_conversation, "note": o.note,
                 "recorded_by": o.recorded_by, "recorded_at": o.recorded_at} for o in store.case_outcomes(session, case.id)]
    plan = [{"id": a.id, "kind": a.kind, "owner": a.owner, "due_on": a.due_on, "done_on": a.done_on,
             "result": a.result, "follow_up_on": a.follow_up_on, "follow_up_result": a.follow_up_result,
             "created_by": a.created_by, "created_at": a.created_at} for a in shown.steps]
    base = CaseRow.from_row(shown).model_dump()
    return CaseDetail.model_validate({
        **base, "allowed_transitions": sorted(store.ALLOWED_TRANSITIONS[case.status]), "plan": plan,
        "reports": [{"rule_id": r.rule_id, "fired_on": r.fired_on, "reported_on": r.reported_on,
                     "reference": r.reference, "recorded_at": r.recorded_at} for r in reports],
        "history": history, "outcomes": outcomes})


#: the school holds the duty to report to DUO, and its mentor writes to the parents
SCHOOL_ONLY = frozenset({"school"})


def _write(session: Session, request: Request, principal: Principal, case_id: int, action: str,
           roles: frozenset[str] = STUDENT_ROLES, what: str = "change review cases") -> Any:
    require_role(principal, roles, what)
    return _visible(session, request, principal, case_id, action)


@router.get("/{case_id:int}", response_model=CaseDetail, summary="A review case with its plan, history and outcomes.",
            responses=_ERRORS)
def read_case(case_id: CaseId, request: Request, principal: PrincipalDep, session: SessionDep) -> CaseDetail:
    require_role(principal, CASE_READ_ROLES, "read review cases")
    case = _visible(session, request, principal, case_id, "case.read")
    return _detail(session, request, principal, case, "case.read")


@router.post("/{case_id:int}/transition", response_model=CaseDetail, responses=_WRITE_ERRORS,
             summary="Change the case status (invalid transitions: 409 naming the allowed ones).")
def transition(case_id: CaseId, body: TransitionIn, request: Request, principal: PrincipalDep,
               session: SessionDep) -> CaseDetail:
    case = _write(session, request, principal, case_id, "case.transition")
    store.transition_case(session, case.id, body.to_status, actor=actor_of(principal), note=body.note)
    return _detail(session, request, principal, case, "case.transition")


@router.post("/{case_id:int}/assign", response_model=CaseDetail, responses=_WRITE_ERRORS,
             summary="Hand the case over to a person (or clear the owner).")
def assign(case_id: CaseId, body: AssignIn, request: Request, principal: PrincipalDep,
           session: SessionDep) -> CaseDetail:
    case = _write(session, request, principal, case_id, "case.assign")
    store.assign_case(session, case.id, body.owner, actor=actor_of(principal))
    return _detail(session, request, principal, case, "case.assign")


@router.post("/{case_id:int}/take", response_model=CaseDetail, responses=_WRITE_ERRORS,
             summary="Take the case: the caller becomes its owner.")
def take(case_id: CaseId, request: Request, principal: PrincipalDep, session: SessionDep) -> CaseDetail:
    case = _write(session, request, principal, case_id, "case.assign")
    store.assign_case(session, case.id, principal.actor_id, actor=actor_of(principal))
    return _detail(session, request, principal, case, "case.assign")


@router.post("/{case_id:int}/notes", response_model=CaseDetail, responses=_WRITE_ERRORS,
             summary="Add a note to the case history.")
def note(case_id: CaseId, body: NoteIn, request: Request, principal: PrincipalDep, session: SessionDep) -> CaseDetail:
    case = _write(session, request, principal, case_id, "case.note")
    store.add_note(session, case.id, body.note, actor=actor_of(principal))
    return _detail(session, request, principal, case, "case.note")


@router.post("/{case_id:int}/outcome", response_model=CaseDetail, responses=_WRITE_ERRORS,
             summary="Record what the review found (outcome, worth a conversation, note).")
def outcome(case_id: CaseId, body: OutcomeIn, request: Request, principal: PrincipalDep,
            session: SessionDep) -> CaseDetail:
    case = _write(session, request, principal, case_id, "case.outcome")
    store.check_outcome(case.role, body.outcome)
    store.record_outcome(session, case.id, outcome=body.outcome, worth_conversation=body.worth_conversation,
                         recorded_by=actor_of(principal), note=body.note)
    return _detail(session, request, principal, case, "case.outcome")


@router.post("/{case_id:int}/plan", response_model=CaseDetail, responses=_WRITE_ERRORS,
             summary="Add a step to the case's plan: who does what by when.")
def add_step(case_id: CaseId, body: ActionIn, request: Request, principal: PrincipalDep,
             session: SessionDep) -> CaseDetail:
    case = _write(session, request, principal, case_id, "case.plan")
    store.add_action(session, case.id, kind=body.kind, owner=body.owner or principal.label[:200],
                     due_on=body.due_on, actor=actor_of(principal), note=body.note)
    return _detail(session, request, principal, case, "case.plan")


@router.post("/{case_id:int}/plan/{action_id:int}/done", response_model=CaseDetail, responses=_WRITE_ERRORS,
             summary="A plan step is done; its follow-up check is set (default six weeks later).")
def step_done(case_id: CaseId, action_id: ActionId, body: ActionDoneIn, request: Request, principal: PrincipalDep,
              session: SessionDep) -> CaseDetail:
    case = _write(session, request, principal, case_id, "case.plan")
    store.complete_action(session, case.id, action_id, done_on=body.done_on, actor=actor_of(principal),
                          result=body.result, follow_up_on=body.follow_up_on)
    return _detail(session, request, principal, case, "case.plan")


@router.post("/{case_id:int}/plan/{action_id:int}/follow-up", response_model=CaseDetail, responses=_WRITE_ERRORS,
             summary="Record the result of a step's follow-up check.")
def follow_up(case_id: CaseId, action_id: ActionId, body: FollowUpIn, request: Request, principal: PrincipalDep,
              session: SessionDep) -> CaseDetail:
    case = _write(session, request, principal, case_id, "case.plan")
    store.record_follow_up(session, case.id, action_id, result=body.result, actor=actor_of(principal), note=body.note)
    return _detail(session, request, principal, case, "case.plan")


@router.post("/{case_id:int}/duo-report", response_model=CaseDetail, responses=_WRITE_ERRORS,
             summary="The school records its report of the 16-hour signal to DUO (date, DUO's reference).")
def duo_report(case_id: CaseId, body: ReportIn, request: Request, principal: PrincipalDep,
               session: SessionDep) -> CaseDetail:
    case = _write(session, request, principal, case_id, "case.report", SCHOOL_ONLY, "record a report to DUO")
    store.record_report(session, case.id, reported_on=body.reported_on, reference=body.reference,
                        actor=actor_of(principal), today=duties.today())
    return _detail(session, request, principal, case, "case.report")


@router.post("/{case_id:int}/letter", response_model=LetterOut, responses=_WRITE_ERRORS,
             summary="Make the short letter to the parents (nothing is sent; the making is recorded).")
def letter(case_id: CaseId, body: LetterIn, request: Request, principal: PrincipalDep,
           session: SessionDep) -> LetterOut:
    case = _write(session, request, principal, case_id, "case.letter", SCHOOL_ONLY, "make a letter to the parents")
    facts = letter_facts(session, case, meeting_on=body.meeting_on, meeting_at=body.meeting_at, contact=body.contact)
    nl, en = letters.write(facts, "nl"), letters.write(facts, "en")
    store.record_event(session, case.id, "letter", letters.summary(facts), actor=actor_of(principal))
    audit(session, request, principal, action="case.letter", resource=f"student:{case.student_id}", outcome="allowed",
          purpose=purpose_of(request, "signalering"))
    return LetterOut(subject_nl=nl.subject, body_nl=nl.body, subject_en=en.subject, body_en=en.body,
                     words_nl=nl.words, words_en=en.words)


def letter_facts(session: Session, case: Any, *, meeting_on: dt.date, meeting_at: str, contact: str) -> letters.LetterFacts:
    """The letter's facts from the case: the unauthorised hours and weeks of its newest absence signal."""
    signals = store.case_signals(session, [case.id]).get(case.id, [])
    return letters.facts_from_signals(signals, meeting_on=meeting_on, meeting_at=meeting_at, contact=contact)
