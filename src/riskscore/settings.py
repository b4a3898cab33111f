"""Settings from the environment (prefix RISKSCORE_). Read by the API and CLI only, then passed down."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RISKSCORE_", env_file=".env", extra="ignore")

    home: Path = Field(Path(".riskscore"), description="Folder for local state (db, mlruns, reports).")
    database_url: str = Field("", description="SQLAlchemy URL; default sqlite:///<home>/riskscore.db")
    mlflow_tracking_uri: str = Field("", description="Default sqlite:///<home>/mlflow.db")
    mlflow_artifact_root: str = Field("", description="Default <home>/mlartifacts")
    model_name: str = "riskscore-vsv"
    model_alias: str = "champion"
    bundle_path: Path | None = Field(None, description="Serve this bundle folder instead of the registry.")
    pseudonym_key: SecretStr | None = Field(
        None,
        description="Key for the HMAC pseudonym of pupil numbers (no default: imports stop without it). "
        "Never stored with the data.",
    )
    demo_mode_not_for_real_pupils: bool = Field(
        False, description="Demo mode (scripts/demo.sh): imports may use the public demo pseudonym key."
    )
    session_secret: SecretStr = Field(SecretStr("dev-only-session-secret-change-me"))
    cookie_secure: bool | None = Field(None, description="Secure flag on web cookies; None = when the request came over https.")
    trusted_proxies: str = Field("", description="Comma-separated addresses of reverse proxies whose X-Forwarded-For "
                                 "and X-Forwarded-Proto are believed; empty (default): none, the peer is the client.")
    data_dir: Path | None = Field(None, description="Raw tables (Parquet) the service may rescore stored pupils "
                                                    "from (GET /v1/students/{id}/score?rescore=true); default <home>/data.")
    rules_path: Path | None = Field(None, description="Rule thresholds (YAML) for the service; default the "
                                                      "packaged rules.yaml, as `riskscore score --rules`.")
    max_batch: int = Field(1000, ge=1, le=100_000, description="Most pupils per POST /v1/scores request.")
    max_body_bytes: int = Field(2_000_000, ge=1024)
    reload_poll_seconds: float = Field(0.0, ge=0, description="0 disables polling the registry.")
    import_max_age_days: dict[str, int] = Field(
        default_factory=lambda: {"absences": 8},
        description="Freshness check: per import kind (absences, duo, tables), the days after a school's last import "
                    "of that kind before its pupils are marked 'data incomplete' (JSON, e.g. "
                    "'{\"absences\": 8, \"duo\": 40}'); a school file's max_age_days overrides the absence default.")
    reports_dir: Path | None = None
    log_level: str = "INFO"

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'riskscore.db').resolve()}"

    def resolved_tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    def resolved_artifact_root(self) -> str:
        return self.mlflow_artifact_root or str((self.home / "mlartifacts").resolve())

    def resolved_data_dir(self) -> Path:
        return self.data_dir or (self.home / "data")

    def resolved_reports_dir(self) -> Path:
        return self.reports_dir or (self.home / "reports")

    def erasure_roots(self) -> list[Path]:
        """Folders whose files may name a pupil and are scrubbed on erasure: the imported raw tables
        (<home>/data, the default input of `riskscore score`), scored frames, reports, the local MLflow
        artifacts and downloaded bundles (a bundle trained before its reference lost student_id and the
        audit columns still names pupils; a remote artifact store cannot be scrubbed from here)."""
        roots = [self.home / "data", self.home / "runs", self.resolved_reports_dir(), self.home / "cache"]
        artifacts = self.resolved_artifact_root()
        if "://" not in artifacts:
            roots.append(Path(artifacts))
        return roots


@lru_cache
def get_settings() -> Settings:
    return Settings()
