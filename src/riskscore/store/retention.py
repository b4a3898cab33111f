"""Retention (AVG art. 5(1)(e)): delete what is older than the configured period per table, in one
transaction per table, idempotently — running it every night deletes only what has newly aged out.
Periods are whole school years (the current one counts as the first; a school year starts on 1 August)
or days; serving/privacy.yaml holds them. The run is audited with counts only."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.orm import Session

from riskscore.clock import today as school_today
from riskscore.errors import ConfigError
from riskscore.store.audit import erase_in
from riskscore.store.db import run_write
from riskscore.store.models import ReviewCase, Score, ScoringRun
from riskscore.store.privacy import case_tables

MSG_BAD_RETENTION = "retention config {path}: {details}"


# --- retention --------------------------------------------------------------------------------------------
class Period(BaseModel):
    """A retention period: whole school years (the current one counts as the first) or days."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    school_years: int | None = Field(None, ge=1, le=20)
    days: int | None = Field(None, ge=1, le=36500)

    @model_validator(mode="after")
    def _one(self) -> Period:
        if (self.school_years is None) == (self.days is None):
            raise ValueError("give exactly one of school_years or days")
        return self

    def cutoff(self, today: dt.date) -> dt.datetime:
        """Keep what is dated on or after the cutoff (UTC midnight)."""
        if self.days is not None:
            day = today - dt.timedelta(days=self.days)
        else:
            start = today.year if today.month >= 8 else today.year - 1
            day = dt.date(start - (int(self.school_years or 1) - 1), 8, 1)
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


TWO_SCHOOL_YEARS = Period(school_years=2)
#: what each table's retention measures from
RETENTION_TABLES = {
    "scores": "scoring runs (by as-of date) with their scores and scored frames on disk",
    "review_cases": "review cases without activity since the cutoff, with their history and outcomes",
    "audit_content": "content of audit entries about pupils and cases (the chain itself stays)",
    "auth_failures": "failed API-key attempts (client address)",
}


class RetentionConfig(BaseModel):
    """Per-table retention periods; defaults: two school years, 30 days for failed-key records."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    scores: Period = TWO_SCHOOL_YEARS
    review_cases: Period = TWO_SCHOOL_YEARS
    audit_content: Period = TWO_SCHOOL_YEARS
    auth_failures: Period = Period(days=30)

    @classmethod
    def from_yaml(cls, path: str | Path) -> RetentionConfig:
        """Read the `retention:` section of a YAML file (serving/privacy.yaml)."""
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            return cls.model_validate(data.get("retention", {}) if isinstance(data, dict) else data)
        except OSError as exc:
            raise ConfigError(MSG_BAD_RETENTION.format(path=path, details=exc.strerror or str(exc))) from exc
        except (yaml.YAMLError, ValidationError, AttributeError) as exc:
            details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()) \
                if isinstance(exc, ValidationError) else str(exc).splitlines()[0]
            raise ConfigError(MSG_BAD_RETENTION.format(path=path, details=details)) from exc


def retain(session: Session, config: RetentionConfig, *, today: dt.date | None = None, actor: str,
           runs_dir: Path | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Delete what is older than each table's period. One transaction per table; the run is audited
    (with counts only). dry_run counts without deleting. Returns {table: {cutoff, deleted}}."""
    today = today or school_today()
    out: dict[str, Any] = {}

    def count_or_delete(s: Session, stmt_count: Any, delete: Any) -> int:
        n = int(s.execute(stmt_count).scalar_one())
        if n and not dry_run:
            delete(s)
        return n

    # scoring runs (scores cascade) and their frames
    cut = config.scores.cutoff(today)
    old_runs: list[tuple[int]] = []

    def runs_work(s: Session) -> int:
        old_runs[:] = [(int(r),) for r in s.scalars(sa.select(ScoringRun.id).where(ScoringRun.as_of < cut.date()))]
        old = sa.select(ScoringRun.id).where(ScoringRun.as_of < cut.date()).scalar_subquery()
        # a score's own as-of counts too: an API score in a newer run cannot outlive its period
        aged = sa.or_(Score.as_of < cut.date(), Score.run_id.in_(old))
        n = int(s.execute(sa.select(sa.func.count()).select_from(Score).where(aged)).scalar_one())
        if not dry_run:
            s.execute(sa.update(ReviewCase).where(ReviewCase.opened_by_run.in_(old)).values(opened_by_run=None)
                      .execution_options(synchronize_session=False))
            s.execute(sa.delete(Score).where(aged).execution_options(synchronize_session=False))
            s.execute(sa.delete(ScoringRun).where(ScoringRun.as_of < cut.date())
                      .execution_options(synchronize_session=False))
        return n

    n_scores = run_write(session, runs_work)
    files = 0
    if runs_dir is not None and not dry_run:
        for (run_id,) in old_runs:
            path = Path(runs_dir) / f"run-{run_id}.parquet"
            if path.exists():
                path.unlink()
                files += 1
    out["scores"] = {"cutoff": cut.date().isoformat(), "deleted": n_scores, "runs": len(old_runs), "files": files}

    cut = config.review_cases.cutoff(today)

    def cases_work(s: Session) -> int:
        ids = list(s.scalars(sa.select(ReviewCase.id).where(ReviewCase.updated_at < cut)))
        if not dry_run:
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                for t in case_tables():
                    s.execute(t.delete().where(t.c.case_id.in_(chunk)))
                s.execute(sa.delete(ReviewCase).where(ReviewCase.id.in_(chunk)))
        return len(ids)

    out["review_cases"] = {"cutoff": cut.date().isoformat(), "deleted": run_write(session, cases_work)}

    from riskscore.store.models import AuditEntry, AuthFailure

    cut = config.auth_failures.cutoff(today)
    out["auth_failures"] = {"cutoff": cut.date().isoformat(), "deleted": run_write(session, lambda s: count_or_delete(
        s, sa.select(sa.func.count()).select_from(AuthFailure).where(AuthFailure.at < cut),
        lambda s2: s2.execute(sa.delete(AuthFailure).where(AuthFailure.at < cut))))}

    cut = config.audit_content.cutoff(today)
    summary = {k: v for k, v in out.items()}
    if dry_run:
        n = int(session.execute(sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.at < cut, AuditEntry.salt.is_not(None),
            sa.or_(AuditEntry.resource.startswith("student:"), AuditEntry.resource.startswith("case:")))).scalar_one())
        out["audit_content"] = {"cutoff": cut.date().isoformat(), "erased": n}
        return out

    def audit_work(s: Session) -> int:
        return erase_in(s, actor=actor, action="privacy.retain", purpose="avg-5e", resource_prefixes=["student:", "case:"],
                        before=cut, detail={"retention": json.loads(json.dumps(summary))})

    out["audit_content"] = {"cutoff": cut.date().isoformat(), "erased": run_write(session, audit_work, attempts=8)}
    return out
