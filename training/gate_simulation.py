"""Does the fairness gate tell the truth? A simulation over many seeds.

    PYTHONPATH=src python training/gate_simulation.py --seeds 40            # ~1-2 min on 2 cores

Per seed a cohort is drawn with two audit groups (A: 70 %, B: 30 %) and a score that is
*fair by construction* (the score's distribution given the outcome is the same in both groups), or
*planted unfair* (a third of group B's flagged VSV'ers lose their flag to the next pupils in line:
B's TPR at capacity is cut by a third, the team's capacity unchanged). The flags are the top-k at
capacity (10 % of the cohort), and the gate (TPR ratio in [0.8, 1.25], 90 % bootstrap CI of the ratio, min 30 VSV'ers,
200 replicates) judges them exactly as `riskscore train` does (training/fairness.py + gates.py).
Printed: per cohort size, the share of seeds with verdict fail / inconclusive / pass.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from riskscore.training import evaluation, fairness, gates

GATES = {"tpr_ratio_min": 0.8}


def cohort(seed: int, n: int, prevalence: float, *, unfair: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """Outcomes, scores, flags at capacity (10 %) and the audit frame of one seed."""
    rng = np.random.default_rng(seed)
    group = np.where(rng.random(n) < 0.3, "B", "A")
    y = (rng.random(n) < prevalence).astype(int)
    score = np.where(y == 1, rng.normal(1.2, 1.0, n), rng.normal(0.0, 1.0, n))
    k = int(0.10 * n)
    flags = evaluation.flag_top_k(score, None, k, seed=seed)
    if unfair:  # a third of B's found VSV'ers lose their flag; the slots go to the next in line
        found_b = np.flatnonzero(flags & (group == "B") & (y == 1))
        lost = rng.choice(found_b, size=round(len(found_b) / 3), replace=False)
        flags[lost] = False
        score_left = np.where(flags | np.isin(np.arange(n), lost), -np.inf, score)
        flags[np.argsort(-score_left)[: len(lost)]] = True
    return y, score, flags, pd.DataFrame({"group": group})


def one(seed: int, n: int, prevalence: float, unfair: bool, n_boot: int) -> tuple[str, float]:
    y, score, flags, audit = cohort(seed, n, prevalence, unfair=unfair)
    report = fairness.fairness_audit(y, flags, np.clip(score / 10 + 0.1, 0, 1), audit, columns=["group"],
                                     gate_groupings=["group"], reference={"group": "A"}, intersections=False,
                                     min_positives=30, n_boot=n_boot, alpha=0.10, seed=seed)
    c = report.comparisons
    ratio = float(c.loc[c["metric"] == "tpr", "estimate"].iloc[0])
    return gates.judge(report, GATES).status, ratio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--sizes", default="10000,30000,60000,120000", help="cohort sizes (rows)")
    ap.add_argument("--prevalence", type=float, default=0.05)
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        for unfair in (False, True):
            out = [one(seed, n, args.prevalence, unfair, args.n_boot) for seed in range(args.seeds)]
            verdicts = pd.Series([v for v, _ in out])
            rows.append({"model": "planted unfair (B's TPR cut by 1/3)" if unfair else "fair by construction",
                         "rows": n, "VSV'ers in B (mean)": round(n * args.prevalence * 0.3),
                         "mean TPR ratio B/A": round(float(np.mean([r for _, r in out])), 3),
                         "fail": f"{(verdicts == 'fail').mean():.0%}", "inconclusive": f"{(verdicts == 'inconclusive').mean():.0%}",
                         "pass": f"{(verdicts == 'pass').mean():.0%}", "seeds": args.seeds})
    table = pd.DataFrame(rows)
    cols = list(table.columns)
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for row in table.itertuples(index=False):
        print("| " + " | ".join(str(v) for v in row) + " |")
    print(f"\n{args.seeds} seeds per row, {args.n_boot} bootstrap replicates, took {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
