"""Monitoring scenarios: does monitoring catch what matters, and stay quiet when nothing changed?

Each scenario and seed builds one synthetic world with the real generator (`riskscore.synthetic`),
its point-in-time features (`features.build`) and an additive model trained on that world's early
years, exactly as training does (LightGBM additive + calibrator → ModelBundle):

    2019-20 history · 2020-21 + 2021-22 train · 2022-23 calibrate ·
    2023-24 reference (as of 1 May 2024, `training.reference_snapshot`) — the demo's layout —
    2024-25 current (as of 1 May 2025), the year a knob switches on:
  none           — no change: must not alert
  absence_surge  — real unauthorised absence × 2 in 2024-25 (like 2021-22): drift must alert
  strict_group   — migration_background=non_western's absence recorded 3× more strictly from 2024-25
                   (no change in real risk): a fairness alert for that group
  level_mix      — 25 % of pupils moved toward mbo-1/mbo-2 from 2024-25: drift must alert

    .venv/bin/python monitoring/scenarios.py --seeds 20 --n 4000

prints per scenario the detection rate (share of seeds with the expected alert; for `none`: with no
alert at all) and the false-alarm rate (any alert for `none`; a fairness alert for an audit group
that did not change, elsewhere). Deterministic: the same seed gives the same table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

SCENARIOS = ("none", "absence_surge", "strict_group", "level_mix")
#: the group whose absence is recorded more strictly in `strict_group`
STRICT_GROUP = ("migration_background", "non_western")
#: six school years like the demo's data; 2019-20 is the calendar's first year and only gives history
FIRST_YEAR, N_YEARS = "2019-20", 6
TRAIN_YEARS, CALIBRATION_YEAR = ("2020-21", "2021-22"), "2022-23"
REFERENCE_YEAR, CURRENT_YEAR = "2023-24", "2024-25"
REFERENCE_AS_OF, CURRENT_AS_OF = pd.Timestamp("2024-05-01"), pd.Timestamp("2025-05-01")
#: as in training/config.yaml
BANDS = {"medium": 0.05, "high": 0.20}
N_ESTIMATORS = 80


def knobs(scenario: str) -> Any:
    from riskscore.synthetic import Knobs

    return {
        "none": Knobs(),
        "absence_surge": Knobs(absence_surge_year=CURRENT_YEAR, absence_surge_factor=2.0),
        "strict_group": Knobs(strict_group=STRICT_GROUP, strict_factor=3.0, strict_from=CURRENT_YEAR),
        "level_mix": Knobs(level_mix_shift=0.25, level_mix_from=CURRENT_YEAR),
    }[scenario]


def _school_year(ts: pd.Series) -> pd.Series:
    return ts.map(lambda t: f"{t.year}-{(t.year + 1) % 100:02d}" if t.month >= 8 else f"{t.year - 1}-{t.year % 100:02d}")


def frames(scenario: str, seed: int, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current scored frames of one world (n pupils per school year)."""
    from riskscore import features, synthetic
    from riskscore.model import additive as model
    from riskscore.model.bundle import ModelBundle
    from riskscore.training import pipeline as training

    tables = synthetic.generate(n, N_YEARS, seed, first_year=FIRST_YEAR, knobs=knobs(scenario))
    dates = [*features.default_as_of_dates([*TRAIN_YEARS, CALIBRATION_YEAR]), REFERENCE_AS_OF, CURRENT_AS_OF]
    table = features.build(tables, dates)
    y = features.label(table, tables["outcomes"]).astype(int)
    sy = _school_year(table["as_of"])
    train, cal = sy.isin(TRAIN_YEARS), sy == CALIBRATION_YEAR
    additive = model.AdditiveLGBM(n_estimators=N_ESTIMATORS, learning_rate=0.1, random_state=seed).fit(table[train], y[train])
    calibrator = model.Calibrator(method="platt", random_state=seed).fit(additive.raw_score(table[cal]), y[cal])
    bundle = ModelBundle.from_model(additive, calibrator, version=f"scenario-{seed}", band_thresholds=BANDS)

    def scored(as_of: pd.Timestamp) -> pd.DataFrame:
        rows = table[table["as_of"] == as_of]
        return training.reference_snapshot(bundle, rows, training.audit_frame(rows, tables["students"], tables.get("audit")))

    return scored(REFERENCE_AS_OF), scored(CURRENT_AS_OF)


def config(**overrides: Any) -> Any:
    """The checked-in monitoring config (monitoring/config.yaml), unchanged."""
    from riskscore.monitoring.checks import load_config

    cfg = load_config(Path(__file__).with_name("config.yaml"))
    return cfg.model_copy(update=overrides)


def expected(scenario: str, verdict: Any) -> bool:
    """Did the run raise the alert this scenario is about?"""
    kinds = {(b.check, b.subject) for b in verdict.alerts}
    if scenario == "none":
        return not verdict.alerts
    if scenario == "strict_group":
        return ("fairness", f"{STRICT_GROUP[0]}={STRICT_GROUP[1]}") in kinds
    return any(check in ("feature_drift", "score_drift", "band_shift") for check, _ in kinds)


def false_alarm(scenario: str, verdict: Any) -> bool:
    """An alert that this scenario should not cause (any alert at all when nothing changed)."""
    if scenario == "none":
        return bool(verdict.alerts)
    if scenario == "strict_group":  # a fairness alert for another audit group (levels: see README)
        return any(b.check == "fairness" and not b.subject.startswith("level=")
                   and b.subject != f"{STRICT_GROUP[0]}={STRICT_GROUP[1]}" for b in verdict.alerts)
    return any(b.check == "fairness" and not b.subject.startswith("level=") for b in verdict.alerts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--n", type=int, default=4000, help="pupils per school year")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--verbose", action="store_true", help="print each seed's alerts")
    args = ap.parse_args(argv)
    from riskscore.monitoring.checks import run_monitoring

    cfg = config()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    print(f"command: .venv/bin/python monitoring/scenarios.py --seeds {args.seeds} --n {args.n}")
    print(f"frames: riskscore.synthetic + features.build, additive model trained per world; n={args.n}, seeds={args.seeds}")
    print(f"{'scenario':<15}{'detection':>10}{'false alarm':>13}{'seconds':>9}")
    for scenario in args.scenarios.split(","):
        t0 = time.perf_counter()
        hits = alarms = 0
        for seed in seeds:
            ref, cur = frames(scenario, seed, args.n)
            v = run_monitoring(ref, cur, config=cfg)
            hits += expected(scenario, v)
            alarms += false_alarm(scenario, v)
            if args.verbose:
                print(f"  {scenario} seed {seed}: " + "; ".join(f"{b.check}:{b.subject}" for b in v.alerts), flush=True)
        print(f"{scenario:<15}{hits / args.seeds:>10.0%}{alarms / args.seeds:>13.0%}{time.perf_counter() - t0:>9.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
