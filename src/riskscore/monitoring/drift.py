"""Feature drift through evidently — the only module that imports evidently (its API churns: this is
the 0.7 API, `Report([...]).run(current, reference)`; `evidently.report`/`ColumnMapping` are legacy).

Why these defaults: evidently's automatic choice is a statistical test (KS / chi-square p-values). With
thousands of pupils per scoring run, a p-value test flags shifts far too small to matter, so every
weekly run would "drift". We use effect-size distances instead, whose null value shrinks with sample
size but does not go to "always significant": normed Wasserstein (distance in units of the reference
standard deviation) for numeric features and PSI for categorical ones, thresholds from
monitoring/config.yaml.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from riskscore.errors import DataError

#: evidently methods whose score is a p-value: drift when score < threshold. All others are distances:
#: drift when score >= threshold.
P_VALUE_METHODS = frozenset(
    {"ks", "chisquare", "z", "t_test", "mannw", "anderson", "fisher_exact", "cramer_von_mises", "g_test",
     "epps_singleton", "empirical_mmd"}
)
DISTANCE_METHODS = frozenset({"psi", "wasserstein", "kl_div", "jensenshannon", "hellinger", "energy_distance", "TVD"})
MSG_NO_COLUMNS = "feature drift: none of the columns {columns} is usable in both reference and current data"
MSG_EMPTY = "feature drift: the {which} data has no rows"


@dataclass
class DriftResult:
    """Per-column drift and the dataset verdict; `snapshot` is evidently's (kept for its HTML)."""

    per_column: pd.DataFrame  # column, kind, method, threshold, score, drifted
    share_drifted: float
    dataset_drifted: bool
    drift_share: float
    skipped: list[str] = field(default_factory=list)
    snapshot: Any = field(default=None, repr=False)

    def drifted_columns(self) -> list[str]:
        return self.per_column.loc[self.per_column["drifted"], "column"].tolist()

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable; the snapshot is left out (it is saved as HTML)."""
        return {
            "share_drifted": float(self.share_drifted),
            "dataset_drifted": bool(self.dataset_drifted),
            "drift_share": float(self.drift_share),
            "skipped": list(self.skipped),
            "columns": [
                {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                for row in self.per_column.to_dict("records")
            ],
        }


def _is_drift(method: str, score: float, threshold: float) -> bool:
    if math.isnan(score):
        return False
    return score < threshold if method in P_VALUE_METHODS else score >= threshold


def _usable(series: pd.Series) -> bool:
    return bool(series.notna().sum() >= 2)


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: list[str] | tuple[str, ...],
    categorical: list[str] | tuple[str, ...] = (),
    num_method: str = "wasserstein",
    num_threshold: float = 0.1,
    cat_method: str = "psi",
    cat_threshold: float = 0.2,
    per_column_threshold: dict[str, float] | None = None,
    drift_share: float = 0.5,
) -> DriftResult:
    """Compare each column's distribution between reference and current with evidently.

    Columns missing or (almost) empty on either side are skipped and reported, not failed: a feature
    that stops arriving is a data-feed problem the caller reports separately."""
    if len(reference) == 0:
        raise DataError(MSG_EMPTY.format(which="reference"))
    if len(current) == 0:
        raise DataError(MSG_EMPTY.format(which="current"))
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    per_column_threshold = dict(per_column_threshold or {})
    use: list[str] = []
    skipped: list[str] = []
    for c in columns:
        if c in reference and c in current and _usable(reference[c]) and _usable(current[c]):
            use.append(c)
        else:
            skipped.append(c)
    if not use:
        raise DataError(MSG_NO_COLUMNS.format(columns=list(columns)))
    cats = [c for c in use if c in categorical]
    nums = [c for c in use if c not in categorical]

    def prepare(df: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame(index=range(len(df)))
        for c in nums:
            out[c] = pd.to_numeric(df[c], errors="coerce").astype(float).to_numpy()
        for c in cats:
            out[c] = df[c].astype(str).to_numpy()
        return out

    definition = DataDefinition(numerical_columns=nums or None, categorical_columns=cats or None)
    ref_ds = Dataset.from_pandas(prepare(reference), data_definition=definition)
    cur_ds = Dataset.from_pandas(prepare(current), data_definition=definition)
    thresholds = {c: per_column_threshold.get(c, cat_threshold if c in cats else num_threshold) for c in use}
    preset = DataDriftPreset(
        columns=use, num_method=num_method, cat_method=cat_method, per_column_threshold=thresholds,
        drift_share=drift_share, include_tests=False,
    )
    snapshot = Report([preset]).run(cur_ds, ref_ds)
    scores: dict[str, float] = {}
    evidently_share = None
    for metric in snapshot.dict()["metrics"]:
        cfg = metric.get("config", {})
        if cfg.get("type", "").endswith("ValueDrift"):
            scores[cfg["column"]] = float(metric["value"])
        elif cfg.get("type", "").endswith("DriftedColumnsCount"):
            evidently_share = float(metric["value"]["share"])
    rows = []
    for c in use:
        method = cat_method if c in cats else num_method
        score = scores.get(c, float("nan"))
        rows.append({
            "column": c, "kind": "categorical" if c in cats else "numerical", "method": method,
            "threshold": float(thresholds[c]), "score": score, "drifted": _is_drift(method, score, thresholds[c]),
        })
    per_column = pd.DataFrame(rows, columns=["column", "kind", "method", "threshold", "score", "drifted"])
    share = float(per_column["drifted"].mean()) if len(per_column) else 0.0
    if evidently_share is not None and not math.isclose(share, evidently_share, abs_tol=1e-9):
        # Our reading of evidently's verdict must agree with evidently's own count; if its API changed
        # under us, say so rather than report a wrong verdict.
        raise DataError(f"feature drift: evidently counted share {evidently_share:.3f}, we read {share:.3f}")
    return DriftResult(
        per_column=per_column, share_drifted=share, dataset_drifted=share >= drift_share,
        drift_share=drift_share, skipped=skipped, snapshot=snapshot,
    )


def save_html(result: DriftResult, path: str | Path) -> Path:
    """Write evidently's interactive report; the caller embeds or links it (written whole or not at all)."""
    from riskscore.datasets import write_atomic

    snapshot = result.snapshot
    if snapshot is None:
        raise DataError("feature drift: this result has no evidently snapshot to save")
    return write_atomic(path, snapshot.save_html, suffix=".html")
