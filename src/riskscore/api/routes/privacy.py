"""The pupil's rights over HTTP: the dossier (inzage, AVG art. 15), the objection mark (art. 21) and
erasure (art. 17).

Dossier and objection: the reviewing roles, for pupils their registrations place inside their scope
(never from the request); outside it the answer is the same 404 as for a pupil nobody registered. The
dossier is cut by the role view (access.view.view_dossier): the viewer's own team's cases and notes,
scores stamped in its scope, health detail for the jeugdarts only. Erasure: admin only, with a reason. Everything is audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from riskscore.access import view_dossier
from riskscore.api.schemas import MSG_LOOKS_LIKE_BSN, ErrorBody, is_bsn_like
from riskscore.errors import MSG_NOT_FOUND, NotFoundError
from riskscore.ingest.pseudonym import MSG_NOT_A_PSEUDONYM, is_pseudonym
from riskscore.service.deps import (
    ADMIN_ONLY,
    STUDENT_ROLES,
    PrincipalDep,
    SessionDep,
    StateDep,
    audit,
    purpose_of,
    request_id_of,
    require_role,
    require_student_in_scope,
)

router = APIRouter(prefix="/v1", tags=["privacy"])

StudentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                                description="Pseudonymous student id.")]
ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}}


class ObjectionIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="Why the pupil or parent objects (kept, audited).")


class ObjectionOut(BaseModel):
    student_id: str
    objecting: bool = Field(description="True: the model does not score this pupil; the legal rules still run.")
    reason: str | None = None
    recorded_by: str | None = Field(None, description="Key id of who recorded it.")
    recorded_at: str | None = None


class ErasureIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="Why (e.g. request of the parents, date).")


class ErasureOut(BaseModel):
    receipt: str = Field(description="Give this number to the pupil or parent; it is in the audit log too.")
    rows: dict[str, int] = Field(description="Rows deleted per table.")
    audit_entries_erased: int
    files_cleaned: int = Field(description="Files the pupil's rows were deleted from (by key).")
    files_failed: int = Field(0, description="Files of a store's kind that could not be read or changed and were "
                              "left as they were: run `riskscore privacy erase` for the same pupil to see which.")


class Dossier(BaseModel):
    student_id: str
    generated_at: str
    objection: dict[str, Any] | None = None
    scores: list[dict[str, Any]] = Field(description="Every stored score, newest first, with reasons and triggers "
                                         "(legal source included); health detail only for the jeugdarts.")
    cases: list[dict[str, Any]] = Field(description="Review cases with their history and outcomes.")
    access_log: list[dict[str, Any]] = Field(description="Who looked at the file when (from the audit log).")
    notice_nl: str = "Dit is een signaal voor een gesprek, geen besluit."
    notice_en: str = "This is a signal for review, not a decision."


def _refuse_bsn(student_id: str) -> None:
    if is_bsn_like(student_id):  # refused before anything is stored, the audit log included
        raise RequestValidationError([{"type": "value_error", "loc": ("path", "student_id"), "msg": MSG_LOOKS_LIKE_BSN,
                                       "input": None}])


@router.get("/students/{student_id}/dossier", response_model=Dossier, responses=ERRORS,
            summary="Everything stored about a pupil (inzage, AVG art. 15).")
def student_dossier(student_id: StudentId, request: Request, principal: PrincipalDep, session: SessionDep) -> Dossier:
    """Roles school, jeugdarts, leerplicht, rmc, inside their scope. The printable page for the pupil and
    parent is the web page /students/{id}/dossier (or `riskscore privacy export`)."""
    from riskscore.rules import RULES
    from riskscore.store.privacy import dossier

    require_role(principal, STUDENT_ROLES, "read a pupil's dossier")
    _refuse_bsn(student_id)
    purpose = purpose_of(request, "inzage")
    require_student_in_scope(session, request, principal, student_id, action="dossier.read",
                             purpose=purpose)
    audit(session, request, principal, action="dossier.read", resource=f"student:{student_id}", outcome="allowed",
          purpose=purpose)
    data = dossier(session, student_id, rule_sources={k: r.source for k, r in RULES.items()})
    if data is None:  # erased between the two reads
        raise NotFoundError(MSG_NOT_FOUND)
    return Dossier.model_validate(view_dossier(data, principal))


def _objection_out(student_id: str, row: Any) -> ObjectionOut:
    if row is None:
        return ObjectionOut(student_id=student_id, objecting=False)
    return ObjectionOut(student_id=student_id, objecting=True, reason=row.reason, recorded_by=row.recorded_by,
                        recorded_at=row.recorded_at.isoformat())


@router.post("/students/{student_id}/objection", response_model=ObjectionOut, responses=ERRORS,
             summary="Record that a pupil objects to model scoring (AVG art. 21).")
def set_objection(student_id: StudentId, body: ObjectionIn, request: Request, principal: PrincipalDep,
                  session: SessionDep) -> ObjectionOut:
    """Roles school, jeugdarts, leerplicht, rmc, inside their scope. From then on the model does not
    score the pupil (batch, API and web); the legal rules still run, as they are statutory duties."""
    from riskscore.store.privacy import set_objection as store_set

    require_role(principal, STUDENT_ROLES, "record an objection")
    _refuse_bsn(student_id)
    require_student_in_scope(session, request, principal, student_id, action="privacy.objection.set",
                             purpose=purpose_of(request, "avg-21"))
    row = store_set(session, student_id, reason=body.reason, actor=principal.key_id, role=principal.role,
                    request_id=request_id_of(request))
    return _objection_out(student_id, row)


@router.delete("/students/{student_id}/objection", response_model=ObjectionOut, responses=ERRORS,
               summary="Withdraw a pupil's objection.")
def withdraw_objection(student_id: StudentId, request: Request, principal: PrincipalDep,
                       session: SessionDep) -> ObjectionOut:
    """Same roles and scope as recording it. Idempotent: withdrawing when there is none answers
    objecting=false."""
    from riskscore.store.privacy import withdraw_objection as store_withdraw

    require_role(principal, STUDENT_ROLES, "withdraw an objection")
    _refuse_bsn(student_id)
    require_student_in_scope(session, request, principal, student_id, action="privacy.objection.withdraw",
                             purpose=purpose_of(request, "avg-21"))
    store_withdraw(session, student_id, actor=principal.key_id, role=principal.role,
                   request_id=request_id_of(request), missing_ok=True)
    return _objection_out(student_id, None)


@router.post("/admin/students/{student_id}/erasure", response_model=ErasureOut,
             responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
             summary="Erase everything about a pupil (AVG art. 17). Admin only.")
def erase_student(student_id: StudentId, body: ErasureIn, request: Request, principal: PrincipalDep,
                  session: SessionDep, state: StateDep) -> ErasureOut:
    """Deletes the pupil by key in every store of the registry (store/erasure.py): scores, cases, notes,
    outcomes and the objection mark, the content of the audit entries about the pupil (the chain stays
    verifiable), and their rows in raw tables, scored frames, reports, caches and scratch stores. An id
    that is not a pseudonym (64 hex characters, or S + at least 6 digits) is refused with 422 before
    anything is touched. Idempotent: a pupil with nothing stored gives zero counts (and is still recorded)."""
    from riskscore.store.erasure import registry
    from riskscore.store.privacy import erase_student as store_erase

    require_role(principal, ADMIN_ONLY, "erase a pupil's data")
    _refuse_bsn(student_id)
    if not is_pseudonym(student_id):
        raise RequestValidationError([{"type": "value_error", "loc": ("path", "student_id"),
                                       "msg": MSG_NOT_A_PSEUDONYM.format(field="student_id"), "input": None}])
    report = store_erase(session, student_id, reason=body.reason, actor=principal.key_id, role=principal.role,
                         stores=registry(state.settings.erasure_roots()), request_id=request_id_of(request))
    return ErasureOut(receipt=report.receipt, rows=report.rows, audit_entries_erased=report.audit_entries,
                      files_cleaned=len(report.files), files_failed=len(report.failed))
