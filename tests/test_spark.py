"""The Spark engine gives the pandas engine's answers: features (rule columns included), rule triggers,
scores and the whole scoring run, row for row (floats within 1e-9), on local[2] — and, in a separate
process, on local-cluster[2,1,1024] where the data really crosses executor JVMs. Plus the pandas
engine's refusal, naming --engine spark, when the data would not fit in memory.

One SparkSession for the module (it takes ~6-10 s to start).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from riskscore import batch, features, rules
from riskscore.engines import sizing
from riskscore.errors import DataError
from riskscore.model.bundle import ModelBundle

ATOL = 1e-9


def _java() -> bool:
    import shutil

    return shutil.which("java") is not None or bool(os.environ.get("JAVA_HOME"))


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark")
    if not _java():
        pytest.skip("no Java runtime (make system-deps installs default-jre-headless)")
    from riskscore.engines import spark as engine

    session = engine.session("local[2]", ui=False, conf={"spark.sql.shuffle.partitions": "4"})
    yield session
    session.stop()


@pytest.fixture(scope="module")
def bundle(small_world: Any) -> ModelBundle:
    return ModelBundle.load(small_world.bundle_dir)


def assert_same_table(expected: pd.DataFrame, got: pd.DataFrame, keys: list[str]) -> None:
    """Row for row after ordering by the keys: same columns and dtypes, floats within ATOL, rest exact."""
    a = expected.sort_values(keys, kind="stable").reset_index(drop=True)
    b = got.sort_values(keys, kind="stable").reset_index(drop=True)
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b) > 0
    for c in a.columns:
        if a[c].dtype.kind == "f":
            assert (a[c].isna() == b[c].isna()).all(), c
            np.testing.assert_allclose(b[c].to_numpy(dtype=float), a[c].to_numpy(dtype=float), rtol=0, atol=ATOL,
                                       err_msg=c, equal_nan=True)
        else:
            assert a[c].dtype == b[c].dtype, (c, a[c].dtype, b[c].dtype)
            assert a[c].astype(object).where(a[c].notna(), None).tolist() == \
                b[c].astype(object).where(b[c].notna(), None).tolist(), c


@pytest.mark.spark
def test_feature_table_over_all_dates_equals_the_pandas_engine(spark: Any, small_world: Any) -> None:
    """Several school years and as-of dates at once, rule columns included (all 12 dates: the
    training-step test below)."""
    from riskscore.engines import spark as engine

    dates = sorted(small_world.features["as_of"].unique())[1::2]
    got = engine.features_frame(spark, str(small_world.data_dir), dates, groups=5)
    expected = small_world.features[small_world.features["as_of"].isin(dates)]
    assert_same_table(expected, got, ["as_of", "student_id"])
    rule_cols = [c for c in got.columns if c.startswith("rule_")]
    assert got[rule_cols].to_numpy().sum() > 20  # the comparison covers fired rules, not only all-False columns


@pytest.mark.spark
def test_training_feature_step_with_spark_is_the_pandas_table_in_its_order(spark: Any, small_world: Any, tmp_path: Path) -> None:
    """`riskscore train --engine spark` fills the pipeline's feature cache with exactly the pandas
    engine's table, rows in the same order (so LightGBM sees the same data), with its sidecar."""
    from riskscore import datasets
    from riskscore.commands.training import _spark_feature_step
    from riskscore.training import splits
    from riskscore.training.config import load_config

    cfg = load_config(Path(__file__).parents[1] / "training" / "config.yaml")
    cfg.data.dir = small_world.data_dir
    cfg.data.features_cache = tmp_path / "features.parquet"
    _spark_feature_step(cfg, master="local[2]", groups=3)
    years = sorted(small_world.tables["students"]["school_year"].unique())
    dates = splits.as_of_dates(years, cfg.as_of_days)
    cached = features.load_if_current(cfg.data.features_cache,
                                     fingerprint=datasets.fingerprint(datasets.read_tables(small_world.data_dir)), dates=dates)
    assert cached is not None
    expected = small_world.features.reset_index(drop=True)
    assert (cached["student_id"].to_numpy() == expected["student_id"].to_numpy()).all()
    pd.testing.assert_frame_equal(cached, expected, check_exact=False, rtol=0, atol=ATOL)


@pytest.mark.spark
def test_rule_triggers_equal_the_pandas_engine(spark: Any, small_world: Any) -> None:
    from riskscore.engines import spark as engine

    day = pd.Timestamp(small_world.score_as_of)
    days = [day, pd.Timestamp(day.year - 1, 10, 1)]
    got = engine.to_pandas(engine.evaluate_rules(spark, str(small_world.data_dir), days, groups=3))
    expected = pd.concat([rules.evaluate(features.point_in_time(small_world.tables, d), d).assign(as_of=d)[list(got.columns)]
                          for d in days], ignore_index=True)
    expected["as_of"] = expected["as_of"].astype("datetime64[ns]")
    assert len(expected) > 50 and expected["rule_id"].nunique() >= 3
    assert_same_table(expected, got, ["as_of", "student_id", "rule_id", "fired_on"])


