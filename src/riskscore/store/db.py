"""Engines, sessions, migrations and the translation of driver errors into StoreError.

SQLite is the single-machine default (WAL so readers never block the writer, a busy timeout so
short write bursts wait instead of failing, foreign keys on because SQLite leaves them off);
PostgreSQL is chosen by URL for several workers."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from riskscore.errors import MSG_DB_UNAVAILABLE, StoreError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 5000
#: libpq options for PostgreSQL unless the URL sets them (seconds)
PG_CONNECT_ARGS = {"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
                   "keepalives_count": 3}
MSG_DB_READONLY = "the database is read-only: {details}"
MSG_DB_LOCKED = "the database stayed locked after {attempts} attempts; try again later"
MSG_DB_ERROR = MSG_DB_UNAVAILABLE + " ({details})"
MSG_MIGRATE_FAILED = "database migration failed: {details}"

_MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_ALEMBIC_INI = Path(__file__).resolve().parent / "alembic.ini"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine with the per-backend settings this project relies on."""
    import sqlalchemy as sa
    from sqlalchemy import event

    try:
        sa_url = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(MSG_DB_ERROR.format(details=f"invalid database URL: {exc}")) from exc
    if sa_url.get_backend_name() == "sqlite":
        db = sa_url.database or ""
        if db and db != ":memory:" and not db.startswith("file:"):
            Path(db).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            sa_url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            try:
                cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
                cur.execute("PRAGMA foreign_keys = ON")
                cur.execute("PRAGMA secure_delete = ON")  # erased pupils' rows are zeroed, not left in free pages
                with contextlib.suppress(Exception):  # a read-only file cannot switch modes
                    cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA synchronous = NORMAL")
            finally:
                cur.close()

        return engine
    if sa_url.drivername == "postgresql":  # psycopg 3 is the driver we ship
        sa_url = sa_url.set(drivername="postgresql+psycopg")
    # a server that accepts and never answers (hung, black-holed route) must fail fast with a 503,
    # not hang the request: bound the connect; TCP keepalives find a peer that vanished mid-session
    connect_args = {k: v for k, v in PG_CONNECT_ARGS.items() if k not in sa_url.query}
    return sa.create_engine(sa_url, echo=echo, pool_pre_ping=True, future=True, connect_args=connect_args)


#: seconds between the service's background WAL checkpoints (SQLite)
CHECKPOINT_SECONDS = 1.0


def background_checkpoints(engine: Engine, *, every: float = CHECKPOINT_SECONDS) -> Callable[[], None] | None:
    """SQLite: the engine's connections stop checkpointing the write-ahead log themselves
    (wal_autocheckpoint=0) and one background thread does it every ``every`` seconds
    (``PRAGMA wal_checkpoint(PASSIVE)``: it never blocks a writer or a reader). Returns the function that
    stops the thread; None for other databases (PostgreSQL checkpoints on its own).

    Why (the service's tail, benchmarks/RESULTS.md): by default the connection whose commit fills the
    log past 1,000 pages copies it into the database file and syncs it, inside that commit — a stall of
    tens of milliseconds for whichever request was unlucky, every few seconds under load. The copy
    still happens, as often, on a thread that no request waits for (SQLite does the I/O without the GIL)."""
    import threading

    import sqlalchemy as sa
    from sqlalchemy import event

    if engine.dialect.name != "sqlite" or (engine.url.database or ":memory:") == ":memory:":
        return None

    @event.listens_for(engine, "connect")
    def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA wal_autocheckpoint = 0")
        finally:
            cur.close()

    engine.dispose()  # connections opened before (the migration's) come back with the pragma
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            except sa.exc.SQLAlchemyError:
                continue  # busy or gone for a moment: the next round tries again

    threading.Thread(target=run, name="riskscore-wal-checkpoint", daemon=True).start()
    return stop.set


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions keep loaded attributes after commit so returned rows stay readable."""
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(bind=engine, expire_on_commit=False)


def migrate(engine_or_url: Engine | str) -> None:
    """Upgrade the schema to the newest Alembic revision (idempotent; safe at every start)."""
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    cfg = Config(str(_ALEMBIC_INI))
    cfg.set_main_option("script_location", str(_MIGRATIONS_DIR))
    try:
        with translate_errors(), engine.connect() as conn:
            sqlite = engine.dialect.name == "sqlite"
            if sqlite:
                # a migration that rebuilds a table (SQLite's batch mode: copy, drop, rename) would, with
                # foreign keys on, cascade the drop into the rows that reference it (case history,
                # outcomes). The pragma works only outside a transaction; the keys are checked after.
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()
            try:
                with conn.begin():
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
                    if sqlite:
                        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise StoreError(MSG_MIGRATE_FAILED.format(details=f"foreign keys broken: {broken[:5]}"))
            finally:
                if sqlite:
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                    conn.commit()
    except StoreError:
        raise
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(MSG_MIGRATE_FAILED.format(details=_short(exc))) from exc
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig or exc).strip().splitlines()[0] if str(orig or exc).strip() else type(exc).__name__


def is_locked_error(exc: BaseException) -> bool:
    """SQLite's 'database is locked'/'busy': worth a retry, unlike every other OperationalError."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    return "database is locked" in text or "database is busy" in text or "database table is locked" in text


