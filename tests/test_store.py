"""Store: migrations, transactional scoring runs, review cases and their history, error translation.
Every database test runs on SQLite and on PostgreSQL (a fresh schema per test)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from conftest import Db
from riskscore.access import Principal
from riskscore.errors import DataError, NotFoundError, StoreError
from riskscore.store import cases, runs
from riskscore.store.db import make_engine, migrate, retry_locked, session_factory
from riskscore.store.models import Base

AS_OF = date(2024, 3, 1)


def score_row(student: str, p: float, **extra) -> dict:
    band = "high" if p >= 0.5 else "medium" if p >= 0.2 else "low"
    return {"student_id": student, "probability": p, "band": band, "school_id": "BRIN1", "municipality": "GM0363",
            "rmc_region": "RMC27", "age": 16.5, "reasons": [{"code": "abs_4w", "contribution": 0.3}],
            "triggers": [{"id": "mazl_long", "source": "MAZL"}], "roles": ["school"], **extra}


def count(db: Db, table: str) -> int:
    with db.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


# --- migrations -------------------------------------------------------------------------------

def test_migrations_create_every_table_and_column_and_are_idempotent(db: Db) -> None:
    migrate(db.engine)  # a second upgrade is a no-op
    inspector = sa.inspect(db.engine)
    for table in Base.metadata.sorted_tables:
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == {c.name for c in table.columns}, table.name
    with db.engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    from alembic.script import ScriptDirectory

    from riskscore.store.db import _MIGRATIONS_DIR

    assert version == ScriptDirectory(str(_MIGRATIONS_DIR)).get_current_head()  # the newest revision


def test_migrate_accepts_a_url(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'x.db'}"
    migrate(url)
    engine = make_engine(url)
    assert "audit_log" in sa.inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    engine.dispose()


# --- scoring runs -----------------------------------------------------------------------------

def test_complete_run_is_written_and_read_back(db: Db) -> None:
    with db.sessions() as s:
        run = runs.write_scoring_run(s, as_of=AS_OF, model_version="v1", scores=[score_row("a", 0.7), score_row("b", 0.1)])
    assert run.status == "complete" and run.n_scored == 2 and run.finished_at is not None
    with db.sessions() as s:
        latest = runs.latest_score(s, "a")
        assert latest is not None and latest.probability == pytest.approx(0.7) and latest.band == "high"
        assert latest.reasons == [{"code": "abs_4w", "contribution": 0.3}]
        assert latest.triggers[0]["id"] == "mazl_long" and latest.roles == ["school"]
        assert runs.latest_score(s, "nobody") is None
        assert [x.student_id for x in runs.run_scores(s, run.id)] == ["a", "b"]


def test_a_crash_mid_run_leaves_nothing(db: Db) -> None:
    rows = [score_row(f"s{i}", 0.3) for i in range(50)]
    rows[30]["reasons"] = [{"value": object()}]  # fails inside the insert, after the run row exists
    with db.sessions() as s, pytest.raises((sa.exc.StatementError, TypeError), match="not JSON serializable"):
        runs.write_scoring_run(s, as_of=AS_OF, model_version="v1", scores=rows)
    assert count(db, "scoring_runs") == 0 and count(db, "scores") == 0
    with db.sessions() as s:
        assert runs.latest_score(s, "s0") is None and runs.latest_run(s) is None


def test_invalid_rows_are_refused_before_writing(db: Db) -> None:
    with db.sessions() as s, pytest.raises(DataError, match="row 1"):
        runs.write_scoring_run(s, as_of=AS_OF, model_version="v1",
                               scores=[score_row("a", 0.2), score_row("b", 1.5)])
    assert count(db, "scoring_runs") == 0


def test_rerun_for_same_as_of_and_model_replaces(db: Db) -> None:
    with db.sessions() as s:
        first = runs.write_scoring_run(s, as_of=AS_OF, model_version="v1",
                                       scores=[score_row("a", 0.7), score_row("b", 0.1), score_row("c", 0.3)])
        second = runs.write_scoring_run(s, as_of=AS_OF, model_version="v1",
                                        scores=[score_row("a", 0.4), score_row("b", 0.2)])
    assert second.id == first.id and second.n_scored == 2
    assert count(db, "scoring_runs") == 1 and count(db, "scores") == 2
    with db.sessions() as s:
        assert runs.latest_score(s, "a").probability == pytest.approx(0.4)
        assert runs.latest_score(s, "c") is None


def test_readers_only_see_complete_runs(db: Db) -> None:
    with db.sessions() as s:
        runs.write_scoring_run(s, as_of=AS_OF, model_version="v1", scores=[score_row("a", 0.7)])
    with db.engine.begin() as conn:  # a half-written run of a crashed non-transactional writer
        conn.execute(sa.text(
            "INSERT INTO scoring_runs (as_of, model_version, status, started_at, n_scored, source) "
            "VALUES (:d, 'v2', 'running', :t, 0, 'batch')"), {"d": AS_OF + timedelta(days=7), "t": AS_OF})
        run_id = conn.execute(sa.text("SELECT id FROM scoring_runs WHERE status = 'running'")).scalar_one()
        conn.execute(sa.text(
            "INSERT INTO scores (run_id, student_id, as_of, probability, band, reasons, triggers, roles, "
            "model_version, created_at) VALUES (:r, 'a', :d, 0.01, 'low', '[]', '[]', '[]', 'v2', :t)"),
            {"r": run_id, "d": AS_OF + timedelta(days=7), "t": AS_OF + timedelta(days=7)})
    with db.sessions() as s:
        assert runs.latest_score(s, "a").model_version == "v1"
        assert runs.latest_run(s).model_version == "v1"
        assert runs.run_scores(s, run_id) == []
        assert [r.model_version for r in runs.list_runs(s)] == ["v1"]


def test_newer_as_of_wins(db: Db) -> None:
    with db.sessions() as s:
        runs.write_scoring_run(s, as_of=AS_OF + timedelta(days=7), model_version="v1", scores=[score_row("a", 0.2)])
        runs.write_scoring_run(s, as_of=AS_OF, model_version="v1", scores=[score_row("a", 0.9)])
        assert runs.latest_score(s, "a").as_of == AS_OF + timedelta(days=7)


# --- review cases -----------------------------------------------------------------------------

def open_case(s: Session, student: str = "a", *, as_of: date = AS_OF, role: str = "school", **kw):
    args = {"school_id": "BRIN1", "municipality": "GM0363", "rmc_region": "RMC27", "reason": "rule:mazl_long",
            "priority": 1, "due_date": as_of + timedelta(days=7), "probability": 0.6, "band": "high", **kw}
    return cases.open_or_update_case(s, student_id=student, role=role, as_of=as_of, **args)


def test_open_case_is_idempotent_per_signal(db: Db) -> None:
    with db.sessions() as s:
        case, created = open_case(s)
        again, created_again = open_case(s, priority=5)
        assert created and not created_again and again.id == case.id and again.priority == 5
        later, created_later = open_case(s, as_of=AS_OF + timedelta(days=7))  # still active: refreshed
        assert not created_later and later.id == case.id
        # one case per pupil per team: the model's signal joins the open case instead of opening another
        other, created_other = open_case(s, reason="capacity")
        assert not created_other and other.id == case.id
        # another team (the jeugdarts) has its own case
        doctor, created_doctor = open_case(s, role="jeugdarts")
        assert created_doctor and doctor.id != case.id
    assert count(db, "review_cases") == 2
    with db.sessions() as s:
        assert [e.action for e in cases.case_history(s, case.id)] == ["open"]
        held = cases.case_signals(s, [case.id])[case.id]
        assert {(g.kind, g.rule_id) for g in held} == {("model", None), ("rule", "mazl_long")}


def test_closed_case_is_not_reopened_by_a_rerun_but_a_new_signal_opens_one(db: Db) -> None:
    with db.sessions() as s:
        case, _ = open_case(s)
        cases.transition_case(s, case.id, "false_alarm", actor="key:abc")
        same, created = open_case(s)
        assert not created and same.id == case.id and same.status == "false_alarm"
        fresh, created = open_case(s, as_of=AS_OF + timedelta(days=30))
        assert created and fresh.id != case.id and fresh.status == "open"


def test_case_transitions_and_history(db: Db) -> None:
    with db.sessions() as s:
        case, _ = open_case(s)
        for status in ("in_review", "contacted", "referred", "closed"):
            case = cases.transition_case(s, case.id, status, actor="mentor-1", note=f"to {status}")
            assert case.status == status
        cases.assign_case(s, case.id, "zorgco-2", actor="admin")
        cases.add_note(s, case.id, "ouders gebeld", actor="zorgco-2")
        outcome = cases.record_outcome(s, case.id, outcome="support_started", worth_conversation=True,
                                       recorded_by="zorgco-2", note="coach ingezet")
        assert outcome.worth_conversation is True
    with db.sessions() as s:
        history = cases.case_history(s, case.id)
        assert [(e.action, e.from_status, e.to_status) for e in history] == [
            ("open", None, "open"), ("status", "open", "in_review"), ("status", "in_review", "contacted"),
            ("status", "contacted", "referred"), ("status", "referred", "closed"),
            ("assign", "closed", "closed"), ("note", "closed", "closed"), ("outcome", "closed", "closed")]
        assert history[1].actor == "mentor-1" and history[1].at is not None
        assert cases.get_case(s, case.id).owner == "zorgco-2"
        assert [o.outcome for o in cases.case_outcomes(s, case.id)] == ["support_started"]


@pytest.mark.parametrize(("path", "bad"), [(("no_action_needed",), "contacted"), (("in_review", "referred"), "open"),
                                           (("closed",), "referred"), ((), "bogus")])
def test_invalid_transitions_are_refused_and_leave_no_trace(db: Db, path, bad) -> None:
    with db.sessions() as s:
        case, _ = open_case(s)
        for status in path:
            cases.transition_case(s, case.id, status, actor="x")
        with pytest.raises(cases.InvalidTransitionError):
            cases.transition_case(s, case.id, bad, actor="x")
    with db.sessions() as s:
        assert cases.get_case(s, case.id).status == (path[-1] if path else "open")
        assert len(cases.case_history(s, case.id)) == 1 + len(path)


def test_unknown_case_and_out_of_scope_are_not_found(db: Db) -> None:
    outsider = Principal("k", "other school", "school", "school", ("BRIN9",))
    insider = Principal("k2", "own school", "school", "school", ("BRIN1",))
    with db.sessions() as s:
        case, _ = open_case(s)
        with pytest.raises(NotFoundError):
            cases.transition_case(s, 999_999, "in_review", actor="x")
        with pytest.raises(NotFoundError):
            cases.get_case(s, case.id, principal=outsider)
        assert cases.get_case(s, case.id, principal=insider).id == case.id


def test_worklist_filters_by_scope_role_band_status_and_orders(db: Db) -> None:
    """The review core's order: overdue legal duties first, then legal duties by deadline, then risk."""
    today = AS_OF + timedelta(days=10)
    lp = "rule:leerplicht_16h_4w"  # the school's duty to report to DUO: a legal deadline
    with db.sessions() as s:
        a, _ = open_case(s, "a", reason=lp, due_date=today + timedelta(days=3), probability=0.3, band="medium")
        b, _ = open_case(s, "b", reason=lp, due_date=today + timedelta(days=3), probability=0.8, band="high")
        c, _ = open_case(s, "c", reason=lp, due_date=today + timedelta(days=1), probability=0.1, band="low")
        late, _ = open_case(s, "late", reason=lp, due_date=today - timedelta(days=2), probability=0.05, band="low")
        e, _ = open_case(s, "e", reason="capacity", due_date=None, probability=0.99, band="high")
        open_case(s, "f", school_id="BRIN2", municipality="GM0599", rmc_region="RMC30")
        open_case(s, "g", role="jeugdarts")
        cases.transition_case(s, c.id, "no_action_needed", actor="x")
        school = Principal("k", "l", "school", "school", ("BRIN1",))
        flt = cases.WorklistFilter(principal=school, role="school")
        listed = cases.list_worklist_rows(s, flt, today=today)
        # c is done; f out of scope; g another team; the overdue report first, then by deadline, then risk
        assert [w.case.id for w in listed] == [late.id, b.id, a.id, e.id]
        assert [w.overdue for w in listed] == [True, False, False, False]
        assert cases.count_worklist(s, flt, today=today)["overdue"] == 1
        # the school records its report: the duty is met, no longer overdue, and no longer ahead of risk
        cases.record_report(s, late.id, reported_on=today, reference="DUO-123", actor="mentor", today=today)
        listed = cases.list_worklist_rows(s, flt, today=today)
        assert [w.case.id for w in listed] == [b.id, a.id, e.id, late.id] and not any(w.overdue for w in listed)
        done = s.get(type(late), late.id)
        assert done.legal_done_on == today
        all_statuses = cases.list_worklist(s, principal=school, role="school", statuses=None)
        assert c.id in [x.id for x in all_statuses]
        assert [x.id for x in cases.list_worklist(s, principal=school, role="school", bands=["high"], limit=1)] == [b.id]
        gm = Principal("k", "l", "leerplicht", "municipality", ("GM0599",))
        assert [x.student_id for x in cases.list_worklist(s, principal=gm)] == ["f"]


