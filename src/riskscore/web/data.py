"""What the pages show, in the reader's words: the worklist and the pupil page are thin callers of the
review core (riskscore.review: duties, next steps, worklist rows, the timeline) and the store for cases
(store.cases: the database orders and pages). Everything is cut by the role view (access.view) exactly as
the API cuts it; no SQL here (store/ only)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from riskscore import datasets, rules
from riskscore.access import Place, Principal, sees_health, view_result, view_triggers
from riskscore.access.view import KNOWS_HEALTH_SIGNAL, is_health_trigger
from riskscore.errors import RiskscoreError
from riskscore.review import duties, plans, timeline
from riskscore.review.worklist import Duty, SignalView, WorklistRow, row, rows
from riskscore.store.actors import actor_labels as store_actor_labels
from riskscore.store.cases import (
    ACTIVE_STATUSES,
    ALLOWED_TRANSITIONS,
    WorklistFilter,
    case_history,
    case_outcomes,
    case_parts,
    cases_of_pupil,
    count_worklist,
    list_worklist_rows,
    reports_for,
)
from riskscore.store.registrations import current_groups, mentor_pupils
from riskscore.store.scores import stored_to_result
from riskscore.store.users import colleagues
from riskscore.web import i18n

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.orm import Session

    from riskscore.calendar import SchoolCalendar
    from riskscore.store.models import CaseAction, CaseEvent, DuoReport, ReviewCase, ReviewOutcome, Score


def redacted(score: Score, role: str) -> dict[str, Any]:
    """The stored score as this role may see it (the role view, access.view)."""
    return view_result(stored_to_result(score), role)


def rule_text(rule_id: str, lang: str, *, viewer: str = "jeugdarts", short: bool = False, config: Any = None) -> str:
    """A rule's title in words with the configured thresholds (short: a few words for the worklist); a
    sick-report (MAZL) rule's title is health information, so other roles get a neutral line instead."""
    if is_health_trigger(rule_id) and not sees_health(viewer):
        return i18n.translate("health_signal", lang)
    if short and f"rule_short_{rule_id}" in i18n.TEXTS:
        return i18n.translate(f"rule_short_{rule_id}", lang)
    if rule_id not in rules.RULES:
        return rule_id
    return rules.rule_text(rule_id, lang, config)


def case_reason_text(reason: str, lang: str, *, viewer: str = "jeugdarts", short: bool = False) -> str:
    if reason == "capacity":
        return i18n.translate("reason_capacity", lang)
    if reason.startswith("rule:"):
        return rule_text(reason[5:], lang, viewer=viewer, short=short)
    return reason


def reason_text(reason: dict[str, Any], lang: str) -> str:
    text = reason.get("text_en") if lang == "en" else reason.get("text_nl")
    return str(text or reason.get("code") or "")


def visible_triggers(triggers: Iterable[dict[str, Any]], viewer: str, lang: str) -> list[dict[str, Any]]:
    """A score's triggers as the viewer may see them (access.view.view_triggers), in words: a withheld
    sick-report signal (the school's view) reads as a signal for the jeugdarts, without date or detail."""
    out = []
    for t in view_triggers(list(triggers), viewer):
        rid = str(t.get("id"))
        if t.get("withheld"):
            out.append({"id": rid, "text": i18n.translate("health_signal", lang), "fired_on": None,
                        "due_date": None, "detail": None, "source": None, "role": "jeugdarts", "withheld": True})
            continue
        out.append(_localised({**t, "text": rule_text(rid, lang, viewer=viewer)}, lang) or {})
    return out


_HOURS = re.compile(r"(\d+(?:\.\d+)?) h\b")
#: why a school deregistered a pupil (the enrolment's dereg_reason code), in words
DEREG_REASONS: dict[str, tuple[str, str]] = {
    "diploma": ("na een diploma", "after a diploma"), "switch": ("overstap", "changed school"),
    "moved": ("verhuisd", "moved away"), "work": ("gaat werken", "went to work"),
    "dropout": ("gestopt met school", "left school"), "other": ("andere reden", "other reason"),
    "": ("reden onbekend", "reason unknown"),
}


