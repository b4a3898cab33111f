"""What the running service holds: settings, the database, the serving model and its safe swap.

A new model replaces the serving one only after it loaded AND scored smoke rows sanely; the swap is
one reference assignment under a lock, so a request sees either the old or the new bundle, whole.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from riskscore.clock import today as school_today
from riskscore.errors import GateError, ModelError, RiskscoreError
from riskscore.routing import RoutingTable
from riskscore.service.logs import get_logger
from riskscore.service.metrics import ApiMetrics
from riskscore.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from riskscore.model.bundle import ModelBundle

#: a bundle loader returns the bundle and, if known, the folder it came from (for the model card)
BundleLoader = Callable[[], "ModelBundle | tuple[ModelBundle, Path | None]"]

MSG_NO_BUNDLE = "no model is loaded yet; try again later"
MSG_SMOKE_FAILED = "new model rejected (still serving {current}): {details}"


@dataclass(frozen=True)
class Loaded:
    """A serving bundle with where it came from and when it was loaded."""

    bundle: ModelBundle
    folder: Path | None
    loaded_at: datetime


def smoke_test(bundle: ModelBundle) -> None:
    """Score a row of zeros and a row of unknowns; raise ModelError unless the outputs are sane."""
    n = len(bundle.features)
    X = np.vstack([np.zeros(n), np.full(n, np.nan)])
    try:
        scored = bundle.score(X, top_k=3)
    except RiskscoreError:
        raise
    except Exception as exc:  # a corrupt table fails in numpy, not in our code
        raise ModelError(f"smoke scoring failed: {type(exc).__name__}: {exc}") from exc
    probs = np.asarray(scored.probability, dtype=float)
    if probs.shape != (2,) or not all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in probs):
        raise ModelError(f"smoke scoring gave probabilities {probs.tolist()}")
    if not set(map(str, scored.band)) <= {"low", "medium", "high"}:
        raise ModelError(f"smoke scoring gave bands {list(scored.band)}")
    if np.asarray(scored.contributions).shape != (2, n):
        raise ModelError("smoke scoring gave contributions of the wrong shape")


def default_loader(settings: Settings) -> BundleLoader:
    """From settings.bundle_path, else from the registry alias (mlflow imported only then)."""

    def from_path() -> tuple[ModelBundle, Path | None]:
        from riskscore.model.bundle import ModelBundle

        path = Path(settings.bundle_path)  # type: ignore[arg-type]
        return ModelBundle.load(path), path

    def from_registry() -> tuple[ModelBundle, Path | None]:
        from riskscore import registry  # the only module that imports mlflow: keep it off the path above
        from riskscore.model.bundle import ModelBundle

        registry.configure(settings.resolved_tracking_uri(), settings.resolved_artifact_root())
        dst = Path(tempfile.mkdtemp(prefix="riskscore-serve-"))
        folder = registry.download_bundle(settings.model_alias, model_name=settings.model_name, dst=dst)
        return ModelBundle.load(folder), folder

    return from_path if settings.bundle_path is not None else from_registry


def _objecting_ids(session: Session, ids: list[str]) -> frozenset[str]:
    """The objection store (store.privacy): who among these pupils objected to model scoring."""
    from riskscore.store.privacy import objecting_ids

    return objecting_ids(session, ids)


@dataclass
class ServiceState:
    """Everything the routes need; created by create_app, filled by the lifespan."""

    settings: Settings
    loader: BundleLoader
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    routing: RoutingTable = field(default_factory=RoutingTable.default)
    engine: Engine | None = None
    sessions: sessionmaker[Session] | None = None
    db_migrated: bool = False
    #: why the last load attempt failed (shown by /readyz while no model serves); None after a success
    load_error: str | None = None
    _loaded: Loaded | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _calendar: Any = None
    _rule_config: Any = None
    #: pupils who objected (AVG art. 21) among the given ids: no model score, rules still run
    objecting: Callable[[Session, list[str]], frozenset[str]] = field(default_factory=lambda: _objecting_ids)
    #: schools whose imported data is known to be incomplete: pupils flagged, not scored as low risk.
    #: Default: the import ledger of the data folder (`riskscore import`), the same source as `riskscore score`.
    incomplete_hook: Callable[[Session], frozenset[str]] | None = None
    _ledger_cache: tuple[float, dt.date, dict[str, dict[str, str]]] | None = None
    #: stops the background WAL checkpoints (SQLite, an engine of our own): store.db.background_checkpoints
    _stop_checkpoints: Callable[[], None] | None = None

    def incomplete_schools(self, session: Session) -> frozenset[str]:
        """Schools the import ledger flags (volume, join and freshness checks)."""
        if self.incomplete_hook is not None:
            return self.incomplete_hook(session)
        return frozenset(self.incomplete_reasons())

    def incomplete_reasons(self) -> dict[str, dict[str, str]]:
        """Per flagged school, why (reason code → line): re-read only when the ledger file or the day
        changes. Today's date is the freshness check's "today" here: the service scores as of now."""
        from riskscore.ingest.ledger import incomplete_reasons, ledger_path

        folder = self.settings.resolved_data_dir()
        path = ledger_path(Path(folder))
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return {}
        today = school_today()
        if self._ledger_cache is None or self._ledger_cache[:2] != (mtime, today):
            reasons = incomplete_reasons(folder, today=today, max_age_days=self.settings.import_max_age_days)
            self._ledger_cache = (mtime, today, reasons)
        return self._ledger_cache[2]

    @property
    def loaded(self) -> Loaded | None:
        return self._loaded

    def require_loaded(self) -> Loaded:
        current = self._loaded
        if current is None:
            raise ModelError(MSG_NO_BUNDLE)
        return current

    def calendar(self) -> Any:
        """The school calendar, for legal deadlines; loaded on first use (pandas + a CSV)."""
        if self._calendar is None:
            from riskscore.calendar import SchoolCalendar

            self._calendar = SchoolCalendar.default()
        return self._calendar

    def rule_config(self) -> Any:
        """The configured rule thresholds (settings.rules_path, else the packaged rules.yaml): the same
        file the batch job reads, so legal deadlines agree between the API and `riskscore score`."""
        if self._rule_config is None:
            from riskscore.rules import RuleConfig

            path = self.settings.rules_path
            self._rule_config = RuleConfig.from_yaml(path) if path is not None else RuleConfig.default()
        return self._rule_config

    # --- the model -------------------------------------------------------------------------------
    def _candidate(self) -> Loaded:
        result = self.loader()
        bundle, folder = result if isinstance(result, tuple) else (result, None)
        smoke_test(bundle)
        return Loaded(bundle, folder, datetime.now(UTC))

    def reload(self, *, reason: str = "manual") -> tuple[bool, str, str | None]:
        """Load the configured model and swap it in if it passes the smoke test.

        Returns (swapped, serving version, previous version). A candidate that fails to load or
        score raises GateError when a model is serving (which keeps serving), else ModelError."""
        log = get_logger()
        with self._lock:  # one reload at a time; requests keep reading self._loaded meanwhile
            previous = self._loaded
            prev_version = previous.bundle.version if previous else None
            try:
                candidate = self._candidate()
            except RiskscoreError as exc:
                self.load_error = f"{type(exc).__name__}: {exc}"[:300]
                self.metrics.reloads.labels(outcome="rejected").inc()
                log.warning("model load rejected", extra={"event": "model_rejected", "outcome": reason,
                                                          "error_type": type(exc).__name__})
                if previous is not None:
                    raise GateError(MSG_SMOKE_FAILED.format(current=prev_version, details=exc)) from exc
                raise
            except Exception as exc:
                self.load_error = f"could not load the model: {type(exc).__name__}"
                self.metrics.reloads.labels(outcome="rejected").inc()
                log.warning("model load failed", extra={"event": "model_rejected", "error_type": type(exc).__name__})
                if previous is not None:
                    raise GateError(MSG_SMOKE_FAILED.format(current=prev_version, details=type(exc).__name__)) from exc
                raise ModelError(f"could not load the model: {type(exc).__name__}") from exc
            self.load_error = None
            if previous is not None and candidate.bundle.version == prev_version:
                self.metrics.reloads.labels(outcome="unchanged").inc()
                return False, prev_version, prev_version
            self._loaded = candidate
            self.metrics.set_model(candidate.bundle.version)
            self.metrics.reloads.labels(outcome="swapped").inc()
            log.info("model loaded", extra={"event": "model_loaded", "model_version": candidate.bundle.version,
                                            "outcome": reason})
            return True, candidate.bundle.version, prev_version

    # --- the database ----------------------------------------------------------------------------
    def open_database(self, engine: Engine | None) -> None:
        """Create the engine and migrate; a database that is down now is retried by /readyz."""
        from riskscore.store.db import background_checkpoints, make_engine, session_factory

        self.engine = engine or make_engine(self.settings.resolved_database_url())
        self.sessions = session_factory(self.engine)
        self.ensure_migrated()
        if engine is None:  # our own engine: no request waits for a WAL checkpoint (SQLite)
            self._stop_checkpoints = background_checkpoints(self.engine)

    def close_database(self) -> None:
        """Stop the background checkpoints (the lifespan's end); the caller disposes the engine."""
        if self._stop_checkpoints is not None:
            self._stop_checkpoints()
            self._stop_checkpoints = None

    def ensure_migrated(self) -> bool:
        from riskscore.store.db import migrate

        if not self.db_migrated and self.engine is not None:
            try:
                migrate(self.engine)
                self.db_migrated = True
            except RiskscoreError as exc:
                get_logger().error("database migration failed", extra={"event": "db_migrate_failed",
                                                                       "error_type": type(exc).__name__})
        return self.db_migrated

    def database_ok(self) -> bool:
        """Migrated and answering a trivial query now."""
        if self.engine is None or not self.ensure_migrated():
            return False
        import sqlalchemy as sa

        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.SQLAlchemyError:
            return False
