"""GET /v1/worklists: a reviewing team's prioritised review cases, within the caller's scope and role.

Order: legal deadlines first (earliest due date), then calibrated probability (highest first). Rows
carry the latest score's reasons and triggers, cut by the role view (access.view). data_team and admin
never see single pupils (403)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session

from riskscore.access import Principal, view_reasons, view_triggers
from riskscore.api.schemas import (
    Band,
    CaseRow,
    CaseStatus,
    DataIncompleteSchool,
    ErrorBody,
    ReviewerRole,
    WorklistResponse,
)
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

router = APIRouter(prefix="/v1/worklists", tags=["review"])

#: roles that may read review cases (data_team and admin work with aggregates only)
CASE_READ_ROLES = STUDENT_ROLES
MSG_OTHER_ROLE = "role '{role}' may not read the '{other}' worklist"
MAX_LIMIT = 500


def actor_of(principal: Principal) -> str:
    """Who, for the case history: the key's label and id (never the key)."""
    return f"{principal.label[:90]} ({principal.key_id})"


def case_row(case: Any, score: Any, role: str, source: str | None = None) -> dict[str, Any]:
    """A case with the score that belongs to it (store.runs.case_scores: the case's own scope only),
    its date and source, cut by the role view (access.view)."""
    from riskscore.rules import RULES

    triggers = list(score.triggers or []) if score is not None else []
    rule_id = case.reason.removeprefix("rule:") if case.reason.startswith("rule:") else None
    if rule_id is not None and rule_id in RULES and not any(t.get("id") == rule_id for t in triggers):
        rule = RULES[rule_id]  # the score lacks it (e.g. no longer enrolled): show the case's own trigger
        triggers.append({"id": rule_id, "source": rule.source, "role": rule.role, "fired_on": None,
                         "due_date": case.due_date.isoformat() if case.due_date else None, "detail": None})
    reasons = view_reasons(list(score.reasons or []) if score is not None else [], role)
    return {
        "case_id": case.id, "student_id": case.student_id, "school_id": case.school_id,
        "municipality": case.municipality, "rmc_region": case.rmc_region, "role": case.role,
        "case_reason": case.reason, "as_of": case.as_of, "age": score.age if score is not None else None,
        "probability": score.probability if score is not None else case.probability,
        "band": score.band if score is not None else case.band, "reasons": reasons,
        "triggers": view_triggers(triggers, role), "due_date": case.due_date, "status": case.status,
        "owner": case.owner, "priority": case.priority, "opened_at": case.opened_at, "updated_at": case.updated_at,
        "score_as_of": score.as_of if score is not None else None, "score_source": source,
    }


def rows_for(session: Session, cases: list[Any], role: str) -> list[dict[str, Any]]:
    from riskscore.store.runs import case_scores

    scores = case_scores(session, cases)
    rows = []
    for c in cases:
        score, source = scores.get(c.id, (None, None))
        rows.append(case_row(c, score, role, source))
    return rows


@router.get("", response_model=WorklistResponse, summary="A team's prioritised review cases.",
            responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 422: {"description": "Invalid filter."}})
def worklist(
    request: Request, principal: PrincipalDep, session: SessionDep, state: StateDep,
    role: Annotated[ReviewerRole | None, Query(description="Reviewing role; default the caller's own (admin: all).")] = None,
    team: Annotated[str | None, Query(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$",
                                      description="Team unit: school id (school), GM code (leerplicht), RMC region (rmc, jeugdarts).")] = None,
    school: Annotated[str | None, Query(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$",
                                        description="Only cases of this school (BRIN) id.")] = None,
    band: Annotated[Band | None, Query(description="Only this band.")] = None,
    status: Annotated[CaseStatus | None, Query(description="Only this status; default the active ones (open, in_review, contacted, referred).")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most this many rows: the team's capacity.")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Skip this many rows (paging).")] = 0,
) -> WorklistResponse:
    """Roles school, jeugdarts, leerplicht, rmc see their own role's cases in their scope; admin sees all;
    data_team is refused (403). Every read is audited (one entry per pupil shown, and one for the list)."""
    from riskscore.store.cases import ACTIVE_STATUSES, list_worklist

    require_role(principal, CASE_READ_ROLES, "read worklists")
    if role is not None and role != principal.role:
        raise ForbiddenError(MSG_OTHER_ROLE.format(role=principal.role, other=role))
    role = principal.role  # type: ignore[assignment]
    cases = list_worklist(session, principal=principal, role=role, bands=[band] if band else None,
                          statuses=[status] if status else ACTIVE_STATUSES, limit=limit, offset=offset,
                          school_id=school, team=team)
    rows = rows_for(session, cases, principal.role)
    purpose = purpose_of(request, "signalering")
    # one transaction, written before any data leaves the service: the list, then every pupil on it
    audit_many(session, request, principal, action="worklist.read", outcome="allowed", purpose=purpose,
               resources=[f"worklist:{role or '*'}:{team or school or '*'}"[:200],
                          *(f"student:{row['student_id']}" for row in rows)])
    expected = float(sum(r["probability"] for r in rows if r["probability"] is not None))
    from riskscore.store.incomplete import data_incomplete_schools

    incomplete = [s for s in data_incomplete_schools(session, principal, reasons=state.incomplete_reasons())
                  if school is None or s["school_id"] == school]
    return WorklistResponse(role=role, team=team, count=len(rows), expected_true_cases=round(expected, 4),
                            rows=[CaseRow.model_validate(r) for r in rows],
                            data_incomplete=[DataIncompleteSchool.model_validate(s) for s in incomplete])