def _ordinal_en(n: str) -> str:
    k = int(n)
    return f"{k}{'th' if 10 <= k % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"


def _dereg(m: re.Match[str], lang: str) -> str:
    nl, en = DEREG_REASONS.get(m[1], (m[1], m[1]))
    if lang == "en":
        return f"deregistered ({en}) at age {m[2]}, without a basic qualification (startkwalificatie)"
    return f"uitgeschreven ({nl}), {m[2]} jaar, zonder startkwalificatie"


#: the rule engine writes its trigger detail in Dutch; each pattern here gives it in the reader's words
_DETAIL_WORDS: tuple[tuple[re.Pattern[str], Any], ...] = tuple((re.compile(p), f) for p, f in (
    (r"^(\d+(?:,\d+)?) uur ongeoorloofd verzuim binnen (\d+) lesweken$",
     lambda m, lang: f"{m[1].replace(',', '.')} hours of unauthorised absence within {m[2]} lesson weeks"
     if lang == "en" else m[0]),
    (r"^(\d+) opeenvolgende lesweken ongeoorloofd afwezig$",
     lambda m, lang: f"unauthorised absence for {m[1]} consecutive lesson weeks" if lang == "en" else m[0]),
    (r"^(\d+) schooldagen ziek( \(loopt nog\))?$",
     lambda m, lang: f"sick for {m[1]} school days{' (still sick)' if m[2] else ''}" if lang == "en" else m[0]),
    (r"^(\d+)e ziekmelding binnen (\d+) (lesweken|maanden)$",
     lambda m, lang: f"{_ordinal_en(m[1])} sick report within {m[2]} "
     f"{'lesson weeks' if m[3] == 'lesweken' else 'months'}" if lang == "en" else m[0]),
    (r"^geen mbo-aanmelding$", lambda m, lang: "no mbo application" if lang == "en" else m[0]),
    (r"^aangemeld na de uiterste datum$", lambda m, lang: "applied after the deadline" if lang == "en" else m[0]),
    (r"^geen inschrijving mbo$", lambda m, lang: "no mbo enrolment" if lang == "en" else m[0]),
    (r"^ingeschreven na de start van het schooljaar$",
     lambda m, lang: "enrolled after the school year had started" if lang == "en" else m[0]),
    (r"^uitgeschreven \(([a-z_]*)\), (\d+) jaar, zonder startkwalificatie$", _dereg),
    (r"^meer dan (\d+) keer te laat$", lambda m, lang: f"late more than {m[1]} times" if lang == "en" else m[0]),
))


def detail_words(detail: str, lang: str) -> str:
    """A trigger's detail in plain words in the reader's language ('18.00 h' → '18 uur' / '18 hours';
    the engine's Dutch lines in English; a deregistration's reason code in words). Unknown text stays."""
    def hours(m: re.Match[str]) -> str:
        value = float(m.group(1))
        text = f"{value:g}" if lang == "en" else f"{value:g}".replace(".", ",")
        return f"{text} {'hours' if lang == 'en' else 'uur'}"

    detail = _HOURS.sub(hours, detail)
    for pattern, words in _DETAIL_WORDS:
        m = pattern.match(detail)
        if m:
            return str(words(m, lang))
    return detail


def _localised(trigger: dict[str, Any] | None, lang: str) -> dict[str, Any] | None:
    """The trigger with its detail in plain words in the reader's language (detail_words)."""
    if trigger is None or not trigger.get("detail"):
        return trigger
    return {**trigger, "detail": detail_words(str(trigger["detail"]), lang)}


