"""The additive LightGBM model, its calibrator, the comparison models and the baselines.

All estimators follow scikit-learn's conventions (``__init__`` only stores arguments, learned
attributes end in ``_``, ``fit`` returns self) and take the whole feature table: each selects the
columns it needs, so audit columns passed along are ignored, and a protected or proxy column can
never be configured as a model feature (``assert_no_protected``).

Text columns named in ``categorical`` are categorical features: ``fit`` learns their categories
(``categories_``, sorted) and the model sees each value's position in that list; a value it never
saw, or a missing one, is missing (NaN) to the model. LightGBM splits them natively by category.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder
from sklearn.utils.validation import check_is_fitted

from riskscore import contracts
from riskscore.errors import DataError, ModelError
from riskscore.model.compiled import CompiledAdditive, calibrate
from riskscore.model.guard import MSG_PROTECTED, assert_no_protected

MSG_MISSING_COLUMNS = "feature table lacks column(s) {cols}"
MSG_ONE_CLASS = "training labels hold a single class; the model needs both outcomes"
MSG_NOT_NUMERIC = "feature column(s) {cols} are not numeric (e.g. {example!r}); encode them as numbers or leave them out"
MSG_CATEGORICAL = "name categorical features with `categorical=[...]` (config: `type: categorical`), not with {what}"
MSG_BAD_MONOTONE = "monotone signs must be -1, 0 or +1, got {bad}"
MSG_CATEGORICAL_MONOTONE = "categorical feature(s) {cols} cannot have a monotone sign (categories have no order); use 0"
MSG_UNKNOWN_CATEGORICAL = "categorical feature(s) {cols} are not among the model's features"


def category_key(value: Any) -> str | None:
    """How a category is written in the vocabulary: text stripped; 9130 and 9130.0 are one category;
    missing → None."""
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return None
        if float(value).is_integer():
            return str(int(value))
    if value is pd.NA or value is pd.NaT:
        return None
    text = str(value).strip()
    return text or None


def learn_categories(column: pd.Series) -> list[str]:
    """The sorted distinct categories of a column (missing values are no category)."""
    return sorted({k for k in (category_key(v) for v in column.tolist()) if k is not None})


def encode_categories(column: Any, categories: Sequence[str]) -> np.ndarray:
    """Each value's position in `categories` (float), NaN for a missing or never-seen value."""
    lookup = {c: float(i) for i, c in enumerate(categories)}
    values = column.tolist() if hasattr(column, "tolist") else list(column)
    return np.array([lookup.get(k, np.nan) if (k := category_key(v)) is not None else np.nan for v in values],
                    dtype=np.float64)


def _features(features: Sequence[str] | None) -> list[str]:
    names = list(contracts.FEATURES if features is None else features)
    assert_no_protected(names)
    return names


