"""The Spark engine: the project's own feature, rule and scoring code, distributed by PySpark.

One implementation of the law: Spark only moves the data. The raw tables are read as Parquet
(a file ``<table>.parquet`` or a folder ``<table>/`` partitioned by ``school_year=…``, on any file
system Spark reads: local, ``s3a://``, ``hdfs://``, ``abfss://``), every pupil is put in one of N
groups by a hash of the student id, and each group runs ``features.build`` / ``rules.evaluate``
unchanged through ``cogroup(...).applyInPandas`` (absences on one side, the five small tables on the
other, so the big table is never widened). Scoring runs the numpy bundle per partition with
``mapInPandas``. Everything a pupil's features need lives in their own group, so the answers equal the
pandas engine's row for row (tests/test_spark.py).

Only the contracts' columns are read, without the audit columns (gender, migration background,
SES): protected attributes never reach the feature code, let alone the model.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from riskscore.clock import today as school_today
from riskscore.contracts import (
    AUDIT_COLUMNS,
    FEATURES,
    RAW_SCHEMAS,
    RULE_COLUMNS,
    validate,
)
from riskscore.errors import MSG_MISSING_TABLE, ConfigError, DataError, RiskscoreError
from riskscore.store.registrations import sync_registrations

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from sqlalchemy.orm import Session

    from riskscore.batch import BatchResult, ScoringConfig
    from riskscore.calendar import SchoolCalendar
    from riskscore.model.bundle import ModelBundle
    from riskscore.routing import RoutingTable
    from riskscore.rules import RuleConfig

#: pupils per group handed to one pandas call: ~50k pupils keep a Python worker well under 1 GiB
PUPILS_PER_GROUP = 50_000
REQUIRED = ("students", "absences", "sick_reports", "applications", "enrolments", "diplomas")
SMALL_TABLES = ("students", "sick_reports", "applications", "enrolments", "diplomas")
#: absences older than this before the first as-of date are never read by features or rules
#: (rules' lookback_days <= 366, the school year's start <= 366 days, 12 lesson weeks ~ 200 days)
ABSENCE_HORIZON_DAYS = 400
BUCKET = "_bucket"
TABLE = "_table"
SEP = "__"
CONTEXT_STR = ("student_id", "school_id", "municipality", "rmc_region", "school_year", "level")
TRIGGER_COLUMNS = ("student_id", "rule_id", "fired_on", "due_date", "role", "source", "detail")

MSG_NO_PYSPARK = ("the Spark engine needs PySpark and a Java 17 runtime: pip install 'riskscore[spark]' and "
                  "install Java (make system-deps); {details}")
MSG_NO_JAVA = "Spark could not start (is Java 17 installed and JAVA_HOME right?): {details}"
MSG_TASK_FAILED = "the Spark job failed: {details}"
MSG_NO_STUDENTS_SPARK = "no students are enrolled on {as_of} in {source}; nothing to score"


# --- the session ---------------------------------------------------------------------------------
def _under_spark_submit() -> bool:
    """spark-submit starts the Python driver with a gateway already running: its master rules."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def session(master: str | None = None, *, app_name: str = "riskscore", conf: Mapping[str, str] | None = None,
            ui: bool | None = None) -> SparkSession:
    """A SparkSession for the engine.

    ``master`` None means: the one spark-submit chose, else ``local[*]``. Local masters bind to
    loopback only; executors run this interpreter (``sys.executable``), so they see the same
    riskscore, pandas and numpy. Timestamps are UTC, Parquet nanosecond timestamps (pandas' default)
    are read exactly. The web UI is off on local masters unless ``ui=True`` (no port beyond loopback).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError(MSG_NO_PYSPARK.format(details=exc)) from None
    if master is None and not _under_spark_submit():
        master = "local[*]"
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
        if master.startswith("local"):
            ui = bool(ui)
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.legacy.parquet.nanosAsLong": "true",  # pandas writes TIMESTAMP(NANOS): read as int64, converted below
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.adaptive.enabled": "true",
        "spark.ui.enabled": "false" if ui is False else "true",
        "spark.ui.showConsoleProgress": "false",
        **dict(conf or {}),
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # JAVA_GATEWAY_EXITED and friends
        raise ConfigError(MSG_NO_JAVA.format(details=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)) from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def failed(exc: BaseException) -> RiskscoreError:
    """A Spark failure as one of our errors: a RiskscoreError raised in an executor keeps its class and
    message (the worker's traceback ends with ``riskscore.errors.DataError: …``)."""
    from riskscore import errors

    text = str(exc)
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("riskscore.errors."):
            name, _, message = line.removeprefix("riskscore.errors.").partition(": ")
            cls = getattr(errors, name, None)
            if isinstance(cls, type) and issubclass(cls, RiskscoreError):
                return cls(message)
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    return DataError(MSG_TASK_FAILED.format(details=first[:300]))


# --- reading the raw tables ----------------------------------------------------------------------
def _exists(spark: SparkSession, path: str) -> bool:
    jvm = spark._jvm  # Hadoop's FileSystem knows every scheme Spark is configured for (s3a, hdfs, ...)
    assert jvm is not None
    p = jvm.org.apache.hadoop.fs.Path(path)
    return bool(p.getFileSystem(spark._jsc.hadoopConfiguration()).exists(p))


def table_path(spark: SparkSession, data: str, name: str) -> str | None:
    """``<data>/<name>`` (a folder, e.g. partitioned by school year) or ``<data>/<name>.parquet``."""
    base = str(data).rstrip("/")
    for candidate in (f"{base}/{name}", f"{base}/{name}.parquet"):
        if _exists(spark, candidate):
            return candidate
    return None


def _datetime_columns(name: str) -> list[str]:
    return [c for c, col in RAW_SCHEMAS[name].columns.items() if str(col.dtype).startswith("datetime64")]


def read_table(spark: SparkSession, data: str, name: str, *, keep_audit: bool = False) -> DataFrame | None:
    """One raw table with its contract's columns (audit and proxy columns dropped unless asked for),
    timestamps as Spark timestamps (UTC)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    path = table_path(spark, data, name)
    if path is None:
        if name in REQUIRED:
            raise DataError(MSG_MISSING_TABLE.format(table=name, path=data))
        return None
    try:
        df = spark.read.parquet(path)
    except Exception as exc:
        raise DataError(f"table '{name}' at {path} cannot be read: {str(exc).splitlines()[0]}") from None
    contract = RAW_SCHEMAS[name].columns
    # contract columns only (so no postcode, nationality, ...); the audit columns too unless asked for.
    # school, municipality and region stay: they are scope and routing context, never model inputs
    drop = set() if keep_audit else set(AUDIT_COLUMNS)
    keep = [c for c in df.columns if c in contract and c not in drop]
    if name != "students" and "school_year" in df.columns:
        keep.append("school_year")  # the partition column: kept for pruning, dropped before pandas
    missing = [c for c, col in contract.items() if c not in df.columns and c not in drop and col.required
               and not col.nullable and name != "outcomes"]
    if missing and name == "students":
        raise DataError(f"table 'students' at {path} lacks column(s) {missing}")
    df = df.select(*keep)
    types = dict(df.dtypes)
    for c in _datetime_columns(name):
        if c not in types:
            continue
        kind = df.schema[c].dataType
        if isinstance(kind, T.LongType):  # TIMESTAMP(NANOS) read as nanoseconds since 1970
            df = df.withColumn(c, F.expr(f"timestamp_micros(`{c}` div 1000)"))
        elif not isinstance(kind, T.TimestampType):
            df = df.withColumn(c, F.col(c).cast("timestamp"))
    return df


def _school_year(day: dt.date) -> str:
    y0 = day.year if day.month >= 8 else day.year - 1
    return f"{y0}-{(y0 + 1) % 100:02d}"


def read_inputs(spark: SparkSession, data: str, dates: Sequence[pd.Timestamp], *, groups: int) -> tuple[DataFrame, DataFrame]:
    """(absences, the five small tables packed side by side), both with the pupil's group number.

    Only what a point-in-time computation for these dates may read is kept: nothing after the last
    date, and no absences older than ABSENCE_HORIZON_DAYS before the first (partition pruning when the
    folder is partitioned by school year)."""
    from pyspark.sql import functions as F

    first, last = min(dates), max(dates)
    lower = (first - pd.Timedelta(days=ABSENCE_HORIZON_DAYS)).to_pydatetime()
    upper = last.to_pydatetime()
    absences = read_table(spark, data, "absences")
    assert absences is not None
    if "school_year" in absences.columns:
        absences = absences.where((F.col("school_year") >= _school_year(lower.date()))
                                  & (F.col("school_year") <= _school_year(upper.date()))).drop("school_year")
    absences = absences.where((F.col("date") >= F.lit(lower)) & (F.col("date") <= F.lit(upper)))
    absences = absences.select(*absences.columns, _bucket(groups))
    packed = []
    for name in SMALL_TABLES:
        df = read_table(spark, data, name)
        assert df is not None
        if name == "students":
            df = df.where(F.col("school_year") <= _school_year(upper.date()))
        elif "school_year" in df.columns:
            df = df.drop("school_year")
        packed.append(df.select(*[F.col(c).alias(f"{name}{SEP}{c}") for c in df.columns],
                                F.lit(name).alias(TABLE), _bucket(groups)))
    small = packed[0]
    for df in packed[1:]:
        small = small.unionByName(df, allowMissingColumns=True)
    return absences, small


def _bucket(groups: int) -> Any:
    """A pupil's group: a stable hash of the student id, so all of a pupil's rows meet in one group."""
    from pyspark.sql import functions as F

    return F.pmod(F.xxhash64(F.col("student_id").cast("string")), F.lit(groups)).cast("int").alias(BUCKET)


def group_count(spark: SparkSession, data: str, *, pupils_per_group: int = PUPILS_PER_GROUP) -> int:
    """Enough groups to keep each pandas call small and every core busy. Counts students rows (one per
    pupil per school year; Parquet answers a count from its footers), so it errs towards more groups."""
    students = read_table(spark, data, "students")
    assert students is not None
    rows = students.count()
    parallelism = spark.sparkContext.defaultParallelism
    return max(2 * parallelism, math.ceil(rows / pupils_per_group), 1)


# --- one group, in the executor: the project's own pandas code ----------------------------------
def _unpack(absences: pd.DataFrame, small: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The raw tables of one group as the pandas engine sees them (same columns, dtypes, contracts)."""
    tables: dict[str, pd.DataFrame] = {}
    label = small[TABLE] if TABLE in small.columns else pd.Series([], dtype=object)
    for name in SMALL_TABLES:
        prefix = f"{name}{SEP}"
        cols = [c for c in small.columns if c.startswith(prefix)]
        part = small.loc[(label == name).to_numpy(), cols]
        part.columns = [c.removeprefix(prefix) for c in cols]
        tables[name] = _coerce(name, part.reset_index(drop=True))
    tables["absences"] = _coerce("absences", absences.drop(columns=[BUCKET], errors="ignore").reset_index(drop=True))
    return {name: tables[name] for name in REQUIRED}


def _coerce(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """The contract's checks and coercions, on the columns the engine carries (audit ones are dropped)."""
    from pandera.errors import SchemaErrors

    from riskscore.contracts import _describe
    from riskscore.errors import MSG_TABLE_INVALID, ContractError

    contract = RAW_SCHEMAS[name]
    if df.empty and len(df.columns) == 0:  # a group without rows of this table: cogroup may pass no columns
        df = pd.DataFrame({c: pd.Series([], dtype="datetime64[ns]" if str(col.dtype).startswith("datetime64") else
                                        "bool" if str(col.dtype) == "bool" else object)
                           for c, col in contract.columns.items() if c not in AUDIT_COLUMNS})
    present = [c for c in contract.columns if c in df.columns]
    try:
        return contract.select_columns(present).validate(df, lazy=True)
    except SchemaErrors as exc:
        raise ContractError(MSG_TABLE_INVALID.format(table=name, details=_describe(exc, 5))) from None


def _features_fn(dates: list[pd.Timestamp], calendar: Any, rule_config: Any) -> Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]:
    columns = list(FEATURE_COLUMNS)

    def build(absences: pd.DataFrame, small: pd.DataFrame) -> pd.DataFrame:
        from riskscore import features

        tables = _unpack(absences, small)
        if tables["students"].empty:
            return _empty(columns)
        table = features.build(tables, dates, calendar=calendar, rule_config=rule_config)
        return table[columns]

    return build


def _triggers_fn(dates: list[pd.Timestamp], calendar: Any, rule_config: Any) -> Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]:
    columns = ["as_of", *TRIGGER_COLUMNS]

    def evaluate(absences: pd.DataFrame, small: pd.DataFrame) -> pd.DataFrame:
        from riskscore import features, rules

        tables = _unpack(absences, small)
        if tables["students"].empty:
            return _empty(columns)
        out = []
        for d in dates:
            fired = rules.evaluate(features.point_in_time(tables, d), d, config=rule_config, calendar=calendar)
            out.append(fired.assign(as_of=d)[columns])
        return pd.concat(out, ignore_index=True)

    return evaluate


