"""The additive LightGBM model compiled into lookup tables: per feature, bin edges → values.

Every tree of the additive model splits on one feature only, so each feature's contribution is a
step function of that feature alone. Walking the trees once turns the model into sorted edges and
per-bin sums; scoring is then one ``np.searchsorted`` and one gather per feature — exact (equal to
LightGBM's ``predict(raw_score=True)`` and ``pred_contrib=True``), numpy-only and fast.

A categorical feature (LightGBM's native categorical splits, ``decision_type == '=='``) is given to
the model as integer codes 0..K-1; its table has one bin per code, one for a code the model never
saw and one for a missing value, so the same lookup serves it.

``scaled(a, b)`` gives the same tables multiplied by the Platt calibration's slope, with
``a * bias + b`` as the bias: their sum *is* the calibrated log-odds, so each contribution is an
exact share of logit(p), not of the uncalibrated score.

Numpy only on purpose: the service and the batch job load this without lightgbm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from riskscore.errors import ModelError

#: LightGBM's kZeroThreshold (1e-35f as a double): dense inputs with |x| <= it are treated as 0.0,
#: and missing_type 'Zero' sends them the default way.
K_ZERO = float(np.float32(1e-35))
_BELOW_ZERO = math.nextafter(-K_ZERO, -math.inf)

MSG_NOT_ADDITIVE = "tree {tree} splits on more than one feature ({features}); the model is not additive"
MSG_BAD_SHAPE = "expected a 2-D array with {n} feature columns, got shape {shape}"


def _lgb_goes_left(node: dict[str, Any], x: float) -> bool:
    """LightGBM's NumericalDecision for one node, on a dense double input."""
    if abs(x) <= K_ZERO:  # dense rows drop near-zeros: LightGBM sees them as an absent (0.0) value
        x = 0.0
    missing = node.get("missing_type", "None")
    if math.isnan(x) and missing != "NaN":
        x = 0.0
    if (missing == "Zero" and abs(x) <= K_ZERO) or (missing == "NaN" and math.isnan(x)):
        return bool(node.get("default_left", True))
    if node.get("decision_type", "<=") != "<=":
        raise ModelError(f"unsupported decision_type {node.get('decision_type')!r}")
    return x <= _threshold(node)


def _lgb_categorical_left(node: dict[str, Any], x: float) -> bool:
    """LightGBM's CategoricalDecision: a missing or negative value goes right, a code in the node's
    category set goes left, any other code right (checked against LightGBM in tests/test_compiled.py)."""
    if math.isnan(x) or int(x) < 0:
        return False
    return int(x) in {int(c) for c in str(node["threshold"]).split("||")}


def _goes_left(node: dict[str, Any], x: float) -> bool:
    if node.get("decision_type", "<=") == "==":
        return _lgb_categorical_left(node, x)
    return _lgb_goes_left(node, x)


def _threshold(node: dict[str, Any]) -> float:
    """The split threshold; dump_model writes ±inf as ±1e300 (LightGBM's AvoidInf)."""
    t = float(node["threshold"])
    return math.copysign(math.inf, t) if abs(t) >= 1e300 else t


MSG_CATEGORICAL_SPLIT = ("tree {tree} splits feature {feature} by category (decision_type {kind!r}) but it was not "
                         "declared categorical; declare it (with its number of categories) or encode it as numbers")


def _tree_features(node: dict[str, Any], acc: set[int], categorical: frozenset[int] = frozenset()) -> set[int]:
    if "split_feature" in node:
        kind = node.get("decision_type", "<=")
        feature = int(node["split_feature"])
        if kind not in ("<=", "==") or (kind == "==" and feature not in categorical):
            raise ModelError(MSG_CATEGORICAL_SPLIT.format(tree="?", feature=feature, kind=kind))
        acc.add(feature)
        _tree_features(node["left_child"], acc, categorical)
        _tree_features(node["right_child"], acc, categorical)
    return acc