def _select(X: pd.DataFrame, names: Sequence[str], categories: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """The model's columns as float64, in order; extra columns are ignored, missing ones refused,
    categorical ones encoded as their category's code, other text columns refused with their name
    (not a bare ValueError from astype)."""
    if not isinstance(X, pd.DataFrame):
        raise DataError("X must be a pandas DataFrame with named feature columns")
    missing = [c for c in names if c not in X.columns]
    if missing:
        raise DataError(MSG_MISSING_COLUMNS.format(cols=missing))
    sub = X.loc[:, list(names)]
    cats = categories or {}
    if cats:
        sub = sub.assign(**{c: encode_categories(sub[c], cats[c]) for c in names if c in cats})
    bad = [c for c in names if not (pd.api.types.is_numeric_dtype(sub[c]) or pd.api.types.is_bool_dtype(sub[c]))]
    if bad:
        coerced = {c: pd.to_numeric(sub[c], errors="coerce") for c in bad}
        text = [c for c in bad if (coerced[c].isna() & sub[c].notna()).any()]
        if text:
            example = sub.loc[coerced[text[0]].isna() & sub[text[0]].notna(), text[0]].iloc[0]
            raise DataError(MSG_NOT_NUMERIC.format(cols=text, example=example))
        sub = sub.assign(**{c: coerced[c] for c in bad})
    return sub.astype(np.float64)


def _labels(y: Any) -> np.ndarray:
    arr = np.asarray(y).astype(int).ravel()
    if len(np.unique(arr)) < 2:
        raise DataError(MSG_ONE_CLASS)
    return arr


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _two_columns(p: np.ndarray) -> np.ndarray:
    return np.column_stack([1.0 - p, p])


class _LGBMBase(ClassifierMixin, BaseEstimator):
    """Shared LightGBM plumbing; subclasses decide the constraints."""

    def __init__(self, *, n_estimators: int = 300, learning_rate: float = 0.05, num_leaves: int = 8,
                 min_child_samples: int = 50, random_state: int = 0, early_stopping_rounds: int | None = None,
                 features: Sequence[str] | None = None, params: dict[str, Any] | None = None,
                 monotone: dict[str, int] | None = None, categorical: Sequence[str] | None = None) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.random_state = random_state
        self.early_stopping_rounds = early_stopping_rounds
        self.features = features
        self.params = params
        self.monotone = monotone
        self.categorical = categorical

    def _constraints(self, names: list[str]) -> dict[str, Any]:
        return {}

    def _lgb_params(self, names: list[str]) -> dict[str, Any]:
        # seed + deterministic + force_row_wise: the same data give the same model (reproducible runs)
        base = {
            "objective": "binary", "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples, "seed": self.random_state, "deterministic": True,
            "force_row_wise": True, "verbosity": -1, "num_threads": 1,
        }
        extra = dict(self.params or {})
        cats = [k for k in extra if k in ("categorical_feature", "categorical_column", "cat_feature")]
        if cats:
            raise ModelError(MSG_CATEGORICAL.format(what=f"the LightGBM parameter(s) {cats}"))
        if self.categorical:
            # LightGBM's defaults (a category needs 100 rows, max 32 per split) assume big data; let a
            # category count from as few rows as any leaf does
            base.update({"min_data_per_group": self.min_child_samples, "cat_smooth": 10.0})
        return {**base, **self._constraints(names), **extra}

    def _categorical_names(self, names: list[str]) -> list[str]:
        cats = list(self.categorical or [])
        unknown = [c for c in cats if c not in names]
        if unknown:
            raise ModelError(MSG_UNKNOWN_CATEGORICAL.format(cols=unknown))
        return cats

    def fit(self, X: pd.DataFrame, y: Any, *, eval_set: tuple[pd.DataFrame, Any] | None = None,
            sample_weight: Any = None) -> _LGBMBase:
        """Train; with eval_set and early_stopping_rounds, stop when the eval log-loss stops improving.

        LightGBM sees neutral names (f0, f1, …): a header with a tab, quote or non-ASCII character
        would otherwise break its JSON model dump. Our own names stay in ``feature_names_in_``.
        ``sample_weight`` weights training rows (mitigation.py: the only place audit data may act)."""
        names = _features(self.features)
        if not isinstance(X, pd.DataFrame):
            raise DataError("X must be a pandas DataFrame with named feature columns")
        cat_names = self._categorical_names(names)
        missing = [c for c in cat_names if c not in X.columns]
        if missing:
            raise DataError(MSG_MISSING_COLUMNS.format(cols=missing))
        self.categories_ = {c: learn_categories(X[c]) for c in cat_names}
        Xs, ys = _select(X, names, self.categories_), _labels(y)
        weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).ravel()
        if weight is not None and (len(weight) != len(ys) or not np.all(np.isfinite(weight)) or (weight < 0).any()):
            raise DataError("sample_weight must be finite, non-negative and one per training row")
        safe = [f"f{i}" for i in range(len(names))]
        cat_index = [names.index(c) for c in cat_names]
        train = lgb.Dataset(Xs.to_numpy(), ys, weight=weight, feature_name=safe, free_raw_data=True,
                            categorical_feature=cat_index or "auto")
        callbacks: list[Any] = []
        valid: list[lgb.Dataset] = []
        if eval_set is not None:
            valid = [lgb.Dataset(_select(eval_set[0], names, self.categories_).to_numpy(), _labels(eval_set[1]),
                                 feature_name=safe, reference=train, categorical_feature=cat_index or "auto")]
            if self.early_stopping_rounds:
                callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        self.booster_ = lgb.train(self._lgb_params(names), train, num_boost_round=self.n_estimators,
                                  valid_sets=valid or None, callbacks=callbacks)
        self.feature_names_in_ = np.array(names, dtype=object)
        self.n_features_in_ = len(names)
        self.classes_ = np.array([0, 1])
        self.best_iteration_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        return self

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "booster_")
        return _select(X, list(self.feature_names_in_), getattr(self, "categories_", None)).to_numpy()

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds before calibration (what the Calibrator is fitted on)."""
        matrix = self._matrix(X)  # checks fitted before touching booster_
        return np.asarray(self.booster_.predict(matrix, raw_score=True, num_iteration=self.best_iteration_),
                          dtype=np.float64)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        return self.raw_score(X)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated sigmoid of the raw score; serve calibrated probabilities via a Calibrator."""
        return _two_columns(_sigmoid(self.raw_score(X)))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def monotone_signs(names: Sequence[str], monotone: dict[str, int] | None = None) -> list[int]:
    """Each feature's sign: from `monotone` (your config) when given, else the Dutch schema's spec;
    a feature in neither gets 0 (unconstrained) — so a foreign column is never silently mis-signed."""
    if monotone is not None:
        bad = {k: v for k, v in monotone.items() if v not in (-1, 0, 1)}
        if bad:
            raise ModelError(MSG_BAD_MONOTONE.format(bad=bad))
        return [int(monotone.get(n, 0)) for n in names]
    return [contracts.FEATURE_SPEC[n][0] if n in contracts.FEATURE_SPEC else 0 for n in names]