def _empty(columns: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


FEATURE_COLUMNS: tuple[str, ...] = ("student_id", "as_of", "school_id", "municipality", "rmc_region", "school_year",
                                    "level", "age", *FEATURES, *RULE_COLUMNS)


def feature_schema() -> Any:
    from pyspark.sql import types as T

    fields = []
    for c in FEATURE_COLUMNS:
        if c == "as_of":
            kind: Any = T.TimestampType()
        elif c in CONTEXT_STR:
            kind = T.StringType()
        elif c in RULE_COLUMNS:
            kind = T.BooleanType()
        else:
            kind = T.DoubleType()
        fields.append(T.StructField(c, kind, True))
    return T.StructType(fields)


def trigger_schema() -> Any:
    from pyspark.sql import types as T

    return T.StructType([T.StructField("as_of", T.TimestampType()), T.StructField("student_id", T.StringType()),
                         T.StructField("rule_id", T.StringType()), T.StructField("fired_on", T.TimestampType()),
                         T.StructField("due_date", T.TimestampType()), T.StructField("role", T.StringType()),
                         T.StructField("source", T.StringType()), T.StructField("detail", T.StringType())])


# --- the distributed steps -----------------------------------------------------------------------
def _dates(as_of_dates: Iterable[Any] | Any, calendar: SchoolCalendar) -> list[pd.Timestamp]:
    from riskscore.errors import DataError as _DataError

    if isinstance(as_of_dates, str | pd.Timestamp | dt.date):
        as_of_dates = [as_of_dates]
    dates = sorted({pd.Timestamp(d).normalize() for d in as_of_dates})
    if not dates:
        raise _DataError("no as-of dates given")
    for d in dates:
        if not calendar.covers(d):
            raise _DataError(f"as-of date {d.date()} lies outside the school calendar ({calendar.first} … {calendar.last})")
    return dates


def build_features(spark: SparkSession, data: str, as_of_dates: Iterable[Any] | Any, *, calendar: SchoolCalendar | None = None,
                   rule_config: RuleConfig | None = None, groups: int | None = None) -> DataFrame:
    """The feature table (with the rule columns) as a Spark DataFrame: ``features.build`` per group."""
    from riskscore.calendar import SchoolCalendar

    cal = calendar or SchoolCalendar.default()
    dates = _dates(as_of_dates, cal)
    n = groups or group_count(spark, data)
    absences, small = read_inputs(spark, data, dates, groups=n)
    spark.conf.set("spark.sql.shuffle.partitions", str(n))  # one pupil group per shuffle partition
    return (absences.groupBy(BUCKET).cogroup(small.groupBy(BUCKET))
            .applyInPandas(_features_fn(dates, cal, rule_config), schema=feature_schema()))


def evaluate_rules(spark: SparkSession, data: str, as_of_dates: Iterable[Any] | Any, *, calendar: SchoolCalendar | None = None,
                   rule_config: RuleConfig | None = None, groups: int | None = None) -> DataFrame:
    """The rule triggers (``rules.evaluate`` per group, point in time), with their as_of date."""
    from riskscore.calendar import SchoolCalendar

    cal = calendar or SchoolCalendar.default()
    dates = _dates(as_of_dates, cal)
    n = groups or group_count(spark, data)
    absences, small = read_inputs(spark, data, dates, groups=n)
    spark.conf.set("spark.sql.shuffle.partitions", str(n))
    return (absences.groupBy(BUCKET).cogroup(small.groupBy(BUCKET))
            .applyInPandas(_triggers_fn(dates, cal, rule_config), schema=trigger_schema()))


def scored_schema(features_schema: Any, bundle: ModelBundle, top_k: int) -> Any:
    from pyspark.sql import types as T

    fields = list(features_schema.fields)
    fields += [T.StructField("raw", T.DoubleType()), T.StructField("probability", T.DoubleType()),
               T.StructField("band", T.StringType()), T.StructField("base", T.DoubleType()),
               T.StructField("excess", T.DoubleType())]
    fields += [T.StructField(f"contribution{SEP}{f}", T.DoubleType()) for f in bundle.features]
    fields += [T.StructField(f"top_{i}", T.IntegerType()) for i in range(top_k)]
    return T.StructType(fields)


def score(features_df: DataFrame, bundle: ModelBundle, *, top_k: int = 3) -> DataFrame:
    """Score every partition with the numpy bundle (``mapInPandas``): raw score, calibrated
    probability, band, every exact contribution and the top-k reason indices, beside the features."""
    import numpy as np

    names = list(bundle.features)

    def run(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in frames:
            s = bundle.score(bundle.matrix(frame), top_k=top_k)
            extra = {"raw": s.raw, "probability": s.probability, "band": np.asarray(s.band).astype(str),
                     "base": s.base, "excess": s.excess}
            extra.update({f"contribution{SEP}{f}": s.contributions[:, j] for j, f in enumerate(names)})
            top = np.asarray(s.top).reshape(len(frame), top_k) if len(frame) else np.zeros((0, top_k), dtype=np.int32)
            extra.update({f"top_{i}": top[:, i].astype(np.int32) for i in range(top_k)})
            yield frame.assign(**extra)

    return features_df.mapInPandas(run, schema=scored_schema(features_df.schema, bundle, top_k))


def scored_parts(scored: pd.DataFrame, bundle: ModelBundle, top_k: int) -> tuple[pd.DataFrame, Any]:
    """Split a scored frame back into (feature table, bundle.Scored) for the batch job's case code."""
    import numpy as np

    from riskscore.model.bundle import Scored

    contrib_cols = [f"contribution{SEP}{f}" for f in bundle.features]
    top_cols = [f"top_{i}" for i in range(top_k)]
    result = Scored(raw=scored["raw"].to_numpy(dtype=float), probability=scored["probability"].to_numpy(dtype=float),
                    band=scored["band"].to_numpy().astype(str),
                    contributions=scored[contrib_cols].to_numpy(dtype=float).reshape(len(scored), len(contrib_cols)),
                    top=scored[top_cols].to_numpy(dtype=np.int64).reshape(len(scored), top_k),
                    base=scored["base"].to_numpy(dtype=float), excess=scored["excess"].to_numpy(dtype=float))
    table = scored.drop(columns=["raw", "probability", "band", "base", "excess", *contrib_cols, *top_cols])
    return table, result


def to_pandas(df: DataFrame) -> pd.DataFrame:
    """Collect a Spark result (Arrow); failures in executors come back as our own errors."""
    try:
        return df.toPandas()
    except RiskscoreError:
        raise
    except Exception as exc:
        raise failed(exc) from None


def features_frame(spark: SparkSession, data: str, as_of_dates: Iterable[Any] | Any, **kwargs: Any) -> pd.DataFrame:
    """``build_features`` collected as the pandas engine's table (contract-checked), ordered by
    (as_of, student_id)."""
    from riskscore.contracts import validate as check

    table = to_pandas(build_features(spark, data, as_of_dates, **kwargs))
    table = table.sort_values(["as_of", "student_id"], kind="stable").reset_index(drop=True)
    return check("features", table)


def order_like_pandas(table: pd.DataFrame, students: pd.DataFrame) -> pd.DataFrame:
    """The pandas engine's row order: by as-of date, then by each pupil's first row in the students
    table. Training on the same rows in the same order gives the same model (LightGBM's binning samples rows)."""
    first_seen = pd.Index(pd.unique(students["student_id"]))
    key = first_seen.get_indexer(table["student_id"])
    order = pd.DataFrame({"as_of": table["as_of"].to_numpy(), "key": key}).sort_values(["as_of", "key"], kind="stable").index
    return table.iloc[order.to_numpy()].reset_index(drop=True)


def write_features(df: DataFrame, out: str) -> None:
    """The distributed write: a Parquet dataset partitioned by school year (for object storage)."""
    try:
        df.write.mode("overwrite").partitionBy("school_year").parquet(out)
    except RiskscoreError:
        raise
    except Exception as exc:
        raise failed(exc) from None


# --- the batch job -------------------------------------------------------------------------------
def run_batch(
    spark: SparkSession,
    session_db: Session,
    data: str,
    as_of: dt.date,
    bundle: ModelBundle,
    *,
    home: Path,
    staging: str | None = None,
    config: ScoringConfig | None = None,
    routing: RoutingTable | None = None,
    rule_config: RuleConfig | None = None,
    progress: Callable[[str], None] = lambda _step: None,
    pause_before_commit: float = 0.0,
    groups: int | None = None,
    objecting: frozenset[str] = frozenset(),
    incomplete_schools: frozenset[str] = frozenset(),
) -> BatchResult:
    """``riskscore score --engine spark``: features, rules and scores in Spark, written as Parquet
    (``<staging>/scored``, ``<staging>/triggers``); then the batch job's own routing, capacity-bounded
    case opening and single-transaction store, reading that scored Parquet."""
    import time

    from riskscore import batch
    from riskscore.calendar import SchoolCalendar

    t0 = time.perf_counter()
    cfg = config or batch.ScoringConfig()
    if as_of > school_today():
        raise DataError(batch.MSG_FUTURE.format(as_of=as_of))
    cal = SchoolCalendar.default()
    n = groups or group_count(spark, data)
    stage = (staging or str(batch.runs_dir(home) / "spark")).rstrip("/") + f"/{as_of.isoformat()}-{uuid.uuid4().hex[:8]}"
    feats = build_features(spark, data, [as_of], calendar=cal, rule_config=rule_config, groups=n)
    try:
        score(feats, bundle, top_k=cfg.top_k).write.mode("overwrite").parquet(f"{stage}/scored")
        progress("features")
        evaluate_rules(spark, data, [as_of], calendar=cal, rule_config=rule_config, groups=n) \
            .write.mode("overwrite").parquet(f"{stage}/triggers")
    except RiskscoreError:
        raise
    except Exception as exc:
        raise failed(exc) from None
    scored = to_pandas(spark.read.parquet(f"{stage}/scored"))
    if scored.empty:
        raise DataError(MSG_NO_STUDENTS_SPARK.format(as_of=as_of, source=data))
    scored = scored.sort_values(["student_id"], kind="stable").reset_index(drop=True)
    table, _ = scored_parts(scored, bundle, cfg.top_k)  # the core re-derives reasons from the table
    table = validate("features", table)
    progress("score")
    fired = to_pandas(spark.read.parquet(f"{stage}/triggers")).drop(columns=["as_of"])
    fired = fired.sort_values(["student_id", "rule_id", "fired_on"], kind="stable").reset_index(drop=True)
    context = {name: to_pandas(df) for name in ("students", "diplomas", "enrolments")
               if (df := read_table(spark, data, name, keep_audit=True)) is not None}
    for name, df in context.items():
        context[name] = validate(name, df)
    if "://" not in data:  # the audit table (kept apart) joins the monitoring frame only, as on the pandas path
        from riskscore.audit_table import read_audit

        audit = read_audit(data)
        if audit is not None:
            context["audit"] = audit
    prepared = batch.assemble(context, as_of, bundle, table=table, fired=fired, config=cfg, routing=routing,
                              objecting=objecting, incomplete_schools=incomplete_schools, progress=progress,
                              source=data)
    t1 = time.perf_counter()
    sync_registrations(session_db, context["students"], context.get("enrolments"))
    run_id, cases, path = batch.write(session_db, prepared, home=home, progress=progress,
                                      pause_before_commit=pause_before_commit)
    t2 = time.perf_counter()
    return batch.BatchResult(run_id=run_id, as_of=as_of, model_version=prepared.model_version,
                             n_scored=len(prepared.scores), n_triggers=prepared.n_triggers, bands=prepared.bands,
                             cases=cases, capacities=prepared.capacities, frame_path=path, seconds=t2 - t0,
                             timings={"prepare": t1 - t0, "store": t2 - t1})


__all__ = ["FEATURE_COLUMNS", "build_features", "evaluate_rules", "features_frame", "run_batch", "score",
           "session", "write_features"]
