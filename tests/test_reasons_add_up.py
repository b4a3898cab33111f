"""Reasons that add up (issue 25): base + reasons + the other signals = logit(p) on every row, in the
bundle, the API, the batch job's scores and frame; context (level, age) is the base, never a reason;
the excess ordering; categorical features compiled exactly; redaction keeps the sum from leaking."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from riskscore import batch, scoring
from riskscore.access import redact
from riskscore.contracts import CONTEXT_FEATURES, FEATURES, LEVEL_CODE
from riskscore.model import additive as model
from riskscore.model.bundle import ModelBundle
from riskscore.model.compiled import CompiledAdditive
from riskscore.model.explain import ReasonTemplate

TOL = 1e-9


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.log(p) - np.log1p(-p)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(5)
    n = 3000
    X = pd.DataFrame({f: rng.poisson(2.0, n).astype(float) for f in FEATURES})
    X["level_code"] = rng.integers(0, 11, n).astype(float)
    X["unauthorised_hours_4w"] = rng.uniform(0, 40, n)
    logit = -4 + 0.12 * X["unauthorised_hours_4w"] + 0.3 * (X["level_code"] >= 7)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    return X, y


@pytest.fixture(scope="module")
def fitted(data: Any) -> tuple[model.AdditiveLGBM, pd.DataFrame, np.ndarray]:
    X, y = data
    return model.AdditiveLGBM(n_estimators=60, learning_rate=0.15, min_child_samples=30).fit(X.iloc[:2000], y[:2000]), X, y


def _bundle(additive: Any, X: pd.DataFrame, y: np.ndarray, method: str) -> ModelBundle:
    cal = model.Calibrator(method=method).fit(additive.raw_score(X.iloc[2000:]), y[2000:])
    return ModelBundle.from_model(additive, cal, version=f"t-{method}", band_thresholds={"medium": 0.05, "high": 0.2})


def test_platt_contributions_are_shares_of_the_calibrated_log_odds(fitted: Any) -> None:
    additive, X, y = fitted
    b = _bundle(additive, X, y, "platt")
    s = b.score(X, top_k=3)
    a = b.calibrator["a"]
    assert b.scale == "log_odds"
    np.testing.assert_allclose(s.contributions, a * additive.contributions(X), atol=TOL)  # scaled by the slope
    total = b.intercept + s.contributions.sum(axis=1)
    assert np.max(np.abs(total - _logit(s.probability))) < TOL  # every row
    assert np.max(np.abs(s.base + s.excess - _logit(s.probability))) < TOL
    # before: intercept + contributions gave the raw score, not logit(p) (a != 1, b != 0)
    assert np.max(np.abs(additive.expected_value_ + additive.contributions(X).sum(axis=1) - _logit(s.probability))) > 0.01


def test_isotonic_says_what_the_numbers_are(fitted: Any) -> None:
    additive, X, y = fitted
    b = _bundle(additive, X, y, "isotonic")
    s = b.score(X, top_k=3)
    assert b.scale == "score"  # no log-odds form: shares of the uncalibrated score
    np.testing.assert_allclose(b.intercept + s.contributions.sum(axis=1), additive.raw_score(X), atol=TOL)
    np.testing.assert_allclose(s.probability, b.probability_of(s.raw), atol=1e-12)


def test_context_features_make_the_base_and_are_never_reasons(fitted: Any) -> None:
    additive, X, y = fitted
    b = _bundle(additive, X, y, "platt")
    assert set(b.context_features) == set(CONTEXT_FEATURES)
    s = b.score(X, top_k=3)
    ctx = [b.features.index(f) for f in CONTEXT_FEATURES]
    assert not np.isin(s.top, ctx).any()
    # a context feature with the largest positive contribution still is no reason; the next signal is
    row = int(np.argmax(s.contributions[:, b.features.index("level_code")]))
    assert s.contributions[row, b.features.index("level_code")] > 0
    found = b.reasons(X.iloc[row], s.contributions[row], top_k=3)
    assert all(r.feature not in CONTEXT_FEATURES for r in found)
    np.testing.assert_allclose(s.base, b.intercept + s.contributions[:, ctx].sum(axis=1), atol=TOL)
    # the typed result says it in words: "bij onderwijsniveau mbo-1 … is de gebruikelijke kans X %"
    table = X.iloc[[row]].assign(student_id="P1", as_of=pd.Timestamp("2025-03-01"), level="mbo-1",
                                  level_code=float(LEVEL_CODE["mbo-1"]))
    out = scoring.score_table(table, b)[0]
    assert out.base is not None and "onderwijsniveau mbo-1" in out.base.text_nl and "gebruikelijke kans" in out.base.text_nl
    assert "usual probability" in out.base.text_en and out.base_probability == pytest.approx(out.base.probability)
    assert all(r.feature not in CONTEXT_FEATURES for r in out.reasons)
    assert out.probability is not None
    assert abs(out.base.value + sum(r.contribution for r in out.reasons) + out.base.other - _logit(out.probability)) < TOL


def test_old_bundles_without_kinds_keep_every_feature_a_signal(fitted: Any, tmp_path: Path) -> None:
    """A bundle trained before feature kinds existed loads with every feature a signal (its scores unchanged)."""
    additive, X, y = fitted
    b = _bundle(additive, X, y, "platt")
    b2 = dataclasses.replace(b, feature_spec={f: {k: v for k, v in spec.items() if k != "kind"} for f, spec in b.feature_spec.items()})
    assert b2.context_features == () and np.all(b2.score(X).base == b2.intercept)
    again = ModelBundle.load(b.save(tmp_path / "b"))
    assert again.context_features == b.context_features and again.scale == "log_odds"
    np.testing.assert_array_equal(again.score(X).contributions, b.score(X).contributions)


def test_categorical_features_compile_exactly_and_name_their_value() -> None:
    rng = np.random.default_rng(3)
    n = 1500
    X = pd.DataFrame({"school": rng.choice(["GP", "MS", "XQ"], n), "reason": rng.choice(["course", "home", "reputation", None], n),
                      "absences": rng.poisson(4, n).astype(float)})
    logit = -1.5 + 0.8 * (X["school"] == "MS") + 0.6 * (X["reason"] == "home") + 0.1 * X["absences"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    m = model.AdditiveLGBM(n_estimators=40, learning_rate=0.2, min_child_samples=20, features=list(X.columns),
                           categorical=["school", "reason"], monotone={"absences": 1}).fit(X.iloc[:1000], y[:1000])
    assert m.categories_ == {"school": ["GP", "MS", "XQ"], "reason": ["course", "home", "reputation"]}
    new = pd.DataFrame({"school": ["GP", "MS", "XQ", "ZZ", None], "reason": ["home", None, "course", "unknown", "home"],
                        "absences": [0.0, 3.0, np.nan, 10.0, 2.0]})  # a never-seen and a missing category
    both = pd.concat([X.iloc[1000:], new], ignore_index=True)
    compiled = m.compiled_
    codes = model._select(both, list(m.feature_names_in_), m.categories_).to_numpy()
    np.testing.assert_allclose(compiled.raw(codes), m.booster_.predict(codes, raw_score=True), atol=1e-12)
    np.testing.assert_allclose(compiled.contributions(codes), m.booster_.predict(codes, pred_contrib=True)[:, :-1], atol=1e-12)
    cal = model.Calibrator(method="platt").fit(m.raw_score(X.iloc[1000:]), y[1000:])
    cat = {"school": ReasonTemplate("SCHOOL", "school_career", "school {v}", "school {v}"),
           "reason": ReasonTemplate("REASON", "school_career", "reden {v}", "reason {v}"),
           "absences": ReasonTemplate("ABS", "absence", "{v} keer afwezig", "absent {v} times")}
    b = ModelBundle.from_model(m, cal, version="cat", band_thresholds={"medium": 0.2, "high": 0.5}, catalogue=cat,
                               feature_spec={f: {"monotone": 0, "justification": "x" * 10, "kind": "signal"} for f in X.columns})
    s = b.score(new)  # text in, codes inside the bundle
    np.testing.assert_allclose(s.raw, m.raw_score(new), atol=1e-12)
    row = int(np.flatnonzero(new["school"] == "MS")[0])
    texts = [r.text_en for r in b.reasons(b.matrix(new)[row], s.contributions[row], top_k=3)]
    assert any(t == "school MS" for t in texts) or s.contributions[row, 0] <= 0
    assert b.catalogue["school"].en.format(v="MS") == "school MS"
    assert b.catalogue["school"].fmt == "category" and b.catalogue["school"].categories == ("GP", "MS", "XQ")


def test_a_categorical_feature_cannot_have_a_sign() -> None:
    from riskscore.errors import ModelError

    X = pd.DataFrame({"school": ["GP", "MS"] * 50, "x": np.arange(100.0)})
    with pytest.raises(ModelError, match="categorical feature"):
        model.AdditiveLGBM(n_estimators=5, features=["school", "x"], categorical=["school"],
                           monotone={"school": 1}).fit(X, np.arange(100) % 2)


def test_scaled_tables_are_made_once_per_bundle(fitted: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    additive, X, y = fitted
    b = _bundle(additive, X, y, "platt")
    calls = []
    original = CompiledAdditive.scaled
    monkeypatch.setattr(CompiledAdditive, "scaled", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    for i in range(20):
        b.score(X.iloc[[i]])
    assert calls == []  # the request path never rebuilds them


# --- the doors: API, batch ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from riskscore.api import create_app
    from riskscore.settings import Settings
    from riskscore.store.db import make_engine, migrate, session_factory
    from riskscore.store.keys import create_key
    from riskscore.testing import tiny_bundle

    home = tmp_path_factory.mktemp("home")
    bundle_dir = tiny_bundle(home / "b")
    url = f"sqlite:///{home / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        keys = {role: create_key(session, role, "municipality", ["GM0363"], role)[1] for role in ("jeugdarts", "leerplicht")}
    with TestClient(create_app(Settings(home=home, database_url=url, bundle_path=bundle_dir)), raise_server_exceptions=False) as c:
        yield c, keys
    engine.dispose()


def _body(i: int) -> dict[str, Any]:
    from riskscore.testing import student_events

    return student_events(f"A-{i}", absence_hours=float(4 * i), sick_days=3 * i)


def test_api_reasons_add_up_to_the_probability(api: Any) -> None:
    client, keys = api
    register(client, [_body(i) for i in range(8)])
    r = client.post("/v1/scores", json={"students": [_body(i) for i in range(8)]},
                    headers={"Authorization": f"Bearer {keys['jeugdarts']}"})
    assert r.status_code == 200, r.text
    for res in r.json()["results"]:
        base = res["base"]
        assert base["scale"] == "log_odds" and 0 < base["probability"] < 1 and "gebruikelijke kans" in base["text_nl"]
        total = base["value"] + sum(x["contribution"] for x in res["reasons"]) + base["other"]
        assert abs(total - float(_logit(res["probability"]))) < TOL
        assert abs(base["value"] + base["excess"] - float(_logit(res["probability"]))) < TOL
        assert not {x["feature"] for x in res["reasons"]} & set(CONTEXT_FEATURES)
    stored = client.get("/v1/students/A-7/score", headers={"Authorization": f"Bearer {keys['jeugdarts']}"})
    assert stored.status_code == 200 and stored.json()["base"]["value"] == res["base"]["value"]


def test_a_withheld_reason_cannot_be_recovered_from_the_sum(api: Any) -> None:
    client, keys = api
    register(client, [_body(7)])
    res = client.post("/v1/scores", json={"students": [_body(7)]},
                      headers={"Authorization": f"Bearer {keys['leerplicht']}"}).json()["results"][0]
    assert not [x for x in res["reasons"] if x["category"] == "sick"]  # leerplicht: no health reason at all
    assert res["base"]["other"] is None  # else other = logit(p) − base − visible reasons gives the health share away
    doctor = client.post("/v1/scores", json={"students": [_body(7)]},
                         headers={"Authorization": f"Bearer {keys['jeugdarts']}"}).json()["results"][0]
    assert any(x["category"] == "sick" for x in doctor["reasons"]) and doctor["base"]["other"] is not None


def register(client: Any, bodies: list[dict[str, Any]]) -> None:
    """The import's registrations of these pupils (scope comes from registrations, never from a body)."""
    from riskscore.testing import register_pupils

    state = client.app.state.riskscore
    with state.sessions() as s:
        register_pupils(s, bodies)


