"""MLflow tracking and model registry: the only module that imports mlflow.

MLflow is imported inside functions so that ``import riskscore.registry`` costs nothing and the
service never pays for it. The model is logged as a pyfunc wrapping the numpy-only ModelBundle, so
``mlflow.pyfunc.load_model``, ``mlflow models serve --env-manager local`` and ``spark_udf`` work
unchanged. Aliases replace MLflow's removed stages: ``challenger`` after training, ``champion``
after promotion.

MLflow 3 notes: ``log_model(name=...)`` replaces ``artifact_path``; a model is a *logged model*
(``models:/m-<id>``) linked to the run, and the registry version's ``source`` points at it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskscore.errors import ConfigError, GateError, ModelError, RegistryError

DEFAULT_MODEL_NAME = "riskscore-vsv"
CHAMPION, CHALLENGER = "champion", "challenger"
MODEL_ARTIFACT_NAME = "model"
BUNDLE_ARTIFACT = "bundle"
TOP_K = 3
MONITORING_EXPERIMENT = "riskscore-vsv-monitoring"
IMPACT_EXPERIMENT = "riskscore-vsv-impact"

MSG_NO_ALIAS = "model '{name}' has no version with alias '{alias}'; train a model and run `riskscore promote` first"
MSG_NO_VERSION = "model '{name}' has no version {version}"
MSG_GATES_FAILED = ("version {version} did not pass its promotion gates ({details}); "
                    "promote with --force and a --reason to override")
MSG_NEEDS_REASON = "a forced promotion needs a reason; it is logged on the run"
MSG_FAIRNESS_FAILED = ("version {version} failed its fairness gate ({details}); a fairness failure cannot be "
                       "overridden: mitigate or retrain")
MSG_NEEDS_REVIEW = ("version {version}'s fairness gate is {verdict} ({details}); promote with --review \"…\" "
                    "saying who reviewed the model card and why it may go ahead")
MSG_REVIEW_NOT_NEEDED = "--review is for an inconclusive or unmeasured fairness gate; version {version}'s gate is {verdict}"
NEEDS_REVIEW = ("inconclusive", "unmeasured")
MSG_MISSING_COLUMNS = "input lacks feature column(s) {missing}"
MSG_MLFLOW = "MLflow refused: {details}"

_state: dict[str, str] = {}


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    model_version: str
    model_uri: str


@dataclass(frozen=True)
class PromotionResult:
    model_name: str
    version: str
    previous_champion: str | None
    forced: bool
    reason: str | None
    promoted_at: str
    fairness_verdict: str = ""
    review: str | None = None

    def __str__(self) -> str:
        was = f" (was {self.previous_champion})" if self.previous_champion else ""
        forced = f", FORCED: {self.reason}" if self.forced else ""
        review = f", fairness {self.fairness_verdict} — reviewed: {self.review}" if self.review else ""
        return f"{self.model_name} version {self.version} is now champion{was}{forced}{review}"


# --- setup ---------------------------------------------------------------------------------------
def _mlflow() -> Any:
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # no "🏃 View run …" line
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    return mlflow


def _client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient()


def configure(tracking_uri: str, artifact_root: str | None = None) -> None:
    """Point tracking and registry at one store (default: local SQLite), quiet MLflow's chatter."""
    mlflow = _mlflow()
    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    if artifact_root:
        _state["artifact_root"] = artifact_root
    for name in ("mlflow", "alembic"):  # schema migrations and "Created version" lines at INFO
        logging.getLogger(name).setLevel(logging.WARNING)


def _artifact_location(experiment: str) -> str | None:
    root = _state.get("artifact_root")
    if not root:
        return None
    if "://" in root:
        return f"{root.rstrip('/')}/{experiment}"
    path = Path(root) / experiment
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve().as_uri()


def _experiment_id(name: str) -> str:
    mlflow = _mlflow()
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    return str(mlflow.create_experiment(name, artifact_location=_artifact_location(name)))


# --- the pyfunc ----------------------------------------------------------------------------------
def _define_pyfunc_class() -> type:
    """Defined on first use so that importing this module does not import mlflow.

    The class is published as ``riskscore.registry.RiskscoreModel`` (module ``__getattr__``), so
    cloudpickle stores it by reference and loading needs riskscore installed (``--env-manager local``).
    """
    import mlflow.pyfunc

    base: Any = mlflow.pyfunc.PythonModel

    class RiskscoreModel(base):
        """Probability, band and top reasons for a DataFrame of feature columns."""

        def load_context(self, context: Any) -> None:
            from riskscore.model.bundle import ModelBundle

            self.bundle = ModelBundle.load(Path(context.artifacts[BUNDLE_ARTIFACT]))

        # pd.DataFrame is a hint MLflow 3 infers no schema from: the logged signature stays in charge
        def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
            return predict_frame(self.bundle, model_input)

    RiskscoreModel.__module__ = __name__
    RiskscoreModel.__qualname__ = "RiskscoreModel"
    return RiskscoreModel


