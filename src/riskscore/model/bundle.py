"""The model bundle: everything the service and the batch job need, loadable with numpy + json.

No lightgbm, sklearn or mlflow at load time — the compiled step tables, the calibrator as plain
numbers, the band thresholds, the reason catalogue and each feature's justification travel
together under one version, so a score can always be traced to the exact model and texts.

What the contributions are (``scale``): with a Platt calibrator, logit(p) = a·raw + b, so the
tables are scaled once, when the bundle is made or loaded (``CompiledAdditive.scaled``), and

    base + Σ contributions = logit(p)   exactly (floating point, ~1e-15),

where ``base`` is the model's intercept (a·bias + b) plus the contributions of the *context*
features (school level, age: what a mentor cannot change). Isotonic calibration is a step
function with no such form: then ``scale`` is ``"score"`` and base + Σ contributions is the
model's uncalibrated score, of which the probability is a monotone step function. Reasons come
only from *signal* features; ``excess`` = Σ signal contributions is how far the pupil's own
signals lift the log-odds above what is usual for their context (the second capacity ordering).
"""

from __future__ import annotations

import dataclasses
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
#: what a contribution is: a share of the calibrated log-odds (Platt), or of the uncalibrated score
SCALE_LOG_ODDS, SCALE_SCORE = "log_odds", "score"
KINDS = ("signal", "context")
MANIFEST = "bundle.json"
TABLES = "tables.npz"
BANDS = ("low", "medium", "high")
BAND_LABELS_NL = {"low": "laag", "medium": "middel", "high": "hoog"}
MSG_NO_REASON_TEXT = "feature(s) {features} have no reason text (code, category, nl, en) in the configuration"