# --- the words of a case: its signals, its legal duty, its next step ---------------------------------------
@dataclass(frozen=True)
class SignalLine:
    """One signal of a case in the reader's words: a rule (title, detail, date, legal source) or the
    model's flag. A withheld health signal (the school's view) has a title only."""

    kind: str
    rule_id: str | None
    title: str
    short: str
    detail: str | None
    fired_on: date | None
    source: str | None
    withheld: bool = False


def signal_lines(signals: Sequence[SignalView], viewer: str, lang: str, *, reason: str = "") -> list[SignalLine]:
    """A case's signals (review.worklist.signal_views: already cut by the role view), one line each: the
    case's main signal (``reason``) first, then the other rules, newest first, then the model's flag. A
    health signal another role may not even know of (leerplicht, RMC) is left out altogether."""
    main = reason[5:] if reason.startswith("rule:") else None

    def order(s: SignalView) -> tuple[int, int]:
        rank = 0 if s.rule_id == main and s.kind == "rule" else (1 if s.kind == "rule" else 2)
        return rank, -(s.fired_on.toordinal() if s.fired_on else 0)

    out = []
    for s in sorted(signals, key=order):
        if s.withheld:
            if viewer in KNOWS_HEALTH_SIGNAL:
                text = i18n.translate("health_signal", lang)
                out.append(SignalLine(s.kind, None, text, text, None, None, None, True))
            continue
        if s.kind != "rule" or s.rule_id is None:
            text = i18n.translate("reason_capacity", lang)
            out.append(SignalLine(s.kind, None, text, text, None, None, None))
            continue
        rule = rules.RULES.get(s.rule_id)
        out.append(SignalLine(
            s.kind, s.rule_id, rule_text(s.rule_id, lang, viewer=viewer),
            rule_text(s.rule_id, lang, viewer=viewer, short=True),
            detail_words(s.detail, lang) if s.detail else None, s.fired_on,
            rule.source if rule is not None else None))
    return out


@dataclass(frozen=True)
class DutyWords:
    """The team's legal duty as the page says it: "Melden bij DUO vóór 12 maart 2025 — Verlopen (3 dagen
    geleden)" for the school; "Melding van school verwacht vóór … — niet ontvangen (te laat)" for
    leerplicht. ``overdue`` puts the word "Verlopen" in front (never colour alone)."""

    kind: str
    head: str
    state: str
    overdue: bool
    done: bool
    deadline: date


def duty_words(d: Duty | None, lang: str) -> DutyWords | None:
    if d is None:
        return None
    t = i18n.translate
    when = i18n.when(d.deadline, lang)
    school = d.kind == duties.REPORT_DUO
    head = t("duty_report_duo" if school else "duty_expect_report", lang, date=when)
    if d.done_on is not None:
        state = t("duty_reported_on" if school else "duty_received_on", lang, date=i18n.when(d.done_on, lang))
        if d.done_on > d.deadline:
            state += " " + t("duty_after_deadline", lang)
    elif d.overdue:
        ago = -d.days_left
        unit = t("day_one" if ago == 1 else "day_many", lang)
        state = t("duty_late_school" if school else "duty_late_leerplicht", lang, n=ago, unit=unit)
    else:
        state = i18n.days_left(d.days_left, lang) if school else \
            t("duty_not_yet_received", lang, left=i18n.days_left(d.days_left, lang))
    return DutyWords(d.kind, head, state, d.overdue, d.done_on is not None, d.deadline)


@dataclass(frozen=True)
class StepWords:
    """The next step: what, by which date, days left. Its date is a target date, unless the step is the
    open legal duty itself (the school's report to DUO): then it is that deadline, and says so."""

    text: str
    due: date
    days: str
    late: bool
    from_plan: bool
    legal: bool = False


def step_words(step: duties.NextStep, lang: str) -> StepWords:
    return StepWords(i18n.translate(step.action_key, lang), step.due, i18n.days_left(step.days_left, lang),
                     step.late, step.from_plan, step.is_duty)


