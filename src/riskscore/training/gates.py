"""The fairness gate's verdict: pass, fail, inconclusive — or unmeasured.

Per gate grouping and per group, the bootstrap interval of the group's ratio (TPR, selection rate)
or difference (calibration gap) against the reference group is compared with the allowed band:

* **pass** — the whole interval lies inside the band;
* **fail** — the whole interval lies outside it (the disparity is real at the configured confidence);
* **inconclusive** — the interval straddles a bound: the data cannot tell; a person must review;
* **too small to judge** — fewer than ``min_positives`` VSV'ers (TPR) or ``min_group_size`` pupils:
  reported, never deciding.

A ratio's band is two-sided, ``[t, 1/t]`` (the four-fifths rule read both ways: a reference group
served markedly worse than another group is a disparity too); a difference's band is ``[-t, t]``.
A grouping is *unmeasured* when its column is absent or none of its groups can be judged, and the
whole verdict is unmeasured when any configured grouping is: nothing passes unmeasured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskscore.errors import ConfigError

PASS, FAIL, INCONCLUSIVE, UNMEASURED, TOO_SMALL = "pass", "fail", "inconclusive", "unmeasured", "too_small"
#: overall verdicts, worst first
ORDER = (FAIL, UNMEASURED, INCONCLUSIVE, PASS)
#: gate name → (compared metric, kind)
GATES = {"tpr_ratio_min": ("tpr", "ratio"), "selection_rate_ratio_min": ("selection_rate", "ratio"),
         "calibration_gap_max": ("calibration_gap", "difference")}
MSG_UNKNOWN_GATE = "unknown fairness gate '{gate}'; known: {known}"
MSG_NO_AUDIT = "no audit attributes were available: fairness could not be measured"

#: plain words for the verdicts (nl, en), shown by the CLI and the model card
WORDS = {
    PASS: ("geslaagd", "passed"),
    FAIL: ("gezakt: het verschil is aangetoond", "failed: the disparity is established"),
    INCONCLUSIVE: ("onbeslist: de data kunnen het niet zeggen, beoordeling door een mens nodig",
                   "inconclusive: the data cannot tell, a person must review"),
    UNMEASURED: ("niet gemeten: eerlijkheid is niet aangetoond", "unmeasured: fairness is not shown"),
}


@dataclass
class Verdict:
    """`status` is one of ORDER; `lines` say why in one line each; `table` is every comparison judged."""

    status: str
    lines: list[str] = field(default_factory=list)
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_grouping: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "lines": list(self.lines), "by_grouping": dict(self.by_grouping)}


def allowed_band(kind: str, threshold: float) -> tuple[float, float]:
    if kind == "ratio":
        if not 0 < threshold <= 1:
            raise ConfigError(f"a ratio gate needs a threshold in (0, 1], got {threshold}")
        return threshold, 1.0 / threshold
    return -abs(threshold), abs(threshold)


def judge_interval(low: float, high: float, band: tuple[float, float]) -> str:
    """pass when [low, high] lies inside band, fail when wholly outside, else inconclusive."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return TOO_SMALL
    lo, hi = band
    if lo <= low and high <= hi:
        return PASS
    if high < lo or low > hi:
        return FAIL
    return INCONCLUSIVE


