"""The champion's monitoring reference keeps pupils out of the model bundle: anonymous rows
(reference.parquet) and counts per audit group and band with small cells suppressed
(reference_groups.parquet). Monitoring on them must judge fairness as it did on the old row-level
reference with student_id and audit columns."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from riskscore.contracts import AUDIT_COLUMNS
from riskscore.errors import DataError
from riskscore.monitoring.checks import TOO_SMALL, group_counts, run_monitoring, selection_rate_changes
from riskscore.monitoring.config import load_config
from riskscore.training import pipeline as training

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "monitoring" / "config.yaml"
BANDS = ("low", "medium", "high")


def _full_reference(small_world: Any) -> pd.DataFrame:
    """The whole scored frame the bundle's reference was made from (student_id and audit columns included)."""
    from riskscore.model.bundle import ModelBundle

    bundle = ModelBundle.load(small_world.bundle_dir)
    table = small_world.features
    rows = table[table["as_of"] == pd.Timestamp(small_world.score_as_of)]
    return training.reference_snapshot(bundle, rows, training.audit_frame(rows, small_world.tables["students"],
                                                                          small_world.tables.get("audit")))


def _lines(table: pd.DataFrame) -> list[pd.Series]:
    """Every line of the group counts whose cells add up to something known: each group's bands and its
    "all", and each band's (or "all"'s) groups within one column. Values: suppressed or not."""
    out = []
    for (_col, _group), g in table.groupby(["column", "group"]):
        out.append(g.set_index("band")["suppressed"])
    for (_col, _band), g in table.groupby(["column", "band"]):
        out.append(g.set_index("group")["suppressed"])
    return out


def _check_suppression(table: pd.DataFrame, min_cell: int) -> None:
    assert set(table.columns) == {"column", "group", "band", "n", "suppressed"}
    assert (table["suppressed"] == table["n"].isna()).all()
    shown = table.loc[~table["suppressed"], "n"].astype(int)
    assert (shown >= min_cell).all(), table[~table["suppressed"] & (table["n"] < min_cell)]
    for line in _lines(table):  # one suppressed cell in a line could be worked out from the rest
        assert int(line.sum()) != 1, line


# --- the boundary ---------------------------------------------------------------------------------------
def test_bundle_holds_no_pupil_key_and_no_audit_column(small_world: Any) -> None:
    audit_table = small_world.tables["audit"]
    forbidden = {"student_id", *AUDIT_COLUMNS, *(c for c in audit_table.columns if c != "student_id")}
    full = _full_reference(small_world)
    assert forbidden <= set(full.columns)  # the scored frame has them: the split below is what keeps them out
    ids = set(full["student_id"].astype(str))
    files = sorted(p for p in small_world.bundle_dir.rglob("*") if p.is_file())
    assert {p.name for p in files} >= {training.REFERENCE_FILE, training.REFERENCE_GROUPS_FILE}
    for path in files:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            assert not forbidden & set(frame.columns), (path.name, sorted(forbidden & set(frame.columns)))
            for col in frame.columns:  # nor a pupil key under another name
                assert not ids & set(frame[col].astype(str)), (path.name, col)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as arrays:
                assert not forbidden & set(arrays.files)
                for name in arrays.files:
                    if arrays[name].dtype.kind in "US":
                        assert not ids & set(arrays[name].astype(str).ravel())
        else:
            text = path.read_text(encoding="utf-8")
            assert not ids & set(re.findall(r"[A-Za-z0-9_]+", text)), path.name
            if path.suffix == ".json":
                assert not forbidden & _keys(json.loads(text)), path.name


def _keys(obj: Any) -> set[str]:
    if isinstance(obj, dict):
        return set(map(str, obj)) | set().union(*(_keys(v) for v in obj.values()))
    if isinstance(obj, list):
        return set().union(*(_keys(v) for v in obj))
    return set()


def test_reference_rows_are_the_scored_rows_without_pupil_or_audit(small_world: Any) -> None:
    full = _full_reference(small_world)
    rows = pd.read_parquet(small_world.bundle_dir / training.REFERENCE_FILE)
    assert "municipality" in full and "municipality" not in rows  # no check reads it
    assert {"as_of", "school_id", "rmc_region", "level", "probability", "band", "unauthorised_hours_4w"} <= set(rows)
    assert len(rows) == len(full)
    cols = list(rows.columns)
    key = ["school_id", "level", "probability", "unauthorised_hours_4w", "sick_days_year"]
    left = rows.sort_values(key).reset_index(drop=True)
    right = full[cols].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)


def test_group_counts_of_the_bundle_have_no_cell_under_10(small_world: Any) -> None:
    table = pd.read_parquet(small_world.bundle_dir / training.REFERENCE_GROUPS_FILE)
    assert set(table["column"]) == set(AUDIT_COLUMNS)
    _check_suppression(table, 10)
    full = _full_reference(small_world)
    shown = table[~table["suppressed"]]
    for r in shown.itertuples():  # what is shown is the true count
        rows = full[full[r.column].astype(str) == r.group]
        assert r.n == (len(rows) if r.band == "all" else int((rows["band"] == r.band).sum()))
    assert table["suppressed"].any() and len(shown) > len(table) / 2  # both cases occur in this world


def _frame(counts: dict[str, dict[str, int]], column: str = "g") -> pd.DataFrame:
    rows = [(group, band) for group, by_band in counts.items() for band, n in by_band.items() for _ in range(n)]
    return pd.DataFrame(rows, columns=[column, "band"])


