"""The model bundle: everything the service and the batch job need, loadable with numpy + json.

No lightgbm, sklearn or mlflow at load time — the compiled step tables, the calibrator as plain
numbers, the band thresholds, the reason catalogue and each feature's justification travel
together under one version, so a score can always be traced to the exact model and texts.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from riskscore import contracts
from riskscore.errors import MSG_NO_MODEL, DataError, ModelError
from riskscore.model import explain
from riskscore.model.compiled import CompiledAdditive, calibrate

FORMAT_VERSION = 1
MANIFEST = "bundle.json"
TABLES = "tables.npz"
BANDS = ("low", "medium", "high")
BAND_LABELS_NL = {"low": "laag", "medium": "middel", "high": "hoog"}
MSG_NO_REASON_TEXT = "feature(s) {features} have no reason text (code, category, nl, en) in the configuration"


@dataclass
class Scored:
    """Scores of n rows: arrays, so a batch of a million stays cheap."""

    raw: np.ndarray
    probability: np.ndarray
    band: np.ndarray  # str: low / medium / high
    contributions: np.ndarray  # n × n_features
    top: np.ndarray  # n × top_k feature indices by positive contribution; -1 where fewer


@dataclass
class ModelBundle:
    """A served model version: compiled additive tables + calibrator + bands + reasons + spec."""

    version: str
    features: tuple[str, ...]
    compiled: CompiledAdditive
    calibrator: dict[str, Any]
    band_thresholds: dict[str, float]
    catalogue: dict[str, explain.ReasonTemplate] = field(default_factory=lambda: dict(explain.DEFAULT_CATALOGUE))
    feature_spec: dict[str, dict[str, Any]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_bands(self.band_thresholds)

    @classmethod
    def from_model(cls, additive: Any, calibrator: Any, *, version: str, band_thresholds: Mapping[str, float],
                   metadata: Mapping[str, Any] | None = None,
                   catalogue: Mapping[str, explain.ReasonTemplate] | None = None,
                   feature_spec: Mapping[str, Mapping[str, Any]] | None = None) -> ModelBundle:
        """Bundle a fitted model.AdditiveLGBM and model.Calibrator (duck-typed: no import of model.py).

        `catalogue` (reason code, category, nl/en texts per feature) and `feature_spec` (monotone sign,
        justification) come from the training config for a data team's own features; the Dutch schema's
        are the default. A served feature without a reason text is refused: every reason a reviewer
        reads must say what it is in words, and its category decides who reviews it."""
        features = tuple(str(f) for f in additive.feature_names_in_)
        compiled = getattr(additive, "compiled_", None) or CompiledAdditive.from_booster(additive.booster_, features)
        cat = dict(explain.DEFAULT_CATALOGUE if catalogue is None else catalogue)
        if feature_spec is None:
            spec = {f: {"monotone": contracts.FEATURE_SPEC[f][0], "justification": contracts.FEATURE_SPEC[f][1]}
                    for f in features if f in contracts.FEATURE_SPEC}
        else:
            spec = {f: dict(v) for f, v in feature_spec.items() if f in features}
        if catalogue is not None:
            lacking = [f for f in features if f not in cat]
            if lacking:
                raise ModelError(MSG_NO_REASON_TEXT.format(features=lacking))
        return cls(version=version, features=features, compiled=compiled, calibrator=calibrator.to_dict(),
                   band_thresholds=dict(band_thresholds), catalogue=cat,
                   feature_spec=spec, metadata=dict(metadata or {}))

    # --- scoring ---------------------------------------------------------------------------------
    def matrix(self, X: Any) -> np.ndarray:
        """The model's columns as a float64 matrix; extra columns (e.g. audit ones) are ignored."""
        if hasattr(X, "columns"):
            missing = [f for f in self.features if f not in X.columns]
            if missing:
                raise DataError(f"feature table lacks column(s) {missing}")
            out = np.empty((len(X), len(self.features)), dtype=np.float64, order="F")  # columns contiguous
            for j, f in enumerate(self.features):
                out[:, j] = np.asarray(X[f], dtype=np.float64)
            return out
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != len(self.features):
            raise DataError(f"expected {len(self.features)} feature columns, got shape {arr.shape}")
        return arr

    def band_of(self, probability: np.ndarray) -> np.ndarray:
        p = np.asarray(probability, dtype=np.float64)
        codes = (p >= self.band_thresholds["medium"]).astype(np.int8) + (p >= self.band_thresholds["high"])
        return np.asarray(BANDS)[codes]

    def score(self, X: Any, *, top_k: int = 3) -> Scored:
        """Raw score, calibrated probability, band, exact contributions and top positive reasons."""
        contrib, raw, top = self.compiled.evaluate(self.matrix(X), top_k=top_k)  # one blocked pass
        prob = calibrate(self.calibrator, raw)
        return Scored(raw=raw, probability=prob, band=self.band_of(prob), contributions=contrib, top=top)

    def reasons(self, values: Any, contributions: Any, *, top_k: int = 3) -> list[explain.Reason]:
        return explain.reasons(self, values, contributions, top_k=top_k)

    # --- persistence -----------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "version": self.version,
            "features": list(self.features),
            "calibrator": self.calibrator,
            "band_thresholds": self.band_thresholds,
            "band_labels_nl": BAND_LABELS_NL,
            "catalogue": explain.catalogue_dict(self.catalogue),
            "feature_spec": self.feature_spec,
            "metadata": self.metadata,
        }

    def save(self, directory: str | Path) -> Path:
        """Write bundle.json + tables.npz atomically: a reader never sees half a bundle."""
        target = Path(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            (tmp / MANIFEST).write_text(json.dumps(self.manifest(), indent=2, sort_keys=True, default=_json_default))
            arrays: dict[str, Any] = self.compiled.to_arrays()
            np.savez(tmp / TABLES, **arrays)
            if target.exists():
                old = target.parent / f".{target.name}-old-{os.getpid()}"
                target.rename(old)
                tmp.rename(target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, directory: str | Path) -> ModelBundle:
        """Load a saved bundle; ModelError (naming the path and the problem) when missing or corrupt."""
        path = Path(directory)
        try:
            manifest = json.loads((path / MANIFEST).read_text())
            with np.load(path / TABLES, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except FileNotFoundError as exc:
            raise ModelError(MSG_NO_MODEL.format(source=path, details=f"missing {Path(exc.filename).name}")) from None
        except (OSError, ValueError, EOFError) as exc:  # JSONDecodeError is a ValueError; bad zip is OSError/ValueError
            raise ModelError(MSG_NO_MODEL.format(source=path, details=f"unreadable: {exc}")) from None
        except Exception as exc:  # zipfile.BadZipFile and friends
            raise ModelError(MSG_NO_MODEL.format(source=path, details=f"unreadable: {exc}")) from None
        try:
            if manifest.get("format_version") != FORMAT_VERSION:
                raise ModelError(f"unsupported bundle format {manifest.get('format_version')!r}")
            features = tuple(manifest["features"])
            return cls(
                version=str(manifest["version"]), features=features,
                compiled=CompiledAdditive.from_arrays(arrays, features),
                calibrator=dict(manifest["calibrator"]), band_thresholds=dict(manifest["band_thresholds"]),
                catalogue=explain.catalogue_from_dict(manifest.get("catalogue") or {}) or dict(explain.DEFAULT_CATALOGUE),
                feature_spec=dict(manifest.get("feature_spec") or {}), metadata=dict(manifest.get("metadata") or {}),
            )
        except ModelError as exc:
            raise ModelError(MSG_NO_MODEL.format(source=path, details=str(exc))) from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(MSG_NO_MODEL.format(source=path, details=f"corrupt manifest: {exc!r}")) from None


def _check_bands(bands: Mapping[str, float]) -> None:
    try:
        medium, high = float(bands["medium"]), float(bands["high"])
    except (KeyError, TypeError, ValueError):
        raise ModelError("band_thresholds need numeric 'medium' and 'high'") from None
    if not 0.0 < medium < high < 1.0:
        raise ModelError(f"band thresholds must satisfy 0 < medium < high < 1, got {medium}, {high}")


def _json_default(o: object) -> object:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


__all__ = ["BANDS", "BAND_LABELS_NL", "ModelBundle", "Scored"]