def test_case_input_is_validated(db: Db) -> None:
    with db.sessions() as s:
        with pytest.raises(DataError):
            open_case(s, reason="because")
        with pytest.raises(DataError):
            open_case(s, role="admin")


# --- errors -----------------------------------------------------------------------------------

def test_read_only_sqlite_raises_store_error_and_still_reads(tmp_path) -> None:
    path = tmp_path / "ro.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with session_factory(engine)() as s:
        runs.write_scoring_run(s, as_of=AS_OF, model_version="v1", scores=[score_row("a", 0.5)])
    engine.dispose()
    ro = make_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    with session_factory(ro)() as s:
        assert runs.latest_score(s, "a") is not None
        with pytest.raises(StoreError, match="read-only"):
            runs.write_scoring_run(s, as_of=AS_OF, model_version="v2", scores=[score_row("a", 0.5)])
        with pytest.raises(StoreError):
            open_case(s)
    ro.dispose()


def test_unreachable_postgres_raises_store_error() -> None:
    with pytest.raises(StoreError, match="unavailable"):
        migrate("postgresql+psycopg://nobody:x@127.0.0.1:1/none?connect_timeout=2")


def test_bad_url_raises_store_error() -> None:
    with pytest.raises(StoreError):
        make_engine("not a url")


def test_retry_locked_retries_then_gives_up() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))
        return "ok"

    assert retry_locked(flaky, attempts=5, delay=0.001) == "ok" and len(calls) == 3

    def always_locked() -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))

    with pytest.raises(StoreError, match="locked after 3 attempts"):
        retry_locked(always_locked, attempts=3, delay=0.001)

    def other() -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))

    with pytest.raises(StoreError, match="disk I/O"):
        retry_locked(other, attempts=3, delay=0.001)


def test_a_held_sqlite_write_lock_becomes_store_error(tmp_path, monkeypatch) -> None:
    import riskscore.store.db as dbmod

    monkeypatch.setattr(dbmod, "SQLITE_BUSY_TIMEOUT_MS", 50)
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    engine = make_engine(url)
    migrate(engine)
    holder = engine.raw_connection()
    holder.driver_connection.isolation_level = None
    holder.cursor().execute("BEGIN IMMEDIATE")
    try:
        with session_factory(engine)() as s, pytest.raises(StoreError, match="locked"):
            runs.write_scoring_run(s, as_of=AS_OF, model_version="v1", scores=[score_row("a", 0.5)])
    finally:
        holder.cursor().execute("ROLLBACK")
        holder.close()
        engine.dispose()
