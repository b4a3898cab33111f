"""The guard refuses protected attributes and proxies however they are spelled; bad columns give
one-line errors instead of crashes deep inside LightGBM."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskscore.contracts import FEATURES
from riskscore.errors import DataError, ModelError
from riskscore.model import guard
from riskscore.model.additive import AdditiveLGBM, Calibrator
from riskscore.model.bundle import ModelBundle
from riskscore.model.compiled import CompiledAdditive
from riskscore.model.explain import ReasonTemplate, reasons

PROTECTED = ["Gender", "gender", "GESLACHT", "Nacionality", "nationality", "Nationaliteit", "migration_background",
             "Migration background", "migratieachtergrond", "postcode", "Postcode_cijfers", "home language",
             "Thuistaal", "household_income", "Mother's qualification", "Displaced", "International",
             "Scholarship holder", "ses_band", "religion", "etniciteit", "municipality", "school_id"]
ALLOWED = [*FEATURES, "Curricular units 1st sem (approved)", "Admission grade", "Debtor", "totaal_uren",
           "Tuition fees up to date", "Application mode", "Course", "Daytime/evening attendance"]


@pytest.mark.parametrize("name", PROTECTED)
def test_protected_names_and_spellings_are_refused(name: str) -> None:
    assert guard.is_protected(name)
    with pytest.raises(ModelError, match="may never be model features"):
        guard.assert_no_protected(["unauthorised_hours_4w", name])


@pytest.mark.parametrize("name", ALLOWED)
def test_ordinary_features_pass(name: str) -> None:
    assert not guard.is_protected(name)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["gender", "nationality", "migration_background", "postcode", "household_income"]),
       st.lists(st.sampled_from([str.upper, str.title, lambda s: s.replace("_", " "), lambda s: f" {s}\t",
                                 lambda s: s.replace("_", "-")]), max_size=3))
def test_any_case_spacing_or_punctuation_is_refused(base: str, transforms: list) -> None:
    name = base
    for t in transforms:
        name = t(name)
    assert guard.is_protected(name), name


def test_a_teams_own_audit_column_is_refused_as_feature() -> None:
    assert not guard.is_protected("team")
    with pytest.raises(ModelError):
        guard.assert_no_protected(["team", "x"], audit_columns=["Team"])


def _frame(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"Daytime/evening attendance\t": rng.integers(0, 2, n).astype(float),
                      'grade "final"': rng.normal(12, 2, n), "units approved": rng.poisson(4, n).astype(float)})
    logit = -1 - 0.5 * (X["units approved"] - 4) + 0.3 * (12 - X['grade "final"'])
    return X, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()


def test_tab_and_quote_in_headers_train_and_compile_exactly() -> None:
    X, y = _frame()
    m = AdditiveLGBM(n_estimators=30, min_child_samples=10, features=list(X.columns),
                     monotone={"units approved": -1}).fit(X, y)
    assert list(m.feature_names_in_) == list(X.columns)
    np.testing.assert_allclose(m.compiled_.raw(X.to_numpy()), m.raw_score(X), atol=1e-12)
    # the configured sign holds: more approved units never raise the risk
    grid = pd.DataFrame({c: np.zeros(50) for c in X.columns}).assign(**{"units approved": np.linspace(0, 12, 50)})
    assert np.all(np.diff(m.raw_score(grid)) <= 1e-12)


def test_text_and_categorical_columns_give_one_line_errors() -> None:
    X, y = _frame()
    X["course"] = np.where(np.arange(len(X)) % 2, "Nursing", "Design")
    with pytest.raises(DataError, match=r"\['course'\] are not numeric"):
        AdditiveLGBM(n_estimators=5, features=["course", "units approved"]).fit(X, y)
    X["code"] = "9130"  # numbers written as text are numbers
    AdditiveLGBM(n_estimators=5, min_child_samples=5, features=["code", "units approved"]).fit(X, y)
    with pytest.raises(ModelError, match="categorical"):
        AdditiveLGBM(n_estimators=5, features=["units approved"], params={"categorical_feature": [0]}).fit(X, y)
    with pytest.raises(ModelError, match="monotone signs"):
        AdditiveLGBM(n_estimators=5, features=["units approved"], monotone={"units approved": 2}).fit(X, y)


def test_an_undeclared_categorical_lightgbm_booster_is_refused_by_the_compiler() -> None:
    import lightgbm as lgb

    rng = np.random.default_rng(1)
    x = rng.integers(0, 6, 800)
    y = (np.isin(x, [1, 4]) ^ (rng.random(800) < 0.1)).astype(int)
    booster = lgb.train({"objective": "binary", "verbosity": -1, "min_data_per_group": 5, "cat_smooth": 1,
                         "min_data_in_leaf": 5}, lgb.Dataset(x.reshape(-1, 1).astype(float), y, categorical_feature=[0]),
                        num_boost_round=5)
    with pytest.raises(ModelError, match=r"by category .* not declared categorical"):
        CompiledAdditive.from_booster(booster, ["course"])
    CompiledAdditive.from_booster(booster, ["course"], categories={0: 6})  # declared: compiled (tests/test_compiled.py)


def test_bundle_carries_configured_reason_texts_and_categories() -> None:
    X, y = _frame()
    feats = list(X.columns)
    m = AdditiveLGBM(n_estimators=30, min_child_samples=10, features=feats).fit(X.iloc[:400], y[:400])
    cal = Calibrator(method="platt").fit(m.raw_score(X.iloc[400:]), y[400:])
    cat = {f: ReasonTemplate(f"R{i}", "school_career", f"{f} is {{v}} (nl)", f"{f} is {{v}}", "float1")
           for i, f in enumerate(feats)}
    spec = {f: {"monotone": 0, "justification": "study progress in the first year"} for f in feats}
    b = ModelBundle.from_model(m, cal, version="t", band_thresholds={"medium": 0.2, "high": 0.5},
                               catalogue=cat, feature_spec=spec)
    scored = b.score(X.head(20))
    i = int(np.argmax(scored.probability))
    found = reasons(b, X.iloc[i], scored.contributions[i], top_k=2)
    assert found and all(r.category == "school_career" and r.code.startswith("R") for r in found)
    assert found[0].text_en.startswith(found[0].feature)
    with pytest.raises(ModelError, match="no reason text"):
        ModelBundle.from_model(m, cal, version="t", band_thresholds={"medium": 0.2, "high": 0.5},
                               catalogue={feats[0]: cat[feats[0]]})
