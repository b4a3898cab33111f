"""A/B of two versions of the feature/rule core on the same data: time features.build and rules.evaluate.

Run each version in a fresh process, back to back, with that version's source first on the path:
  PYTHONPATH=<src of version A> .venv/bin/python benchmarks/ab_features.py 1000000 before
  PYTHONPATH=<src of version B> .venv/bin/python benchmarks/ab_features.py 1000000 after
(an older version's src: `git archive <commit> src | tar -x -C /tmp/old`). Peak RSS is reset after the
data is generated, so it is the input held plus what the build adds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_features import generate, measure_build


def main() -> None:
    from riskscore.calendar import SchoolCalendar

    n, label = int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "run"
    m = measure_build(generate(n), pd.Timestamp("2024-05-01"), SchoolCalendar.default())
    print(f"{label} n={n} build_s={m.build_s:.2f} rules_evaluate_s={m.evaluate_s:.2f} peak_gib={m.peak_gib:.2f} "
          f"held_gib={m.held_gib:.2f} rows={m.rows}")


if __name__ == "__main__":
    main()
