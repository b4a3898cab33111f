"""POST /v1/scores: score pupils from their raw events, store the results, return them cut to the role.

The service computes features and legal triggers itself through the one scoring core
(riskscore.scoring, the same code as `riskscore score`); a caller can no longer assert a trigger.
A pupil's place (school, municipality, RMC region) comes from the imported registrations on the
as-of date (access.scope), never from the body and never from whoever scored the pupil first: a caller
can only score pupils registered inside its scope, and the score is stamped with that registration.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError

from riskscore.access import Place, Principal, Span, place_for, view_result
from riskscore.api.schemas import (
    FUTURE_SLACK,
    ErrorBody,
    ScoreRequest,
    ScoreResponse,
    ScoreResult,
    StudentEvents,
)
from riskscore.clock import today as school_today
from riskscore.errors import MSG_DB_UNAVAILABLE, StoreError
from riskscore.service.deps import (
    STUDENT_ROLES,
    BundleDep,
    FastPrincipalDep,
    ForbiddenError,
    StateDep,
    access_entry,
    purpose_of,
    require_role,
)
from riskscore.service.lane import Lane, LaneJob
from riskscore.service.state import Loaded, ServiceState
from riskscore.service.writer import writer_for
from riskscore.store.registrations import spans_of

router = APIRouter(prefix="/v1/scores", tags=["scores"])

MSG_OUT_OF_SCOPE = ("no registration places the students at positions {positions} inside your scope on their "
                    "as-of date; nothing was scored")
MSG_OTHER_SCHOOL = "does not match the school of this pupil's registration on {as_of} ({school})"
MSG_BATCH = "at most {limit} students per request"
MSG_NOT_ENROLLED = "not enrolled on {as_of} according to these enrolments: nothing to score"
MSG_DUPLICATE = "student_id appears more than once in this request (first at position {first})"

def score_students(state: ServiceState, loaded: Loaded, students: Sequence[StudentEvents], places: Mapping[str, Place], *,
                   objecting: frozenset[str], incomplete_schools: frozenset[str]) -> list[dict[str, object]]:
    """The scoring core per as-of date; results in request order, each stamped with the place of the
    pupil's registration (``places``, from place_for)."""
    from riskscore import scoring
    from riskscore.api.events import to_tables

    groups: dict[dt.date, list[StudentEvents]] = defaultdict(list)
    for s in students:
        groups[s.reference_date()].append(s)
    by_id: dict[str, scoring.ScoredStudent] = {}
    for as_of, group in groups.items():
        try:
            result = scoring.score_events(to_tables(group), as_of, loaded.bundle, rule_config=state.rule_config(),
                                          calendar=state.calendar(), routing=state.routing, objecting=objecting,
                                          incomplete_schools=incomplete_schools, source="the request",
                                          today=school_today() + FUTURE_SLACK)  # as the request model allows
        except scoring.NothingToScoreError:
            continue  # nobody of this date is enrolled: named per pupil below
        by_id.update(result.by_id())
    out: list[dict[str, object]] = []
    for i, s in enumerate(students):
        scored = by_id.get(s.student_id)
        if scored is None:  # its own enrolments say it was not enrolled on as_of, and no rule fired
            raise RequestValidationError([{"type": "value_error", "input": None,
                                           "loc": ("body", "students", i, "enrolments"),
                                           "msg": MSG_NOT_ENROLLED.format(as_of=s.reference_date())}])
        place = places[s.student_id]  # the registrations decide where the pupil belongs, not the body
        scored = dataclasses.replace(scored, school_id=place.school_id, municipality=place.municipality,
                                     rmc_region=place.rmc_region)
        out.append(scored.to_dict())
    return out


# --- the batch: what the scoring lane runs for the requests that arrived together --------------------------
@dataclass(frozen=True)
class _Request:
    principal: Principal
    loaded: Loaded
    students: list[StudentEvents]
    #: the audit entry about one pupil: (resource, outcome) -> entry (service.deps.access_entry)
    entry: Callable[[str, str], dict[str, Any]]


class _OutOfScope(Exception):
    """Some pupils are not registered inside the caller's scope on their as-of date (audited, then 403)."""

    def __init__(self, positions: list[int]) -> None:
        super().__init__(positions)
        self.positions = positions