@pytest.mark.spark
def test_scores_per_partition_equal_the_bundle_on_the_whole_table(spark: Any, small_world: Any, bundle: ModelBundle) -> None:
    from riskscore.engines import spark as engine

    day = pd.Timestamp(small_world.score_as_of)
    feats = engine.build_features(spark, str(small_world.data_dir), [day], groups=4)
    scored = engine.to_pandas(engine.score(feats.repartition(3), bundle, top_k=3)).sort_values("student_id")
    table, result = engine.scored_parts(scored.reset_index(drop=True), bundle, 3)
    expected_table = small_world.features[small_world.features["as_of"] == day].sort_values("student_id").reset_index(drop=True)
    expected = bundle.score(bundle.matrix(expected_table), top_k=3)
    assert (table["student_id"].to_numpy() == expected_table["student_id"].to_numpy()).all()
    np.testing.assert_allclose(result.raw, expected.raw, rtol=0, atol=ATOL)
    np.testing.assert_allclose(result.probability, expected.probability, rtol=0, atol=ATOL)
    np.testing.assert_allclose(result.contributions, expected.contributions, rtol=0, atol=ATOL)
    assert (result.top == expected.top).all() and (result.band == expected.band).all()
    assert len(set(result.band)) >= 2  # the data spans bands: a real comparison


