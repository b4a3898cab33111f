"""GET /v1/worklists: a reviewing team's prioritised review cases, within the caller's scope and role.

A thin caller of the review core: the store lists the team's cases in the core's order (overdue legal
duties first, then legal duties by deadline, then calibrated probability within capacity) and pages them;
review.worklist makes the rows, cut by the role view (access.view). data_team and admin never see single
pupils (403)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from riskscore.access import Principal
from riskscore.api.schemas import (
    Band,
    CaseRow,
    CaseStatus,
    DataIncompleteSchool,
    ErrorBody,
    ReviewerRole,
    WorklistResponse,
)
from riskscore.review import duties
from riskscore.review.worklist import rows
from riskscore.service.deps import (
    STUDENT_ROLES,
    ForbiddenError,
    PrincipalDep,
    SessionDep,
    StateDep,
    audit_many,
    purpose_of,
    require_role,
)
from riskscore.store.cases import (
    ACTIVE_STATUSES,
    WorklistFilter,
    case_parts,
    count_worklist,
    list_worklist_rows,
)
from riskscore.store.incomplete import data_incomplete_schools
from riskscore.store.registrations import mentor_pupils

router = APIRouter(prefix="/v1/worklists", tags=["review"])

#: roles that may read review cases (data_team and admin work with aggregates only)
CASE_READ_ROLES = STUDENT_ROLES
MSG_OTHER_ROLE = "role '{role}' may not read the '{other}' worklist"
MAX_LIMIT = 500


def actor_of(principal: Principal) -> str:
    """Who, for the case history: the person's name or the key's label, with the actor id (never a secret)."""
    return f"{principal.label[:90]} ({principal.actor_id})"


@router.get("", response_model=WorklistResponse, summary="A team's prioritised review cases.",
            responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 422: {"description": "Invalid filter."}})
def worklist(
    request: Request, principal: PrincipalDep, session: SessionDep, state: StateDep,
    role: Annotated[ReviewerRole | None, Query(description="Reviewing role; default (and only) the caller's own.")] = None,
    team: Annotated[str | None, Query(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$",
                                      description="Team unit: school id (school), GM code (leerplicht), RMC region (rmc, jeugdarts).")] = None,
    school: Annotated[str | None, Query(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$",
                                        description="Only cases of this school (BRIN) id.")] = None,
    band: Annotated[Band | None, Query(description="Only this band.")] = None,
    status: Annotated[CaseStatus | None, Query(description="Only this status; default the active ones (open, in_review, contacted, referred).")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most this many rows: the team's capacity.")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Skip this many rows (paging).")] = 0,
) -> WorklistResponse:
    """Roles school, jeugdarts, leerplicht, rmc see their own role's cases in their scope (a person narrowed to
    mentor groups: those groups' pupils only); data_team and admin are refused (403). Every read is audited
    (one entry per pupil shown, and one for the list)."""
    require_role(principal, CASE_READ_ROLES, "read worklists")
    if role is not None and role != principal.role:
        raise ForbiddenError(MSG_OTHER_ROLE.format(role=principal.role, other=role))
    today = duties.today()
    # a person narrowed to mentor groups sees their groups' pupils only (store.registrations)
    mine = mentor_pupils(session, principal, on=today)
    flt = WorklistFilter(principal=principal, role=principal.role, bands=(band,) if band else None,
                         statuses=(status,) if status else ACTIVE_STATUSES, school_id=school, team=team,
                         students=mine)
    listed = list_worklist_rows(session, flt, limit=limit, offset=offset, today=today)
    parts = case_parts(session, [w.case for w in listed])
    shown = rows(listed, viewer=principal, on=today, scores=parts.scores, signals=parts.signals, steps=parts.steps,
                 open_steps=parts.open_steps)
    totals = count_worklist(session, flt, today=today)
    purpose = purpose_of(request, "signalering")
    # one transaction, written before any data leaves the service: the list, then every pupil on it
    audit_many(session, request, principal, action="worklist.read", outcome="allowed", purpose=purpose,
               resources=[f"worklist:{principal.role}:{team or school or '*'}"[:200],
                          *dict.fromkeys(f"student:{r.student_id}" for r in shown)])
    expected = float(sum(r.probability for r in shown if r.probability is not None))
    incomplete = [s for s in data_incomplete_schools(session, principal, reasons=state.incomplete_reasons())
                  if school is None or s["school_id"] == school]
    return WorklistResponse(role=principal.role, team=team, count=len(shown), total=totals["cases"],
                            overdue=totals["overdue"], expected_true_cases=round(expected, 4),
                            rows=[CaseRow.from_row(r) for r in shown],
                            data_incomplete=[DataIncompleteSchool.model_validate(s) for s in incomplete])
