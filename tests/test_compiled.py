"""The compiled step tables equal LightGBM exactly: raw score, every contribution, edges and NaN."""

from __future__ import annotations

import math

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskscore.errors import ModelError
from riskscore.model.compiled import K_ZERO, CompiledAdditive, calibrate, top_positive

N_FEATURES = 4


def _train(zero_as_missing: bool, *, interactions: bool = False) -> lgb.Booster:
    rng = np.random.default_rng(3)
    n = 3000
    X = rng.poisson(2.0, size=(n, N_FEATURES)).astype(float)
    X[:, 1] = rng.normal(size=n)  # negative and positive values: thresholds around zero
    X[:, 2] = -rng.poisson(1.0, size=n)  # many exact zeros
    X[rng.random((n, N_FEATURES)) < 0.1] = np.nan
    logit = np.nan_to_num(X[:, 0]) - 2 + np.nan_to_num(X[:, 1]) + 0.5 * np.nan_to_num(X[:, 2])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    params = {"objective": "binary", "num_leaves": 8, "learning_rate": 0.1, "min_child_samples": 20, "seed": 1,
              "deterministic": True, "force_row_wise": True, "verbosity": -1, "zero_as_missing": zero_as_missing}
    if not interactions:
        params["interaction_constraints"] = [[i] for i in range(N_FEATURES)]
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=60)


BOOSTERS = {zam: _train(zam) for zam in (False, True)}
COMPILED = {zam: CompiledAdditive.from_booster(b, [f"f{i}" for i in range(N_FEATURES)]) for zam, b in BOOSTERS.items()}


def _special_values(c: CompiledAdditive) -> list[float]:
    thr = np.concatenate([e[np.isfinite(e)] for e in c.edges])
    out = [*thr, *np.nextafter(thr, np.inf), *np.nextafter(thr, -np.inf)]
    return [float(v) for v in out] + [0.0, -0.0, math.nan, K_ZERO, -K_ZERO, 1e-40, -1e-40, math.inf, -math.inf, 1e300]


def _values(zam: bool) -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from(_special_values(COMPILED[zam])),
                     st.floats(allow_nan=True, allow_infinity=True, width=64),
                     st.floats(min_value=-10, max_value=10))


@pytest.mark.parametrize("zam", [False, True])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_compiled_equals_lightgbm(zam: bool, data: st.DataObject) -> None:
    rows = data.draw(st.lists(st.lists(_values(zam), min_size=N_FEATURES, max_size=N_FEATURES), min_size=1, max_size=40))
    X = np.array(rows, dtype=np.float64)
    booster, compiled = BOOSTERS[zam], COMPILED[zam]
    contrib_lgb = booster.predict(X, pred_contrib=True)
    contrib = compiled.contributions(X)
    np.testing.assert_allclose(contrib, contrib_lgb[:, :-1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(compiled.bias, contrib_lgb[:, -1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(compiled.raw(X), booster.predict(X, raw_score=True), rtol=0, atol=1e-9)


def test_all_edges_exactly() -> None:
    for zam, compiled in COMPILED.items():
        vals = np.array(_special_values(compiled))
        X = np.column_stack([np.random.default_rng(i).permutation(vals) for i in range(N_FEATURES)])
        np.testing.assert_allclose(compiled.raw(X), BOOSTERS[zam].predict(X, raw_score=True), rtol=0, atol=1e-9)


def test_contributions_sum_to_raw() -> None:
    X = np.random.default_rng(0).normal(size=(500, N_FEATURES)) * 3
    c = COMPILED[False]
    np.testing.assert_allclose(c.contributions(X).sum(axis=1) + c.bias, c.raw(X), rtol=0, atol=1e-12)


def test_refuses_interactions() -> None:
    with pytest.raises(ModelError, match="not additive"):
        CompiledAdditive.from_booster(_train(False, interactions=True), [f"f{i}" for i in range(N_FEATURES)])


def test_array_round_trip_and_shape_check() -> None:
    c = COMPILED[True]
    again = CompiledAdditive.from_arrays(c.to_arrays(), c.feature_names)
    X = np.random.default_rng(1).normal(size=(100, N_FEATURES))
    np.testing.assert_array_equal(again.raw(X), c.raw(X))
    with pytest.raises(ModelError):
        c.raw(np.zeros((3, N_FEATURES + 1)))
    broken = c.to_arrays()
    broken["edges"] = broken["edges"][::-1].copy()
    with pytest.raises(ModelError):
        CompiledAdditive.from_arrays(broken, c.feature_names)


def test_top_positive() -> None:
    C = np.array([[0.5, -1.0, 2.0, 0.1], [-1.0, -2.0, -0.1, 0.0], [0.3, 0.3, 0.0, 0.2]])
    np.testing.assert_array_equal(top_positive(C, 3), [[2, 0, 3], [-1, -1, -1], [0, 1, 3]])
    assert top_positive(C, 6).shape == (3, 6)


def test_calibrate_plain_specs() -> None:
    raw = np.array([-2.0, 0.0, 2.0])
    np.testing.assert_allclose(calibrate({"method": "platt", "a": 1.0, "b": 0.0}, raw), 1 / (1 + np.exp(-raw)))
    iso = {"method": "isotonic", "x": [-1.0, 1.0], "y": [0.1, 0.3]}
    np.testing.assert_allclose(calibrate(iso, raw), [0.1, 0.2, 0.3])
    with pytest.raises(ModelError):
        calibrate({"method": "magic"}, raw)