def to_store_error(exc: BaseException) -> StoreError:
    """Map a driver error to a StoreError whose message says what the operator should look at."""
    text = _short(exc)
    if "readonly" in text.lower() or "read-only" in text.lower():
        return StoreError(MSG_DB_READONLY.format(details=text))
    if is_locked_error(exc):
        return StoreError(MSG_DB_LOCKED.format(attempts=1))
    return StoreError(MSG_DB_ERROR.format(details=text))


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Turn OperationalError/DBAPI connection errors into StoreError; other errors pass untouched."""
    import sqlalchemy as sa

    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise to_store_error(exc) from exc
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise to_store_error(exc) from exc
        raise


def retry_locked(fn: Callable[[], T], *, attempts: int = 5, delay: float = 0.05) -> T:
    """Call fn, retrying on SQLite 'database is locked' with backoff; fn must roll back its own work.

    busy_timeout already waits inside SQLite; this catches the cases it cannot (a deferred
    transaction upgrading to a write lock fails at once)."""
    import sqlalchemy as sa

    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except sa.exc.OperationalError as exc:
            if not is_locked_error(exc):
                raise to_store_error(exc) from exc
            if attempt == attempts:
                raise StoreError(MSG_DB_LOCKED.format(attempts=attempts)) from exc
            time.sleep(delay * (2 ** (attempt - 1)))
    raise AssertionError("unreachable")  # pragma: no cover


def run_write(session: Session, work: Callable[[Session], T], *, attempts: int = 5) -> T:
    """Run work(session) and commit as one transaction; roll back on any failure.

    Locked SQLite databases are retried; other database failures become StoreError."""
    import sqlalchemy as sa

    def once() -> T:
        try:
            result = work(session)
            session.commit()
            return result
        except BaseException:
            session.rollback()
            raise

    try:
        return retry_locked(once, attempts=attempts)
    except sa.exc.InterfaceError as exc:
        raise to_store_error(exc) from exc
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise to_store_error(exc) from exc
        raise


def database_writable(engine: Any) -> bool:
    """Whether the database takes writes now, checked without taking the write lock (so /readyz
    answers at once during a batch run). SQLite: not opened read-only (query_only, ?mode=ro) and the
    file and its folder are writable; PostgreSQL: not a read-only transaction default or a standby."""
    import os
    from pathlib import Path

    import sqlalchemy as sa

    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                if conn.exec_driver_sql("PRAGMA query_only").scalar():
                    return False
                if "mode=ro" in str(engine.url) or "immutable=1" in str(engine.url):
                    return False
                name = engine.url.database or ""
                if not name or name == ":memory:" or name.startswith("file:"):
                    return True
                path = Path(name)
                return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
            if engine.dialect.name == "postgresql":
                read_only = conn.exec_driver_sql("SHOW transaction_read_only").scalar()
                standby = conn.exec_driver_sql("SELECT pg_is_in_recovery()").scalar()
                return read_only == "off" and not standby
            return True
    except sa.exc.SQLAlchemyError:
        return False