def _thresholds(node: dict[str, Any], acc: list[float]) -> list[float]:
    if "split_feature" in node:
        acc.append(_threshold(node))
        _thresholds(node["left_child"], acc)
        _thresholds(node["right_child"], acc)
    return acc


def _leaf(node: dict[str, Any], x: float) -> float:
    while "split_feature" in node:
        node = node["left_child"] if _goes_left(node, x) else node["right_child"]
    return float(node["leaf_value"])


def _expected(node: dict[str, Any]) -> float:
    """The tree's cover-weighted mean leaf value: what pred_contrib puts in the bias column."""
    if "split_feature" not in node:
        return float(node["leaf_value"])
    total = float(node["internal_count"])
    acc = 0.0
    stack = [node]
    while stack:
        n = stack.pop()
        if "split_feature" in n:
            stack.extend((n["left_child"], n["right_child"]))
        else:
            acc += (float(n["leaf_count"]) / total) * float(n["leaf_value"])
    return acc


def _edges_for(thresholds: Sequence[float]) -> np.ndarray:
    """Sorted edges whose bins (e[k-1], e[k]] LightGBM cannot tell apart; +inf last keeps NaN apart.

    Near-zero values all become 0.0 inside LightGBM, so the band [-K_ZERO, K_ZERO] is one bin and
    thresholds inside it are dropped. np.searchsorted sorts NaN after +inf: NaN gets its own last bin.
    """
    kept = [t for t in thresholds if not (-K_ZERO <= t < K_ZERO)]
    return np.unique(np.array([*kept, _BELOW_ZERO, K_ZERO, math.inf], dtype=np.float64))


def _category_edges(n_categories: int) -> np.ndarray:
    """Edges of a categorical feature's table: bin k holds code k (0..K-1), bin K a code the model
    never saw, the last bin a missing value (np.searchsorted sorts NaN after +inf)."""
    return np.array([*(np.arange(n_categories, dtype=np.float64) + 0.5), math.inf], dtype=np.float64)


def _representatives(edges: np.ndarray) -> list[float]:
    """One input value per bin (bins 0..len(edges)-1, then the NaN bin)."""
    reps = []
    for k, right in enumerate(edges):
        left = edges[k - 1] if k else -math.inf
        reps.append(0.0 if left < 0.0 <= right else float(right))
    return [*reps, math.nan]


