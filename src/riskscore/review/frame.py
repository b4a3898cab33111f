"""The monitoring frame: what monitoring compares run after run — one row per pupil the model scored,
with the features, school, level and region, the calibrated probability and band, and (kept in the local
runs folder only) the audit columns for fairness. Built from the scoring core's results: the model is
never run a second time for it. Training builds the bundle's reference with the same function, so a run
and the reference always have the same columns."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

CONTEXT_COLUMNS = ("student_id", "as_of", "school_id", "rmc_region", "municipality", "level")


def snapshot(rows: pd.DataFrame, probability: np.ndarray, band: np.ndarray, features: Sequence[str],
             audit: pd.DataFrame | None = None, *, base: np.ndarray | None = None,
             excess: np.ndarray | None = None) -> pd.DataFrame:
    """The frame for these feature-table rows and their scores (aligned, same order). ``audit``: audit
    columns aligned with ``rows`` by index (audit_table.audit_frame), or None. ``base`` and ``excess``: the
    decomposition on the bundle's scale (base + excess = logit(probability) with Platt calibration)."""
    keep = [c for c in CONTEXT_COLUMNS if c in rows.columns]
    frame = rows[keep + [f for f in features if f not in keep]].copy()
    if audit is not None:
        for col in audit.columns:
            if col not in frame.columns:
                frame[col] = audit.loc[rows.index, col].to_numpy()
    frame["probability"] = np.asarray(probability, dtype=float)
    frame["band"] = np.asarray(band, dtype=object)
    if base is not None:
        frame["base"] = np.asarray(base, dtype=float)
    if excess is not None:
        frame["excess"] = np.asarray(excess, dtype=float)
    return frame.reset_index(drop=True)


def monitoring_frame(table: pd.DataFrame, scored: Sequence[object], features: Sequence[str],
                     audit: pd.DataFrame | None = None) -> pd.DataFrame:
    """A scoring run's frame: the rows of the feature table the core scored (``table``) whose pupil got a
    model score — never a stand-in for a pupil it did not score (objection, incomplete data) — with the
    probability and band of its ScoredStudent."""
    by_id = {str(s.student_id): s for s in scored if s.probability is not None}  # type: ignore[attr-defined]
    sids = table["student_id"].astype(str)
    rows = table[sids.isin(by_id).to_numpy()]
    ordered = [by_id[sid] for sid in rows["student_id"].astype(str)]
    has_base = all(getattr(s, "base", None) is not None for s in ordered)
    return snapshot(rows, np.array([s.probability for s in ordered], dtype=float),  # type: ignore[attr-defined]
                    np.array([s.band for s in ordered], dtype=object), features, audit,  # type: ignore[attr-defined]
                    base=np.array([s.base.value for s in ordered], dtype=float) if has_base else None,  # type: ignore[attr-defined]
                    excess=np.array([s.base.excess for s in ordered], dtype=float) if has_base else None)  # type: ignore[attr-defined]