class AdditiveLGBM(_LGBMBase):
    """LightGBM with one feature per tree (a GAM) and monotone constraints where the sign is known."""

    def _constraints(self, names: list[str]) -> dict[str, Any]:
        signs = monotone_signs(names, self.monotone)
        signed = [n for n, s in zip(names, signs, strict=True) if s and n in set(self.categorical or ())]
        if signed:
            raise ModelError(MSG_CATEGORICAL_MONOTONE.format(cols=signed))
        return {"interaction_constraints": [[i] for i in range(len(names))], "monotone_constraints": signs,
                "monotone_constraints_method": "basic"}

    def fit(self, X: pd.DataFrame, y: Any, *, eval_set: tuple[pd.DataFrame, Any] | None = None,
            sample_weight: Any = None) -> AdditiveLGBM:
        super().fit(X, y, eval_set=eval_set, sample_weight=sample_weight)
        if self.best_iteration_ < self.booster_.current_iteration():  # early stopping: keep what is served
            self.booster_ = lgb.Booster(model_str=self.booster_.model_to_string(num_iteration=self.best_iteration_))
        names = list(self.feature_names_in_)
        self.compiled_ = CompiledAdditive.from_booster(
            self.booster_, names, categories={names.index(c): len(v) for c, v in self.categories_.items()})
        self.expected_value_ = self.compiled_.bias
        return self

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Exact per-feature contributions (n × n_features); they sum with expected_value_ to the raw score."""
        matrix = self._matrix(X)
        contrib = self.booster_.predict(matrix, pred_contrib=True, num_iteration=self.best_iteration_)
        return np.asarray(contrib, dtype=np.float64)[:, :-1]


class UnconstrainedLGBM(_LGBMBase):
    """Plain LightGBM with interactions: the accuracy the glass box gives up, made visible."""


class Calibrator(BaseEstimator):
    """Raw score → probability, isotonic or Platt, whichever predicts the calibration fold better.

    The choice is made by stratified k-fold cross-validation *within* the calibration fold (Brier
    score of out-of-fold predictions), so the step-wise isotonic fit cannot win by overfitting the
    very rows it is judged on; the winner is then refitted on the whole fold.
    """

    def __init__(self, *, method: str = "auto", n_splits: int = 5, random_state: int = 0) -> None:
        self.method = method
        self.n_splits = n_splits
        self.random_state = random_state

    @staticmethod
    def _fit_one(method: str, raw: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        if method == "platt":
            lr = LogisticRegression(C=1e6, max_iter=1000).fit(raw.reshape(-1, 1), y)
            return {"method": "platt", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}
        if method == "isotonic":
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(raw, y)
            return {"method": "isotonic", "x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
        raise ModelError(f"unknown calibration method {method!r}; use auto, isotonic or platt")

    def fit(self, raw: Any, y: Any) -> Calibrator:
        raw_arr = np.asarray(raw, dtype=np.float64).ravel()
        y_arr = _labels(y)
        candidates = ["isotonic", "platt"] if self.method == "auto" else [self.method]
        briers: dict[str, float] = {}
        n_splits = min(self.n_splits, int(np.bincount(y_arr).min()))
        if len(candidates) > 1 and n_splits >= 2:
            folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
            for method in candidates:
                oof = np.empty_like(raw_arr)
                for tr, te in folds.split(raw_arr, y_arr):
                    oof[te] = calibrate(self._fit_one(method, raw_arr[tr], y_arr[tr]), raw_arr[te])
                briers[method] = float(np.mean((oof - y_arr) ** 2))
            chosen = min(briers, key=lambda m: briers[m])
        else:
            chosen = "platt" if len(candidates) > 1 else candidates[0]
        self.spec_ = self._fit_one(chosen, raw_arr, y_arr)
        self.method_ = chosen
        self.cv_brier_ = briers
        return self

    def transform(self, raw: Any) -> np.ndarray:
        check_is_fitted(self, "spec_")
        return calibrate(self.spec_, np.asarray(raw, dtype=np.float64))

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers only: the service applies them with numpy (compiled.calibrate)."""
        check_is_fitted(self, "spec_")
        return {**self.spec_, "cv_brier": self.cv_brier_}


