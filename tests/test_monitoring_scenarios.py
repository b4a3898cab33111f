"""Monitoring must catch what matters and stay quiet otherwise (small, seeded scenarios).

Frames come from monitoring/scenarios.py (a feature-level simulator with the generator's knobs, scored
by a fixed logistic function until a trained bundle and riskscore.synthetic are wired in). The rates
over 20 seeds are in monitoring/README.md; here one seed per scenario, sized so detection is ~certain."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from riskscore.monitoring import Verdict, run_monitoring

SCRIPT = Path(__file__).resolve().parents[1] / "monitoring" / "scenarios.py"


@pytest.fixture(scope="module")
def scenarios() -> ModuleType:
    spec = importlib.util.spec_from_file_location("monitoring_scenarios", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _run(scenarios: ModuleType, name: str, *, seed: int = 7, n: int = 3000) -> Verdict:
    ref, cur = scenarios.frames(name, seed, n)
    return run_monitoring(ref, cur, config=scenarios.config())


def _alerts(v: Verdict) -> set[tuple[str, str]]:
    return {(b.check, b.subject) for b in v.alerts}


def test_no_change_no_alert(scenarios: ModuleType) -> None:
    for seed in (7, 8):
        v = _run(scenarios, "none", seed=seed)
        assert v.status in ("ok", "warn"), v.alerts
        assert not v.alerts


def test_absence_surge_is_flagged_as_drift(scenarios: ModuleType) -> None:
    v = _run(scenarios, "absence_surge")
    drifted = {s for c, s in _alerts(v) if c == "feature_drift"}
    assert {"unauthorised_hours_4w", "unauthorised_hours_12w"} <= drifted
    assert "level_code" not in drifted  # the level mix did not change
    assert not any(b.check == "fairness" and not b.subject.startswith("level=") for b in v.alerts)


def test_stricter_recording_for_one_group_is_a_fairness_alert_for_that_group(scenarios: ModuleType) -> None:
    column, value = scenarios.STRICT_GROUP
    v = _run(scenarios, "strict_group", n=6000)
    fairness = {s for c, s in _alerts(v) if c == "fairness"}
    assert f"{column}={value}" in fairness
    # no other audit group is blamed; a level may be (a group near the ceiling moves less than the rest)
    assert {s for s in fairness if not s.startswith("level=")} == {f"{column}={value}"}
    row = v.tables["selection"].set_index(["column", "group"]).loc[(column, value)]
    assert row["rate_cur"] > row["rate_ref"] and row["relative_to_rest"] > 1.25
    breach = next(b for b in v.alerts if b.check == "fairness")
    assert f"investigate group {column}={value}" in breach.action


def test_level_mix_shift_is_flagged(scenarios: ModuleType) -> None:
    v = _run(scenarios, "level_mix")
    assert ("feature_drift", "level_code") in _alerts(v)
    shares = v.tables["bands"].set_index("band")
    assert shares.loc["high", "share_cur"] > shares.loc["high", "share_ref"]