def test_a_small_cell_is_suppressed_so_that_no_other_count_gives_it_away() -> None:
    frame = _frame({"a": {"low": 400, "medium": 60, "high": 4},  # large group, few in the high band
                    "b": {"low": 300, "medium": 40, "high": 25},
                    "c": {"low": 7, "medium": 1},  # a group too small for anything
                    "d": {"low": 30, "medium": 12, "high": 11}})  # small: it pays for hiding c's total
    table = training.reference_groups(frame, ["g"])
    _check_suppression(table, 10)
    cell = table.set_index(["group", "band"])["suppressed"]
    assert cell[("a", "high")] and cell[("c", "all")] and cell[("c", "low")] and not cell[("a", "all")]
    # the default flag (medium + high) of the large groups is still known, and exact
    counts = group_counts(table, ["medium", "high"]).set_index("group")
    for group in ("a", "b"):
        g = frame[frame["g"] == group]
        assert counts.loc[group, "n"] == len(g)
        assert counts.loc[group, "flagged"] == int(g["band"].isin(["medium", "high"]).sum())
    for group in ("c", "d"):  # c too small; d's total hidden too, or c's would follow from the column's
        assert np.isnan(counts.loc[group, "n"]) and np.isnan(counts.loc[group, "flagged"])
    # high alone: a's high band is suppressed, so a is too small in the reference for that flag
    only_high = group_counts(table, ["high"]).set_index("group")
    assert np.isnan(only_high.loc["a", "flagged"])


def test_group_counts_refuse_a_malformed_table() -> None:
    good = training.reference_groups(_frame({"a": {"low": 50, "medium": 20, "high": 12}}), ["g"])
    with pytest.raises(DataError, match="lacks column"):
        group_counts(good.drop(columns=["n"]), ["high"])
    with pytest.raises(DataError, match="unknown band"):
        group_counts(good.assign(band="urgent"), ["high"])
    with pytest.raises(DataError, match="twice"):
        group_counts(pd.concat([good, good]), ["high"])


# --- the same fairness results -------------------------------------------------------------------------
def _current(full: pd.DataFrame, column: str, value: str) -> pd.DataFrame:
    """The reference pupils again, with a stricter recording for one group: a fifth of its low band is
    moved to high (a fairness alert for that group)."""
    cur = full.copy()
    rng = np.random.default_rng(5)
    pick = (cur[column].astype(str) == value) & (cur["band"] == "low") & (rng.random(len(cur)) < 0.2)
    cur.loc[pick, "band"] = "high"
    cur.loc[pick, "probability"] = 0.3
    return cur


@pytest.mark.parametrize("flag_bands", [["medium", "high"], ["high"]])
def test_group_counts_give_the_fairness_results_of_the_row_level_reference(small_world: Any,
                                                                              flag_bands: list[str]) -> None:
    full = _full_reference(small_world)
    rows = pd.read_parquet(small_world.bundle_dir / training.REFERENCE_FILE)
    groups = pd.read_parquet(small_world.bundle_dir / training.REFERENCE_GROUPS_FILE)
    cfg = load_config(CONFIG)
    cfg = cfg.model_copy(update={"flag": cfg.flag.model_copy(update={"bands": flag_bands}),
                                 "feature_drift": cfg.feature_drift.model_copy(update={"columns": ["unauthorised_hours_4w"]})})
    cur = _current(full, "migration_background", "none")
    old = run_monitoring(full, cur, config=cfg)  # the reference as it used to be: rows with audit columns
    new = run_monitoring(rows, cur, config=cfg, reference_groups=groups)
    a = old.tables["selection"].set_index(["column", "group"])
    b = new.tables["selection"].set_index(["column", "group"])
    assert list(a.index) == list(b.index)
    assert set(AUDIT_COLUMNS) <= set(b.index.get_level_values("column"))  # these came from the group counts
    small = b["note"] == TOO_SMALL
    known = b.index[~small]
    numbers = ["n_ref", "n_cur", "rate_ref", "rate_cur", "change", "change_lo", "change_hi", "ratio",
               "relative_to_rest", "p_value", "tested"]
    pd.testing.assert_frame_equal(a.loc[known, numbers], b.loc[known, numbers], check_dtype=False)
    assert (a.loc[known, "note"] == "").all()
    assert not b.loc[small, "tested"].any() and b.loc[small, "n_ref"].isna().all()
    assert set(new.summary["fairness"]["too_small_in_reference"]) == {f"{c}={g}" for c, g in b.index[small]}
    if flag_bands == ["medium", "high"]:  # every group of this world is known for the default flag
        assert not small.any()
        assert [x.to_dict() for x in old.breaches] == [x.to_dict() for x in new.breaches]
        assert ("fairness", "migration_background=none") in {(x.check, x.subject) for x in new.alerts}
    else:  # the high band alone has suppressed cells here: those groups are shown, not compared
        assert small.any() and (a.loc[b.index[small], "n_ref"] >= 10).all()


def test_rows_win_over_group_counts_and_a_column_in_neither_is_skipped() -> None:
    ref = pd.DataFrame({"g": ["a"] * 200 + ["b"] * 200, "flagged": [True] * 50 + [False] * 350})
    cur = ref.copy()
    wrong = pd.DataFrame({"column": ["g", "h"], "group": ["a", "x"], "flagged": [1.0, 1.0], "n": [10.0, 10.0]})
    kw = {"min_group_size": 100, "alpha": 0.01, "min_ratio_change": 1.5, "min_abs_change": 0.02}
    with_counts = selection_rate_changes(ref, cur, ["g", "k"], ref_counts=wrong, **kw)
    pd.testing.assert_frame_equal(with_counts, selection_rate_changes(ref, cur, ["g", "k"], **kw))
    assert list(with_counts["n_ref"]) == [200, 200]