def _stored(url: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    import sqlalchemy as sa

    from riskscore.store.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            scores = pd.read_sql(sa.text("SELECT student_id, school_id, municipality, rmc_region, as_of, age, probability,"
                                         " band, reasons, triggers, roles, model_version FROM scores"), conn)
            cases = pd.read_sql(sa.text("SELECT student_id, school_id, municipality, rmc_region, role, team, as_of,"
                                        " reason, priority, probability, band, legal_deadline, legal_done_on, status"
                                        " FROM review_cases"), conn)
            signals = pd.read_sql(sa.text("SELECT c.student_id, c.role, s.kind, s.rule_id, s.fired_on, s.deadline,"
                                          " s.detail FROM case_signals s JOIN review_cases c ON c.id = s.case_id"), conn)
            cases = cases.merge(signals.sort_values(["student_id", "role", "kind", "rule_id"]).groupby(
                ["student_id", "role"]).agg(lambda v: tuple(map(str, v))).reset_index(), on=["student_id", "role"],
                how="left")
    finally:
        engine.dispose()
    return scores, cases


@pytest.mark.spark
def test_score_run_with_the_spark_engine_is_the_pandas_engines_run(spark: Any, small_world: Any, bundle: ModelBundle,
                                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`riskscore score --engine spark` stores the pandas engine's run: the same scores, reasons,
    triggers, roles, review cases and monitoring frame."""
    import json

    from riskscore.cli import main
    from riskscore.settings import get_settings
    from riskscore.store.db import make_engine, migrate, session_factory

    day = dt.date.fromisoformat(small_world.score_as_of)
    url_p = f"sqlite:///{tmp_path / 'pandas.db'}"
    db = make_engine(url_p)
    migrate(db)
    with session_factory(db)() as s:
        p = batch.run(s, small_world.tables, day, bundle, home=tmp_path / "pandas")
    db.dispose()

    url_s = f"sqlite:///{tmp_path / 'spark.db'}"
    monkeypatch.setenv("RISKSCORE_HOME", str(tmp_path / "spark"))
    monkeypatch.setenv("RISKSCORE_DATABASE_URL", url_s)
    monkeypatch.setattr(sys, "argv", ["riskscore", "score", "--engine", "spark", "--spark-master", "local[2]", "--groups", "3",
                                      "--as-of", small_world.score_as_of, "--data", str(small_world.data_dir),
                                      "--bundle", str(small_world.bundle_dir), "--json"])
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr()
    assert exit_info.value.code == 0, out.err[-2000:]
    s_ = json.loads(out.out.strip().splitlines()[-1])
    assert (s_["n_scored"], s_["n_triggers"], s_["bands"], s_["cases"], s_["capacities"]) == \
        (p.n_scored, p.n_triggers, p.bands, p.cases, p.capacities)
    assert p.cases["opened"] > 20
    scores_p, cases_p = _stored(url_p)
    scores_s, cases_s = _stored(url_s)
    assert_same_table(scores_p, scores_s, ["student_id"])
    assert_same_table(cases_p, cases_s, ["student_id", "role", "reason"])
    frame_p, frame_s = pd.read_parquet(p.frame_path), pd.read_parquet(s_["frame"])
    assert_same_table(frame_p, frame_s, ["student_id"])
    assert list((tmp_path / "spark" / "runs" / "spark").glob("*/scored"))  # the scored Parquet the cases were read from


@pytest.mark.spark
def test_cli_features_engine_spark_writes_the_pandas_table(spark: Any, small_world: Any, tmp_path: Path) -> None:
    from riskscore.cli import app

    runner = CliRunner()
    out_p, out_s = tmp_path / "p.parquet", tmp_path / "s.parquet"
    args = ["features", "--data", str(small_world.data_dir), "--as-of", small_world.score_as_of]
    r1 = runner.invoke(app, [*args, "--out", str(out_p)])
    r2 = runner.invoke(app, [*args, "--out", str(out_s), "--engine", "spark", "--spark-master", "local[2]", "--groups", "2"])
    assert r1.exit_code == 0 and r2.exit_code == 0, (r1.output, r2.output)
    assert_same_table(pd.read_parquet(out_p), pd.read_parquet(out_s), ["as_of", "student_id"])
    # a URI: the executors write a Parquet dataset partitioned by school year
    r3 = runner.invoke(app, [*args, "--out", f"file://{tmp_path}/lake-features", "--engine", "spark", "--groups", "2"])
    assert r3.exit_code == 0, r3.output
    assert list((tmp_path / "lake-features").glob("school_year=*/*.parquet"))
    written = spark.read.parquet(f"file://{tmp_path}/lake-features").count()
    assert written == len(pd.read_parquet(out_p))


@pytest.mark.spark
def test_spark_engine_names_a_missing_table(spark: Any, small_world: Any, tmp_path: Path) -> None:
    from riskscore.engines import spark as engine

    data = tmp_path / "data"
    data.mkdir()
    for f in small_world.data_dir.glob("*.parquet"):
        if f.name != "absences.parquet":
            (data / f.name).write_bytes(f.read_bytes())
    with pytest.raises(DataError, match="table 'absences' not found"):
        engine.build_features(spark, str(data), [small_world.score_as_of], groups=2)


@pytest.mark.spark
def test_bad_rows_found_in_an_executor_are_the_same_clear_error(spark: Any, small_world: Any, tmp_path: Path) -> None:
    """A contract violation found inside a Python worker comes back as the ContractError the pandas
    engine raises (class and message), not as a Java stack trace."""
    from riskscore.engines import spark as engine
    from riskscore.errors import ContractError

    data = tmp_path / "data"
    data.mkdir()
    for f in small_world.data_dir.glob("*.parquet"):
        (data / f.name).write_bytes(f.read_bytes())
    students = pd.read_parquet(data / "students.parquet")
    students.loc[students.index[:3], "calendar_region"] = "atlantis"
    students.to_parquet(data / "students.parquet", index=False)
    with pytest.raises(ContractError, match=r"table 'students' breaks its contract.*calendar_region") as info:
        engine.features_frame(spark, str(data), [small_world.score_as_of], groups=2)
    assert "Traceback" not in str(info.value) and "java" not in str(info.value).lower()


@pytest.mark.spark
def test_partitioned_by_school_year_reads_the_same(spark: Any, small_world: Any, tmp_path: Path) -> None:
    """A lake laid out as <table>/school_year=…/ gives the same features (and prunes old absences)."""
    from pyspark.sql import functions as F

    from riskscore.engines import spark as engine

    lake = tmp_path / "lake"
    for name in ("students", "absences", "sick_reports", "applications", "enrolments", "diplomas"):
        df = engine.read_table(spark, str(small_world.data_dir), name, keep_audit=True)
        assert df is not None
        if name != "students":
            date_col = engine._datetime_columns(name)[0]
            y = F.year(date_col) - F.when(F.month(date_col) < 8, 1).otherwise(0)
            df = df.withColumn("school_year", F.concat_ws("-", y.cast("string"), F.lpad(((y + 1) % 100).cast("string"), 2, "0")))
        df.write.partitionBy("school_year").parquet(str(lake / name))
    day = pd.Timestamp(small_world.score_as_of)
    got = engine.features_frame(spark, str(lake), [day], groups=2)
    assert_same_table(small_world.features[small_world.features["as_of"] == day], got, ["as_of", "student_id"])


# --- why grouping is allowed (no Spark needed) ----------------------------------------------------
@pytest.fixture(scope="module")
def tiny_world() -> dict[str, pd.DataFrame]:
    from riskscore import synthetic

    return synthetic.generate(300, 2, 3, first_year="2022-23")


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(groups=st.integers(1, 7), seed=st.integers(0, 2**16), day=st.sampled_from(["2023-10-01", "2024-02-01", "2024-05-01"]))
def test_features_and_rules_of_any_pupil_grouping_add_up_to_the_whole(tiny_world: dict[str, pd.DataFrame], groups: int,
                                                                     seed: int, day: str) -> None:
    """What the Spark engine relies on: features.build and rules.evaluate are per pupil, so computing
    them per group of pupils (any grouping) and concatenating gives the table of all pupils."""
    ids = pd.unique(tiny_world["students"]["student_id"])
    group_of = dict(zip(ids, np.random.default_rng(seed).integers(0, groups, len(ids)), strict=True))
    whole = features.build(tiny_world, [day])
    whole_fired = rules.evaluate(features.point_in_time(tiny_world, day), day)
    parts, fired = [], []
    for g in range(groups):
        sub = {name: df[df["student_id"].map(group_of).eq(g).to_numpy()] for name, df in tiny_world.items()}
        if sub["students"].empty:
            continue
        parts.append(features.build(sub, [day]))
        fired.append(rules.evaluate(features.point_in_time(sub, day), day))
    assert_same_table(whole, pd.concat(parts, ignore_index=True), ["as_of", "student_id"])
    if len(whole_fired):
        assert_same_table(whole_fired, pd.concat(fired, ignore_index=True), ["student_id", "rule_id", "fired_on"])


# --- the pandas engine's memory guard (no Spark needed) -------------------------------------------
@pytest.mark.parametrize("command", ["features", "score"])
def test_pandas_engine_refuses_data_that_would_not_fit_and_names_engine_spark(
        command: str, small_world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from riskscore.cli import main
    from riskscore.settings import get_settings

    monkeypatch.setenv("RISKSCORE_HOME", str(tmp_path))
    get_settings.cache_clear()
    args = {"features": ["--out", str(tmp_path / "f.parquet")],
            "score": ["--as-of", small_world.score_as_of, "--bundle", str(small_world.bundle_dir)]}[command]
    monkeypatch.setattr(sys, "argv", ["riskscore", command, "--data", str(small_world.data_dir), *args, "--max-memory", "0.05"])
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 3 and len(err.splitlines()) == 1, err
    assert "--engine spark" in err and "GiB" in err
    assert not (tmp_path / "f.parquet").exists() and not (tmp_path / "runs").exists()  # nothing built, nothing stored


def test_memory_estimate_counts_rows_from_the_parquet_footers(small_world: Any) -> None:
    est = sizing.estimate(small_world.data_dir, 1)
    assert est.student_rows == len(small_world.tables["students"])
    assert est.events == sum(len(small_world.tables[t]) for t in sizing.EVENT_TABLES)
    ok = sizing.check_pandas_fits(small_world.data_dir, 1, max_memory_gib=est.gib * 1.01)
    assert ok.bytes == est.bytes


# --- local-cluster: two executor JVMs, in a process of its own ------------------------------------
CLUSTER_SCRIPT = textwrap.dedent("""
    import sys
    import pandas as pd
    from riskscore.engines import spark as engine
    spark = engine.session("local-cluster[2,1,1024]", ui=False)
    assert spark.sparkContext.master.startswith("local-cluster")
    table = engine.features_frame(spark, sys.argv[1], [pd.Timestamp(sys.argv[2])], groups=4)
    executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1  # minus the driver
    table.to_parquet(sys.argv[3], index=False)
    print("executors", executors)
    spark.stop()
""")


@pytest.mark.spark
@pytest.mark.slow
def test_local_cluster_two_executors_equal_the_pandas_engine(small_world: Any, tmp_path: Path) -> None:
    pyspark = pytest.importorskip("pyspark")
    if not _java():
        pytest.skip("no Java runtime")
    spark_home = Path(pyspark.__file__).parent
    if not (spark_home / "bin" / "spark-class").exists():
        pytest.skip("pyspark's bundled bin/spark-class is missing: local-cluster needs it to start executors")
    out = tmp_path / "cluster.parquet"
    env = {**os.environ, "SPARK_HOME": str(spark_home), "PYSPARK_PYTHON": sys.executable,
           "SPARK_LOCAL_IP": "127.0.0.1", "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run([sys.executable, "-c", CLUSTER_SCRIPT, str(small_world.data_dir), small_world.score_as_of, str(out)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "executors 2" in proc.stdout
    day = pd.Timestamp(small_world.score_as_of)
    assert_same_table(small_world.features[small_world.features["as_of"] == day], pd.read_parquet(out), ["as_of", "student_id"])
