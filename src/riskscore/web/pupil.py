"""The pupil page and the work after the signal: why the pupil is on the list, the score with its reasons,
the timeline, and the forms a team records its work with — take a case or hand it over, the plan (steps,
done, follow-up check), the school's report to DUO, the letter to the parents, the review (status,
outcome, note).

Same access rules as the API (api/routes/cases.py): a case is its own team's (access.view.sees_case), a
pupil outside the scope — mentor groups included — looks exactly like an unknown one (404), every view
and write is audited before anything is shown. Every form is POST + CSRF token + redirect (PRG); a form
with a mistake saves nothing and comes back with the mistake named, in the reader's language. A thin
caller: the store keeps, the review core decides (review.duties, review.plans, review.letters,
review.timeline), the role view cuts."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from riskscore.access import Place, Principal, sees_case
from riskscore.errors import DataError, NotFoundError
from riskscore.review import duties, letters, plans
from riskscore.service.deps import STUDENT_ROLES, SessionDep, access_entry, require_student_in_scope
from riskscore.store.audit import append_audit_many
from riskscore.store.cases import (
    ALLOWED_TRANSITIONS,
    MSG_CASE_NOT_FOUND,
    MSG_CONCURRENT_CHANGE,
    MSG_NOT_ACTIVE,
    MSG_NOT_REPORTABLE,
    MSG_REPORT_DATE,
    InvalidTransitionError,
    add_action,
    assign_case,
    case_event,
    case_signals,
    complete_action,
    get_case,
    record_event,
    record_follow_up,
    record_report,
    save_review,
)
from riskscore.store.registrations import current_groups
from riskscore.store.runs import case_scores, latest_visible_score
from riskscore.store.users import colleagues
from riskscore.web import i18n
from riskscore.web.auth import check_csrf, require_principal, require_roles
from riskscore.web.data import (
    CaseView,
    TimelineView,
    contribution_bars,
    hour_bars,
    pupil_cases,
    pupil_timeline,
    read_pupil_tables,
    redacted,
    student_cases,
    timeline_end,
    visible_triggers,
)
from riskscore.web.pages import WebRoute, lang_of, redirect, render

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from riskscore.store.models import ReviewCase

router = APIRouter(route_class=WebRoute, include_in_schema=False)

STUDENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_NOTE = 2000
MAX_REFERENCE = 64
MAX_CONTACT = 200
PURPOSE_STUDENT = "signalering"
PURPOSE_REVIEW = "beoordeling"
#: the saved-message of each form (?what=… after the redirect)
SAVED = {"review": "saved", "take": "saved_take", "assign": "saved_assign", "plan": "saved_plan",
         "done": "saved_done", "follow_up": "saved_follow_up", "report": "saved_report"}
#: a plan step's default date: a week from today (the team changes it)
STEP_DAYS = 7


def _audit(session: Session, request: Request, principal: Principal, *, action: str, resource: str, outcome: str,
           purpose: str) -> None:
    append_audit_many(session, [access_entry(request, principal, action=action, resource=resource, outcome=outcome,
                                             purpose=purpose)])


def _state(request: Request) -> Any:
    return request.app.state.riskscore


# --- reading the page ----------------------------------------------------------------------------------------
def _visible(request: Request, session: Session, principal: Principal, student_id: str, *,
             lang: str) -> tuple[dict[str, Any] | None, list[CaseView], TimelineView]:
    """The score this principal may see beside the pupil's cases (the case's own score, else the newest
    score stamped inside its scope), cut by the role view; the viewer's own team's cases with everything
    their forms need; the timeline. NotFoundError unless the pupil's registrations place them in the
    scope (audited as unknown or out of scope — the page never says which)."""
    resource = f"student:{student_id}"
    if not STUDENT_ID.match(student_id):
        raise NotFoundError("student not found")
    require_student_in_scope(session, request, principal, student_id, action="student.view", purpose=PURPOSE_STUDENT)
    cases = pupil_cases(session, student_id, principal)
    chosen = case_scores(session, cases)
    picked = next((chosen[c.id] for c in cases if c.id in chosen), None)
    if picked is None:
        latest = latest_visible_score(session, student_id, principal)
        if latest is not None:
            picked = (latest, "batch")
    if picked is None and not cases:
        _audit(session, request, principal, action="student.view", resource=resource, outcome="not_found",
               purpose=PURPOSE_STUDENT)
        raise NotFoundError("student not found")
    view = None
    if picked is not None:
        score, source = picked
        view = {**redacted(score, principal.role), "source": source, "score_as_of": score.as_of}
        view["triggers"] = visible_triggers(view.get("triggers", []), principal.role, lang)
    elif cases and cases[0].probability is not None:  # no score of its own left: the case's, labelled so
        case = cases[0]
        view = {"probability": case.probability, "band": case.band, "reasons": [], "triggers": [], "source": "case",
                "score_as_of": case.as_of, "as_of": case.as_of, "model_version": "–", "scored_at": case.opened_at}
    today = duties.today()
    group = current_groups(session, [student_id], today).get(student_id) if principal.role == "school" else None
    views = student_cases(session, cases, principal, lang=lang, group=group, today=today,
                          triggers=view["triggers"] if view else ())
    state = _state(request)
    tables = read_pupil_tables(state.settings.resolved_data_dir(), student_id)
    tl = pupil_timeline(tables, views, principal, lang=lang, calendar=state.calendar(),
                        rule_config=state.rule_config(), end=timeline_end(cases, view, today))
    return view, views, tl


@router.get("/students/{student_id}")
def student_page(request: Request, session: SessionDep, student_id: str, saved: str | None = None,
                 what: str | None = None) -> HTMLResponse:
    principal = require_principal(request, session)
    require_roles(principal, STUDENT_ROLES, "error_403_student")
    lang = lang_of(request)
    score, cases, tl = _visible(request, session, principal, student_id, lang=lang)
    _audit(session, request, principal, action="student.view", resource=f"student:{student_id}",
           outcome="allowed", purpose=PURPOSE_STUDENT)
    return _render(request, session, principal, student_id, score, cases, tl,
                   saved=SAVED.get(what or "review", "saved") if saved else None)


def _render(request: Request, session: Session, principal: Principal, student_id: str, score: dict[str, Any] | None,
            cases: list[CaseView], tl: TimelineView, *, saved: str | None, status_code: int = 200,
            errors: dict[str, list[str]] | None = None, forms: dict[str, dict[str, str]] | None = None) -> HTMLResponse:
    lang = lang_of(request)
    shown = {s.rule_id for cv in cases for s in cv.signals if s.rule_id}
    other_triggers = [t for t in (score or {}).get("triggers", []) if t.get("id") not in shown]
    today = duties.today()
    return render(
        request, "student.html", status_code=status_code, student_id=student_id, score=score,
        bars=contribution_bars(score["reasons"], lang) if score else [], triggers=other_triggers, cases=cases,
        saved=saved, errors=errors or {}, forms=forms or {}, max_note=MAX_NOTE, max_reference=MAX_REFERENCE,
        max_contact=MAX_CONTACT, days_left=lambda n: i18n.days_left(n, lang), tl=tl.timeline, tl_missing=tl.missing,
        tl_bars=hour_bars(tl.timeline) if tl.timeline else {}, me=principal.actor_id, today=today,
        step_default=today + dt.timedelta(days=STEP_DAYS), follow_up_default=duties.follow_up_on(today),
        follow_up_results=plans.FOLLOW_UP_RESULTS, hours=lambda x: i18n.hours(x, lang))


# --- the forms ------------------------------------------------------------------------------------------------
def _own_case(request: Request, session: Session, principal: Principal, case_id: int, action: str) -> ReviewCase:
    """The case when it is this principal's team's and the pupil lies in its scope (mentor groups
    included); otherwise the same 404 as for a missing case, audited as which it was."""
    resource = f"case:{case_id}"
    try:
        case = get_case(session, case_id, principal=principal)
        if not sees_case(principal, case):
            raise NotFoundError(MSG_CASE_NOT_FOUND)
    except NotFoundError:
        _audit(session, request, principal, action=action, resource=resource, outcome="not_found",
               purpose=PURPOSE_REVIEW)
        raise
    require_student_in_scope(session, request, principal, case.student_id, action=action, purpose=PURPOSE_REVIEW)
    return case


def _begin(request: Request, session: Session, csrf_token: str, case_id: int, action: str) -> tuple[Principal, ReviewCase, str]:
    principal = require_principal(request, session)
    check_csrf(request, csrf_token)
    require_roles(principal, STUDENT_ROLES, "error_403_student")
    return principal, _own_case(request, session, principal, case_id, action), lang_of(request)


def _done(request: Request, session: Session, principal: Principal, case: ReviewCase, action: str, what: str,
          errors: list[str], *, form: str, values: dict[str, str], target: str | None = None) -> Response:
    """Audit the write, then redirect to the pupil page (saved) — or show it again with the errors (400)."""
    _audit(session, request, principal, action=action, resource=f"case:{case.id}",
           outcome="denied" if errors else "allowed", purpose=PURPOSE_REVIEW)
    student_id = case.student_id
    if not errors:
        query = {"saved": case.id, **({"what": what} if what != "review" else {})}
        return redirect(target or f"/students/{quote(student_id, safe='')}?{urlencode(query)}#case-{case.id}")
    session.expire_all()
    lang = lang_of(request)
    score, cases, tl = _visible(request, session, principal, student_id, lang=lang)
    key = f"{case.id}:{form}"
    return _render(request, session, principal, student_id, score, cases, tl, saved=None, status_code=400,
                   errors={key: errors}, forms={key: values})


def _team(session: Session, case: ReviewCase) -> set[str]:
    """The actor ids of the people a case can go to: its team's, whose scope (groups included) holds the pupil."""
    group = current_groups(session, [case.student_id], duties.today()).get(case.student_id) \
        if case.role == "school" else None
    return {actor for actor, _ in colleagues(session, role=case.role, place=Place(
        case.school_id, case.municipality, case.rmc_region, group))}