# --- the worklist ------------------------------------------------------------------------------------------
@dataclass
class ListRow:
    case: WorklistRow
    signals: list[SignalLine]
    reasons: list[str]
    duty: DutyWords | None
    step: StepWords
    owner: str | None
    group: str | None


@dataclass
class Worklist:
    rows: list[ListRow]
    schools: list[str]
    expected: float
    n_students: int
    total: int
    overdue: int
    page: int
    pages: int
    first: int
    last: int
    n_unscored: int = 0  # pupils in the list without any score (e.g. left school): not in `expected`
    groups: tuple[str, ...] = ()  # the viewer's own mentor groups (a "Mijn leerlingen" filter)


#: the orders a reader can pick (the store's orders: "urgency" is the review core's)
SORTS = ("urgency", "probability", "student", "school", "status")
PER_PAGE = 25
MAX_SIGNAL_LINES = 3


def build_worklist(session: Session, principal: Principal, *, lang: str, school: str | None, band: str | None,
                   statuses: Sequence[str] | None, search: str | None = None, group: str | None = None,
                   sort: str = "urgency", descending: bool = False, page: int = 1, per_page: int = PER_PAGE,
                   today: date | None = None) -> Worklist:
    """One page of the principal's team's cases, in the store's order (by default the review core's:
    overdue legal duties first, then legal duties by deadline, then risk). The database sorts and pages;
    the rows are review.worklist's, cut by the role view."""
    day = today or duties.today()
    flt = WorklistFilter(principal=principal, role=principal.role, bands=(band,) if band else None,
                         statuses=tuple(statuses) if statuses is not None else None, school_id=school, search=search,
                         students=mentor_pupils(session, principal, on=day, group=group))
    totals = count_worklist(session, flt, today=day)
    pages = max(1, -(-totals["cases"] // per_page))
    page = min(max(1, page), pages)
    listed = list_worklist_rows(session, flt, limit=per_page, offset=(page - 1) * per_page, today=day,
                                order=sort if sort in SORTS else "urgency", descending=descending)
    parts = case_parts(session, [w.case for w in listed])
    shown = rows(listed, viewer=principal, on=day, scores=parts.scores, signals=parts.signals, steps=parts.steps,
                 open_steps=parts.open_steps)
    owners = actor_labels(session, [r.owner for r in shown if r.owner], lang)
    groups = current_groups(session, [r.student_id for r in shown], day,
                            principal.scope_values if principal.scope_kind == "school" else None) \
        if principal.role == "school" else {}
    viewer = principal.role
    out = []
    for r in shown:
        lines = signal_lines(r.signals, viewer, lang, reason=r.reason)
        out.append(ListRow(case=r, signals=lines, reasons=[reason_text(x, lang) for x in r.reasons[:2]],
                           duty=duty_words(r.duty, lang), step=step_words(r.next_step, lang),
                           owner=owners.get(r.owner, r.owner) if r.owner else None, group=groups.get(r.student_id)))
    schools = totals["schools"]
    if school:
        schools = count_worklist(session, dataclasses.replace(flt, school_id=None), today=day)["schools"]
    if principal.scope_kind == "school":
        schools = sorted(set(schools) | set(principal.scope_values))
    first = (page - 1) * per_page + 1 if out else 0
    return Worklist(rows=out, schools=schools, expected=totals["expected"], n_students=totals["pupils"],
                    total=totals["cases"], overdue=totals["overdue"], page=page, pages=pages, first=first,
                    last=first + len(out) - 1 if out else 0, n_unscored=totals["unscored"],
                    groups=principal.groups)


# --- the pupil page ------------------------------------------------------------------------------------------
@dataclass
class HistoryLine:
    at: Any
    actor: str
    text: str
    note: str | None


@dataclass
class PlanStep:
    """A step of the plan in words, with what can still be done with it (mark done, record the check)."""

    id: int
    kind: str
    text: str
    owner: str | None
    due_on: date | None
    done_on: date | None
    result: str | None
    follow_up_on: date | None
    follow_up_result: str | None
    follow_up_due: bool  # done, check not yet recorded, and its date has come


@dataclass
class CaseView:
    case: ReviewCase
    row: WorklistRow
    signals: list[SignalLine]
    duty: DutyWords | None
    step: StepWords
    owner: str | None
    events: list[CaseEvent]
    outcomes: list[ReviewOutcome]
    history: list[HistoryLine]
    plan: list[PlanStep]
    reports: list[DuoReport]
    allowed: list[str] = field(default_factory=list)
    offered: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    colleagues: list[tuple[str, str]] = field(default_factory=list)
    short_label: str = ""
    reason_label: str = ""
    names: dict[str, str] = field(default_factory=dict)  # actor id → a person's name or a key's label
    active: bool = True
    reportable: bool = False  # a school case holding a 16-hour signal: its report to DUO can be recorded
    letter: bool = False  # the school writes to the parents


_STEP_PLAN = re.compile(r"^(\w+) by (\S+)$")
_STEP_DONE = re.compile(r"^(\w+) done (\d{4}-\d{2}-\d{2})$")
_FOLLOW_UP = re.compile(r"^(\w+): (\w+)(?: – (.*))?$", re.S)
_REPORT = re.compile(r"^(\d{4}-\d{2}-\d{2})(?: (.+))?$")
_LETTER = re.compile(r"^letter to the parents \(nl, en\): (?:(\d+(?:\.\d+)?) h in (\d+) lesson weeks|a general invitation); "
                     r"conversation offered (\d{4}-\d{2}-\d{2}) (\d{1,2}:\d{2})$")


def _iso(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _step_name(kind: str, lang: str) -> str:
    return i18n.label("step", kind, lang)


def history_lines(events: Iterable[CaseEvent], lang: str, viewer: str,
                  names: dict[str, str] | None = None) -> list[HistoryLine]:
    """A case's events in words: no stored codes ('rule:…', 'capacity', outcome or step codes, ISO dates)
    on the page; owners by name (``names``: actor id → name)."""
    names = names or {}
    t = i18n.translate
    lines = []
    for e in events:
        note: str | None = e.note
        raw = e.note or ""
        if e.action == "open":
            text = t("hist_opened", lang, reason=case_reason_text(raw, lang, viewer=viewer, short=True))
            note = None
        elif e.action == "status":
            text = (f"{i18n.label('action', 'status', lang)}: {i18n.label('status', e.from_status, lang)} → "
                    f"{i18n.label('status', e.to_status, lang)}")
        elif e.action == "outcome":
            code, _, rest = raw.partition(" (worth a conversation: ")
            worth = rest.rstrip(")")
            text = t("hist_outcome", lang, outcome=i18n.label("outcome", code, lang),
                     worth=t(worth, lang) if worth in ("yes", "no") else "–")
            note = None
        elif e.action == "assign":
            old, _, new = raw.removeprefix("owner: ").partition(" -> ")
            text = t("hist_owner", lang, old=names.get(old, old) if old and old != "-" else "–",
                     new=names.get(new, new) if new and new != "-" else "–")
            note = None
        elif e.action == "plan" and (m := _STEP_PLAN.match(raw)):
            due = _iso(m[2])
            text = t("hist_plan", lang, step=_step_name(m[1], lang), date=i18n.when(due, lang) if due else "–")
            note = None
        elif e.action == "plan_done" and (m := _STEP_DONE.match(raw)):
            text = t("hist_plan_done", lang, step=_step_name(m[1], lang), date=i18n.when(_iso(m[2]), lang))
            note = None
        elif e.action == "follow_up" and (m := _FOLLOW_UP.match(raw)):
            text = t("hist_follow_up", lang, step=_step_name(m[1], lang), result=i18n.label("follow_up", m[2], lang))
            note = m[3] or None
        elif e.action == "duo_report" and (m := _REPORT.match(raw)):
            text = t("hist_duo_report", lang, date=i18n.when(_iso(m[1]), lang))
            note = t("hist_duo_reference", lang, ref=m[2]) if m[2] else None
        elif e.action == "letter" and (m := _LETTER.match(raw)):
            about = (t("hist_letter_hours", lang, hours=i18n.number(float(m[1]), lang, 0 if float(m[1]).is_integer() else 1),
                       weeks=m[2]) if m[1] else t("hist_letter_general", lang))
            text = t("hist_letter", lang, about=about, date=i18n.when(_iso(m[3]), lang), time=m[4])
            note = None
        else:
            text = i18n.label("action", e.action, lang)
        lines.append(HistoryLine(at=e.at, actor=e.actor, text=text, note=note))
    return lines


def plan_steps(actions: Iterable[CaseAction], lang: str, names: dict[str, str], on: date) -> list[PlanStep]:
    out = []
    for a in actions:
        out.append(PlanStep(
            id=a.id, kind=a.kind, text=_step_name(a.kind, lang),
            owner=names.get(a.owner, a.owner) if a.owner else None, due_on=a.due_on, done_on=a.done_on,
            result=a.result, follow_up_on=a.follow_up_on, follow_up_result=a.follow_up_result,
            follow_up_due=a.done_on is not None and a.follow_up_result is None and a.follow_up_on is not None
            and a.follow_up_on <= on))
    return out


def actor_labels(session: Session, actors: Iterable[str | None], lang: str = "nl") -> dict[str, str]:
    """Actor id → the person's name or the key's label, so a history says who rather than which id."""
    ids = sorted({a for a in actors if a})
    labels = {a: i18n.translate("actor_system", lang) for a in ids if a.startswith("batch:") or a == "system"}
    if not ids:
        return {}
    return {**labels, **store_actor_labels(session, ids)}


def _owners_in(events: Iterable[CaseEvent]) -> list[str]:
    out: list[str] = []
    for e in events:
        if e.action == "assign":
            old, _, new = (e.note or "").removeprefix("owner: ").partition(" -> ")
            out += [old, new]
    return out


def pupil_cases(session: Session, student_id: str, principal: Principal) -> list[ReviewCase]:
    """The pupil's cases of the viewer's own team, newest first (store.cases.cases_of_pupil)."""
    return cases_of_pupil(session, student_id, principal)


def _with_trigger(line: SignalLine, triggers: dict[str, dict[str, Any]]) -> SignalLine:
    """A rule signal stored without its detail or date (a case opened by hand, an old store) takes them
    from the score's trigger of the same rule (already cut by the role view and in the reader's words)."""
    t = triggers.get(line.rule_id or "")
    if line.kind != "rule" or line.withheld or line.detail or t is None or t.get("withheld") or not t.get("detail"):
        return line
    fired = t.get("fired_on")
    fired_on = fired if isinstance(fired, date) or fired is None else _iso(str(fired)[:10])
    return dataclasses.replace(line, detail=t.get("detail"), fired_on=fired_on or line.fired_on)


def student_cases(session: Session, cases: Sequence[ReviewCase], principal: Principal, *, lang: str,
                  group: str | None = None, today: date | None = None,
                  triggers: Sequence[dict[str, Any]] = ()) -> list[CaseView]:
    """The viewer's own cases of one pupil: their signals, legal duty, next step, plan, reports, history,
    outcomes, and what the forms may offer (statuses, outcomes, step kinds, colleagues to hand over to:
    people of the team whose scope, mentor groups included, holds the pupil — ``group`` is theirs)."""
    day = today or duties.today()
    if not cases:
        return []
    parts = case_parts(session, cases)
    events = {c.id: case_history(session, c.id) for c in cases}
    outcomes = {c.id: case_outcomes(session, c.id) for c in cases}
    reports = reports_for(session, [cases[0].student_id]).get(cases[0].student_id, []) \
        if principal.role in ("school", "leerplicht") else []
    people: list[str | None] = [c.owner for c in cases]
    people += [a.owner for c in cases for a in parts.steps.get(c.id, [])]
    people += [e.actor for c in cases for e in events[c.id]] + [o.recorded_by for c in cases for o in outcomes[c.id]]
    people += [x for c in cases for x in _owners_in(events[c.id])]
    names = actor_labels(session, people, lang)
    by_rule = {str(t.get("id")): t for t in triggers}
    views = []
    for c in cases:
        r = row(c, viewer=principal, on=day, score=parts.scores.get(c.id), signals=parts.signals.get(c.id, ()),
                steps=parts.steps.get(c.id, ()), open_steps=parts.open_steps.get(c.id, ()))
        team_place = Place(c.school_id, c.municipality, c.rmc_region, group)
        holds_16h = any(s.rule_id in duties.REPORTABLE_RULES for s in parts.signals.get(c.id, []))
        views.append(CaseView(
            case=c, row=r, signals=[_with_trigger(x, by_rule) for x in
                                    signal_lines(r.signals, principal.role, lang, reason=c.reason)],
            duty=duty_words(r.duty, lang), reason_label=case_reason_text(c.reason, lang, viewer=principal.role),
            step=step_words(r.next_step, lang), owner=names.get(c.owner, c.owner) if c.owner else None,
            events=events[c.id], outcomes=outcomes[c.id],
            history=history_lines(events[c.id], lang, principal.role, names),
            plan=plan_steps(parts.steps.get(c.id, []), lang, names, day),
            reports=[x for x in reports if c.role == "leerplicht" or x.case_id == c.id or holds_16h],
            allowed=sorted(ALLOWED_TRANSITIONS[c.status]), offered=plans.outcomes_for(c.role),
            kinds=plans.ACTION_KINDS.get(c.role, ()),
            colleagues=colleagues(session, role=c.role, place=team_place),
            short_label=case_reason_text(c.reason, lang, viewer=principal.role, short=True),
            active=c.status in ACTIVE_STATUSES, reportable=c.role == "school" and holds_16h,
            letter=c.role == "school", names=names))
    return views


# --- the timeline --------------------------------------------------------------------------------------------
@dataclass
class TimelineView:
    timeline: timeline.Timeline | None
    missing: str | None = None  # why there is none, in words


def read_pupil_tables(data_dir: Path, student_id: str) -> dict[str, Any] | None:
    """The pupil's raw events from the service's data folder (as the rescore path reads them), or None
    when the folder or its tables are not there."""
    try:
        tables = datasets.read_student_tables(data_dir, student_id)
    except RiskscoreError:
        return None
    return tables


def timeline_marks(views: Sequence[CaseView], lang: str) -> list[timeline.Mark]:
    """What the team did and saw, dated: each case's signals (health ones only with a date the viewer may
    see), its opening, plan steps planned, done and checked, the school's reports to DUO, letters made."""
    t = i18n.translate
    marks: dict[tuple[date, str, str], timeline.Mark] = {}

    def add(day: date | None, kind: str, text: str) -> None:
        if day is not None:
            marks.setdefault((day, kind, text), timeline.Mark(day, kind, text))

    for v in views:
        for s in v.signals:
            if s.kind == "rule" and not s.withheld:
                add(s.fired_on, "signal", t("tl_signal", lang, what=s.short) + (f": {s.detail}" if s.detail else ""))
        opened = duties.local_day(v.case.opened_at) or v.case.as_of
        add(opened, "case", t("tl_case", lang, what=v.short_label))
        for p in v.plan:
            add(p.done_on, "step_done", t("tl_step_done", lang, step=p.text))
            if p.done_on is None:
                add(p.due_on, "step", t("tl_step_due", lang, step=p.text))
            if p.follow_up_on is not None:
                result = i18n.label("follow_up", p.follow_up_result, lang) if p.follow_up_result else None
                add(p.follow_up_on, "follow_up", t("tl_follow_up_result", lang, step=p.text, result=result) if result
                    else t("tl_follow_up", lang, step=p.text))
        for r in v.reports:
            add(r.reported_on, "report", t("tl_report", lang))
        for e in v.events:
            if e.action == "letter":
                add(duties.local_day(e.at), "letter", t("tl_letter_made", lang))
                if m := _LETTER.match(e.note or ""):
                    add(_iso(m[3]), "meeting", t("tl_meeting", lang, time=m[4]))
    return sorted(marks.values(), key=lambda m: (m.day, m.kind))


def pupil_timeline(tables: dict[str, Any] | None, views: Sequence[CaseView], principal: Principal, *, lang: str,
                   calendar: SchoolCalendar, rule_config: Any, end: date) -> TimelineView:
    """The timeline of one pupil for this viewer (review.timeline.build), or why there is none."""
    if tables is None:
        return TimelineView(None, i18n.translate("tl_no_data", lang))
    if tables["students"].empty and tables["absences"].empty:
        return TimelineView(None, i18n.translate("tl_no_rows", lang))
    try:
        built = timeline.build(tables, calendar=calendar, end=end, viewer=principal.role,
                               marks=timeline_marks(views, lang),
                               unauthorised=tuple(getattr(rule_config, "unauthorised_categories", ("unauthorised",))),
                               late=str(getattr(rule_config, "late_category", "late")))
    except RiskscoreError:  # a date outside the school calendar's years
        return TimelineView(None, i18n.translate("tl_out_of_calendar", lang))
    return TimelineView(built)


def timeline_end(cases: Sequence[ReviewCase], score: dict[str, Any] | None, today: date) -> date:
    """The reference date of the pupil's newest case or score (never after today): the data the team
    looked at. Weeks after it show only what was done in them."""
    dates = [c.as_of for c in cases if c.as_of is not None]
    if score is not None and score.get("score_as_of"):
        value = score["score_as_of"]
        dates.append(value if isinstance(value, date) else date.fromisoformat(str(value)[:10]))
    return min(max(dates), today) if dates else today


def contribution_bars(reasons: list[dict[str, Any]], lang: str, *, half_width: float = 110.0) -> list[dict[str, Any]]:
    """Geometry for the signed bar chart: x and width in an SVG of 2*half_width+20, centred at 0."""
    values = [abs(float(r["contribution"])) for r in reasons if r.get("contribution") is not None]
    scale = max(values) if values else 1.0
    centre = half_width + 10
    bars = []
    for r in reasons:
        c = r.get("contribution")
        bar: dict[str, Any] = {"text": reason_text(r, lang), "withheld": bool(r.get("withheld")), "contribution": c,
                               "effect": None}
        if c is not None:
            size = abs(float(c))
            strength = "_strong" if size >= 1.0 else ("" if size >= 0.25 else "_little")
            bar["effect"] = i18n.translate(f"effect_{'up' if c >= 0 else 'down'}{strength}", lang)
            length = abs(float(c)) / scale * half_width if scale > 0 else 0.0
            bar.update(x=centre if c >= 0 else centre - length, width=max(length, 1.0), positive=c >= 0)
        bars.append(bar)
    return bars


def hour_bars(tl: timeline.Timeline, *, width: float = 120.0) -> dict[dt.date, float]:
    """Bar lengths (SVG units) for each week's unauthorised hours, scaled to the window's largest."""
    top = max([w.hours or 0.0 for w in tl.weeks] + [1.0])
    return {w.monday: max((w.hours or 0.0) / top * width, 0.0) for w in tl.weeks}
