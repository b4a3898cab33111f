"""Monitoring scenarios: does monitoring catch what matters, and stay quiet when nothing changed?

Each scenario builds a reference and a current scored frame and runs `run_monitoring`:
  none           — no change (a fresh cohort from the same world): must not alert
  absence_surge  — unauthorised absence rises for everyone: feature/score drift must alert
  strict_group   — one group's absence is recorded more strictly: a fairness alert for that group
  level_mix      — more pupils in mbo entree/level 2: drift must alert

    .venv/bin/python monitoring/scenarios.py --seeds 20 --n 3000

prints detection rate (share of seeds with the expected alert) and false-alarm rate (share of seeds
with any alert in `none`, or with an alert of an unexpected kind elsewhere).

The frames come from a small feature-level simulator below with the generator's knobs, scored by a
fixed logistic function (FIXED_WEIGHTS). To do: build them with riskscore.synthetic + features.build and
score with a trained additive bundle once synthetic.py lands — only `frames()` has to change.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

SCENARIOS = ("none", "absence_surge", "strict_group", "level_mix")
#: the group whose absence is recorded more strictly in `strict_group`
STRICT_GROUP = ("migration_background", "non_western")
LEVEL_P = {"vmbo-b": 0.10, "vmbo-k": 0.12, "vmbo-gt": 0.18, "havo": 0.17, "vwo": 0.13,
           "mbo-1": 0.04, "mbo-2": 0.08, "mbo-3": 0.08, "mbo-4": 0.10}
LEVEL_RISK = {"vmbo-b": 0.6, "vmbo-k": 0.4, "vmbo-gt": 0.2, "havo": -0.4, "vwo": -0.8,
              "mbo-1": 1.6, "mbo-2": 0.9, "mbo-3": 0.3, "mbo-4": 0.2}
#: fixed scorer: logit = intercept + Σ weight × feature + level term
FIXED_WEIGHTS = {"unauthorised_hours_4w": 0.09, "unauthorised_hours_12w": 0.02, "sick_reports_12w": 0.25,
                 "late_count_12w": 0.03}
FIXED_INTERCEPT = -4.2
BAND_EDGES = {"medium": 0.05, "high": 0.15}


@dataclass(frozen=True)
class Knobs:
    absence_surge: float = 1.0  # multiplies unauthorised absence for everyone
    strict_recording: float = 1.0  # multiplies the recorded unauthorised absence of STRICT_GROUP
    level_mix_shift: float = 0.0  # moves this share of vo pupils into mbo-1/mbo-2


KNOBS = {
    "none": Knobs(),
    "absence_surge": Knobs(absence_surge=1.8),
    "strict_group": Knobs(strict_recording=3.0),
    "level_mix": Knobs(level_mix_shift=0.25),
}


def simulate(n: int, seed: int, knobs: Knobs = Knobs()) -> pd.DataFrame:
    """A feature table with audit columns — a stand-in for synthetic.generate + features.build."""
    rng = np.random.default_rng(seed)
    levels = np.array(list(LEVEL_P))
    p = np.array(list(LEVEL_P.values()))
    p = p / p.sum()
    level = rng.choice(levels, n, p=p)
    if knobs.level_mix_shift:
        vo = np.isin(level, ["vmbo-b", "vmbo-k", "vmbo-gt", "havo", "vwo"])
        move = vo & (rng.random(n) < knobs.level_mix_shift)
        level[move] = rng.choice(["mbo-1", "mbo-2"], int(move.sum()))
    gender = rng.choice(["f", "m"], n)
    migration = rng.choice(["none", "western", "non_western"], n, p=[0.7, 0.1, 0.2])
    ses = rng.choice(["low", "mid", "high"], n, p=[0.3, 0.4, 0.3])
    latent = np.array([LEVEL_RISK[v] for v in level]) + 0.3 * (ses == "low") + rng.normal(0, 1, n)
    base_rate = np.exp(0.8 * latent)  # mean weekly hours scale
    absent = rng.random(n) < 1 / (1 + np.exp(-(latent - 0.5)))
    hours_12w = np.where(absent, rng.gamma(1.2, 4.0 * base_rate), 0.0)
    mult = np.full(n, knobs.absence_surge)
    mult[(migration == STRICT_GROUP[1])] *= knobs.strict_recording
    hours_12w = hours_12w * mult
    share_4w = rng.beta(2, 4, n)
    frame = pd.DataFrame({
        "student_id": [f"S{seed}-{i}" for i in range(n)],
        "school_id": rng.choice([f"BRIN{k:02d}" for k in range(12)], n),
        "rmc_region": rng.choice(["RMC27", "RMC28", "RMC30"], n),
        "level": level,
        "gender": gender, "migration_background": migration, "ses_band": ses,
        "unauthorised_hours_4w": hours_12w * share_4w,
        "unauthorised_hours_12w": hours_12w,
        "unauthorised_hours_year": hours_12w * rng.uniform(2, 3, n),
        "late_count_12w": rng.poisson(np.exp(0.3 * latent) * 2),
        "sick_reports_12w": rng.poisson(np.exp(0.2 * latent) * 0.6),
        "level_code": pd.Series(level).map({v: i for i, v in enumerate(levels)}).to_numpy().astype(float),
    })
    frame["late_count_12w"] = frame["late_count_12w"].astype(float)
    frame["sick_reports_12w"] = frame["sick_reports_12w"].astype(float)
    return frame


def fixed_score(frame: pd.DataFrame) -> pd.DataFrame:
    """Attach probability and band from the fixed logistic scorer (used until a trained bundle exists)."""
    z = np.full(len(frame), FIXED_INTERCEPT)
    for col, w in FIXED_WEIGHTS.items():
        z = z + w * frame[col].fillna(0).to_numpy(dtype=float)
    z = z + frame["level"].map(LEVEL_RISK).fillna(0).to_numpy()
    out = frame.copy()
    out["probability"] = 1 / (1 + np.exp(-z))
    out["band"] = np.where(out["probability"] >= BAND_EDGES["high"], "high",
                           np.where(out["probability"] >= BAND_EDGES["medium"], "medium", "low"))
    return out


def frames(scenario: str, seed: int, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current scored frames for one scenario and seed (independent cohorts)."""
    ref = fixed_score(simulate(n, seed=2 * seed))
    cur = fixed_score(simulate(n, seed=2 * seed + 1, knobs=KNOBS[scenario]))
    return ref, cur


def config(**overrides: Any) -> Any:
    """The checked-in monitoring config, restricted to the columns the scenario frames carry."""
    from pathlib import Path

    from riskscore.monitoring import load_config

    cfg = load_config(Path(__file__).with_name("config.yaml"))
    cols = [c for c in cfg.feature_drift.columns if c in simulate(10, 0).columns]
    cfg.feature_drift.columns = cols
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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--n", type=int, default=3000, help="pupils per frame")
    args = ap.parse_args(argv)
    from riskscore.monitoring import run_monitoring

    cfg = config()
    print(f"frames: simulator, scorer: fixed logistic, n={args.n}, seeds={args.seeds}")
    print(f"{'scenario':<15}{'detection':>10}{'false alarm':>13}{'seconds':>9}")
    for scenario in SCENARIOS:
        t0 = time.perf_counter()
        hits = alarms = 0
        for seed in range(args.seeds):
            ref, cur = frames(scenario, seed, args.n)
            v = run_monitoring(ref, cur, config=cfg)
            hits += expected(scenario, v)
            alarms += false_alarm(scenario, v)
        print(f"{scenario:<15}{hits / args.seeds:>10.0%}{alarms / args.seeds:>13.0%}{time.perf_counter() - t0:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
