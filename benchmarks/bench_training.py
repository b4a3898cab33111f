"""Benchmark: training on 500,000 student-years — time and peak memory per stage.

Run:  .venv/bin/python benchmarks/bench_training.py --students 100000 --years 5

Stages, as training.run performs them (without its evaluation, fairness audit, comparison models,
model card and MLflow logging): riskscore.synthetic.generate (n students per school year × years),
features.build at the three as-of dates per year of training/config.yaml, features.label, the
AdditiveLGBM fit on the training years (model parameters from training/config.yaml), the
Calibrator on the calibration year (isotonic vs Platt chosen by cross-validation), and the compile
into a ModelBundle. Peak RSS per stage: the kernel's high-water mark (VmHWM) is reset before each
stage (`echo 5 > /proc/self/clear_refs`), so each stage reports its own peak.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, hwm_mib, rss_mib, table, write_json

ROOT = Path(__file__).resolve().parents[1]


def reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100_000, help="students per school year")
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--json", help="write measurements here")
    args = parser.parse_args()
    cmd = command_line()

    import yaml

    from riskscore import features, synthetic
    from riskscore.model import additive as model
    from riskscore.model.bundle import ModelBundle
    from riskscore.training import splits

    cfg = yaml.safe_load((ROOT / "training" / "config.yaml").read_text())
    seed, params = int(cfg["seed"]), dict(cfg["model"])
    stages: list[dict[str, Any]] = []
    resettable = reset_peak()
    state: dict[str, Any] = {}

    def stage(name: str, fn: Callable[[], str]) -> None:
        reset_peak()
        t0 = time.perf_counter()
        note = fn()
        stages.append({"stage": name, "seconds": time.perf_counter() - t0, "peak_rss_mib": hwm_mib(),
                       "rss_after_mib": rss_mib(), "note": note})

    def generate() -> str:
        state["tables"] = synthetic.generate(args.students, args.years, seed, first_year="2019-20")
        t = state["tables"]
        return ", ".join(f"{k} {len(v):,}" for k, v in t.items())

    def build() -> str:
        t = state["tables"]
        years = sorted(t["students"]["school_year"].unique())
        state["years"] = years
        state["table"] = features.build(t, splits.as_of_dates(years, cfg["as_of_days"]))
        return f"{len(state['table']):,} rows at {len(years) * len(cfg['as_of_days'])} as-of dates"

    def labels() -> str:
        state["y"] = features.label(state["table"], state["tables"]["outcomes"],
                                    horizon_days=cfg["label"]["horizon_days"]).astype(int).to_numpy()
        return f"{int(state['y'].sum()):,} positive"

    def fit() -> str:
        # the last year lacks complete labels in training.run; here the second-to-last calibrates
        sy = state["table"]["school_year"].to_numpy()
        years = state["years"]
        cal_year = years[-2] if len(years) >= 3 else years[-1]
        state["train"] = sy < cal_year
        state["cal"] = sy == cal_year
        if state["train"].sum() == 0:
            state["train"] = ~state["cal"]
        X, y = state["table"], state["y"]
        state["additive"] = model.AdditiveLGBM(random_state=seed, **params).fit(X[state["train"]], y[state["train"]])
        return f"{int(state['train'].sum()):,} training rows, {state['additive'].booster_.num_trees()} trees"

    def calibrate() -> str:
        X, y, cal = state["table"], state["y"], state["cal"]
        state["calibrator"] = model.Calibrator(random_state=seed).fit(state["additive"].raw_score(X[cal]), y[cal])
        return f"{int(cal.sum()):,} calibration rows → {state['calibrator'].method_}"

    def bundle() -> str:
        b = ModelBundle.from_model(state["additive"], state["calibrator"], version="bench",
                                   band_thresholds=cfg["bands"])
        return f"{sum(len(e) for e in b.compiled.edges)} edges over {len(b.features)} features"

    t_all = time.perf_counter()
    for name, fn in (("synthetic.generate", generate), ("features.build", build), ("features.label", labels),
                     ("AdditiveLGBM.fit", fit), ("Calibrator.fit", calibrate), ("ModelBundle.from_model", bundle)):
        stage(name, fn)
    total = time.perf_counter() - t_all

    print(f"command: `{cmd}`\n")
    print(f"{args.students:,} students per school year × {args.years} years = {args.students * args.years:,} "
          f"student-years; model parameters {params}, seed {seed}. "
          + ("Peak RSS is per stage (VmHWM reset before each)." if resettable
             else "VmHWM could not be reset: peak RSS is cumulative.") + "\n")
    rows = [[s["stage"], f"{s['seconds']:.1f}", f"{s['peak_rss_mib']:,.0f}", f"{s['rss_after_mib']:,.0f}", s["note"]]
            for s in stages]
    rows.append(["**total**", f"**{total:.1f}**", f"{max(s['peak_rss_mib'] for s in stages):,.0f}", "", ""])
    print(table(["stage", "seconds", "peak RSS MiB", "RSS after MiB", "what"], rows))
    write_json(args.json, {"benchmark": "training", "command": cmd, "stages": stages, "total_s": total, "targets": []})


if __name__ == "__main__":
    main()