def _places(req: _Request, spans: Mapping[str, Sequence[Span]]) -> dict[str, Place]:
    """Where the caller may act for each pupil on its as-of date: from the registrations, never the body."""
    places: dict[str, Place] = {}
    outside = []
    for i, s in enumerate(req.students):
        place = place_for(req.principal, spans.get(s.student_id, ()), s.reference_date())
        if place is None:
            outside.append(i)
        else:
            places[s.student_id] = place
    if outside:
        raise _OutOfScope(outside)
    wrong = [{"type": "value_error", "loc": ("body", "students", i, "student", "school_id"), "input": None,
              "msg": MSG_OTHER_SCHOOL.format(as_of=s.reference_date(), school=places[s.student_id].school_id)}
             for i, s in enumerate(req.students) if s.student.school_id != places[s.student_id].school_id]
    if wrong:  # the events would be read with another school's calendar: say so, score nothing
        raise RequestValidationError(wrong[:20])
    return places


#: joins a pupil's id and a counter into the name of its second (third…) copy inside one pass of the scoring
#: core: '#' is outside the id alphabet (StudentId), so an alias never meets a real id
ALIAS_MARK = "#"


@dataclass
class _Pass:
    """Requests scored in one pass of the scoring core: one model, each pupil once (a pupil pushed by two
    requests at the same time is scored twice under an alias)."""

    loaded: Loaded
    members: list[tuple[LaneJob[_Request], list[StudentEvents], dict[str, Place]]]
    seen: set[str]


def _alias(students: list[StudentEvents], places: dict[str, Place], seen: set[str]) -> tuple[list[StudentEvents],
                                                                                             dict[str, Place]]:
    """The request's pupils, renamed where the pass already holds the same id (their events must not mix)."""
    out, named = [], {}
    for s in students:
        sid = s.student_id
        if sid in seen:
            alias = f"{sid}{ALIAS_MARK}{len(seen)}"
            s = s.model_copy(update={"student_id": alias})
        seen.add(s.student_id)
        out.append(s)
        named[s.student_id] = places[sid]
    return out, named


def score_batch(state: ServiceState, jobs: list[LaneJob[_Request]]) -> None:
    """Score, store and audit the requests of one lane batch: one read of the registrations (scope),
    objections and incomplete exports for all their pupils; each request's scope check on its own; ONE
    pass of the scoring core over every pupil of the requests that passed (per model); then ONE write
    transaction with every score and audit entry of the batch (the refusals' entries too) before any
    request is answered — acknowledged means durable, and nothing leaves before its audit entry.

    A pass's result for a pupil is the result it gets alone (features, rules and reasons read a pupil's
    own rows only; the compiled model adds a row's terms in the same order at any batch size). Anything
    that fails in a shared pass or write is redone request by request, so an error (and its positions)
    belongs to the request that caused it. Each job's result: its pupils' results, in its order."""
    ids = list(dict.fromkeys(s.student_id for job in jobs for s in job.payload.students))
    if state.sessions is None:
        raise StoreError(MSG_DB_UNAVAILABLE)
    with state.sessions() as session:
        spans = spans_of(session, ids)
        objecting = state.objecting(session, ids)
        incomplete = state.incomplete_schools(session)
    outcome: dict[int, list[dict[str, Any]] | BaseException] = {}
    places_of: dict[int, dict[str, Place]] = {}
    passes: list[_Pass] = []
    for job in jobs:
        req = job.payload
        try:
            places = places_of[id(job)] = _places(req, spans)
        except Exception as exc:
            outcome[id(job)] = exc
            continue
        this = next((p for p in passes if p.loaded is req.loaded), None)
        if this is None:
            this = _Pass(req.loaded, [], set())
            passes.append(this)
        students, named = _alias(req.students, places, this.seen)
        this.members.append((job, students, named))
    for this in passes:
        if len(this.members) > 1:
            aliased = {s.student_id: s.student_id.split(ALIAS_MARK, 1)[0] for _, students, _ in this.members
                       for s in students if ALIAS_MARK in s.student_id}
            try:
                results = score_students(state, this.loaded, [s for _, students, _ in this.members for s in students],
                                         {k: v for _, _, named in this.members for k, v in named.items()},
                                         objecting=objecting | {a for a, sid in aliased.items() if sid in objecting},
                                         incomplete_schools=incomplete)
            except Exception:
                pass  # redone request by request below: the error belongs to one of them
            else:
                start = 0
                for job, students, _ in this.members:
                    mine = results[start:start + len(students)]
                    start += len(students)
                    outcome[id(job)] = [{**r, "student_id": aliased.get(str(r["student_id"]), r["student_id"])}
                                        for r in mine]
                continue
        for job, _, _ in this.members:
            req = job.payload
            try:
                outcome[id(job)] = score_students(state, this.loaded, req.students, places_of[id(job)],
                                                  objecting=objecting, incomplete_schools=incomplete)
            except Exception as exc:
                outcome[id(job)] = exc
    # the write: every result with its audit entry, and every refusal's entries, in one transaction
    parts: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []
    written: list[LaneJob[_Request]] = []
    for job in jobs:
        got, req = outcome[id(job)], job.payload
        if isinstance(got, _OutOfScope):  # the attempt is audited too: scoring outside one's scope is worth seeing
            parts.append(([], [req.entry(f"student:{req.students[i].student_id}", "denied") for i in got.positions]))
        elif isinstance(got, list):
            parts.append((got, [req.entry(f"student:{r['student_id']}", "allowed") for r in got]))
        else:
            continue
        written.append(job)
    errors = writer_for(state).write_here(parts) if parts else []
    for job, error in zip(written, errors, strict=True):
        if error is not None:
            outcome[id(job)] = error
    for job in jobs:
        got = outcome[id(job)]
        if isinstance(got, BaseException):
            job.settle(error=got)
        else:
            job.settle(got)


