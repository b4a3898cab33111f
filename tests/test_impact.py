"""Impact evaluation at the capacity cut-off: the running variable is rebuilt exactly as the batch job
chose (flagged <=> x > 0), rdrobust finds a planted jump and not an absent one, a small sample gives
the 'too small' statement instead of a number, the synthetic intervention knob lowers only treated
pupils' later absence, `riskscore impact` runs on batch-scored synthetic data (JSON + HTML + MLflow),
and a 2-seed smoke run of the simulation."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from riskscore.monitoring.impact import ImpactConfig, estimate, evaluate, running_frame, to_html
from riskscore.synthetic import Intervention, apply_intervention


def _pool(n_teams: int, per_team: int, cap: int, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, cases = [], []
    for t in range(n_teams):
        p = np.sort(rng.uniform(0, 1, per_team))[::-1]
        for i, prob in enumerate(p):
            sid = f"T{t}-{i}"
            rows.append({"run_id": 1, "as_of": "2024-02-01", "student_id": sid, "probability": float(prob),
                         "roles": ["school"], "school_id": f"S{t}", "municipality": None, "rmc_region": None})
            if i < cap:
                cases.append({"as_of": "2024-02-01", "student_id": sid, "role": "school", "reason": "capacity",
                              "reviewed": bool(i % 2 == 0)})
    return pd.DataFrame(rows), pd.DataFrame(cases)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(5, 40), st.integers(1, 10), st.integers(0, 2**31 - 1))
def test_running_variable_matches_who_was_flagged(n_teams: int, per_team: int, cap: int, seed: int) -> None:
    scores, cases = _pool(n_teams, per_team, min(cap, per_team), np.random.default_rng(seed))
    frame = running_frame(scores, cases)
    assert len(frame) == n_teams * per_team
    assert ((frame["x"] > 0) == frame["flagged"]).all()  # sharp by construction
    assert (frame.groupby("team")["flagged"].sum() == min(cap, per_team)).all()
    assert ((frame["x_score"] > 0) == frame["flagged"]).all()


def test_rule_cases_leave_the_pool_and_unrouted_pupils_are_not_in_it() -> None:
    scores, cases = _pool(1, 10, 3, np.random.default_rng(1))
    scores.loc[scores["student_id"] == "T0-5", "roles"] = pd.Series([["jeugdarts"]], index=scores.index[[5]])
    cases = pd.concat([cases, pd.DataFrame([{"as_of": "2024-02-01", "student_id": "T0-0", "role": "school",
                                             "reason": "rule:leerplicht_16h_4w", "reviewed": True}])])
    frame = running_frame(scores, cases)
    assert set(frame["student_id"]) == {f"T0-{i}" for i in range(10)} - {"T0-0", "T0-5"}


def _rd_frame(jump: float, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.integers(-60, 60, n) + 0.5
    y = 2 + 0.03 * x + jump * (x > 0) + rng.normal(0, 1, n)
    return pd.DataFrame({"role": "school", "x": x, "x_score": x / 100, "student_id": [f"s{i}" for i in range(n)],
                         "flagged": x > 0, "reviewed": (x > 0) & (rng.random(n) < 0.8), "absence_8w": y,
                         "vsv_12m": (rng.random(n) < 0.1).astype(float)})


def test_estimate_finds_a_planted_jump_and_not_an_absent_one() -> None:
    with_jump = estimate(_rd_frame(-1.0, 4000, 3), role="school", outcome="absence_8w")
    assert with_jump.status == "ok" and with_jump.ci_high is not None and with_jump.ci_high < 0
    assert with_jump.ci_low is not None and with_jump.ci_low < -1.0 < with_jump.ci_high
    assert with_jump.first_stage["flagged_right"] == 1.0 and with_jump.first_stage["flagged_left"] == 0.0
    assert with_jump.fuzzy_estimate is not None and with_jump.fuzzy_estimate < with_jump.estimate  # ITT / 0.8
    assert with_jump.density_p is not None and with_jump.density_p > 0.01
    none = estimate(_rd_frame(0.0, 4000, 4), role="school", outcome="absence_8w")
    assert none.status == "ok" and none.ci_low < 0 < none.ci_high and "contains 0" in none.statement


def _teams_frame(jump: float, seed: int) -> pd.DataFrame:
    """80 cut-offs of different capacity, pools short below the cut-off as the routing makes them; every
    third team has nobody below its cut-off (all its pool got a case) and a lower absence level."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(80):
        cap = int(rng.integers(5, 120))
        below = 0 if t % 3 == 0 else int(rng.integers(2, max(3, cap // 3)))
        level = 1.0 if t % 3 == 0 else 6.0
        for r in range(cap + below):
            x = cap - r - 0.5
            rows.append({"run_id": 1, "team": f"S{t}", "role": "school", "student_id": f"S{t}-{r}", "x": x,
                         "x_score": x / 100, "flagged": x > 0, "reviewed": x > 0, "vsv_12m": 0.0,
                         "absence_8w": level + 0.01 * x + jump * (x > 0) + rng.normal(0, 1)})
    return pd.DataFrame(rows)


def test_teams_compare_only_within_their_symmetric_window() -> None:
    """Pooling whole pools reads the change of teams at the cut-off as a jump (here about -1.8 with no
    effect at all); the symmetric window per team leaves only the teams with pupils on both sides."""
    from riskscore.monitoring.impact import comparison_rows, rd

    none = _teams_frame(0.0, 1)
    pooled = rd(none["absence_8w"].to_numpy(), none["x"].to_numpy())
    assert pooled["ci_high"] < -1.0  # the old pooled estimate: a spurious effect
    e = estimate(none, role="school", outcome="absence_8w")
    assert e.status == "ok" and e.ci_low < 0 < e.ci_high
    assert e.n_cutoffs == 80 - 27  # the 27 teams with nobody below their cut-off do not count
    used = comparison_rows(none, role="school", outcome="absence_8w")
    assert e.n_outside_window == len(none) - len(used)
    reach = used.groupby("team")["x"].agg(lambda s: (s.max(), -s.min()))
    assert all(hi == lo for hi, lo in reach)  # each team symmetric around its own cut-off
    jump = estimate(_teams_frame(-1.0, 1), role="school", outcome="absence_8w")
    assert jump.ci_low < -1.0 < jump.ci_high and jump.ci_high < 0


def test_small_samples_get_a_statement_not_a_number() -> None:
    e = estimate(_rd_frame(-1.0, 40, 5), role="school", outcome="absence_8w", config=ImpactConfig(min_per_side=30))
    assert e.status == "too_small" and e.estimate is None and "Too few pupils" in e.statement
    report = evaluate(_rd_frame(-1.0, 40, 5).assign(run_id=1, as_of="2024-02-01"))
    page = to_html(report)
    assert "Te weinig leerlingen" in page and "<script" not in page


def test_intervention_lowers_only_treated_pupils_later_absence(small_world: Any) -> None:
    tables = small_world.tables
    absences = tables["absences"]
    unauth = absences.loc[absences["category"] == "unauthorised"]
    counts = unauth.groupby("student_id").size().sort_values(ascending=False)
    treated, untreated = counts.index[0], counts.index[1]
    day = pd.to_datetime(unauth.loc[unauth["student_id"] == treated, "date"]).median().date()
    knob = Intervention(absence_reduction=0.6, vsv_reduction=0.0, acted_share=1.0)
    after = apply_intervention(tables, {treated: day}, knob, seed=3)
    again = apply_intervention(tables, {treated: day, untreated: day}, knob, seed=3)

    def later(t: dict[str, pd.DataFrame], sid: str, *, before: bool = False) -> int:
        a = t["absences"]
        m = (a["student_id"] == sid) & (a["category"] == "unauthorised")
        dates = pd.to_datetime(a.loc[m, "date"])
        return int((dates <= pd.Timestamp(day)).sum() if before else (dates > pd.Timestamp(day)).sum())

    assert later(after, treated) < later(tables, treated)  # fewer later absences
    assert later(after, treated, before=True) == later(tables, treated, before=True)  # the past is untouched
    assert later(after, untreated) == later(tables, untreated)
    assert later(again, treated) == later(after, treated)  # coupled draws: same events vanish
    with pytest.raises(Exception, match="must be in"):
        Intervention(absence_reduction=1.5).check()


@pytest.fixture(scope="module")
def scored_store(small_world: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The small world batch-scored on two as-of dates that have a full follow-up in its data."""
    from riskscore import batch
    from riskscore.model.bundle import ModelBundle
    from riskscore.store.db import make_engine, migrate, session_factory

    home = tmp_path_factory.mktemp("impact")
    url = f"sqlite:///{home / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    bundle = ModelBundle.load(small_world.bundle_dir)
    years = sorted(small_world.tables["students"]["school_year"].unique())
    y = int(years[1][:4])
    with session_factory(engine)() as s:
        for as_of in (dt.date(y, 10, 1), dt.date(y + 1, 2, 1)):
            batch.run(s, small_world.tables, as_of, bundle, home=home)
    engine.dispose()
    return {"home": home, "url": url, "data": small_world.data_dir}


def test_impact_command_on_batch_scored_data(scored_store: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from riskscore.cli import app as cli_app
    from riskscore.settings import get_settings
    from riskscore.store import cases as store_cases
    from riskscore.store.db import make_engine, session_factory
    from riskscore.store.models import ReviewCase

    home = scored_store["home"]
    engine = make_engine(scored_store["url"])
    with session_factory(engine)() as s:  # a school's plan: two talks, one done and checked ("better")
        case = s.query(ReviewCase).filter(ReviewCase.role == "school", ReviewCase.status == "open").first()
        assert case is not None
        steps = [store_cases.add_action(s, case.id, kind="talk_pupil", owner="user:1", due_on=case.as_of,
                                        actor="user:1") for _ in range(2)]
        store_cases.complete_action(s, case.id, steps[0].id, done_on=case.as_of, actor="user:1")
        store_cases.record_follow_up(s, case.id, steps[0].id, result="improved", actor="user:1")
    engine.dispose()
    monkeypatch.setenv("RISKSCORE_HOME", str(home))
    get_settings.cache_clear()
    try:
        out = home / "impact-report"
        r = CliRunner().invoke(cli_app, ["impact", "--data", str(scored_store["data"]), "--out", str(out),
                                         "--database-url", scored_store["url"], "--min-per-side", "10"])
    finally:
        get_settings.cache_clear()
    assert r.exit_code == 0, (r.output, r.exception)
    report = json.loads((out / "impact.json").read_text())
    assert len(report["runs"]) == 2 and report["n_rows"] > 100 and report["running"] == "rank"
    roles = {e["role"] for e in report["estimates"]}
    assert "school" in roles and {e["outcome"] for e in report["estimates"]} == {"absence_8w", "vsv_12m"}
    for e in report["estimates"]:
        assert e["status"] in ("ok", "too_small", "failed")
        if e["status"] == "ok":
            assert e["ci_low"] <= e["estimate"] + 1e-9 or e["ci_low"] <= e["ci_high"]
            assert e["first_stage"]["flagged_left"] == 0.0 and e["first_stage"]["flagged_right"] == 1.0
        else:
            assert e["statement"]
    # nobody worked on these cases: no estimate may claim an effect, whatever its interval
    assert all(e["conclusion"]["code"] not in ("lower", "higher", "none") for e in report["estimates"])
    assert all(e["conclusion"]["nl"].startswith("Geen conclusie mogelijk") for e in report["estimates"])
    # the follow-up steps, apart and as counts: an association, never an effect
    assert report["follow_up"] == [{"role": "school", "kind": "talk_pupil", "n": 2, "done": 1, "improved": 1,
                                    "unchanged": 0, "worse": 0}]
    assert "geen effect" in report["follow_up_note"]["nl"] and "not effect" in report["follow_up_note"]["en"]
    html = (out / "impact.html").read_text()
    assert "Does a flag help?" in html and "samenhang, geen effect" in html and "<td>talk_pupil</td>" in html
    for sid in pd.read_parquet(next(iter((home / "runs").glob("*.parquet"))))["student_id"].head(50):
        assert sid not in html and sid not in json.dumps(report)  # aggregates only
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{(home / 'mlflow.db').resolve()}")
    runs = mlflow.search_runs(experiment_names=["riskscore-vsv-impact"])
    assert len(runs) == 1 and any(c.startswith("metrics.school.") for c in runs.columns)


def test_impact_without_runs_is_one_clear_error(tmp_path: Path) -> None:
    from riskscore.cli import app as cli_app
    from riskscore.errors import DataError

    r = CliRunner().invoke(cli_app, ["impact", "--data", str(tmp_path), "--database-url", f"sqlite:///{tmp_path / 'x.db'}",
                                     "--no-mlflow"])
    assert isinstance(r.exception, DataError)


@pytest.mark.slow
def test_simulation_smoke_two_seeds(tmp_path: Path) -> None:
    """The 20-seed table of monitoring/README.md in miniature: the planted effect's truth is negative,
    the no-effect truth is exactly zero, every row has a status."""
    from riskscore.commands.impact_sim import simulate, summary
    from riskscore.testing import tiny_bundle

    results = simulate([1, 2], bundle_dir=tiny_bundle(tmp_path / "b", card=False), n_students=12_000)
    assert set(results["condition"]) == {"effect", "no_effect"} and len(results) == 8
    ok = results.loc[results["status"] == "ok"]
    assert (ok.loc[ok["condition"] == "no_effect", "truth"] == 0).all()
    assert (ok.loc[(ok["condition"] == "effect") & (ok["outcome"] == "absence_8w"), "truth"] < 0).all()
    table = summary(results)
    assert set(table.columns) >= {"coverage", "excludes_zero", "mean_truth"}
