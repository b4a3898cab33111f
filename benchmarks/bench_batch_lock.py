"""How long reviewers' saves wait while a large scoring run is written to SQLite.

Writes an N-pupil run with store.runs.write_scoring_run twice in one process: with the chunked writer
(short transactions of _CHUNK rows) and with one chunk of N rows (the lock held for the whole insert,
as the earlier one-transaction writer did); both with what the batch job does in the final flip (open
N/20 review cases, write the run's monitoring Parquet file). Meanwhile one thread saves a case note
through the store in a loop. Prints per mode: run time, saves, errors, median and max save latency.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_batch_lock.py --students 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def run(mode: str, n: int, folder: Path) -> dict[str, float]:
    from riskscore.store import runs
    from riskscore.store.cases import add_note, open_or_update_case
    from riskscore.store.db import make_engine, migrate, session_factory
    from test_batch_concurrency import _rows

    url = f"sqlite:///{folder / f'{mode}.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as s:
        case = open_or_update_case(s, student_id="P-1", role="school", reason="capacity", as_of=dt.date(2025, 3, 3),
                                   school_id="01AB", municipality="GM0363", rmc_region="RMC27")[0].id
    rows = _rows(n)
    chunk = runs._CHUNK
    runs._CHUNK = chunk if mode == "chunked" else n + 1
    done, out = threading.Event(), {}

    import pandas as pd

    from riskscore.store.cases import upsert_cases

    frame = pd.DataFrame(rows).drop(columns=["reasons", "triggers", "roles"])
    candidates = [{"student_id": r["student_id"], "role": "school", "reason": "capacity", "school_id": r["school_id"],
                   "municipality": r["municipality"], "rmc_region": r["rmc_region"], "probability": r["probability"],
                   "band": r["band"]} for r in rows[: n // 20]]

    def within(s: Any, run: Any) -> None:  # what the batch job does in the flip: cases + monitoring file
        upsert_cases(s, candidates, as_of=dt.date(2025, 3, 3), run_id=run.id, actor="bench")
        frame.to_parquet(folder / f"{mode}-run.parquet")

    def batch() -> None:
        started = time.perf_counter()
        with sessions() as s:
            runs.write_scoring_run(s, as_of=dt.date(2025, 3, 3), model_version=f"bench-{mode}", scores=rows,
                                   within=within)
        out["seconds"] = time.perf_counter() - started
        done.set()

    latencies, errors = [], 0
    worker = threading.Thread(target=batch)
    worker.start()
    try:
        while not done.is_set():
            started = time.perf_counter()
            try:
                with sessions() as s:
                    add_note(s, case, "gebeld", actor="bench")
            except Exception:
                errors += 1
            latencies.append(time.perf_counter() - started)
        worker.join()
    finally:
        runs._CHUNK = chunk
        engine.dispose()
    return {"seconds": out["seconds"], "saves": len(latencies), "errors": errors,
            "median_ms": 1000 * statistics.median(latencies), "max_ms": 1000 * max(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("chunked", "one-transaction"):
            r = run(mode, args.students, Path(tmp))
            print(f"{mode:16s} run {r['seconds']:5.1f} s · {r['saves']:4d} saves · {r['errors']} errors · "
                  f"save latency median {r['median_ms']:6.0f} ms, max {r['max_ms']:6.0f} ms", flush=True)


if __name__ == "__main__":
    main()