def lane_for(state: ServiceState) -> Lane[_Request]:
    """The state's scoring lane, created on first use (all on the event loop: no lock needed)."""
    lane: Lane[_Request] | None = getattr(state, "_score_lane", None)
    if lane is None:
        def observe(pupils: int, seconds: float) -> None:
            state.metrics.lane_batches.observe(pupils)
            state.metrics.lane_seconds.observe(seconds)

        lane = Lane(lambda jobs: score_batch(state, jobs), observe=observe)
        state._score_lane = lane  # type: ignore[attr-defined]
    return lane


@router.post("", response_model=ScoreResponse, summary="Score pupils from their events: a signal for review, not a decision.",
             responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 413: {"model": ErrorBody},
                        503: {"model": ErrorBody}})
async def score(body: ScoreRequest, request: Request, state: StateDep, principal: FastPrincipalDep,
                loaded: BundleDep) -> Response:
    """Roles school, jeugdarts, leerplicht, rmc, each only for pupils in its scope (else 403 naming the
    positions; nothing is scored or stored). The service derives features and legal triggers (with
    their due dates, from the configured rules) from the events. Each result is stored
    (GET /v1/students/{id}/score returns the latest) and audited before the answer is sent."""
    # async on purpose: the CPU work runs in the scoring lane (service/lane.py), one batch at a time on the
    # event loop, instead of one threadpool thread per request fighting over the GIL
    require_role(principal, STUDENT_ROLES, "score students")
    limit = state.settings.max_batch
    if len(body.students) > limit:
        raise RequestValidationError([{"type": "too_long", "loc": ("body", "students"),
                                       "msg": MSG_BATCH.format(limit=limit), "input": None,
                                       "ctx": {"max_length": limit}}])
    first: dict[str, int] = {}
    for i, s in enumerate(body.students):
        if s.student_id in first:
            raise RequestValidationError([{"type": "value_error", "loc": ("body", "students", i, "student_id"),
                                           "msg": MSG_DUPLICATE.format(first=first[s.student_id]), "input": None}])
        first[s.student_id] = i
    entry = partial(_entry, request, principal, purpose_of(request, "signalering"))
    try:
        results: list[dict[str, Any]] = await lane_for(state).submit(
            _Request(principal, loaded, body.students, entry), size=len(body.students))
    except _OutOfScope as exc:  # (its refusal is audited by the lane, in the batch's write)
        raise ForbiddenError(MSG_OUT_OF_SCOPE.format(positions=exc.positions[:20])) from None
    # scored, stored and audited by the lane (committed before it returned): nothing left before its audit entry
    for r in results:
        state.metrics.scores.labels(band=str(r["band"])).inc()
    out = [ScoreResult.from_result(view_result(r, principal.role)) for r in results]
    # serialised here, once: returned as a model, FastAPI would validate it a second time against
    # response_model (which stays for the documentation) before serialising it
    return Response(ScoreResponse(results=out, model_version=loaded.bundle.version).model_dump_json(),
                    media_type="application/json")


def _entry(request: Request, principal: Principal, purpose: str, resource: str, outcome: str) -> dict[str, Any]:
    return access_entry(request, principal, action="score.write", resource=resource, outcome=outcome, purpose=purpose)
