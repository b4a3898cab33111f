"""The batch job (`riskscore score`): one transactional run, review cases for every rule trigger and up
to each team's capacity, idempotent reruns, the monitoring frame, and a kill -9 mid-run on SQLite and
PostgreSQL leaving nothing visible."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from conftest import Db
from riskscore import batch, features, rules
from riskscore.model.bundle import ModelBundle
from riskscore.settings import Settings
from riskscore.store.cases import ACTIVE_STATUSES, TEAM_UNITS, case_signals
from riskscore.store.models import ReviewCase
from riskscore.store.runs import latest_run, run_scores
from test_store import count


@pytest.fixture(scope="module")
def bundle(small_world: Any) -> ModelBundle:
    return ModelBundle.load(small_world.bundle_dir)


def as_of(world: Any) -> dt.date:
    return dt.date.fromisoformat(world.score_as_of)


def run_once(db: Db, world: Any, bundle: ModelBundle, home: Path, **kw: Any) -> batch.BatchResult:
    with db.sessions() as s:
        return batch.run(s, world.tables, as_of(world), bundle, home=home, **kw)


def all_cases(db: Db) -> list[ReviewCase]:
    with db.sessions() as s:
        return list(s.scalars(sa.select(ReviewCase).order_by(ReviewCase.id)))


def test_run_scores_everyone_enrolled_opens_cases_and_is_idempotent(db: Db, small_world: Any, bundle: ModelBundle,
                                                                    tmp_path: Path) -> None:
    day = as_of(small_world)
    enrolled = small_world.features.loc[small_world.features["as_of"] == pd.Timestamp(day), "student_id"].nunique()
    first = run_once(db, small_world, bundle, tmp_path)
    assert first.n_scored == enrolled > 100
    with db.sessions() as s:
        run = latest_run(s)
        assert run is not None and run.id == first.run_id and run.status == "complete"
        assert run.n_scored == enrolled and run.as_of == day and run.model_version == bundle.version
        assert len(run_scores(s, run.id)) == enrolled
    stored = {r.student_id: r for r in batch.prepare(small_world.tables, day, bundle).students}

    # every rule trigger (evaluated independently) is a signal of a case of each team it is routed to
    fired = rules.evaluate(features.point_in_time(small_world.tables, day), day)
    assert len(fired) > 0
    cases = all_cases(db)
    with db.sessions() as s:
        held = case_signals(s, [c.id for c in cases])
    by_team = {(c.student_id, c.role): c for c in cases}
    routes = {r.student_id: r.routes for r in stored.values()}
    newest = fired.sort_values("fired_on").groupby(["student_id", "rule_id"]).tail(1)  # a new period: newest report
    n_16h = 0
    for trig in newest.itertuples():
        roles = {role for signal, role in routes.get(trig.student_id, ()) if signal == f"rule:{trig.rule_id}"}
        for role in roles:
            case = by_team.get((trig.student_id, role))
            assert case is not None, (trig.student_id, trig.rule_id, role)
            assert any(sig.rule_id == trig.rule_id and sig.fired_on == trig.fired_on.date() for sig in held[case.id])
        if trig.rule_id == "leerplicht_16h_4w" and trig.student_id in routes:
            # the school holds the legal duty to report to DUO within 5 school days; leerplicht acts on it
            n_16h += 1
            school, officer = by_team[(trig.student_id, "school")], by_team[(trig.student_id, "leerplicht")]
            assert school.legal_deadline == officer.legal_deadline == trig.due_date.date()
            assert school.legal_done_on is None and school.reason == "rule:leerplicht_16h_4w" and school.priority == 1
    assert n_16h > 0
    # at most one open case per pupil per team
    teams = Counter((c.student_id, c.role, c.team) for c in cases if c.status in ACTIVE_STATUSES)
    assert max(teams.values()) == 1

    # capacity: per team at most its capacity, and the chosen are the team's highest eligible risks
    model_cases = [c for c in cases if any(sig.kind == "model" for sig in held[c.id])]
    assert model_cases, "the highest-risk students must get capacity signals"
    rule_roles = {(c.student_id, c.role) for c in cases if any(sig.kind == "rule" for sig in held[c.id])}
    assert not any((c.student_id, c.role) in rule_roles for c in model_cases)  # a rule case takes no slot
    frame = pd.DataFrame([{"student_id": k, "p": v.probability, "routes": v.routes,
                           "school_id": v.school_id, "municipality": v.municipality, "rmc_region": v.rmc_region}
                          for k, v in stored.items()])
    per_10k = batch.ScoringConfig().capacity_per_10k
    for role, unit in TEAM_UNITS.items():
        mine = [c for c in model_cases if c.role == role]
        sizes = frame.groupby(unit).size()
        for team, n_cases in pd.Series([getattr(c, unit) for c in mine]).value_counts().items():
            assert n_cases <= max(1, round(per_10k[role] * sizes[team] / 10_000))
        chosen = {c.student_id for c in mine}
        for team, group in frame.groupby(unit):
            eligible = group[[("model", role) in r and (sid, role) not in rule_roles
                              for sid, r in zip(group["student_id"], group["routes"], strict=True)]]
            picked, left = eligible[eligible["student_id"].isin(chosen)], eligible[~eligible["student_id"].isin(chosen)]
            if len(picked) and len(left):
                assert picked["p"].min() >= left["p"].max(), (role, team)
    assert all(c.probability == stored[c.student_id].probability for c in model_cases)

    # rerun: same run id, same counts, no new cases
    n_cases, n_events = len(cases), count(db, "case_events")
    again = run_once(db, small_world, bundle, tmp_path)
    assert again.run_id == first.run_id and again.n_scored == first.n_scored
    assert again.cases["opened"] == 0 and again.cases["updated"] == first.cases["opened"]
    assert len(all_cases(db)) == n_cases and count(db, "case_events") == n_events
    assert count(db, "scores") == enrolled and count(db, "scoring_runs") == 1


def test_monitoring_frame_has_the_reference_columns_and_a_crashed_attempt_is_ignored(
        small_world: Any, bundle: ModelBundle, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rs.db'}"
    settings = Settings(home=tmp_path, database_url=url)
    assert batch.latest_scored_frame(settings) is None  # no database yet
    from riskscore.store.db import make_engine, migrate, session_factory

    engine = make_engine(url)
    migrate(engine)
    result = run_once(Db(url, engine, session_factory(engine)), small_world, bundle, tmp_path)
    path = batch.scored_frame_path(settings, result.run_id)
    assert path == tmp_path / "runs" / f"run-{result.run_id}.parquet" == result.frame_path
    reference = pd.read_parquet(small_world.bundle_dir / "reference.parquet")
    frame = batch.latest_scored_frame(settings)
    assert frame is not None and set(reference.columns) <= set(frame.columns)
    # the run's frame (local, erased by key on erasure) keeps what the bundle's reference leaves out
    assert set(frame.columns) - set(reference.columns) == {"student_id", "municipality", "gender",
                                                           "migration_background", "ses_band"}
    assert len(frame) == result.n_scored and frame.attrs["riskscore_run"]["run_id"] == result.run_id
    assert set(frame["band"]) <= {"low", "medium", "high"} and frame["probability"].between(0, 1).all()

    # a file written by an attempt that never committed (another stamp) is never used
    stale = frame.copy()
    stale.attrs["riskscore_run"] = {**frame.attrs["riskscore_run"], "attempt": "1999-01-01T00:00:00.000000"}
    stale.to_parquet(path, index=False)
    assert batch.latest_scored_frame(settings) is None
    engine.dispose()


def test_bad_capacity_config_is_one_clear_error(tmp_path: Path) -> None:
    from riskscore.errors import ConfigError

    (tmp_path / "c.yaml").write_text("scoring:\n  capacity_per_10k:\n    teachers: 5\n")
    with pytest.raises(ConfigError, match="unknown role"):
        batch.ScoringConfig.from_yaml(tmp_path / "c.yaml")
    (tmp_path / "t.yaml").write_text("capacity_per_10k:\n  school: 50\n")
    assert batch.ScoringConfig.from_yaml(tmp_path / "t.yaml").capacity_per_10k["school"] == 50


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from riskscore.cli import main; main()", "score", *args]


def visible(db: Db, table: str) -> int:
    """Rows readers can see: complete runs and their scores."""
    sql = {"scoring_runs": "SELECT COUNT(*) FROM scoring_runs WHERE status = 'complete'",
           "scores": "SELECT COUNT(*) FROM scores JOIN scoring_runs r ON r.id = scores.run_id "
                     "WHERE r.status = 'complete'"}[table]
    with db.engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


def test_kill_9_mid_run_leaves_no_visible_run_and_a_rerun_completes(db: Db, small_world: Any, tmp_path: Path) -> None:
    env = {**os.environ, "RISKSCORE_HOME": str(tmp_path), "RISKSCORE_DATABASE_URL": db.url}
    args = ["--as-of", small_world.score_as_of, "--data", str(small_world.data_dir),
            "--bundle", str(small_world.bundle_dir)]
    proc = subprocess.Popen(_cli(*args, "--pause-before-commit", "60"), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        runs_dir = tmp_path / "runs"
        # the monitoring file is written inside the transaction, just before the (held) commit
        while not (runs_dir.is_dir() and any(runs_dir.glob("run-*.parquet"))):
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "the batch never reached its commit"
            time.sleep(0.1)
        time.sleep(0.3)
        with db.sessions() as s:  # mid-run, from another connection: nothing visible
            assert latest_run(s) is None
        # the scores are written in short transactions under an invisible staging run
        assert visible(db, "scoring_runs") == visible(db, "scores") == count(db, "review_cases") == 0
        assert count(db, "scores") > 0
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert visible(db, "scoring_runs") == visible(db, "scores") == count(db, "review_cases") == 0
    settings = Settings(home=tmp_path, database_url=db.url)
    assert batch.latest_scored_frame(settings) is None  # the dead attempt's file is not trusted

    done = subprocess.run(_cli(*args), env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    enrolled = small_world.features.loc[small_world.features["as_of"] == pd.Timestamp(small_world.score_as_of),
                                        "student_id"].nunique()
    with db.sessions() as s:
        run = latest_run(s)
        assert run is not None and run.n_scored == enrolled
    # the rerun removed what the killed run staged
    assert count(db, "scores") == enrolled and count(db, "scoring_runs") == 1 and count(db, "review_cases") > 0
    frame = batch.latest_scored_frame(settings)
    assert frame is not None and len(frame) == enrolled
    assert f"{enrolled} students scored" in done.stdout.decode()


def test_cli_refuses_bad_input_with_one_line(small_world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from riskscore.cli import main
    from riskscore.settings import get_settings

    monkeypatch.setenv("RISKSCORE_HOME", str(tmp_path))
    get_settings.cache_clear()
    cases = [
        (["--as-of", "2024-02-30", "--bundle", str(small_world.bundle_dir)], 2, "not a date"),
        (["--as-of", "2999-01-01", "--bundle", str(small_world.bundle_dir)], 2, "in the future"),
        (["--as-of", "2024-02-01", "--data", str(tmp_path / "nope"), "--bundle", str(small_world.bundle_dir)], 3,
         "data folder not found"),
        (["--as-of", small_world.score_as_of, "--data", str(small_world.data_dir), "--bundle", str(tmp_path)], 4,
         "no model bundle"),
        (["--as-of", "2016-02-01", "--data", str(small_world.data_dir), "--bundle", str(small_world.bundle_dir)], 3,
         "outside the school calendar"),
    ]
    try:
        for args, code, text in cases:
            monkeypatch.setattr(sys, "argv", ["riskscore", "score", *args])
            with pytest.raises(SystemExit) as exit_info:
                main()
            err = capsys.readouterr().err.strip()
            assert exit_info.value.code == code and text in err and len(err.splitlines()) == 1, err
            assert "Traceback" not in err
    finally:
        get_settings.cache_clear()
