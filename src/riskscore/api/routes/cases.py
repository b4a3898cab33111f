"""The review workflow: read a case with its history, change its status, owner, notes and outcome.

Every change is an event with who (the key's label and id) and when; outcomes are stored for
monitoring. A case is its own team's (access.view.sees_case: its role, inside the scope); any other is
answered exactly like a missing one (404). data_team and admin never read a case (403)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from sqlalchemy.orm import Session

from riskscore.access import Principal, sees_case
from riskscore.api.routes.worklists import CASE_READ_ROLES, actor_of, rows_for
from riskscore.api.schemas import AssignIn, CaseDetail, ErrorBody, NoteIn, OutcomeIn, TransitionIn
from riskscore.errors import NotFoundError
from riskscore.service.deps import STUDENT_ROLES, PrincipalDep, SessionDep, audit, purpose_of, require_role

router = APIRouter(prefix="/v1/cases", tags=["review"])

#: the routes match `{case_id:int}` (digits only), so '/v1/cases/1.0' or '/v1/cases/+1' is a 404, not case 1
CaseId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Review case id (digits only).")]
_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody}, 403: {"model": ErrorBody},
                                            404: {"model": ErrorBody}}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {**_ERRORS, 409: {"model": ErrorBody}}


def _visible(session: Session, request: Request, principal: Principal, case_id: int, action: str) -> Any:
    """The case if the caller may see it; else audit (which it was) and raise the same 404 as for a
    missing case, so the answer never says whether an out-of-scope case exists."""
    from riskscore.store.cases import MSG_CASE_NOT_FOUND, get_case

    try:
        case = get_case(session, case_id)
    except NotFoundError:
        case = None
    visible = case is not None and sees_case(principal, case)
    if not visible:
        audit(session, request, principal, action=action, resource=f"case:{case_id}",
              outcome="not_found" if case is None else "denied", purpose=purpose_of(request, "signalering"))
        raise NotFoundError(MSG_CASE_NOT_FOUND)
    return case


def _detail(session: Session, request: Request, principal: Principal, case: Any, action: str) -> CaseDetail:
    from riskscore.store.cases import ALLOWED_TRANSITIONS, case_history, case_outcomes

    audit(session, request, principal, action=action, resource=f"student:{case.student_id}", outcome="allowed",
          purpose=purpose_of(request, "signalering"))
    session.refresh(case)
    row = rows_for(session, [case], principal.role)[0]
    history = [{"id": e.id, "at": e.at, "actor": e.actor, "action": e.action, "from_status": e.from_status,
                "to_status": e.to_status, "note": e.note} for e in case_history(session, case.id)]
    outcomes = [{"id": o.id, "outcome": o.outcome, "worth_conversation": o.worth_conversation, "note": o.note,
                 "recorded_by": o.recorded_by, "recorded_at": o.recorded_at} for o in case_outcomes(session, case.id)]
    return CaseDetail.model_validate({**row, "allowed_transitions": sorted(ALLOWED_TRANSITIONS[case.status]),
                                      "history": history, "outcomes": outcomes})


@router.get("/{case_id:int}", response_model=CaseDetail, summary="A review case with its history and outcomes.",
            responses=_ERRORS)
def read_case(case_id: CaseId, request: Request, principal: PrincipalDep, session: SessionDep) -> CaseDetail:
    require_role(principal, CASE_READ_ROLES, "read review cases")
    case = _visible(session, request, principal, case_id, "case.read")
    return _detail(session, request, principal, case, "case.read")


@router.post("/{case_id:int}/transition", response_model=CaseDetail, responses=_WRITE_ERRORS,
             summary="Change the case status (invalid transitions: 409 naming the allowed ones).")
def transition(case_id: CaseId, body: TransitionIn, request: Request, principal: PrincipalDep,
               session: SessionDep) -> CaseDetail:
    from riskscore.store.cases import transition_case

    require_role(principal, STUDENT_ROLES, "change review cases")
    case = _visible(session, request, principal, case_id, "case.transition")
    transition_case(session, case.id, body.to_status, actor=actor_of(principal), note=body.note)
    return _detail(session, request, principal, case, "case.transition")


@router.post("/{case_id:int}/assign", response_model=CaseDetail, responses=_WRITE_ERRORS,
             summary="Set or clear the reviewer who owns the case.")
def assign(case_id: CaseId, body: AssignIn, request: Request, principal: PrincipalDep,
           session: SessionDep) -> CaseDetail:
    from riskscore.store.cases import assign_case

    require_role(principal, STUDENT_ROLES, "change review cases")
    case = _visible(session, request, principal, case_id, "case.assign")
    assign_case(session, case.id, body.owner, actor=actor_of(principal))
    return _detail(session, request, principal, case, "case.assign")


@router.post("/{case_id:int}/notes", response_model=CaseDetail, responses=_WRITE_ERRORS,
             summary="Add a note to the case history.")
def note(case_id: CaseId, body: NoteIn, request: Request, principal: PrincipalDep, session: SessionDep) -> CaseDetail:
    from riskscore.store.cases import add_note

    require_role(principal, STUDENT_ROLES, "change review cases")
    case = _visible(session, request, principal, case_id, "case.note")
    add_note(session, case.id, body.note, actor=actor_of(principal))
    return _detail(session, request, principal, case, "case.note")


@router.post("/{case_id:int}/outcome", response_model=CaseDetail, responses=_WRITE_ERRORS,
             summary="Record what the review found (outcome, worth a conversation, note).")
def outcome(case_id: CaseId, body: OutcomeIn, request: Request, principal: PrincipalDep,
            session: SessionDep) -> CaseDetail:
    from riskscore.store.cases import check_outcome, record_outcome

    require_role(principal, STUDENT_ROLES, "change review cases")
    case = _visible(session, request, principal, case_id, "case.outcome")
    check_outcome(case.role, body.outcome)
    record_outcome(session, case.id, outcome=body.outcome, worth_conversation=body.worth_conversation,
                   recorded_by=actor_of(principal), note=body.note)
    return _detail(session, request, principal, case, "case.outcome")