def judge(report: Any, gates: Mapping[str, float | None]) -> Verdict:
    """The three-valued (plus unmeasured) verdict of a `fairness.FairnessReport` under `gates`."""
    active = {g: t for g, t in gates.items() if t is not None}
    for g in active:
        if g not in GATES:
            raise ConfigError(MSG_UNKNOWN_GATE.format(gate=g, known=sorted(GATES)))
    summary = getattr(report, "summary", {}) or {}
    comp = getattr(report, "comparisons", None)
    comp = comp if comp is not None else pd.DataFrame()
    lines: list[str] = []
    by_grouping: dict[str, str] = {}
    rows = []
    for missing in summary.get("unmeasured", []):
        by_grouping[missing] = UNMEASURED
        lines.append(f"{missing}: unmeasured (no such audit column)")
    gate_groupings = list(summary.get("gate_groupings", []))
    if not gate_groupings and not summary.get("unmeasured"):
        lines.append(MSG_NO_AUDIT)
        return Verdict(UNMEASURED, lines, pd.DataFrame(), {"(none)": UNMEASURED})
    for grouping in gate_groupings:
        sub = comp[comp["grouping"] == grouping] if len(comp) else comp
        judged: list[str] = []
        wholly_unmeasured: list[str] = []
        for gate, threshold in active.items():
            metric, kind = GATES[gate]
            band = allowed_band(kind, float(threshold))
            gate_statuses = []
            for row in sub[sub["metric"] == metric].to_dict("records"):
                v = judge_interval(row["ci_low"], row["ci_high"], band) if row["judgeable"] else TOO_SMALL
                rows.append({**row, "gate": gate, "allowed_low": band[0], "allowed_high": band[1], "verdict": v})
                gate_statuses.append(v)
                if v in (FAIL, INCONCLUSIVE):
                    lines.append(f"{gate} {grouping}={row['group']} vs {row['reference']}: {kind} {row['estimate']:.3f} "
                                 f"({summary.get('ci_level', 0.9):.0%} CI {row['ci_low']:.3f}–{row['ci_high']:.3f}), "
                                 f"allowed {band[0]:.2f}–{band[1]:.2f} → {v}")
                elif v == TOO_SMALL:
                    why = row.get("why_not") or "too small to judge"
                    lines.append(f"{gate} {grouping}={row['group']} vs {row['reference']}: {metric} unmeasured — {why}")
            judged += [v for v in gate_statuses if v != TOO_SMALL]
            if gate_statuses and all(v == TOO_SMALL for v in gate_statuses):
                wholly_unmeasured.append(gate)
        if FAIL in judged:
            status = FAIL
        elif wholly_unmeasured or not judged:  # a gate no group could be judged on shows nothing: not a pass
            status = UNMEASURED
        else:
            status = INCONCLUSIVE if INCONCLUSIVE in judged else PASS
        if status == UNMEASURED:
            what = f"{', '.join(wholly_unmeasured)} could not be judged" if judged else "every group too small to judge"
            lines.append(f"{grouping}: unmeasured ({what} against the reference)")
        by_grouping[grouping] = status
    overall = next((s for s in ORDER if s in by_grouping.values()), UNMEASURED)
    return Verdict(overall, lines, pd.DataFrame(rows), by_grouping)


def unmeasured_gates(verdict: Verdict) -> dict[str, list[str]]:
    """Per grouping, what could not be judged ('tpr: International=1 (too small to judge (< 20 VSV'ers))'),
    for gates.json and the one-line summaries: an unmeasured comparison is never left out."""
    out: dict[str, list[str]] = {}
    for grouping, status in verdict.by_grouping.items():
        if status == UNMEASURED and (verdict.table is None or not len(verdict.table)
                                     or grouping not in set(verdict.table["grouping"])):
            out.setdefault(grouping, []).append("no such audit column")
    table = verdict.table
    if table is not None and len(table):
        for row in table[table["verdict"] == TOO_SMALL].to_dict("records"):
            out.setdefault(str(row["grouping"]), []).append(
                f"{row['metric']}: {row['grouping']}={row['group']} ({row.get('why_not') or 'too small to judge'})")
    return out


def summary_line(verdict: Verdict) -> str:
    """The verdict in one line, naming what was unmeasured: 'pass' alone only when everything was judged."""
    missing = unmeasured_gates(verdict)
    if not missing:
        return verdict.status
    parts = []
    for grouping, items in missing.items():
        metrics = sorted({i.split(":")[0] for i in items if ":" in i}) or ["audit column missing"]
        parts.append(f"{grouping}: {', '.join(metrics)} unmeasured")
    return f"{verdict.status} ({'; '.join(parts)})"


__all__ = ["FAIL", "GATES", "INCONCLUSIVE", "ORDER", "PASS", "TOO_SMALL", "UNMEASURED", "WORDS", "Verdict",
           "allowed_band", "judge", "judge_interval", "summary_line", "unmeasured_gates"]
