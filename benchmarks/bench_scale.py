"""Benchmark: national scale — the feature table (one as-of date) and the training table (years x 3
as-of dates), pandas engine vs Spark local[2], each as a real `riskscore features` process; plus
scoring in Spark with the numpy bundle per partition (mapInPandas) vs MLflow's spark_udf.

Run:  .venv/bin/python benchmarks/bench_scale.py --students 200000 --years 1 --engines pandas,spark
      .venv/bin/python benchmarks/bench_scale.py --students 1000000 --years 6 --as-of all   # training table
      .venv/bin/python benchmarks/bench_scale.py --students 200000 --scoring               # mapInPandas vs spark_udf

Data: the vectorised generator of bench_features.py (~30 absence rows, ~3 sick reports per pupil
per school year), repeated per school year for the same pupils, written as `<table>.parquet`.
Wall time is the whole command (Spark's session start included); peak memory is the largest sum
of resident sets over the process tree, sampled every 0.1 s: the CLI, Spark's JVM and its Python
workers together. The pandas engine's own memory guard runs first (engines/sizing.py); the table
prints its estimate beside the measured peak.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import _children, command_line, rss_mib, table

RISKSCORE = [sys.executable, "-c", "from riskscore.cli import main; main()"]


def first_year(years: int) -> int:
    """Years end with 2023-24, but never start before the school calendar's first (2019-20)."""
    return max(2023 - (years - 1), 2019)


def generate_years(n: int, years: int, out: Path, *, seed: int = 0, chunk: int = 1_000_000,
                   first_chunk: int = 0) -> dict[str, int]:
    """Raw tables for `years` school years (see first_year), the same pupils every year, written as
    `<table>.parquet/part-<year>-<chunk>.parquet` (one school year of at most `chunk` pupils at a time,
    so generating 5M pupils never holds more than one chunk)."""
    from bench_features import generate

    rows: dict[str, int] = {}
    for c, start in enumerate(range(0, n, chunk), start=first_chunk):
        size = min(chunk, n - start)
        for k in range(years):
            y0 = first_year(years) + k
            one = generate(size, seed=seed + 1000 * c + k)  # dated in 2023-24: moved to y0
            shift = pd.DateOffset(years=2023 - y0)
            for name, df in one.items():
                df = df.copy()
                for col in df.columns:
                    if str(df[col].dtype).startswith("datetime64"):
                        df[col] = (df[col] - shift).astype("datetime64[ns]")
                if "student_id" in df.columns and c:
                    df["student_id"] = f"c{c}-" + df["student_id"].astype(str)
                if name == "students":
                    df["school_year"] = f"{y0}-{(y0 + 1) % 100:02d}"
                    df["birth_date"] = one["students"]["birth_date"].astype("datetime64[ns]")  # the same pupils age
                if name == "applications":
                    df["application_id"] = df["application_id"] + f"-{c}-{y0}"
                folder = out / f"{name}.parquet"
                folder.mkdir(parents=True, exist_ok=True)
                df.to_parquet(folder / f"part-{y0}-{c:03d}.parquet", index=False)
                rows[name] = rows.get(name, 0) + len(df)
            del one
    return rows


