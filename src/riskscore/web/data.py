"""What the pages show, read from the store and cut to the viewer: rows for the worklist, a student's
score, cases and history. Results were built by the one scoring core (riskscore.scoring) and are redacted exactly as the
API does (access.redact)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskscore.access import Principal, sees_case, sees_health, view_result, view_triggers
from riskscore.access.view import is_health_trigger
from riskscore.store.actors import actor_labels as store_actor_labels
from riskscore.store.db import translate_errors
from riskscore.store.models import CaseEvent, ReviewCase, ReviewOutcome, Score, ScoringRun
from riskscore.web import i18n
from riskscore.web.actions import LEGAL, NextStep, next_step, today

#: the most cases a worklist reads (then sorted and shown a page at a time); more means narrower filters
WORKLIST_LIMIT = 5000


def redacted(score: Score, role: str) -> dict[str, Any]:
    """The stored score as this role may see it (the role view, access.view)."""
    from riskscore.store.scores import stored_to_result

    return view_result(stored_to_result(score), role)


def latest_scores(session: Session, student_ids: Iterable[str]) -> dict[str, Score]:
    """Each student's newest score from a complete run, in one query (as store.runs.latest_score, batched)."""
    ids = sorted(set(student_ids))
    out: dict[str, Score] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        stmt = (
            select(Score)
            .join(ScoringRun, ScoringRun.id == Score.run_id)
            .where(Score.student_id.in_(chunk), ScoringRun.status == "complete")
            .order_by(Score.student_id, Score.as_of.desc(), Score.created_at.desc(), Score.id.desc())
        )
        with translate_errors():
            for row in session.scalars(stmt):
                out.setdefault(row.student_id, row)
    return out


def rule_text(rule_id: str, lang: str, *, viewer: str = "jeugdarts", short: bool = False, config: Any = None) -> str:
    """A rule's title in words with the configured thresholds (short: a few words for the worklist); a
    sick-report (MAZL) rule's title is health information, so other roles get a neutral line instead."""
    from riskscore import rules

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


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def step_for(case: ReviewCase, *, on: date | None = None) -> NextStep:
    """The viewer's (= the case role's) next step: the legal deadline where it is theirs, else a target
    date counted from the later of the stored deadline (or reference date) and the day the case opened."""
    opened = case.opened_at.date() if case.opened_at is not None else case.as_of
    legal = case.legal_deadline if case.legal_done_on is None and (case.role, case.reason) in LEGAL else None
    return next_step(case.role, case.reason, due_date=legal, fired_on=opened, as_of=case.as_of, on=on)


@dataclass
class WorklistRow:
    case: ReviewCase
    reason_label: str
    step: NextStep
    age: float | None
    probability: float | None
    band: str | None
    score_date: date | None
    score_source: str
    reasons: list[str]
    other_triggers: int


@dataclass
class Worklist:
    rows: list[WorklistRow]
    schools: list[str]
    truncated: bool
    expected: float
    n_students: int
    total: int
    page: int
    pages: int
    first: int
    last: int
    n_unscored: int = 0  # students in the list without any score (e.g. left school): not in `expected`


SORTS = ("due", "probability", "student", "school", "status")
PER_PAGE = 25