class CalibratedModel(ClassifierMixin, BaseEstimator):
    """An already fitted estimator with raw_score(X) plus a fitted Calibrator."""

    def __init__(self, estimator: Any = None, calibrator: Calibrator | None = None) -> None:
        self.estimator = estimator
        self.calibrator = calibrator

    def fit(self, X: pd.DataFrame, y: Any) -> CalibratedModel:
        """Fit the calibrator on (X, y) — a later calibration fold — keeping the estimator as is."""
        if self.estimator is None:
            raise ModelError("CalibratedModel needs a fitted estimator")
        cal = clone(self.calibrator) if self.calibrator is not None else Calibrator()
        self.calibrator_ = cal.fit(self.estimator.raw_score(X), y)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "calibrator_")
        return _two_columns(self.calibrator_.transform(self.estimator.raw_score(X)))


class ScorecardLR(ClassifierMixin, BaseEstimator):
    """Logistic regression on quantile-binned features (one-hot): the classic points scorecard."""

    def __init__(self, *, n_bins: int = 5, C: float = 1.0, random_state: int = 0,
                 features: Sequence[str] | None = None, categorical: Sequence[str] | None = None) -> None:
        self.n_bins = n_bins
        self.C = C
        self.random_state = random_state
        self.features = features
        self.categorical = categorical

    def _prepare(self, X: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
        Xs = _select(X, names, getattr(self, "categories_", None))
        # missing values get their own bin: a sentinel below every observed value (its own category)
        return Xs.fillna(-1e9).to_numpy()

    def fit(self, X: pd.DataFrame, y: Any) -> ScorecardLR:
        names = _features(self.features)
        self.categories_ = {c: learn_categories(X[c]) for c in (self.categorical or []) if c in names}
        with warnings.catch_warnings():  # constant-heavy columns lose empty bins; that is expected here
            warnings.filterwarnings("ignore", message="Bins whose width are too small", category=UserWarning)
            self.pipeline_ = self._fit_pipeline(X, y, names)
        self.feature_names_in_ = np.array(names, dtype=object)
        self.classes_ = np.array([0, 1])
        return self

    def _fit_pipeline(self, X: pd.DataFrame, y: Any, names: Sequence[str]) -> Pipeline:
        cat_idx = [i for i, n in enumerate(names) if n in self.categories_]
        num_idx = [i for i in range(len(names)) if i not in cat_idx]
        if not cat_idx:
            return Pipeline([
                ("bins", KBinsDiscretizer(n_bins=self.n_bins, encode="onehot", strategy="quantile",
                                          quantile_method="averaged_inverted_cdf")),
                ("lr", LogisticRegression(C=self.C, max_iter=2000, random_state=self.random_state)),
            ]).fit(self._prepare(X, names), _labels(y))
        parts: list[tuple[str, Any, list[int]]] = []
        if num_idx:
            parts.append(("bins", KBinsDiscretizer(n_bins=self.n_bins, encode="onehot", strategy="quantile",
                                                   quantile_method="averaged_inverted_cdf"), num_idx))
        if cat_idx:  # a category is its own column; a never-seen one has none
            parts.append(("categories", OneHotEncoder(handle_unknown="ignore"), cat_idx))
        return Pipeline([
            ("encode", ColumnTransformer(parts)),
            ("lr", LogisticRegression(C=self.C, max_iter=2000, random_state=self.random_state)),
        ]).fit(self._prepare(X, names), _labels(y))

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "pipeline_")
        return self.pipeline_.decision_function(self._prepare(X, list(self.feature_names_in_)))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "pipeline_")
        return self.pipeline_.predict_proba(self._prepare(X, list(self.feature_names_in_)))