@dataclass
class Scored:
    """Scores of n rows: arrays, so a batch of a million stays cheap."""

    raw: np.ndarray  # the model's uncalibrated score
    probability: np.ndarray
    band: np.ndarray  # str: low / medium / high
    contributions: np.ndarray  # n × n_features, on the bundle's scale (log_odds: shares of logit(p))
    top: np.ndarray  # n × top_k indices of signal features by positive contribution; -1 where fewer
    base: np.ndarray  # intercept + context contributions (same scale)
    excess: np.ndarray  # Σ signal contributions = total − base


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
    #: categorical features: their categories in code order (code = position)
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: quantiles of the signals' sum over a reference sample (the calibration fold): the spread of signals
    #: the 'usual probability' of a context averages over; empty: the signals at their average (0)
    signal_quantiles: tuple[float, ...] = ()
    # derived once in __post_init__ from feature_spec and calibrator
    scale: str = field(init=False, repr=False, compare=False, default=SCALE_LOG_ODDS)
    context_features: tuple[str, ...] = field(init=False, repr=False, compare=False, default=())
    _context_idx: np.ndarray = field(init=False, repr=False, compare=False, default_factory=lambda: np.zeros(0, np.int64))
    _explain: CompiledAdditive = field(init=False, repr=False, compare=False, default=None)  # type: ignore[assignment]
    _derived_from: tuple[Any, Any, Any] = field(init=False, repr=False, compare=False, default=(None, None, None))
    #: per context (the context features' values): base texts and usual probability (scoring._bases)
    base_cache: dict[tuple[float, ...], tuple[str, str, float]] = field(init=False, repr=False, compare=False,
                                                                          default_factory=dict)

    def __post_init__(self) -> None:
        _check_bands(self.band_thresholds)
        unknown = sorted(set(self.categories) - set(self.features))
        if unknown:
            raise ModelError(f"categories given for feature(s) {unknown} the model does not have")
        self._derive()

    def _derive(self) -> None:
        """The explanation tables, kinds and scale, from feature_spec and calibrator: once per bundle (made
        or loaded), and again only if either is replaced — never per request."""
        kinds = {f: str((self.feature_spec.get(f) or {}).get("kind", "signal")) for f in self.features}
        bad = {f: k for f, k in kinds.items() if k not in KINDS}
        if bad:
            raise ModelError(f"feature kind(s) {bad} must be one of {list(KINDS)}")
        context = [f for f in self.features if kinds[f] == "context"]
        order = {f: i for i, f in enumerate(contracts.CONTEXT_FEATURES)}  # the Dutch base names level first
        self.context_features = tuple(sorted(context, key=lambda f: (order.get(f, len(order)), self.features.index(f))))
        self._context_idx = np.array([self.features.index(f) for f in self.context_features], dtype=np.int64)
        mask = tuple(kinds[f] == "signal" for f in self.features)
        method = self.calibrator.get("method")
        if method == "platt":
            self.scale = SCALE_LOG_ODDS
            self._explain = self.compiled.scaled(float(self.calibrator["a"]), float(self.calibrator["b"]), reason_mask=mask)
        elif method == "sigmoid_identity":
            self.scale = SCALE_LOG_ODDS
            self._explain = self.compiled.scaled(1.0, 0.0, reason_mask=mask)
        elif method == "isotonic":
            self.scale = SCALE_SCORE
            self._explain = self.compiled.scaled(1.0, 0.0, reason_mask=mask)
        else:
            raise ModelError(f"unknown calibration method {method!r}")
        self._derived_from = (self.calibrator, self.feature_spec, self.compiled)
        self.base_cache = {}

    def _tables(self) -> CompiledAdditive:
        made = self._derived_from
        if made[0] is not self.calibrator or made[1] is not self.feature_spec or made[2] is not self.compiled:
            self._derive()  # a field was replaced after the bundle was made
        return self._explain

    @classmethod
    def from_model(cls, additive: Any, calibrator: Any, *, version: str, band_thresholds: Mapping[str, float],
                   metadata: Mapping[str, Any] | None = None,
                   catalogue: Mapping[str, explain.ReasonTemplate] | None = None,
                   feature_spec: Mapping[str, Mapping[str, Any]] | None = None,
                   reference: Any = None) -> ModelBundle:
        """Bundle a fitted model.AdditiveLGBM and model.Calibrator (duck-typed: no import of model.py).

        `catalogue` (reason code, category, nl/en texts per feature) and `feature_spec` (monotone sign,
        justification) come from the training config for a data team's own features; the Dutch schema's
        are the default. A served feature without a reason text is refused: every reason a reviewer
        reads must say what it is in words, and its category decides who reviews it."""
        features = tuple(str(f) for f in additive.feature_names_in_)
        categories = {f: tuple(v) for f, v in (getattr(additive, "categories_", None) or {}).items()}
        compiled = getattr(additive, "compiled_", None) or CompiledAdditive.from_booster(
            additive.booster_, features, categories={features.index(f): len(v) for f, v in categories.items()})
        cat = dict(explain.DEFAULT_CATALOGUE if catalogue is None else catalogue)
        if feature_spec is None:
            spec = {f: {"monotone": contracts.FEATURE_SPEC[f][0], "justification": contracts.FEATURE_SPEC[f][1],
                        "kind": "context" if f in contracts.CONTEXT_FEATURES else "signal"}
                    for f in features if f in contracts.FEATURE_SPEC}
        else:
            spec = {f: dict(v) for f, v in feature_spec.items() if f in features}
        if catalogue is not None:
            lacking = [f for f in features if f not in cat]
            if lacking:
                raise ModelError(MSG_NO_REASON_TEXT.format(features=lacking))
        for f, names in categories.items():  # the reason names the category, not its code
            if f in cat:
                cat[f] = dataclasses.replace(cat[f], fmt="category", categories=names)
        bundle = cls(version=version, features=features, compiled=compiled, calibrator=calibrator.to_dict(),
                     band_thresholds=dict(band_thresholds), catalogue=cat,
                     feature_spec=spec, metadata=dict(metadata or {}), categories=categories)
        if reference is not None and len(reference):
            excess = bundle.score(reference, top_k=0).excess
            bundle.signal_quantiles = tuple(float(q) for q in np.quantile(excess, (np.arange(100) + 0.5) / 100))
            bundle.base_cache.clear()
        return bundle

    # --- scoring ---------------------------------------------------------------------------------
    def matrix(self, X: Any) -> np.ndarray:
        """The model's columns as a float64 matrix; extra columns (e.g. audit ones) are ignored.
        A categorical feature's text becomes its code (never-seen or missing: NaN)."""
        if hasattr(X, "columns"):
            missing = [f for f in self.features if f not in X.columns]
            if missing:
                raise DataError(f"feature table lacks column(s) {missing}")
            out = np.empty((len(X), len(self.features)), dtype=np.float64, order="F")  # columns contiguous
            for j, f in enumerate(self.features):
                if f in self.categories:
                    out[:, j] = _encode(X[f], self.categories[f])
                else:
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
        """Calibrated probability, band, exact contributions (on ``scale``), the top positive signal
        reasons, and each row's base (intercept + context) and excess (Σ signals)."""
        contrib, total, top = self._tables().evaluate(self.matrix(X), top_k=top_k)  # one blocked pass
        if self.scale == SCALE_LOG_ODDS:  # total = logit(p)
            prob = 1.0 / (1.0 + np.exp(-total))
            a, b = (float(self.calibrator["a"]), float(self.calibrator["b"])) if "a" in self.calibrator else (1.0, 0.0)
            raw = (total - b) / a
        else:  # total = the uncalibrated score
            raw = total
            prob = calibrate(self.calibrator, raw)
        base = self.base_of(contrib)
        return Scored(raw=raw, probability=prob, band=self.band_of(prob), contributions=contrib, top=top,
                      base=base, excess=total - base)

    def base_of(self, contributions: np.ndarray) -> np.ndarray:
        """Intercept + the context features' contributions, per row (on ``scale``)."""
        bias = self._tables().bias
        if not len(self._context_idx):
            return np.full(len(contributions), bias)
        return np.asarray(contributions, dtype=np.float64)[:, self._context_idx].sum(axis=1) + bias

    def probability_of(self, value: np.ndarray | float) -> np.ndarray:
        """A value on the bundle's scale as a probability."""
        z = np.asarray(value, dtype=np.float64)
        if self.scale == SCALE_LOG_ODDS:
            return 1.0 / (1.0 + np.exp(-z))
        return calibrate(self.calibrator, z)

    def usual_probability(self, base: np.ndarray | float) -> np.ndarray:
        """The usual probability for a context with this base: the model's probability averaged over the
        spread of signals in the reference sample (``signal_quantiles``), not at the average signal —
        most pupils have few signals and a few have many, so the probability at the average log-odds
        would understate what is usual. Without quantiles (older bundles): at the average signal."""
        b = np.asarray(base, dtype=np.float64)
        if not self.signal_quantiles:
            return self.probability_of(b)
        values, inverse = np.unique(b.ravel(), return_inverse=True)  # few distinct contexts
        q = np.asarray(self.signal_quantiles, dtype=np.float64)
        usual = self.probability_of(values[:, None] + q[None, :]).mean(axis=1)
        return usual[inverse].reshape(b.shape)

    @property
    def intercept(self) -> float:
        """The base of a pupil with no context features (on ``scale``)."""
        return float(self._tables().bias)

    def reasons(self, values: Any, contributions: Any, *, top_k: int = 3) -> list[explain.Reason]:
        """The top_k positive signal reasons (context features never are: they make the base)."""
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
            "categories": {f: list(v) for f, v in self.categories.items()},
            "signal_quantiles": list(self.signal_quantiles),
            "scale": self.scale,
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
                categories={f: tuple(str(c) for c in v) for f, v in (manifest.get("categories") or {}).items()},
                signal_quantiles=tuple(float(q) for q in manifest.get("signal_quantiles") or ()),
            )
        except ModelError as exc:
            raise ModelError(MSG_NO_MODEL.format(source=path, details=str(exc))) from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(MSG_NO_MODEL.format(source=path, details=f"corrupt manifest: {exc!r}")) from None


def _encode(column: Any, categories: tuple[str, ...]) -> np.ndarray:
    """Text → code (position in `categories`); missing or never seen → NaN. Same keys as training
    (model.additive.category_key): stripped text, 9130 and 9130.0 alike."""
    lookup = {c: float(i) for i, c in enumerate(categories)}
    values = column.tolist() if hasattr(column, "tolist") else list(column)
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and v != v):
            out[i] = np.nan
            continue
        key = str(int(v)) if isinstance(v, float | np.floating) and float(v).is_integer() else str(v).strip()
        out[i] = lookup.get(key, np.nan)
    return out


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


__all__ = ["BANDS", "BAND_LABELS_NL", "KINDS", "SCALE_LOG_ODDS", "SCALE_SCORE", "ModelBundle", "Scored"]