def build_worklist(
    session: Session,
    principal: Principal,
    *,
    lang: str,
    role: str | None,
    school: str | None,
    band: str | None,
    statuses: Sequence[str] | None,
    search: str | None = None,
    sort: str = "due",
    descending: bool = False,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Worklist:
    """One page of the principal's cases, most urgent first by default (own next step's due date, then
    probability). Each row shows the score that belongs to the case (store.runs.case_scores: never a
    score stored from outside the case's scope), with its date and source. 'expected' sums each listed
    student's probability once, over all pages."""
    from riskscore.store.cases import list_worklist
    from riskscore.store.runs import case_scores

    cases = list_worklist(session, principal=principal, role=role, bands=[band] if band else None,
                          statuses=statuses, limit=WORKLIST_LIMIT + 1)
    truncated = len(cases) > WORKLIST_LIMIT
    cases = cases[:WORKLIST_LIMIT]
    schools = sorted({c.school_id for c in cases if c.school_id})
    if principal.scope_kind == "school":
        schools = sorted(set(schools) | set(principal.scope_values))
    if school:
        cases = [c for c in cases if c.school_id == school]
    if search:
        needle = search.strip().lower()
        cases = [c for c in cases if needle in c.student_id.lower()]
    today_ = today()
    steps = {c.id: step_for(c, on=today_) for c in cases}
    keys: dict[str, Any] = {
        "due": lambda c: (steps[c.id].due, -(c.probability or 0.0), c.id),
        "probability": lambda c: (c.probability if c.probability is not None else -1.0, c.id),
        "student": lambda c: (c.student_id, c.id),
        "school": lambda c: (c.school_id or "", c.student_id, c.id),
        "status": lambda c: (c.status, steps[c.id].due, c.id),
    }
    cases.sort(key=keys.get(sort, keys["due"]), reverse=descending)
    per_student: dict[str, float] = {}
    for c in cases:
        if c.probability is not None:
            per_student[c.student_id] = float(c.probability)
    total = len(cases)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    shown = cases[(page - 1) * per_page : page * per_page]
    scores = case_scores(session, shown)
    viewer = principal.role
    rows: list[WorklistRow] = []
    for case in shown:
        score, source = scores.get(case.id, (None, "case"))
        view = redacted(score, viewer) if score is not None else {}
        own = case.reason[5:] if case.reason.startswith("rule:") else None
        others = [t for t in visible_triggers(view.get("triggers", []), viewer, lang) if t.get("id") != own]
        rows.append(WorklistRow(
            case=case, reason_label=case_reason_text(case.reason, lang, viewer=viewer, short=True),
            step=steps[case.id],
            age=view.get("age"), probability=view.get("probability", case.probability),
            band=view.get("band", case.band), score_date=score.as_of if score is not None else case.as_of,
            score_source=source, reasons=[reason_text(r, lang) for r in view.get("reasons", [])[:2]],
            other_triggers=len(others),
        ))
    first = (page - 1) * per_page + 1 if shown else 0
    return Worklist(rows=rows, schools=schools, truncated=truncated, expected=sum(per_student.values()),
                    n_students=len(per_student), total=total, page=page, pages=pages, first=first,
                    last=first + len(shown) - 1 if shown else 0,
                    n_unscored=len({c.student_id for c in cases} - set(per_student)))


@dataclass
class HistoryLine:
    at: Any
    actor: str
    text: str
    note: str | None


@dataclass
class CaseView:
    case: ReviewCase
    reason_label: str
    events: list[CaseEvent]
    outcomes: list[ReviewOutcome]
    allowed: list[str] = field(default_factory=list)
    step: NextStep | None = None
    trigger: dict[str, Any] | None = None
    offered: tuple[str, ...] = ()
    history: list[HistoryLine] = field(default_factory=list)
    short_label: str = ""


def history_lines(events: Iterable[CaseEvent], lang: str, viewer: str) -> list[HistoryLine]:
    """A case's events in words: no stored codes ('rule:…', 'capacity', outcome codes) on the page."""
    lines = []
    for e in events:
        note: str | None = e.note
        if e.action == "open":
            text = i18n.translate("hist_opened", lang,
                                  reason=case_reason_text(e.note or "", lang, viewer=viewer, short=True))
            note = None
        elif e.action == "status":
            text = (f"{i18n.label('action', 'status', lang)}: {i18n.label('status', e.from_status, lang)} → "
                    f"{i18n.label('status', e.to_status, lang)}")
        elif e.action == "outcome":
            code, _, rest = (e.note or "").partition(" (worth a conversation: ")
            worth = rest.rstrip(")")
            text = i18n.translate("hist_outcome", lang, outcome=i18n.label("outcome", code, lang),
                                  worth=i18n.translate(worth, lang) if worth in ("yes", "no") else "–")
            note = None
        elif e.action == "assign":
            old, _, new = (e.note or "").removeprefix("owner: ").partition(" -> ")
            text = i18n.translate("hist_owner", lang, old=old or "–", new=new or "–")
            note = None
        else:
            text = i18n.label("action", e.action, lang)
        lines.append(HistoryLine(at=e.at, actor=e.actor, text=text, note=note))
    return lines


def own_cases(session: Session, student_id: str, principal: Principal) -> list[ReviewCase]:
    """The student's cases for the viewer's own role and scope, newest first."""
    stmt = (select(ReviewCase).where(ReviewCase.student_id == student_id, ReviewCase.role == principal.role)
            .order_by(ReviewCase.opened_at.desc(), ReviewCase.id.desc()))
    with translate_errors():
        return [c for c in session.scalars(stmt) if sees_case(principal, c)]


def _source_only(rule_id: str, viewer: str) -> dict[str, Any] | None:
    """For a rule case whose trigger is not among the latest score's (a young person who left school is
    not scored; an older signal has left the lookback): the rule's legal source from the catalogue, so
    the page still says on what ground the case was opened. Health rules stay the jeugdarts' own."""
    from riskscore import rules

    if rule_id not in rules.RULES or (is_health_trigger(rule_id) and not sees_health(viewer)):
        return None
    return {"id": rule_id, "source": rules.RULES[rule_id].source}


def student_cases(session: Session, cases: Sequence[ReviewCase], principal: Principal, *, lang: str,
                  triggers: Sequence[dict[str, Any]] = ()) -> list[CaseView]:
    """The cases with their history, the viewer's next step and (for a rule case) the trigger that
    opened it, taken from ``triggers`` (already cut to the viewer), else the rule's source alone."""
    from riskscore.store.cases import ALLOWED_TRANSITIONS, case_history, case_outcomes, outcomes_for

    by_id = {str(t.get("id")): t for t in triggers}
    views = []
    for c in cases:
        events = case_history(session, c.id)
        rule = c.reason[5:] if c.reason.startswith("rule:") else None
        views.append(CaseView(
            case=c, reason_label=case_reason_text(c.reason, lang, viewer=principal.role), events=events,
            outcomes=case_outcomes(session, c.id), allowed=sorted(ALLOWED_TRANSITIONS[c.status]),
            step=step_for(c),
            trigger=(_localised(by_id[rule], lang) if rule in by_id else _source_only(rule, principal.role))
            if rule else None,
            offered=outcomes_for(c.role), history=history_lines(events, lang, principal.role),
            short_label=case_reason_text(c.reason, lang, viewer=principal.role, short=True)))
    return views


def actor_labels(session: Session, actors: Iterable[str], lang: str = "nl") -> dict[str, str]:
    """Actor id → the person's name or the key's label, so a history says who rather than which id."""
    ids = sorted({a for a in actors if a})
    labels = {a: i18n.translate("actor_system", lang) for a in ids if a.startswith("batch:") or a == "system"}
    if not ids:
        return {}
    return {**labels, **store_actor_labels(session, ids)}


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