class RulesBaseline(ClassifierMixin, BaseEstimator):
    """The legal/protocol rules alone: risk = share of VSV among training rows with as many rules firing."""

    def __init__(self, *, rule_columns: Sequence[str] | None = None) -> None:
        self.rule_columns = rule_columns

    def _count(self, X: pd.DataFrame) -> np.ndarray:
        cols = list(contracts.RULE_COLUMNS if self.rule_columns is None else self.rule_columns)
        missing = [c for c in cols if c not in X.columns]
        if missing:
            raise DataError(MSG_MISSING_COLUMNS.format(cols=missing))
        return X[cols].fillna(False).astype(bool).sum(axis=1).to_numpy()

    def fit(self, X: pd.DataFrame, y: Any) -> RulesBaseline:
        counts, ys = self._count(X), np.asarray(y).astype(float).ravel()
        prior = float(ys.mean()) if len(ys) else 0.0
        max_count = int(counts.max()) if len(counts) else 0
        rates = np.empty(max_count + 1)
        for c in range(max_count + 1):  # smoothed rate per number of fired rules, forced non-decreasing
            sel = counts == c
            rates[c] = (ys[sel].sum() + prior * 10) / (sel.sum() + 10)
        self.rate_by_count_ = np.maximum.accumulate(rates)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "rate_by_count_")
        counts = self._count(X)
        base = self.rate_by_count_[np.minimum(counts, len(self.rate_by_count_) - 1)]
        # beyond the counts seen in training: strictly more rules never rank lower, nudged by a tiny step
        p = base + 1e-9 * np.maximum(counts - (len(self.rate_by_count_) - 1), 0) + 1e-12 * counts
        return _two_columns(np.clip(p, 0.0, 1.0))


class SchoolBaseline(ClassifierMixin, BaseEstimator):
    """School-level targeting: every pupil gets the school's smoothed historic VSV rate."""

    def __init__(self, *, smoothing: float = 20.0, school_column: str = "school_id") -> None:
        self.smoothing = smoothing
        self.school_column = school_column

    def fit(self, X: pd.DataFrame, y: Any) -> SchoolBaseline:
        if self.school_column not in X.columns:
            raise DataError(MSG_MISSING_COLUMNS.format(cols=[self.school_column]))
        ys = pd.Series(np.asarray(y).astype(float).ravel(), index=X.index)
        self.overall_rate_ = float(ys.mean())
        grouped = ys.groupby(X[self.school_column].to_numpy()).agg(["sum", "count"])
        rates = (grouped["sum"] + self.smoothing * self.overall_rate_) / (grouped["count"] + self.smoothing)
        self.school_rate_ = {str(k): float(v) for k, v in rates.items()}
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "school_rate_")
        if self.school_column not in X.columns:
            raise DataError(MSG_MISSING_COLUMNS.format(cols=[self.school_column]))
        schools = X[self.school_column].astype(str)
        p = schools.map(self.school_rate_).fillna(self.overall_rate_).to_numpy(dtype=np.float64)
        return _two_columns(p)


__all__ = [
    "MSG_PROTECTED",
    "AdditiveLGBM",
    "CalibratedModel",
    "Calibrator",
    "RulesBaseline",
    "SchoolBaseline",
    "ScorecardLR",
    "UnconstrainedLGBM",
    "assert_no_protected",
    "category_key",
    "encode_categories",
    "learn_categories",
    "monotone_signs",
]
