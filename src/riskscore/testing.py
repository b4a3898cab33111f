"""Helpers for tests, the soak driver and examples — never used by the service itself."""

from __future__ import annotations

from pathlib import Path


def tiny_bundle(directory: Path, *, version: str = "test-1", card: bool = True) -> Path:
    """Train and save a tiny additive model in about a second: unauthorised absence and long sick
    spells raise the risk, the other features are noise. Deterministic."""
    import numpy as np
    import pandas as pd

    from riskscore.contracts import FEATURES
    from riskscore.model import additive as model
    from riskscore.model.bundle import ModelBundle

    rng = np.random.default_rng(7)
    n = 1500
    X = pd.DataFrame({f: rng.poisson(2.0, n).astype(float) for f in FEATURES})
    X["unauthorised_hours_4w"] = rng.uniform(0, 40, n)
    X["longest_sick_spell_days"] = rng.uniform(0, 30, n)
    logit = -4 + 0.15 * X["unauthorised_hours_4w"] + 0.12 * X["longest_sick_spell_days"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    additive = model.AdditiveLGBM(n_estimators=40, learning_rate=0.2, min_child_samples=20).fit(X.iloc[:1000], y[:1000])
    cal = model.Calibrator(method="platt").fit(additive.raw_score(X.iloc[1000:]), y[1000:])
    bundle = ModelBundle.from_model(additive, cal, version=version, band_thresholds={"medium": 0.1, "high": 0.4},
                                    metadata={"seed": 7, "metrics": {"auc": 0.8}})
    target = Path(bundle.save(directory))
    if card:
        (target / "model_card.md").write_text("# Model card\n\nTiny test model.\n")
    return target