class TreeSampler:
    """Largest summed RSS of a process and all its descendants (JVM, Python workers), in MiB."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self, pid: int) -> list[int]:
        out = [pid]
        for c in _children(pid):
            out += self._tree(c)
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            total = sum(v for p in self._tree(self.pid) if (v := rss_mib(p)) == v)
            self.peak = max(self.peak, total)
            time.sleep(0.1)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_features(engine: str, data: Path, out: Path, dates: list[str], *, master: str, timeout: float) -> dict[str, Any]:
    argv = [*RISKSCORE, "features", "--engine", engine, "--data", str(data), "--out", str(out)]
    for d in dates:
        argv += ["--as-of", d]
    if engine == "spark":
        argv += ["--spark-master", master]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    sampler = TreeSampler(proc.pid)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    peak = sampler.stop()
    err = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    return {"engine": engine, "rc": proc.returncode, "wall_s": wall, "peak_gib": peak / 1024,
            "message": (err[-1] if err else stdout.strip().splitlines()[-1] if stdout.strip() else "")[:200]}


def scoring(students: int, data: Path, *, master: str, rounds: int) -> list[list[Any]]:
    """Same feature DataFrame (cached), scored both ways, interleaved; the median of each."""
    from riskscore import registry
    from riskscore.engines import spark as engine
    from riskscore.model.bundle import ModelBundle
    from riskscore.testing import tiny_bundle

    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    bundle_dir = tiny_bundle(tmp / "bundle")
    bundle = ModelBundle.load(bundle_dir)
    registry.configure(f"sqlite:///{tmp / 'mlflow.db'}", str(tmp / "artifacts"))
    info = registry.log_training_run(experiment="bench-scale", params={}, metrics={}, config={}, data_fingerprint="bench",
                                     artifacts={}, bundle_dir=bundle_dir, model_name="bench-scale")
    spark = engine.session(master, ui=False)
    feats = engine.build_features(spark, str(data), ["2024-05-01"]).cache()
    n = feats.count()
    fields = ", ".join(["probability double", "band string", "model_version string"]
                       + [f"reason_{i}_{f} {'double' if f in ('value', 'contribution') else 'string'}"
                          for i in range(1, 4) for f in ("code", "feature", "value", "contribution", "text_nl", "text_en")])
    udf = registry.spark_udf(spark, info.model_uri, result_type=fields)
    from pyspark.sql import functions as F

    def map_in_pandas() -> None:
        engine.score(feats, bundle).write.format("noop").mode("overwrite").save()

    def spark_udf() -> None:
        feats.select("student_id", udf(F.struct(*[F.col(f) for f in bundle.features])).alias("s")) \
            .write.format("noop").mode("overwrite").save()

    times: dict[str, list[float]] = {"mapInPandas (numpy bundle)": [], "spark_udf (registered pyfunc)": []}
    for _ in range(rounds):
        for name, fn in zip(times, (map_in_pandas, spark_udf), strict=True):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    spark.stop()
    base = float(np.median(times["mapInPandas (numpy bundle)"]))
    return [[name, f"{n:,}", f"{np.median(v):.2f}", f"{n / np.median(v):,.0f}", f"{np.median(v) / base:.1f}x"]
            for name, v in times.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200_000)
    parser.add_argument("--years", type=int, default=1)
    parser.add_argument("--as-of", default="2024-05-01", help="a date, or 'all' for 1 Oct, 1 Feb, 1 May of every year")
    parser.add_argument("--engines", default="pandas,spark")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--data", type=Path, default=None, help="reuse generated data here (default: a temp folder)")
    parser.add_argument("--scoring", action="store_true", help="mapInPandas vs spark_udf instead of the feature runs")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--chunk", type=int, default=1_000_000, help="pupils generated at a time")
    args = parser.parse_args()

    data = args.data or Path(tempfile.mkdtemp(prefix="bench-scale-data-"))
    t0 = time.perf_counter()
    if not (data / "students.parquet").exists():
        rows = generate_years(args.students, args.years, data, chunk=args.chunk)
    else:
        from riskscore.engines.sizing import parquet_rows

        rows = {n: parquet_rows(data / f"{n}.parquet") for n in ("students", "absences", "sick_reports")}
    gen_s = time.perf_counter() - t0
    print(f"command: {command_line()}\n")
    print(f"data: {args.students:,} pupils x {args.years} school year(s): {rows.get('absences', 0):,} absence rows, "
          f"{rows.get('sick_reports', 0):,} sick reports (generated in {gen_s:.0f} s)\n")
    if args.scoring:
        print(table(["scoring in Spark (" + args.master + ")", "rows", "median s", "rows/s", "vs mapInPandas"],
                    scoring(args.students, data, master=args.master, rounds=args.rounds)))
        return

    if args.as_of == "all":
        first = first_year(args.years)
        dates = [d for y in range(first, first + args.years) for d in (f"{y}-10-01", f"{y + 1}-02-01", f"{y + 1}-05-01")]
    else:
        dates = [args.as_of]
    from riskscore.engines import sizing

    est = sizing.estimate(data, len(dates))
    results = []
    for eng in args.engines.split(","):
        out = data.parent / f"{data.name}-features-{eng}.parquet"
        r = run_features(eng, data, out, dates, master=args.master, timeout=args.timeout)
        rows_out = args.students * len(dates)
        cores = 2 if eng == "spark" and args.master == "local[2]" else 1
        r["pupil_dates_per_core_s"] = rows_out / r["wall_s"] / cores if r["rc"] == 0 else float("nan")
        results.append(r)
    print(table(["engine", "pupils x dates", "exit", "wall s", "peak GiB (tree)", "pandas estimate GiB",
                 "pupil-dates / core / s", "last line"],
                [[r["engine"], f"{args.students:,} x {len(dates)}", r["rc"], f"{r['wall_s']:.1f}", f"{r['peak_gib']:.2f}",
                  f"{est.gib:.2f}", f"{r['pupil_dates_per_core_s']:,.0f}", r["message"]] for r in results]))
    if args.json:
        args.json.write_text(json.dumps({"students": args.students, "years": args.years, "dates": len(dates),
                                         "estimate_gib": est.gib, "results": results}, indent=2))


if __name__ == "__main__":
    main()
