"""The pupil's rights in the store: objection marks (AVG art. 21), the dossier (art. 15), erasure
(art. 17) and retention periods.

- An objection mark says: do not score this pupil with the model. The legal rules still run (they are
  statutory duties of the school and municipality). Who set it, why and when is kept; setting and
  withdrawing are audited.
- Erasure works by key, never by text search: every store in the registry (store/erasure.py: the
  database's tables with a `student_id` column and what hangs off them, the raw tables, data-cycle,
  scored frames, reports, cache, model folders, local MLflow artifacts, scratch homes) deletes the
  pupil's rows; the content of the audit entries about the pupil and their cases is erased (the entries
  keep their place in the hash chain). An id that is not a pseudonym is refused first. The erasure
  itself is an audit entry with a receipt number, a reason and counts — never the pupil's id.
- Retention (store/retention.py) deletes what is older than the configured period per table, in one
  transaction per table, idempotently.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from riskscore.errors import DataError, RiskscoreError
from riskscore.ingest.pseudonym import check_pseudonym
from riskscore.store.audit import append_rows, check_entries, erase_in
from riskscore.store.db import make_engine, run_write, session_factory, translate_errors
from riskscore.store.erasure import StoreRegistry, erase_rows
from riskscore.store.models import (
    Base,
    CaseAction,
    CaseEvent,
    CaseSignal,
    DuoReport,
    Objection,
    ReviewCase,
    ReviewOutcome,
    Score,
    utcnow,
)

MSG_REASON_REQUIRED = "a reason is required ({what}): say in a few words why"
MSG_REASON_TOO_LONG = "the reason is too long (at most {n} characters)"
MSG_NO_OBJECTION = "no objection is recorded for this student"
MAX_REASON = 2000


def _reason(reason: str | None, what: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise DataError(MSG_REASON_REQUIRED.format(what=what))
    if len(text) > MAX_REASON:
        raise DataError(MSG_REASON_TOO_LONG.format(n=MAX_REASON))
    return text


def _audit_row(actor: str, role: str | None, action: str, resource: str, purpose: str,
               detail: Mapping[str, Any] | None = None, request_id: str | None = None) -> list[dict[str, Any]]:
    return check_entries([{"actor": actor, "role": role, "action": action, "resource": resource, "purpose": purpose,
                           "outcome": "allowed", "detail": detail, "request_id": request_id}])


# --- objection --------------------------------------------------------------------------------------
def set_objection(session: Session, student_id: str, *, reason: str, actor: str, role: str | None = None,
                  request_id: str | None = None) -> Objection:
    """Record (or update the reason of) an objection and delete the pupil's stored model scores (rows
    without a model part stay); audited in the same transaction."""
    text = _reason(reason, "objection")

    def work(s: Session) -> Objection:
        place = student_place(s, student_id) or {}
        # the model's earlier scores of this pupil are no longer to be used: they go with the objection
        dropped = _drop_model_part(s, student_id)
        append_rows(s, _audit_row(actor, role, "privacy.objection.set", f"student:{student_id}", "avg-21",
                                  detail={"model_scores_deleted": dropped}, request_id=request_id))
        row = s.get(Objection, student_id)
        if row is None:
            row = Objection(student_id=student_id, reason=text, recorded_by=actor, recorded_at=utcnow())
            s.add(row)
        else:
            row.reason, row.recorded_by, row.recorded_at = text, actor, utcnow()
        for unit in ("school_id", "municipality", "rmc_region"):
            if place.get(unit) is not None:
                setattr(row, unit, place[unit])
        s.flush()
        return row

    return run_write(session, work)


def _drop_model_part(s: Session, student_id: str) -> int:
    """Remove what the model said about the pupil from the stored scores. Where the schema allows a score
    without a model part (probability NULL), keep the row with its legal triggers; otherwise delete it."""
    mine = sa.and_(Score.student_id == student_id, Score.probability.is_not(None))
    if Score.__table__.c.probability.nullable:  # type: ignore[attr-defined]
        return _rowcount(s.execute(sa.update(Score).where(mine).values(probability=None, band="unknown", reasons=[])
                                   .execution_options(synchronize_session=False)))
    return _rowcount(s.execute(sa.delete(Score).where(mine)))


def withdraw_objection(session: Session, student_id: str, *, actor: str, role: str | None = None,
                       request_id: str | None = None, missing_ok: bool = False) -> bool:
    """Remove the mark (the pupil or parent withdrew it); audited. DataError when there is none, unless
    missing_ok (then False is returned and the attempt is still audited)."""

    def work(s: Session) -> bool:
        row = s.get(Objection, student_id)
        if row is None and not missing_ok:
            raise DataError(MSG_NO_OBJECTION)
        append_rows(s, _audit_row(actor, role, "privacy.objection.withdraw", f"student:{student_id}", "avg-21",
                                  request_id=request_id))
        if row is None:
            return False
        s.delete(row)
        return True

    return run_write(session, work)


def get_objection(session: Session, student_id: str) -> Objection | None:
    with translate_errors():
        return session.get(Objection, student_id)


def objecting_ids(session: Session, ids: Iterable[str]) -> frozenset[str]:
    """Which of these pupils object to model scoring (chunked: a batch of 100k ids is fine)."""
    wanted = [str(i) for i in dict.fromkeys(ids)]
    found: set[str] = set()
    with translate_errors():
        for i in range(0, len(wanted), 900):
            chunk = wanted[i:i + 900]
            found |= set(session.scalars(sa.select(Objection.student_id).where(Objection.student_id.in_(chunk))))
    return frozenset(found)


def all_objecting(session: Session) -> frozenset[str]:
    with translate_errors():
        return frozenset(session.scalars(sa.select(Objection.student_id)))


# --- dossier (inzage) ---------------------------------------------------------------------------------
def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def student_place(session: Session, student_id: str) -> dict[str, str | None] | None:
    """The pupil's newest registered school, municipality and region (store.registrations), for the
    objection mark's stamp; None when no registration names the pupil."""
    from riskscore.store.registrations import spans_of

    spans = spans_of(session, [student_id]).get(student_id)
    if not spans:
        return None
    place = max(spans, key=lambda s: (s.ends_on or dt.date.max, s.starts_on)).place
    return {"school_id": place.school_id, "municipality": place.municipality, "rmc_region": place.rmc_region}