def test_redact_leaves_the_base_alone_without_health_reasons() -> None:
    result = {"reasons": [{"category": "absence", "contribution": 0.5}], "triggers": [],
              "base": {"value": -3.0, "other": 0.1}}
    assert redact(result, "school")["base"]["other"] == 0.1


def test_batch_scores_and_frame_add_up(small_world: Any) -> None:
    bundle = ModelBundle.load(small_world.bundle_dir)
    prepared = batch.prepare(small_world.tables, dt.date.fromisoformat(small_world.score_as_of), bundle)
    rows = [r.to_dict() for r in prepared.students if r.probability is not None]
    assert rows
    worst = max(abs(r["base"]["value"] + sum(x["contribution"] for x in r["reasons"]) + r["base"]["other"]
                    - float(_logit(r["probability"]))) for r in rows)
    assert worst < TOL
    frame = prepared.frame
    assert np.max(np.abs(frame["base"] + frame["excess"] - _logit(frame["probability"].to_numpy()))) < TOL


def test_excess_ordering_fills_capacity_by_risk_above_the_context(small_world: Any) -> None:
    bundle = ModelBundle.load(small_world.bundle_dir)
    day = dt.date.fromisoformat(small_world.score_as_of)
    by_prob = batch.prepare(small_world.tables, day, bundle)
    bundle.metadata["capacity_ordering"] = "excess"
    by_excess = batch.prepare(small_world.tables, day, bundle)
    pick = {o: {(c.student_id, c.role) for c in p.candidates if c.reason == "capacity"}
            for o, p in (("probability", by_prob), ("excess", by_excess))}
    assert pick["probability"] != pick["excess"]
    students = {s.student_id: s for s in by_excess.students}
    school = [c for c in by_excess.candidates if c.reason == "capacity" and c.role == "school"]
    one = school[0].place.school_id
    chosen = {c.student_id for c in school if c.place.school_id == one}
    pool = [s for s in by_excess.students if s.school_id == one and s.scored and ("model", "school") in s.routes
            and not any(c.student_id == s.student_id and c.role == "school" and c.reason != "capacity"
                        for c in by_excess.candidates)]
    lowest_chosen = min(students[sid].excess for sid in chosen)
    assert all(s.excess <= lowest_chosen for s in pool if s.student_id not in chosen)
    first = students[school[0].student_id]
    assert scoring.capacity_priority(first, "excess") == first.excess
    with pytest.raises(Exception, match="ordering"):
        scoring.capacity_priority(first, "alphabetical")


