"""Behaviour of the estimators: monotone, blind to audit columns, finds planted effects, sklearn-like."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from riskscore.contracts import FEATURES, RULE_COLUMNS
from riskscore.errors import DataError, ModelError
from riskscore.model import additive as model


def make_table(n: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Synthetic feature table with a planted effect of unauthorised absence and sick reports."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f: rng.poisson(2.0, n).astype(float) for f in FEATURES})
    X["unauthorised_hours_4w"] = rng.gamma(1.0, 6.0, n)
    X["unauthorised_trend"] = rng.normal(0, 2, n)
    X["level_code"] = rng.integers(0, 11, n).astype(float)
    X.loc[rng.random(n) < 0.1, "sick_days_year"] = np.nan
    logit = -3.5 + 0.15 * X["unauthorised_hours_4w"] + 0.4 * X["sick_reports_12w"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    X["school_id"] = rng.choice(["S1", "S2", "S3"], n)
    X["gender"] = rng.choice(["m", "v", "x"], n)
    for c in RULE_COLUMNS:
        X[c] = rng.random(n) < 0.05
    X["rule_leerplicht_16h_4w"] = X["unauthorised_hours_4w"] >= 16
    return X, y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return make_table()


@pytest.fixture(scope="module")
def fitted(data: tuple[pd.DataFrame, np.ndarray]) -> model.AdditiveLGBM:
    X, y = data
    return model.AdditiveLGBM(n_estimators=80, learning_rate=0.1, min_child_samples=30, random_state=1).fit(X, y)


def test_more_unauthorised_hours_never_lowers_the_score(fitted: model.AdditiveLGBM, data) -> None:
    X, _ = data
    rows = X.sample(200, random_state=0)
    prev = fitted.raw_score(rows)
    for hours in np.linspace(0, 80, 33):
        more = rows.copy()
        more["unauthorised_hours_4w"] = rows["unauthorised_hours_4w"] + hours
        now = fitted.raw_score(more)
        assert np.all(now >= prev - 1e-12)
        prev = now


def test_audit_and_extra_columns_do_not_change_the_score(fitted: model.AdditiveLGBM, data) -> None:
    X, _ = data
    rows = X.head(300).copy()
    before = fitted.raw_score(rows)
    rows["gender"] = "onbekend"
    rows["school_id"] = "S9"
    rows["migration_background"] = "x"
    np.testing.assert_array_equal(fitted.raw_score(rows), before)


def test_protected_features_are_refused(data) -> None:
    X, y = data
    with pytest.raises(ModelError, match="never be model features"):
        model.AdditiveLGBM(features=[*FEATURES, "gender"]).fit(X, y)
    with pytest.raises(ModelError):
        model.ScorecardLR(features=["school_id"]).fit(X, y)
    with pytest.raises(ModelError):
        model.assert_no_protected(["postcode"])
    model.assert_no_protected(FEATURES)


def test_planted_effect_direction(fitted: model.AdditiveLGBM) -> None:
    grid = pd.DataFrame({f: np.zeros(2) for f in FEATURES})
    grid["unauthorised_hours_4w"] = [0.0, 30.0]
    c = fitted.contributions(grid)
    j = FEATURES.index("unauthorised_hours_4w")
    assert c[1, j] - c[0, j] > 1.0
    grid2 = pd.DataFrame({f: np.zeros(2) for f in FEATURES})
    grid2["sick_reports_12w"] = [0.0, 6.0]
    assert np.diff(fitted.raw_score(grid2))[0] > 0.5


def test_one_feature_per_tree_and_exact_contributions(fitted: model.AdditiveLGBM, data) -> None:
    X, _ = data
    for tree in fitted.booster_.dump_model()["tree_info"]:
        feats, stack = set(), [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" in node:
                feats.add(node["split_feature"])
                stack += [node["left_child"], node["right_child"]]
        assert len(feats) <= 1
    c = fitted.contributions(X.head(500))
    np.testing.assert_allclose(c.sum(axis=1) + fitted.expected_value_, fitted.raw_score(X.head(500)), atol=1e-9)
    np.testing.assert_allclose(fitted.compiled_.contributions(X.head(500)[list(FEATURES)].to_numpy()), c, atol=1e-9)


def test_sklearn_conventions(data) -> None:
    X, y = data
    est = model.AdditiveLGBM(n_estimators=20, random_state=3)
    assert clone(est).get_params() == est.get_params()
    assert not hasattr(est, "booster_")
    with pytest.raises(NotFittedError):
        est.predict_proba(X)
    for cls in (model.UnconstrainedLGBM, model.ScorecardLR, model.RulesBaseline, model.SchoolBaseline, model.Calibrator):
        with pytest.raises(NotFittedError):
            (cls().transform if cls is model.Calibrator else cls().predict_proba)(X)
    assert est.fit(X, y) is est
    p = est.predict_proba(X)
    assert p.shape == (len(X), 2) and np.allclose(p.sum(axis=1), 1)
    a = model.AdditiveLGBM(n_estimators=20, random_state=3).fit(X, y).raw_score(X)
    np.testing.assert_array_equal(a, est.raw_score(X))  # deterministic


def test_missing_columns_and_single_class(data) -> None:
    X, y = data
    with pytest.raises(DataError):
        model.AdditiveLGBM(n_estimators=5).fit(X.drop(columns=["switches"]), y)
    with pytest.raises(DataError):
        model.AdditiveLGBM(n_estimators=5).fit(X, np.zeros(len(X)))


def test_early_stopping(data) -> None:
    X, y = data
    est = model.AdditiveLGBM(n_estimators=2000, learning_rate=0.3, early_stopping_rounds=5).fit(
        X.iloc[:3000], y[:3000], eval_set=(X.iloc[3000:], y[3000:]))
    assert est.best_iteration_ < 2000
    assert est.booster_.num_trees() == est.best_iteration_
    np.testing.assert_allclose(est.compiled_.raw(X[list(FEATURES)].to_numpy()), est.raw_score(X), atol=1e-9)


def test_calibrator_improves_brier_on_miscalibrated_scores() -> None:
    rng = np.random.default_rng(5)
    true_logit = rng.normal(-2.5, 1.2, 6000)
    y = (rng.random(6000) < 1 / (1 + np.exp(-true_logit))).astype(int)
    raw = 2.5 * true_logit + 3.0  # overconfident and shifted
    cal = model.Calibrator(random_state=0).fit(raw[:3000], y[:3000])
    brier_raw = np.mean((1 / (1 + np.exp(-raw[3000:])) - y[3000:]) ** 2)
    brier_cal = np.mean((cal.transform(raw[3000:]) - y[3000:]) ** 2)
    assert brier_cal < 0.8 * brier_raw
    assert cal.method_ in ("isotonic", "platt") and set(cal.cv_brier_) == {"isotonic", "platt"}
    d = cal.to_dict()
    assert d["method"] == cal.method_
    for method in ("isotonic", "platt"):
        one = model.Calibrator(method=method).fit(raw[:3000], y[:3000])
        p = one.transform(np.sort(raw))
        assert np.all(np.diff(p) >= -1e-12) and p.min() >= 0 and p.max() <= 1


def test_calibrated_model(fitted: model.AdditiveLGBM, data) -> None:
    X, y = data
    cm = model.CalibratedModel(fitted).fit(X.iloc[2000:], y[2000:])
    p = cm.predict_proba(X.iloc[:100])[:, 1]
    np.testing.assert_allclose(p, cm.calibrator_.transform(fitted.raw_score(X.iloc[:100])))


def test_comparisons_and_baselines(data) -> None:
    X, y = data
    tr, te = slice(0, 3000), slice(3000, None)
    unc = model.UnconstrainedLGBM(n_estimators=30).fit(X.iloc[tr], y[tr])
    sc = model.ScorecardLR().fit(X.iloc[tr], y[tr])
    for est in (unc, sc):
        p = est.predict_proba(X.iloc[te])[:, 1]
        pos, neg = p[y[te] == 1], p[y[te] == 0]
        assert (pos[:, None] > neg[None, :]).mean() > 0.65  # AUC well above chance on the planted effect
    rules = model.RulesBaseline().fit(X.iloc[tr], y[tr])
    counts = X.iloc[te][list(RULE_COLUMNS)].sum(axis=1).to_numpy()
    p = rules.predict_proba(X.iloc[te])[:, 1]
    order = np.argsort(counts, kind="stable")
    assert np.all(np.diff(p[order]) >= 0) and p[counts > 0].mean() > p[counts == 0].mean()
    school = model.SchoolBaseline(smoothing=0.0).fit(X.iloc[tr], y[tr])
    unseen = X.iloc[te].copy()
    unseen["school_id"] = "NEW"
    assert np.allclose(school.predict_proba(unseen)[:, 1], y[tr].mean())
    s1 = X.iloc[tr]["school_id"].to_numpy() == "S1"
    assert school.school_rate_["S1"] == pytest.approx(y[tr][s1].mean())