def _access_detail(detail: str | None) -> dict[str, Any]:
    """Through which page or operation (``via``) and whether health data was shown (``health``)."""
    try:
        parsed = json.loads(detail) if detail else {}
    except ValueError:
        return {"via": None, "health": False}
    if not isinstance(parsed, dict):
        return {"via": None, "health": False}
    return {"via": parsed.get("via"), "health": bool(parsed.get("health"))}


def dossier(session: Session, student_id: str, *, rule_sources: Mapping[str, str] | None = None,
            audit_limit: int = 500) -> dict[str, Any] | None:
    """Everything stored about the pupil, as plain data (None when nothing is stored): scores with
    reasons and triggers (with their legal source), cases with their signals (the rules that fired and the
    model's flag, with dates, deadlines and legal sources), their legal duty (deadline, done on, the
    school's reports to DUO), their plan steps, history and outcomes, the objection mark, and who looked
    at the file when (from the audit log)."""
    from riskscore.store.audit import list_audit

    sources = dict(rule_sources or {})
    with translate_errors():
        scores = list(session.scalars(sa.select(Score).where(Score.student_id == student_id)
                                      .order_by(Score.created_at.desc(), Score.id.desc())))
        cases = list(session.scalars(sa.select(ReviewCase).where(ReviewCase.student_id == student_id)
                                     .order_by(ReviewCase.opened_at.desc(), ReviewCase.id.desc())))
        case_ids = [c.id for c in cases]
        events = list(session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id.in_(case_ids))
                                      .order_by(CaseEvent.id))) if case_ids else []
        outcomes = list(session.scalars(sa.select(ReviewOutcome).where(ReviewOutcome.case_id.in_(case_ids))
                                        .order_by(ReviewOutcome.id))) if case_ids else []
        signals = list(session.scalars(sa.select(CaseSignal).where(CaseSignal.case_id.in_(case_ids))
                                       .order_by(CaseSignal.fired_on, CaseSignal.id))) if case_ids else []
        steps = list(session.scalars(sa.select(CaseAction).where(CaseAction.case_id.in_(case_ids))
                                     .order_by(CaseAction.id))) if case_ids else []
        reports = list(session.scalars(sa.select(DuoReport).where(DuoReport.student_id == student_id)
                                       .order_by(DuoReport.reported_on, DuoReport.id)))
        objection = session.get(Objection, student_id)
    resources = [f"student:{student_id}", *(f"case:{i}" for i in case_ids)]
    looked: list[dict[str, Any]] = []
    for resource in resources:
        looked += [{"at": _iso(e.at), "who": e.actor, "role": e.role, "action": e.action, "purpose": e.purpose,
                    "outcome": e.outcome, "entry": e.id, **_access_detail(e.detail)}
                   for e in list_audit(session, resource=resource, limit=audit_limit)]
    looked.sort(key=lambda e: e["entry"], reverse=True)
    if looked:  # the person's name or the key's label ('mentor team 01AB') says more to a parent than an id
        from riskscore.store.actors import actor_labels

        labels = actor_labels(session, [str(e["who"]) for e in looked if e["who"]])
        for e in looked:
            e["who_label"] = labels.get(str(e["who"]))
    if not scores and not cases and objection is None and not looked:
        return None

    def trig(t: Mapping[str, Any]) -> dict[str, Any]:
        return {**t, "source": t.get("source") or sources.get(str(t.get("id")))}

    return {
        "student_id": student_id,
        "generated_at": _iso(utcnow()),
        "objection": None if objection is None else {
            "reason": objection.reason, "recorded_by": objection.recorded_by, "recorded_at": _iso(objection.recorded_at)},
        "scores": [{"as_of": _iso(s.as_of), "created_at": _iso(s.created_at), "model_version": s.model_version,
                    "probability": s.probability, "band": s.band, "reasons": list(s.reasons or []),
                    "triggers": [trig(t) for t in s.triggers or []], "roles": list(s.roles or []),
                    "school_id": s.school_id, "municipality": s.municipality, "rmc_region": s.rmc_region}
                   for s in scores],
        "cases": [{"id": c.id, "role": c.role, "reason": c.reason, "as_of": _iso(c.as_of), "status": c.status,
                   "school_id": c.school_id, "municipality": c.municipality, "rmc_region": c.rmc_region,
                   "opened_at": _iso(c.opened_at), "updated_at": _iso(c.updated_at), "legal_deadline": _iso(c.legal_deadline), "legal_done_on": _iso(c.legal_done_on),
                   "owner": c.owner,
                   "history": [{"at": _iso(e.at), "by": e.actor, "action": e.action, "from": e.from_status,
                                "to": e.to_status, "note": e.note} for e in events if e.case_id == c.id],
                   "outcomes": [{"at": _iso(o.recorded_at), "by": o.recorded_by, "outcome": o.outcome,
                                 "worth_conversation": o.worth_conversation, "note": o.note}
                                for o in outcomes if o.case_id == c.id],
                   "signals": [{"kind": g.kind, "id": g.rule_id, "fired_on": _iso(g.fired_on),
                                "due_date": _iso(g.deadline), "detail": g.detail,
                                "source": sources.get(str(g.rule_id)) if g.rule_id else None,
                                "first_seen": _iso(g.first_seen), "last_seen": _iso(g.last_seen)}
                               for g in signals if g.case_id == c.id],
                   "steps": [{"kind": a.kind, "due_on": _iso(a.due_on), "done_on": _iso(a.done_on), "result": a.result,
                              "follow_up_on": _iso(a.follow_up_on), "follow_up_result": a.follow_up_result}
                             for a in steps if a.case_id == c.id],
                   # the school's reports to DUO of the periods this case holds (leerplicht's case shows them too)
                   "duo_reports": [{"reported_on": _iso(r.reported_on), "rule_id": r.rule_id, "fired_on": _iso(r.fired_on)}
                                   for r in reports if (r.rule_id, r.fired_on) in
                                   {(g.rule_id, g.fired_on) for g in signals if g.case_id == c.id}]}
                  for c in cases],
        "access_log": looked,
    }


