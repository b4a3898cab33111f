"""A/B of two versions of the feature/rule core on the same data: time features.build and rules.evaluate.

Run each version in a fresh process, back to back, with that version's source first on the path:
  PYTHONPATH=<src of version A> .venv/bin/python benchmarks/ab_features.py 1000000 before
  PYTHONPATH=<src of version B> .venv/bin/python benchmarks/ab_features.py 1000000 after
(an older version's src: `git archive <commit> src | tar -x -C /tmp/old`). Peak RSS is reset after the
data is generated, so it is the input held plus what the build adds.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_features import current_rss_gib, generate, peak_rss_gib, reset_peak


def main() -> None:
    from riskscore import features, rules
    from riskscore.calendar import SchoolCalendar

    n, label = int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "run"
    tables = generate(n)
    cal = SchoolCalendar.default()
    as_of = pd.Timestamp("2024-05-01")
    reset_peak()
    held = current_rss_gib()
    t0 = time.perf_counter()
    table = features.build(tables, [as_of], calendar=cal)
    t_build = time.perf_counter() - t0
    peak = peak_rss_gib()
    t0 = time.perf_counter()
    rules.evaluate(tables, as_of, calendar=cal)
    t_rules = time.perf_counter() - t0
    print(f"{label} n={n} build_s={t_build:.2f} rules_evaluate_s={t_rules:.2f} peak_gib={peak:.2f} held_gib={held:.2f} rows={len(table)}")


if __name__ == "__main__":
    main()
