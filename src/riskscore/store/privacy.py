"""The pupil's rights in the store: objection marks (AVG art. 21), the dossier (art. 15), erasure
(art. 17) and retention periods.

- An objection mark says: do not score this pupil with the model. The legal rules still run (they are
  statutory duties of the school and municipality). Who set it, why and when is kept; setting and
  withdrawing are audited.
- Erasure deletes every row about the pupil from every table with a `student_id` column (and the case
  history hanging off their cases), erases the content of the audit entries about the pupil and their
  cases (the entries keep their place in the hash chain), and removes the pupil from the scored frames
  and reports on disk. The erasure itself is an audit entry with a receipt number, a reason and
  counts — never the pupil's id.
- Retention (store/retention.py) deletes what is older than the configured period per table, in one
  transaction per table, idempotently.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from riskscore.errors import DataError
from riskscore.store.audit import append_rows, check_entries, erase_in
from riskscore.store.db import run_write, translate_errors
from riskscore.store.models import (
    Base,
    CaseEvent,
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
ERASED_TOKEN = "[verwijderd/erased]"
#: file kinds scrubbed on erasure: tables lose the pupil's rows, text loses the pupil's id
TABLE_SUFFIXES = (".parquet", ".csv")
TEXT_SUFFIXES = (".json", ".html", ".md", ".txt", ".jsonl")


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
    """The pupil's newest known school, municipality and region (scores, then cases, then the objection
    mark), for scope checks; None when nothing is stored about the pupil."""
    with translate_errors():
        for model, order in ((Score, Score.created_at), (ReviewCase, ReviewCase.updated_at),
                             (Objection, Objection.recorded_at)):
            row = session.execute(sa.select(model.school_id, model.municipality, model.rmc_region)
                                  .where(model.student_id == student_id).order_by(order.desc()).limit(1)).first()
            if row is not None:
                return {"school_id": row[0], "municipality": row[1], "rmc_region": row[2]}
    return None


def dossier(session: Session, student_id: str, *, rule_sources: Mapping[str, str] | None = None,
            audit_limit: int = 500) -> dict[str, Any] | None:
    """Everything stored about the pupil, as plain data (None when nothing is stored): scores with
    reasons and triggers (with their legal source), cases with their history and outcomes, the
    objection mark, and who looked at the file when (from the audit log)."""
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
        objection = session.get(Objection, student_id)
    resources = [f"student:{student_id}", *(f"case:{i}" for i in case_ids)]
    looked: list[dict[str, Any]] = []
    for resource in resources:
        looked += [{"at": _iso(e.at), "who": e.actor, "role": e.role, "action": e.action, "purpose": e.purpose,
                    "outcome": e.outcome, "entry": e.id}
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
                   "opened_at": _iso(c.opened_at), "updated_at": _iso(c.updated_at), "due_date": _iso(c.due_date),
                   "owner": c.owner,
                   "history": [{"at": _iso(e.at), "by": e.actor, "action": e.action, "from": e.from_status,
                                "to": e.to_status, "note": e.note} for e in events if e.case_id == c.id],
                   "outcomes": [{"at": _iso(o.recorded_at), "by": o.recorded_by, "outcome": o.outcome,
                                 "worth_conversation": o.worth_conversation, "note": o.note}
                                for o in outcomes if o.case_id == c.id]}
                  for c in cases],
        "access_log": looked,
    }


# --- erasure ---------------------------------------------------------------------------------------------
@dataclass
class ErasureReport:
    """What an erasure removed. receipt: the number to give the pupil/parent (also in the audit log)."""

    receipt: str
    rows: dict[str, int] = field(default_factory=dict)
    audit_entries: int = 0
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"receipt": self.receipt, "rows": self.rows, "audit_entries_erased": self.audit_entries,
                "files_cleaned": self.files}


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _student_tables() -> list[sa.Table]:
    """Every table with a student_id column — a table added later is covered without a code change."""
    return [t for t in reversed(Base.metadata.sorted_tables) if "student_id" in t.c]


def case_tables() -> list[sa.Table]:
    return [t for t in reversed(Base.metadata.sorted_tables) if "case_id" in t.c]


def erase_student(session: Session, student_id: str, *, reason: str, actor: str, role: str | None = None,
                  file_roots: Iterable[Path] = (), request_id: str | None = None) -> ErasureReport:
    """Delete everything about the pupil in one transaction (rows, audit content), then clean the files
    under file_roots (scored frames, reports). Idempotent: a second call finds nothing and records that."""
    text = _reason(reason, "erasure")
    report = ErasureReport(receipt=f"ERA-{uuid.uuid4().hex[:12].upper()}")

    def work(s: Session) -> None:
        case_ids = list(s.scalars(sa.select(ReviewCase.id).where(ReviewCase.student_id == student_id)))
        rows: dict[str, int] = {}
        for t in case_tables():  # explicit, not only ON DELETE CASCADE (SQLite may run without it)
            n = 0
            for i in range(0, len(case_ids), 500):
                n += _rowcount(s.execute(t.delete().where(t.c.case_id.in_(case_ids[i:i + 500]))))
            rows[t.name] = n
        for t in _student_tables():
            rows[t.name] = _rowcount(s.execute(t.delete().where(t.c.student_id == student_id)))
        report.rows = {k: v for k, v in rows.items()}
        report.audit_entries = erase_in(
            s, actor=actor, role=role, action="privacy.erase", purpose="avg-17",
            resources=[f"student:{student_id}", *(f"case:{i}" for i in case_ids)],
            detail={"receipt": report.receipt, "reason": text, "rows": report.rows}, request_id=request_id)

    run_write(session, work)
    if session.get_bind().dialect.name == "sqlite":  # old page images in the WAL file go too
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            session.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
            session.commit()
    for root in file_roots:
        report.files += scrub_files(Path(root), student_id)
    return report


def _id_pattern(student_id: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9_.:-]){re.escape(student_id)}(?![A-Za-z0-9_.:-])")


def scrub_files(root: Path, student_id: str) -> list[str]:
    """Remove the pupil from every table file (rows with that student_id) and text file (the id,
    replaced by ERASED_TOKEN) under root; atomic per file. Returns the files changed."""
    import pandas as pd

    from riskscore.datasets import write_atomic

    if not root.is_dir():
        return []
    pattern = _id_pattern(student_id)
    changed: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            try:
                frame = pd.read_parquet(path)
            except Exception:  # not ours or unreadable: leave it, but never half-rewrite it
                continue
            if "student_id" not in frame or not (frame["student_id"].astype(str) == student_id).any():
                continue
            kept = frame.loc[frame["student_id"].astype(str) != student_id].reset_index(drop=True)
            kept.attrs = dict(frame.attrs)
            def write_frame(tmp: str, df: pd.DataFrame = kept) -> None:
                df.to_parquet(tmp, index=False)

            write_atomic(path, write_frame, suffix=".parquet")
            changed.append(str(path))
        elif suffix in TEXT_SUFFIXES or suffix == ".csv":
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            if not pattern.search(text):
                continue
            if suffix == ".csv":  # drop the pupil's lines (header kept)
                lines = text.splitlines(keepends=True)
                new = "".join([lines[0], *[ln for ln in lines[1:] if not pattern.search(ln)]]) if lines else text
                new = pattern.sub(ERASED_TOKEN, new)
            else:
                new = pattern.sub(ERASED_TOKEN, text)
            def write_text(tmp: str, body: str = new) -> None:
                Path(tmp).write_text(body, encoding="utf-8")

            write_atomic(path, write_text, suffix=suffix)
            changed.append(str(path))
    return changed


def mentions(root: Path, student_id: str) -> list[str]:
    """Files under root that still hold the pupil (for tests and the erasure's own check)."""
    import pandas as pd

    pattern = _id_pattern(student_id)
    found = []
    for path in (p for p in root.rglob("*") if p.is_file()) if root.is_dir() else ():
        if path.suffix.lower() == ".parquet":
            try:
                frame = pd.read_parquet(path)
            except Exception:
                continue
            hit = "student_id" in frame and bool((frame["student_id"].astype(str) == student_id).any())
        else:
            try:
                hit = bool(pattern.search(path.read_text(encoding="utf-8")))
            except (UnicodeDecodeError, OSError):
                hit = False
        if hit:
            found.append(str(path))
    return found