def test_the_usual_probability_is_what_pupils_of_that_context_get(data: Any) -> None:
    """'bij mbo-1 is de gebruikelijke kans X %' must be about what pupils at mbo-1 get: the probability at
    the average log-odds (every signal 0) understates it when signals are skewed (few pupils, many hours)."""
    X, y = data
    additive = model.AdditiveLGBM(n_estimators=60, learning_rate=0.15, min_child_samples=30).fit(X.iloc[:2000], y[:2000])
    cal = model.Calibrator(method="platt").fit(additive.raw_score(X.iloc[2000:]), y[2000:])
    b = ModelBundle.from_model(additive, cal, version="u", band_thresholds={"medium": 0.05, "high": 0.2},
                               reference=X.iloc[2000:])
    s = b.score(X)
    usual, at_zero = b.usual_probability(s.base), b.probability_of(s.base)
    gaps, shortfall = [], []
    for level in range(11):  # signals were drawn independently of level: each level's mean probability is the target
        m = (X["level_code"] == level).to_numpy()
        gaps.append(usual[m].mean() - s.probability[m].mean())
        shortfall.append(s.probability[m].mean() - at_zero[m].mean())
    assert abs(np.mean(gaps)) < 0.02 and np.max(np.abs(gaps)) < 0.04  # within each level's sampling noise
    assert np.min(shortfall) > 0.03  # the probability at the average signal understates every level