@dataclass
class CompiledAdditive:
    """Per-feature step tables of an additive model. ``values[j]`` has len(edges[j]) + 1 entries."""

    feature_names: tuple[str, ...]
    edges: list[np.ndarray]
    values: list[np.ndarray]
    bias: float
    n_trees: int = 0
    #: per feature: may it be a reason (top positive)? None: every feature may. Context features
    #: (level, age) make the pupil's base, never a reason (bundle.ModelBundle sets it).
    reason_mask: tuple[bool, ...] | None = None
    _offsets: np.ndarray | None = field(default=None, repr=False, compare=False)
    _ranks: tuple[list[np.ndarray], np.ndarray] | None = field(default=None, repr=False, compare=False)
    _mask: np.ndarray | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_booster(cls, booster: Any, feature_names: Sequence[str], *,
                     categories: dict[int, int] | None = None) -> CompiledAdditive:
        """Compile a LightGBM booster whose every tree uses at most one feature. ``categories``: the
        number of categories of each categorical feature (by index), whose codes are 0..K-1."""
        try:
            dump = booster.dump_model()
        except ValueError as exc:  # json.JSONDecodeError: LightGBM writes names with tabs or quotes unescaped
            raise ModelError(f"the LightGBM model could not be read back ({exc.__class__.__name__}); train it with "
                             "plain feature names (AdditiveLGBM does this itself)") from None
        names = tuple(feature_names)
        if len(names) != int(dump.get("max_feature_idx", len(names) - 1)) + 1:
            raise ModelError(f"booster has {dump.get('max_feature_idx', -1) + 1} features, got {len(names)} names")
        cats = dict(categories or {})
        per_feature: list[list[dict[str, Any]]] = [[] for _ in names]
        bias = 0.0
        for i, info in enumerate(dump["tree_info"]):
            root = info["tree_structure"]
            try:
                feats = _tree_features(root, set(), frozenset(cats))
            except ModelError as exc:
                raise ModelError(str(exc).replace("tree ?", f"tree {i}")) from None
            if len(feats) > 1:
                raise ModelError(MSG_NOT_ADDITIVE.format(tree=i, features=sorted(feats)))
            bias += _expected(root)
            if feats:
                per_feature[feats.pop()].append(root)
        edges_out, values_out = [], []
        for j, trees in enumerate(per_feature):
            if j in cats:
                edges = _category_edges(cats[j])
                reps = [*range(cats[j] + 1), math.nan]  # each code, an unseen code, missing
            else:
                edges = _edges_for([t for root in trees for t in _thresholds(root, [])])
                reps = _representatives(edges)
            vals = np.zeros(len(reps), dtype=np.float64)
            for root in trees:
                vals += np.array([_leaf(root, float(x)) for x in reps]) - _expected(root)
            edges_out.append(edges)
            values_out.append(vals)
        return cls(names, edges_out, values_out, float(bias), n_trees=len(dump["tree_info"]))

    def scaled(self, a: float, b: float, *, reason_mask: Sequence[bool] | None = None) -> CompiledAdditive:
        """The tables times ``a`` with bias ``a * bias + b`` (a Platt calibration logit(p) = a·raw + b):
        contributions on the calibrated log-odds scale that add up to logit(p) exactly. Made once per
        bundle, so scoring costs the same as before."""
        mask = tuple(bool(m) for m in reason_mask) if reason_mask is not None else self.reason_mask
        if mask is not None and len(mask) != len(self.feature_names):
            raise ModelError(f"reason mask has {len(mask)} entries for {len(self.feature_names)} features")
        return CompiledAdditive(self.feature_names, list(self.edges), [np.asarray(v, dtype=np.float64) * float(a) for v in self.values],
                                float(a) * self.bias + float(b), n_trees=self.n_trees, reason_mask=mask)

    # --- scoring ---------------------------------------------------------------------------------
    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ModelError(MSG_BAD_SHAPE.format(n=len(self.feature_names), shape=X.shape))
        return X

    def bin_index(self, X: np.ndarray) -> np.ndarray:
        """(n, n_features) int32 matrix of global row numbers into the concatenated value table."""
        X = self._check(X)
        offsets = self._value_offsets()
        out = np.empty(X.shape, dtype=np.int64, order="F")
        for j, edges in enumerate(self.edges):
            out[:, j] = np.searchsorted(edges, X[:, j], side="left") + offsets[j]
        return out

    def _value_offsets(self) -> np.ndarray:
        if self._offsets is None:
            self._offsets = np.cumsum([0] + [len(v) for v in self.values[:-1]]).astype(np.int64)
        return self._offsets

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(n, n_features) exact per-feature contributions (= LightGBM pred_contrib without bias)."""
        return self.evaluate(X, top_k=0)[0]

    def raw(self, X: np.ndarray) -> np.ndarray:
        """Raw score (log-odds) = bias + sum of contributions (= LightGBM predict(raw_score=True))."""
        return self.evaluate(X, top_k=0)[1]

    def evaluate(self, X: np.ndarray, *, top_k: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Contributions (n × n_features, column-major), raw scores and the top_k positive reasons
        (= top_positive(contributions, top_k)) in one pass over row blocks.

        Why blocks: a block's columns (32k values) stay in the CPU cache while they are binned by
        counting comparisons against the edges (a few edges per feature: much cheaper than a
        binary search per value), gathered, summed and ranked."""
        X = self._check(X)
        n, m = X.shape
        if n < _SMALL:  # a request's few rows: per-call overhead dominates, a binary search per column is cheapest
            contrib = np.empty((n, m), dtype=np.float64, order="F")
            for j, (edges, vals) in enumerate(zip(self.edges, self.values, strict=True)):
                contrib[:, j] = vals[np.searchsorted(edges, X[:, j], side="left")]
            # left to right, as the blocked path adds column by column: the same bits for a row alone or in a cohort
            total = (np.cumsum(contrib, axis=1)[:, -1] if m else np.zeros(n)) + self.bias
            ranked = contrib if self.reason_mask is None else contrib * self._mask_array()
            return contrib, total, top_positive(ranked, max(top_k, 0))
        contrib = np.empty((n, m), dtype=np.float64, order="F")
        raw = np.empty(n, dtype=np.float64)
        top = np.full((n, max(top_k, 0)), -1, dtype=np.int64)
        codes, feature_of_code = self._rank_codes()
        code_dtype = codes[0].dtype if codes else np.uint8
        f_order = X.flags.f_contiguous
        for r0 in range(0, n, _BLOCK):
            r1 = min(n, r0 + _BLOCK)
            block = X[r0:r1] if f_order else np.ascontiguousarray(X[r0:r1].T).T  # columns contiguous
            acc = raw[r0:r1]
            acc.fill(0.0)
            best = [np.zeros(r1 - r0, dtype=code_dtype) for _ in range(top_k)] if m else []
            for j in range(m):
                idx = _bins(block[:, j], self.edges[j])
                out = contrib[r0:r1, j]
                np.take(self.values[j], idx, out=out)
                acc += out
                if best:
                    _insert(best, codes[j][idx])
            acc += self.bias
            for i, b in enumerate(best):
                top[r0:r1, i] = feature_of_code[b]
        return contrib, raw, top

    def _mask_array(self) -> np.ndarray:
        if self._mask is None:
            self._mask = np.asarray(self.reason_mask, dtype=np.float64)
        return self._mask

    def _rank_codes(self) -> tuple[list[np.ndarray], np.ndarray]:
        """Per feature and bin an integer rank of its contribution among all positive table values
        (0 = not positive, or a feature that may not be a reason); ties rank the lower feature index
        higher, as argmax (top_positive) does. Ranking small integers instead of float rows keeps the
        top-k step cheap."""
        if self._ranks is None:
            vals = np.concatenate(self.values) if self.values else np.zeros(0)
            if self.reason_mask is not None and self.values:
                vals = vals * np.concatenate([np.full(len(v), float(m)) for v, m in zip(self.values, self.reason_mask, strict=True)])
            feat = np.concatenate([np.full(len(v), j, dtype=np.int64) for j, v in enumerate(self.values)]) \
                if self.values else np.zeros(0, dtype=np.int64)
            positive = np.flatnonzero(vals > 0)
            order = positive[np.lexsort((-feat[positive], vals[positive]))]
            n_codes = len(order) + 1
            dtype = np.uint8 if n_codes <= 0xFF else np.uint16 if n_codes <= 0xFFFF else np.uint32
            flat = np.zeros(len(vals), dtype=dtype)
            flat[order] = np.arange(1, n_codes, dtype=dtype)
            feature_of_code = np.concatenate([[-1], feat[order]]).astype(np.int64)
            self._ranks = (np.split(flat, np.cumsum([len(v) for v in self.values])[:-1]) if self.values else [],
                           feature_of_code)
        return self._ranks

    def raw_from_contributions(self, contributions: np.ndarray) -> np.ndarray:
        """Raw score from an already computed contribution matrix (saves a second pass)."""
        return contributions.sum(axis=1) + self.bias

    # --- serialisation ---------------------------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (for an .npz): concatenated edges/values with per-feature lengths."""
        return {
            "edges": np.concatenate(self.edges),
            "edge_counts": np.array([len(e) for e in self.edges], dtype=np.int64),
            "values": np.concatenate(self.values),
            "bias": np.array([self.bias]),
            "n_trees": np.array([self.n_trees], dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], feature_names: Sequence[str]) -> CompiledAdditive:
        """Inverse of to_arrays; raises ModelError when the arrays do not fit together."""
        try:
            counts = np.asarray(arrays["edge_counts"], dtype=np.int64)
            edges_all = np.asarray(arrays["edges"], dtype=np.float64)
            values_all = np.asarray(arrays["values"], dtype=np.float64)
            bias = float(np.asarray(arrays["bias"]).ravel()[0])
            n_trees = int(np.asarray(arrays.get("n_trees", [0])).ravel()[0])
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ModelError(f"compiled tables incomplete: {exc}") from None
        names = tuple(feature_names)
        if len(counts) != len(names) or counts.sum() != len(edges_all) or len(values_all) != len(edges_all) + len(names):
            raise ModelError("compiled tables inconsistent: edge/value counts do not match the feature names")
        e_split = np.split(edges_all, np.cumsum(counts)[:-1])
        v_split = np.split(values_all, np.cumsum(counts + 1)[:-1])
        for e in e_split:
            if len(e) == 0 or not (np.all(np.diff(e) > 0) and e[-1] == math.inf):
                raise ModelError("compiled tables corrupt: edges not strictly increasing up to +inf")
        return cls(names, list(e_split), list(v_split), bias, n_trees=n_trees)


