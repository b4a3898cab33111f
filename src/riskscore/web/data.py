"""What the pages show, read from the store and cut to the viewer: rows for the worklist, a student's
score, cases and history. Health detail is redacted exactly as the API does (api.scoring.redact)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskscore.access import Principal
from riskscore.store.db import translate_errors
from riskscore.store.models import ApiKey, CaseEvent, ReviewCase, ReviewOutcome, Score, ScoringRun
from riskscore.web import i18n

#: the most rows a worklist page shows; more means the filters should be narrower
WORKLIST_LIMIT = 500


def redacted(score: Score, role: str) -> dict[str, Any]:
    """The stored score as this role may see it (health detail only for the jeugdarts)."""
    from riskscore.access import redact
    from riskscore.store.scores import stored_to_result

    return redact(stored_to_result(score), role)


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


def rule_text(rule_id: str, lang: str, config: Any = None) -> str:
    """The rule in words with the configured thresholds (riskscore.rules.rule_text)."""
    from riskscore import rules

    return rules.rule_text(rule_id, lang, config)


def case_reason_text(reason: str, lang: str) -> str:
    if reason == "capacity":
        return i18n.translate("reason_capacity", lang)
    if reason.startswith("rule:"):
        return rule_text(reason[5:], lang)
    return reason


def reason_text(reason: dict[str, Any], lang: str) -> str:
    text = reason.get("text_en") if lang == "en" else reason.get("text_nl")
    return str(text or reason.get("code") or "")


@dataclass
class WorklistRow:
    case: ReviewCase
    reason_label: str
    age: float | None
    probability: float | None
    band: str | None
    reasons: list[str]
    triggers: list[dict[str, Any]]


@dataclass
class Worklist:
    rows: list[WorklistRow]
    schools: list[str]
    truncated: bool
    expected: float
    n_students: int


def build_worklist(
    session: Session,
    principal: Principal,
    *,
    lang: str,
    role: str | None,
    school: str | None,
    band: str | None,
    statuses: Sequence[str] | None,
) -> Worklist:
    """The principal's cases, newest score attached; 'expected' sums each listed student's probability once."""
    from riskscore.store.cases import list_worklist

    cases = list_worklist(session, principal=principal, role=role, bands=[band] if band else None,
                          statuses=statuses, limit=WORKLIST_LIMIT * 4)
    schools = sorted({c.school_id for c in cases if c.school_id})
    if principal.scope_kind == "school":
        schools = sorted(set(schools) | set(principal.scope_values))
    if school:
        cases = [c for c in cases if c.school_id == school]
    truncated = len(cases) > WORKLIST_LIMIT
    cases = cases[:WORKLIST_LIMIT]
    scores = latest_scores(session, (c.student_id for c in cases))
    rows: list[WorklistRow] = []
    per_student: dict[str, float] = {}
    for case in cases:
        score = scores.get(case.student_id)
        view = redacted(score, principal.role) if score is not None else {}
        probability = view.get("probability", case.probability)
        if probability is not None:
            per_student[case.student_id] = float(probability)
        triggers = [
            {"id": t.get("id"), "text": rule_text(str(t.get("id")), lang), "due_date": t.get("due_date")}
            for t in view.get("triggers", [])
        ]
        if not triggers and case.reason.startswith("rule:"):
            triggers = [{"id": case.reason[5:], "text": rule_text(case.reason[5:], lang),
                         "due_date": case.due_date.isoformat() if case.due_date else None}]
        rows.append(WorklistRow(
            case=case, reason_label=case_reason_text(case.reason, lang), age=view.get("age"),
            probability=probability, band=view.get("band", case.band),
            reasons=[reason_text(r, lang) for r in view.get("reasons", [])[:3]], triggers=triggers,
        ))
    return Worklist(rows=rows, schools=schools, truncated=truncated, expected=sum(per_student.values()),
                    n_students=len(per_student))


@dataclass
class CaseView:
    case: ReviewCase
    reason_label: str
    events: list[CaseEvent]
    outcomes: list[ReviewOutcome]
    allowed: list[str] = field(default_factory=list)


def student_cases(session: Session, student_id: str, principal: Principal, *, lang: str) -> list[CaseView]:
    """The student's cases for the viewer's own role and scope, newest first, with their history."""
    from riskscore.store.cases import ALLOWED_TRANSITIONS, case_history, case_outcomes

    stmt = (select(ReviewCase).where(ReviewCase.student_id == student_id, ReviewCase.role == principal.role)
            .order_by(ReviewCase.opened_at.desc(), ReviewCase.id.desc()))
    with translate_errors():
        cases = [c for c in session.scalars(stmt) if principal.can_see(c.school_id, c.municipality, c.rmc_region)]
    return [CaseView(case=c, reason_label=case_reason_text(c.reason, lang), events=case_history(session, c.id),
                     outcomes=case_outcomes(session, c.id), allowed=sorted(ALLOWED_TRANSITIONS[c.status]))
            for c in cases]


def actor_labels(session: Session, actors: Iterable[str]) -> dict[str, str]:
    """Key id → the key's label, so a history says who rather than which key."""
    ids = sorted({a for a in actors if a})
    if not ids:
        return {}
    with translate_errors():
        rows = session.execute(select(ApiKey.id, ApiKey.label).where(ApiKey.id.in_(ids))).all()
    return {row.id: row.label for row in rows}


def contribution_bars(reasons: list[dict[str, Any]], lang: str, *, half_width: float = 110.0) -> list[dict[str, Any]]:
    """Geometry for the signed bar chart: x and width in an SVG of 2*half_width+20, centred at 0."""
    values = [abs(float(r["contribution"])) for r in reasons if r.get("contribution") is not None]
    scale = max(values) if values else 1.0
    centre = half_width + 10
    bars = []
    for r in reasons:
        c = r.get("contribution")
        bar: dict[str, Any] = {"text": reason_text(r, lang), "withheld": bool(r.get("withheld")), "contribution": c}
        if c is not None:
            length = abs(float(c)) / scale * half_width if scale > 0 else 0.0
            bar.update(x=centre if c >= 0 else centre - length, width=max(length, 1.0), positive=c >= 0)
        bars.append(bar)
    return bars