# --- erasure ---------------------------------------------------------------------------------------------
@dataclass
class ErasureReport:
    """What an erasure removed. receipt: the number to give the pupil/parent (also in the audit log).
    files: the files changed, per store of the registry (store/erasure.py); failed: files of a store's
    kind (or scratch databases) that could not be read or changed and were left as they were (a person
    must look; erasing again finishes the job once they are fixed)."""

    receipt: str
    rows: dict[str, int] = field(default_factory=dict)
    audit_entries: int = 0
    stores: dict[str, list[str]] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return [f for files in self.stores.values() for f in files]

    def to_dict(self) -> dict[str, Any]:
        return {"receipt": self.receipt, "rows": self.rows, "audit_entries_erased": self.audit_entries,
                "files_cleaned": self.files, "files_per_store": {k: len(v) for k, v in self.stores.items()},
                "files_failed": self.failed}


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def case_tables() -> list[sa.Table]:
    return [t for t in reversed(Base.metadata.sorted_tables) if "case_id" in t.c]


def _erase_in_database(session: Session, student_id: str, *, receipt: str, reason: str, actor: str,
                       role: str | None, request_id: str | None) -> tuple[dict[str, int], int]:
    """One transaction: the pupil's rows by key in every table with student_id (and what hangs off them),
    then the content of the audit entries about the pupil and their cases, with the erasing entry."""

    def work(s: Session) -> tuple[dict[str, int], int]:
        rows, case_ids = erase_rows(s.connection(), student_id)
        if "audit_log" not in sa.inspect(s.connection()).get_table_names():
            return rows, 0
        erased = erase_in(s, actor=actor, role=role, action="privacy.erase", purpose="avg-17",
                          resources=[f"student:{student_id}", *(f"case:{i}" for i in case_ids)],
                          detail={"receipt": receipt, "reason": reason, "rows": rows}, request_id=request_id)
        return rows, erased

    result = run_write(session, work)
    if session.get_bind().dialect.name == "sqlite":  # old page images in the WAL file go too
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            session.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
            session.commit()
    return result