#: rows per block in CompiledAdditive.evaluate: a block's columns fit the CPU's L2 cache
_BLOCK = 32_768
#: below this many rows evaluate takes the simple path (searchsorted per column, top_positive)
_SMALL = 512
#: above this many edges a binary search (np.searchsorted) beats counting comparisons
_MAX_COUNTED_EDGES = 64


def _bins(col: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value: np.searchsorted(edges, col, side='left'), NaN after +inf.

    Counted as len(edges) - #{k: col <= edges[k]}: NaN compares False everywhere, so it lands in
    the last bin without a special case."""
    if len(edges) > _MAX_COUNTED_EDGES:
        return np.searchsorted(edges, col, side="left")
    below = np.zeros(len(col), dtype=np.uint8)
    mask = np.empty(len(col), dtype=bool)
    for e in edges:
        np.less_equal(col, e, out=mask)
        below += mask
    return len(edges) - below.astype(np.intp)


def _insert(best: list[np.ndarray], code: np.ndarray) -> None:
    """Insert one column of rank codes into the running descending top-k (a sorting network)."""
    for i, current in enumerate(best):
        hi = np.maximum(current, code)
        code = np.minimum(current, code)
        best[i] = hi


def top_positive(contributions: np.ndarray, top_k: int) -> np.ndarray:
    """(n, top_k) feature indices by descending positive contribution; -1 where fewer are positive."""
    n, m = contributions.shape
    k = min(top_k, m)
    out = np.full((n, top_k), -1, dtype=np.int64)
    if k <= 0 or n == 0:
        return out
    work = np.array(contributions, dtype=np.float64, order="C")  # rows contiguous: argmax per row is cheap
    work[~(work > 0)] = -np.inf
    flat = work.reshape(-1)
    base = np.arange(n, dtype=np.int64) * m
    for i in range(k):
        j = work.argmax(axis=1)
        pos = base + j
        out[:, i] = np.where(flat[pos] > 0, j, -1)
        flat[pos] = -np.inf
    return out


def calibrate(spec: dict[str, Any], raw: np.ndarray) -> np.ndarray:
    """Apply a calibrator given as plain numbers (see model.Calibrator.to_dict): no sklearn needed."""
    raw = np.asarray(raw, dtype=np.float64)
    method = spec.get("method")
    if method == "platt":
        z = float(spec["a"]) * raw + float(spec["b"])
        return 1.0 / (1.0 + np.exp(-z))
    if method == "isotonic":
        x = np.asarray(spec["x"], dtype=np.float64)
        y = np.asarray(spec["y"], dtype=np.float64)
        return np.interp(raw, x, y)
    if method == "sigmoid_identity":
        return 1.0 / (1.0 + np.exp(-raw))
    raise ModelError(f"unknown calibration method {method!r}")


__all__ = ["K_ZERO", "CompiledAdditive", "calibrate", "top_positive"]