def _date(text: str, lang: str, errors: list[str], *, field: str, required: bool = True) -> dt.date | None:
    value = text.strip()
    if not value:
        if required:
            errors.append(i18n.translate("err_date_missing", lang, field=i18n.translate(field, lang)))
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors.append(i18n.translate("err_date", lang, field=i18n.translate(field, lang)))
        return None


#: the store's refusals (its message constants) in the reader's words
STORE_ERRORS = {MSG_NOT_ACTIVE: "err_not_active", MSG_CONCURRENT_CHANGE: "err_concurrent",
                MSG_NOT_REPORTABLE: "err_not_reportable", MSG_REPORT_DATE: "err_report_future"}


def _store_error(exc: DataError, lang: str) -> str:
    """A store's refusal in the reader's words (the store's own message only when none fits)."""
    key = STORE_ERRORS.get(str(exc))
    return i18n.translate(key, lang) if key else str(exc)


@router.post("/cases/{case_id:int}/review")
def review_case(
    request: Request, session: SessionDep, case_id: int,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    to_status: Annotated[str, Form(max_length=40)] = "",
    outcome: Annotated[str, Form(max_length=64)] = "",
    worth_conversation: Annotated[str, Form(max_length=10)] = "",
    note: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """Status, outcome and note in one save (one transaction: all kept, or nothing)."""
    principal, case, lang = _begin(request, session, csrf_token, case_id, "case.review")
    errors: list[str] = []
    to_status, outcome, note_text = to_status.strip(), outcome.strip(), note.strip()
    worth = {"yes": True, "no": False}.get(worth_conversation.strip())
    if to_status and to_status != case.status:
        if to_status not in ALLOWED_TRANSITIONS[case.status]:
            errors.append(i18n.translate("err_bad_status", lang, status=i18n.label("status", case.status, lang)))
    else:
        to_status = ""
    if outcome and outcome not in plans.outcomes_for(case.role):
        errors.append(i18n.translate("err_bad_outcome", lang))
    if outcome and worth is None:
        errors.append(i18n.translate("err_worth_required", lang))
    if len(note_text) > MAX_NOTE:
        errors.append(i18n.translate("err_note_long", lang, n=MAX_NOTE))
    if not (to_status or outcome or note_text):
        errors.append(i18n.translate("err_nothing", lang))
    if not errors:
        try:
            save_review(session, case.id, actor=principal.actor_id, to_status=to_status or None,
                        outcome=outcome or None, worth_conversation=worth if outcome else None,
                        note=note_text or None)
        except InvalidTransitionError:
            errors.append(i18n.translate("err_concurrent", lang))
        except DataError as exc:
            errors.append(_store_error(exc, lang))
    return _done(request, session, principal, case, "case.review", "review", errors, form="review",
                 values={"to_status": to_status, "outcome": outcome, "worth_conversation": worth_conversation,
                         "note": note})


@router.post("/cases/{case_id:int}/take")
def take_case(request: Request, session: SessionDep, case_id: int,
              csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """"Neem deze casus": the person becomes the owner."""
    principal, case, lang = _begin(request, session, csrf_token, case_id, "case.assign")
    errors: list[str] = []
    if case.owner != principal.actor_id:
        try:
            assign_case(session, case.id, principal.actor_id, actor=principal.actor_id)
        except DataError as exc:
            errors.append(_store_error(exc, lang))
    return _done(request, session, principal, case, "case.assign", "take", errors, form="owner", values={})


@router.post("/cases/{case_id:int}/assign")
def hand_over(request: Request, session: SessionDep, case_id: int,
              csrf_token: Annotated[str, Form(max_length=200)] = "",
              owner: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Hand the case over to a colleague of the same team (someone whose scope holds the pupil)."""
    principal, case, lang = _begin(request, session, csrf_token, case_id, "case.assign")
    errors: list[str] = []
    if owner.strip() not in _team(session, case):
        errors.append(i18n.translate("err_pick_colleague", lang))
    else:
        try:
            assign_case(session, case.id, owner.strip(), actor=principal.actor_id)
        except DataError as exc:
            errors.append(_store_error(exc, lang))
    return _done(request, session, principal, case, "case.assign", "assign", errors, form="owner",
                 values={"owner": owner})


@router.post("/cases/{case_id:int}/plan")
def plan_step(request: Request, session: SessionDep, case_id: int,
              csrf_token: Annotated[str, Form(max_length=200)] = "",
              kind: Annotated[str, Form(max_length=40)] = "",
              owner: Annotated[str, Form(max_length=200)] = "",
              due_on: Annotated[str, Form(max_length=20)] = "",
              note: Annotated[str, Form(max_length=20_000)] = "") -> Response:
    """A step of the plan: who does what by when."""
    principal, case, lang = _begin(request, session, csrf_token, case_id, "case.plan")
    errors: list[str] = []
    if kind not in plans.ACTION_KINDS.get(case.role, ()):
        errors.append(i18n.translate("err_step_kind", lang))
    due = _date(due_on, lang, errors, field="field_step_due")
    who = owner.strip() or principal.actor_id
    if who not in {principal.actor_id, *_team(session, case)}:
        errors.append(i18n.translate("err_pick_colleague", lang))
    if len(note.strip()) > MAX_NOTE:
        errors.append(i18n.translate("err_note_long", lang, n=MAX_NOTE))
    if not errors:
        try:
            add_action(session, case.id, kind=kind, owner=who, due_on=due, actor=principal.actor_id,
                       note=note.strip() or None)
        except DataError as exc:
            errors.append(_store_error(exc, lang))
    return _done(request, session, principal, case, "case.plan", "plan", errors, form="plan",
                 values={"kind": kind, "owner": owner, "due_on": due_on, "note": note})


@router.post("/cases/{case_id:int}/plan/{action_id:int}/done")
def step_done(request: Request, session: SessionDep, case_id: int, action_id: int,
              csrf_token: Annotated[str, Form(max_length=200)] = "",
              done_on: Annotated[str, Form(max_length=20)] = "",
              result: Annotated[str, Form(max_length=20_000)] = "",
              follow_up_on: Annotated[str, Form(max_length=20)] = "") -> Response:
    """A step is done, with what came of it; its follow-up check is set (default six weeks later)."""
    principal, case, lang = _begin(request, session, csrf_token, case_id, "case.plan")
    errors: list[str] = []
    day = _date(done_on, lang, errors, field="field_done_on")
    check = _date(follow_up_on, lang, errors, field="field_follow_up_on", required=False)
    if day is not None and day > duties.today():
        errors.append(i18n.translate("err_future", lang, field=i18n.translate("field_done_on", lang)))
    if day is not None and check is not None and check <= day:
        errors.append(i18n.translate("err_follow_up_before", lang))
    if len(result.strip()) > MAX_NOTE:
        errors.append(i18n.translate("err_note_long", lang, n=MAX_NOTE))
    if not errors and day is not None:
        try:
            complete_action(session, case.id, action_id, done_on=day, actor=principal.actor_id,
                            result=result.strip() or None, follow_up_on=check)
        except DataError as exc:
            errors.append(_store_error(exc, lang))
    return _done(request, session, principal, case, "case.plan", "done", errors, form=f"done-{action_id}",
                 values={"done_on": done_on, "result": result, "follow_up_on": follow_up_on})


@router.post("/cases/{case_id:int}/plan/{action_id:int}/follow-up")
def follow_up(request: Request, session: SessionDep, case_id: int, action_id: int,
              csrf_token: Annotated[str, Form(max_length=200)] = "",
              result: Annotated[str, Form(max_length=20)] = "",
              note: Annotated[str, Form(max_length=20_000)] = "") -> Response:
    """The follow-up check's result: better, the same, or worse."""
    principal, case, lang = _begin(request, session, csrf_token, case_id, "case.plan")
    errors: list[str] = []
    if result not in plans.FOLLOW_UP_RESULTS:
        errors.append(i18n.translate("err_follow_up_result", lang))
    if len(note.strip()) > MAX_NOTE:
        errors.append(i18n.translate("err_note_long", lang, n=MAX_NOTE))
    if not errors:
        try:
            record_follow_up(session, case.id, action_id, result=result, actor=principal.actor_id,
                             note=note.strip() or None)
        except DataError as exc:
            errors.append(_store_error(exc, lang))
    return _done(request, session, principal, case, "case.plan", "follow_up", errors, form=f"check-{action_id}",
                 values={"result": result, "note": note})


@router.post("/cases/{case_id:int}/duo-report")
def duo_report(request: Request, session: SessionDep, case_id: int,
               csrf_token: Annotated[str, Form(max_length=200)] = "",
               reported_on: Annotated[str, Form(max_length=20)] = "",
               reference: Annotated[str, Form(max_length=200)] = "") -> Response:
    """The school records its report of the 16-hour signal to DUO (date, DUO's reference): its legal duty
    is met, and the attendance officer's case of the pupil shows the report came."""
    principal, case, lang = _begin(request, session, csrf_token, case_id, "case.report")
    errors: list[str] = []
    if case.role != "school":
        raise NotFoundError(MSG_CASE_NOT_FOUND)  # only the school reports; another team has no such form
    today = duties.today()
    day = _date(reported_on, lang, errors, field="field_reported_on")
    if day is not None and day > today:
        errors.append(i18n.translate("err_report_future", lang))
    if len(reference.strip()) > MAX_REFERENCE:
        errors.append(i18n.translate("err_reference_long", lang, n=MAX_REFERENCE))
    if not errors and day is not None:
        try:
            record_report(session, case.id, reported_on=day, reference=reference.strip() or None,
                          actor=principal.actor_id, today=today)
        except DataError as exc:
            errors.append(_store_error(exc, lang))
    return _done(request, session, principal, case, "case.report", "report", errors, form="report",
                 values={"reported_on": reported_on, "reference": reference})


_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@router.post("/cases/{case_id:int}/letter")
def make_letter(request: Request, session: SessionDep, case_id: int,
                csrf_token: Annotated[str, Form(max_length=200)] = "",
                meeting_on: Annotated[str, Form(max_length=20)] = "",
                meeting_at: Annotated[str, Form(max_length=10)] = "",
                contact: Annotated[str, Form(max_length=1000)] = "") -> Response:
    """Make the letter to the parents (school only): nothing is sent; making it is recorded in the
    history (review.letters.summary: the facts and the date offered, never the contact or a name).
    Then the printable letter page."""
    principal, case, lang = _begin(request, session, csrf_token, case_id, "case.letter")
    if case.role != "school":
        raise NotFoundError(MSG_CASE_NOT_FOUND)  # the mentor writes to the parents
    errors: list[str] = []
    day = _date(meeting_on, lang, errors, field="field_meeting_on")
    if day is not None and day < duties.today():
        errors.append(i18n.translate("err_meeting_past", lang))
    at = meeting_at.strip()
    match = _TIME.match(at)
    if not match:
        errors.append(i18n.translate("err_time", lang))
    else:
        at = f"{int(match[1]):02d}:{match[2]}"
    if len(contact.strip()) > MAX_CONTACT:
        errors.append(i18n.translate("err_contact_long", lang, n=MAX_CONTACT))
    target = None
    if not errors and day is not None:
        facts = _facts(session, case, meeting_on=day, meeting_at=at, contact=contact.strip())
        event = record_event(session, case.id, "letter", letters.summary(facts), actor=principal.actor_id)
        target = (f"/cases/{case.id}/letter/{event.id}?"
                  + urlencode({"on": day.isoformat(), "at": at, "contact": contact.strip()}))
    return _done(request, session, principal, case, "case.letter", "letter", errors, form="letter",
                 values={"meeting_on": meeting_on, "meeting_at": meeting_at, "contact": contact}, target=target)


def _facts(session: Session, case: ReviewCase, *, meeting_on: dt.date, meeting_at: str,
           contact: str) -> letters.LetterFacts:
    """The letter's facts from the case: the hours and lesson weeks of its newest absence signal."""
    signals = case_signals(session, [case.id]).get(case.id, [])
    return letters.facts_from_signals(signals, meeting_on=meeting_on, meeting_at=meeting_at, contact=contact)


@router.get("/cases/{case_id:int}/letter/{event_id:int}")
def letter_page(request: Request, session: SessionDep, case_id: int, event_id: int, on: str = "", at: str = "",
                contact: str = "") -> HTMLResponse:
    """The printable letter, in Dutch and in English, for a letter the history records (the event)."""
    principal = require_principal(request, session)
    require_roles(principal, STUDENT_ROLES, "error_403_student")
    case = _own_case(request, session, principal, case_id, "case.letter.view")
    event = case_event(session, case.id, event_id)
    match = _TIME.match(at.strip())
    try:
        day = dt.date.fromisoformat(on.strip())
    except ValueError:
        day = None
    if case.role != "school" or event.action != "letter" or day is None or match is None:
        raise NotFoundError("letter not found")
    facts = _facts(session, case, meeting_on=day, meeting_at=f"{int(match[1]):02d}:{match[2]}",
                   contact=contact.strip()[:MAX_CONTACT])
    nl, en = letters.write(facts, "nl"), letters.write(facts, "en")
    _audit(session, request, principal, action="case.letter.view", resource=f"student:{case.student_id}",
           outcome="allowed", purpose=PURPOSE_REVIEW)
    return render(request, "letter.html", case=case, nl=nl, en=en, max_words=letters.MAX_WORDS,
                  made_at=event.at, back=f"/students/{quote(case.student_id, safe='')}#case-{case.id}")