def erase_student(session: Session, student_id: str, *, reason: str, actor: str, role: str | None = None,
                  stores: StoreRegistry | None = None, request_id: str | None = None) -> ErasureReport:
    """Delete everything about the pupil by key: the database (one transaction: rows, audit content), the
    scratch databases and every file store of the registry (store/erasure.py). An id that is not a
    pseudonym is refused (DataError) before anything is touched. Idempotent: a second call finds
    nothing and records that."""
    sid = check_pseudonym(student_id)
    text = _reason(reason, "erasure")
    report = ErasureReport(receipt=f"ERA-{uuid.uuid4().hex[:12].upper()}")

    def in_database(s: Session) -> tuple[dict[str, int], int]:
        return _erase_in_database(s, sid, receipt=report.receipt, reason=text, actor=actor, role=role,
                                  request_id=request_id)

    report.rows, report.audit_entries = in_database(session)
    if stores is None:
        return report
    for scratch in stores.databases:
        engine = make_engine(f"sqlite:///{scratch.path}")
        try:
            with session_factory(engine)() as other:
                rows, _ = in_database(other)
            report.rows.update({f"{scratch.name}.{table}": n for table, n in rows.items()})
        except (RiskscoreError, sa.exc.SQLAlchemyError):  # not a store we can write: say so, go on with the rest
            report.failed.append(str(scratch.path))
        finally:
            engine.dispose()
    files = stores.erase(sid)
    report.stores = files.files
    report.failed += files.failed
    return report