def __getattr__(name: str) -> Any:
    if name == "RiskscoreModel":
        cls = _define_pyfunc_class()
        globals()["RiskscoreModel"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def predict_frame(bundle: Any, frame: pd.DataFrame, *, top_k: int = TOP_K) -> pd.DataFrame:
    """The pyfunc's output: probability, band, model_version and reason_<i>_{code,feature,value,
    contribution,text_nl,text_en} for i = 1..top_k (empty strings / NaN when fewer reasons)."""
    from riskscore.model import explain

    frame = pd.DataFrame(frame)
    missing = [f for f in bundle.features if f not in frame.columns]
    if missing:
        raise ModelError(MSG_MISSING_COLUMNS.format(missing=missing))
    X = frame[list(bundle.features)].astype(float)
    scored = bundle.score(X, top_k=top_k)
    out: dict[str, Any] = {
        "probability": np.asarray(scored.probability, dtype=float),
        "band": np.asarray(scored.band).astype(str),
        "model_version": [str(bundle.version)] * len(X),
    }
    cols: dict[str, list[Any]] = {}
    values = X.to_numpy()
    for i in range(len(X)):
        row = dict(zip(bundle.features, values[i], strict=True))
        found = explain.reasons(bundle, row, np.asarray(scored.contributions[i]), top_k=top_k)
        for j in range(top_k):
            r = found[j] if j < len(found) else None
            for field, default in (("code", ""), ("feature", ""), ("value", np.nan), ("contribution", np.nan),
                                   ("text_nl", ""), ("text_en", "")):
                value = getattr(r, field) if r is not None else default
                if field in ("value", "contribution"):
                    value = float(value) if value is not None else np.nan
                else:
                    value = "" if value is None else str(value)
                cols.setdefault(f"reason_{j + 1}_{field}", []).append(value)
    if not cols:  # no rows: keep the columns so the output schema holds
        cols = {f"reason_{j + 1}_{f}": [] for j in range(top_k)
                for f in ("code", "feature", "value", "contribution", "text_nl", "text_en")}
    out.update(cols)
    return pd.DataFrame(out, index=frame.index)


def _input_example(features: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Two plausible rows (no absence; some absence) — documentation for `mlflow models serve` callers."""
    return pd.DataFrame([{f: 0.0 for f in features}, {f: 4.0 for f in features}])


# --- logging a training run ----------------------------------------------------------------------
def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:500]


def _log_file_as(mlflow: Any, name: str, path: Path, artifact_path: str) -> None:
    """Log `path` under the name the caller chose (the file may be called differently on disk)."""
    path = Path(path)
    if path.is_dir():
        mlflow.log_artifacts(str(path), artifact_path=f"{artifact_path}/{name}")
    elif path.name == name:
        mlflow.log_artifact(str(path), artifact_path=artifact_path)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / name
            shutil.copyfile(path, target)
            mlflow.log_artifact(str(target), artifact_path=artifact_path)


def log_training_run(*, experiment: str, params: dict[str, Any], metrics: dict[str, float],
                     config: dict[str, Any] | str | Path, data_fingerprint: str, artifacts: dict[str, Path | str],
                     bundle_dir: Path | str, model_name: str = DEFAULT_MODEL_NAME,
                     tags: dict[str, str] | None = None) -> RunInfo:
    """Log params, metrics, config, fingerprint and reports; log the bundle as a pyfunc, register it
    and point alias `challenger` at the new version. Gate outcomes travel in `tags` (gates_passed)."""
    mlflow = _mlflow()
    from mlflow.models import infer_signature

    from riskscore.model.bundle import ModelBundle

    bundle_dir = Path(bundle_dir)
    try:
        bundle = ModelBundle.load(bundle_dir)
    except Exception as exc:
        raise ModelError(f"cannot load the bundle to log from {bundle_dir}: {exc}") from exc
    example = _input_example(list(bundle.features))
    signature = infer_signature(example, predict_frame(bundle, example))
    all_tags = {"data_fingerprint": data_fingerprint, "bundle_version": str(bundle.version), **(tags or {})}
    try:
        with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(experiment_id=_experiment_id(experiment)) as run:
            mlflow.log_params({k: _param_value(v) for k, v in {**params, "data_fingerprint": data_fingerprint}.items()})
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)})
            mlflow.set_tags(all_tags)
            if isinstance(config, dict):
                mlflow.log_dict(config, "config/training_config.json")
            else:
                mlflow.log_artifact(str(config), artifact_path="config")
            for name, path in artifacts.items():
                _log_file_as(mlflow, name, Path(path), "reports")
            # MLflow copies a pyfunc artifact under its folder's *basename*, not its key: give it a fixed name
            staged = Path(tmp) / BUNDLE_ARTIFACT
            shutil.copytree(bundle_dir, staged)
            # cloudpickle here stores only a reference to riskscore.registry.RiskscoreModel, no code:
            # MLflow's generic warning about pickled python_model objects does not apply
            logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
            info = mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT_NAME,
                python_model=__getattr__("RiskscoreModel")(),
                artifacts={BUNDLE_ARTIFACT: str(staged)},
                signature=signature,
                input_example=example,
                # explicit: inferring requirements re-loads the model in a subprocess (seconds)
                pip_requirements=[f"mlflow=={mlflow.__version__}", f"numpy=={np.__version__}", f"pandas=={pd.__version__}"],
                tags=all_tags,
            )
        version = _register(model_name, info, run.info.run_id, {**all_tags, "run_id": run.info.run_id})
    except (RegistryError, ModelError):
        raise
    except Exception as exc:  # MlflowException, sqlalchemy errors, OSError on the artifact store
        if type(exc).__module__.startswith(("mlflow", "sqlalchemy")):
            raise RegistryError(MSG_MLFLOW.format(details=exc)) from exc
        raise
    return RunInfo(run_id=run.info.run_id, model_version=version, model_uri=f"models:/{model_name}/{version}")


def _register(model_name: str, info: Any, run_id: str, tags: dict[str, str]) -> str:
    """Register through the client: `registered_model_name=` would print "Successfully registered…"
    to stderr on every run. Then point `challenger` at the new version."""
    from mlflow.exceptions import MlflowException

    client = _client()
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name, description="Risk of early school leaving (VSV) within 12 months.")
    mv = client.create_model_version(model_name, source=info.model_uri, run_id=run_id, tags=tags, model_id=info.model_id)
    version = str(mv.version)
    client.set_registered_model_alias(model_name, CHALLENGER, version)
    return version


# --- aliases, promotion, loading -----------------------------------------------------------------
def set_alias(alias: str, version: str | int, *, model_name: str = DEFAULT_MODEL_NAME) -> None:
    """Point `alias` at `version` (raises RegistryError when the version does not exist)."""
    _model_version(str(version), model_name)
    _client().set_registered_model_alias(model_name, alias, str(version))


def get_alias_version(alias: str, *, model_name: str = DEFAULT_MODEL_NAME) -> str | None:
    """The version behind `alias`, or None when the alias (or the model) does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return str(_client().get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def _model_version(version: str, model_name: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return _client().get_model_version(model_name, version)
    except MlflowException:
        raise RegistryError(MSG_NO_VERSION.format(name=model_name, version=version)) from None


def promote(version: str | int | None = None, *, model_name: str = DEFAULT_MODEL_NAME, forced: bool = False,
            reason: str | None = None, review: str | None = None) -> PromotionResult:
    """Move `champion` to `version` (default: the challenger).

    The fairness verdict decides first: `fail` is refused, always; `inconclusive` or `unmeasured`
    needs a recorded `review` (tagged on the version and the run). Then the other gates (beating the
    baselines): refused unless `forced` with a `reason`. Versions trained before the three-valued
    verdict carry only `gates_passed` and are judged on it."""
    if forced and not (reason and reason.strip()):
        raise ConfigError(MSG_NEEDS_REASON)
    if review is not None and not review.strip():
        raise ConfigError(MSG_NEEDS_REVIEW.format(version=version or CHALLENGER, verdict="to be reviewed",
                                                  details="the review text is empty"))
    if version is None:
        version = get_alias_version(CHALLENGER, model_name=model_name)
        if version is None:
            raise RegistryError(MSG_NO_ALIAS.format(name=model_name, alias=CHALLENGER))
    version = str(version)
    mv = _model_version(version, model_name)
    tags = mv.tags or {}
    verdict = tags.get("fairness_verdict", "")
    details = tags.get("fairness_violations") or "gates_passed is not true"
    if verdict == "fail":
        raise GateError(MSG_FAIRNESS_FAILED.format(version=version, details=details))
    if verdict in NEEDS_REVIEW and review is None:
        raise GateError(MSG_NEEDS_REVIEW.format(version=version, verdict=verdict, details=details))
    if review is not None and verdict not in NEEDS_REVIEW:
        raise ConfigError(MSG_REVIEW_NOT_NEEDED.format(version=version, verdict=verdict or "not recorded"))
    if verdict:
        passed = tags.get("beats_baselines", tags.get("gates_passed", "")).lower() == "true"
    else:
        passed = tags.get("gates_passed", "").lower() == "true"
    if not passed and not forced:
        raise GateError(MSG_GATES_FAILED.format(version=version, details=details if not verdict else "baselines not beaten"))
    client = _client()
    previous = get_alias_version(CHAMPION, model_name=model_name)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    record = {"promoted_at": now, "forced": str(forced).lower(), "override_reason": (reason or "") if forced else "",
              "previous_champion": previous or "", "fairness_review": (review or "").strip()}
    client.set_registered_model_alias(model_name, CHAMPION, version)
    if get_alias_version(CHALLENGER, model_name=model_name) == version:
        client.delete_registered_model_alias(model_name, CHALLENGER)  # challenger means "not yet promoted"
    for key, value in record.items():
        client.set_model_version_tag(model_name, version, key, value)
        if mv.run_id:
            client.set_tag(mv.run_id, key, value)
    return PromotionResult(model_name, version, previous, forced, reason if forced else None, now,
                           fairness_verdict=verdict, review=(review or "").strip() or None)


def download_bundle(alias: str = CHAMPION, *, model_name: str = DEFAULT_MODEL_NAME,
                    dst: Path | str | None = None) -> Path:
    """The ModelBundle folder of the version behind `alias`, for the service (numpy-only loading)."""
    mlflow = _mlflow()
    version = get_alias_version(alias, model_name=model_name)
    if version is None:
        raise RegistryError(MSG_NO_ALIAS.format(name=model_name, alias=alias))
    dst = Path(dst) if dst is not None else Path(tempfile.mkdtemp(prefix=f"riskscore-{alias}-"))
    dst.mkdir(parents=True, exist_ok=True)
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{model_name}/{version}", dst_path=str(dst)))
    except Exception as exc:
        raise RegistryError(MSG_MLFLOW.format(details=exc)) from exc
    bundle = local / "artifacts" / BUNDLE_ARTIFACT
    if not bundle.is_dir():
        raise RegistryError(f"version {version} of '{model_name}' holds no bundle at artifacts/{BUNDLE_ARTIFACT}")
    return bundle


def load_pyfunc(uri: str) -> Any:
    """`mlflow.pyfunc.load_model(uri)`, e.g. 'models:/riskscore-vsv@champion'."""
    mlflow = _mlflow()
    try:
        return mlflow.pyfunc.load_model(uri)
    except Exception as exc:
        raise RegistryError(MSG_MLFLOW.format(details=exc)) from exc


def spark_udf(spark: Any, uri: str, *, result_type: str) -> Any:
    """``mlflow.pyfunc.spark_udf`` on a registered model (e.g. 'models:/riskscore-vsv@champion'), in
    this environment (``env_manager='local'``): the pyfunc's columns as a Spark struct of ``result_type``.
    The Spark engine scores with the bundle per partition instead (benchmarks/RESULTS.md says why);
    this is the comparison."""
    mlflow = _mlflow()
    try:
        return mlflow.pyfunc.spark_udf(spark, uri, result_type=result_type, env_manager="local")
    except Exception as exc:
        raise RegistryError(MSG_MLFLOW.format(details=exc)) from exc


def log_monitoring(model_version: str | int, artifacts: dict[str, Path | str], metrics: dict[str, float], *,
                   model_name: str = DEFAULT_MODEL_NAME, experiment: str = MONITORING_EXPERIMENT,
                   tags: dict[str, str] | None = None) -> str:
    """One run per monitoring report (drift, fairness by selection rate), tagged with the model version."""
    mlflow = _mlflow()
    with mlflow.start_run(experiment_id=_experiment_id(experiment)) as run:
        mlflow.set_tags({"model_name": model_name, "model_version": str(model_version), **(tags or {})})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)})
        for name, path in artifacts.items():
            _log_file_as(mlflow, name, Path(path), "monitoring")
    return str(run.info.run_id)


def log_impact(artifacts: dict[str, Path | str], metrics: dict[str, float], *, params: dict[str, Any] | None = None,
               experiment: str = IMPACT_EXPERIMENT, tags: dict[str, str] | None = None) -> str:
    """One run per impact evaluation (regression discontinuity at the capacity cut-offs): the estimates
    as metrics, the JSON and HTML report as artifacts."""
    mlflow = _mlflow()
    with mlflow.start_run(experiment_id=_experiment_id(experiment)) as run:
        mlflow.set_tags({"kind": "impact", **(tags or {})})
        if params:
            mlflow.log_params({k: _param_value(v) for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)})
        for name, path in artifacts.items():
            _log_file_as(mlflow, name, Path(path), "impact")
    return str(run.info.run_id)


__all__ = [
    "CHALLENGER", "CHAMPION", "DEFAULT_MODEL_NAME", "PromotionResult", "RunInfo", "configure", "download_bundle",
    "get_alias_version", "load_pyfunc", "log_impact", "log_monitoring", "log_training_run", "predict_frame", "promote",
    "set_alias",
    "spark_udf",
]
