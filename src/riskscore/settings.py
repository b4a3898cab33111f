"""Settings from the environment (prefix RISKSCORE_). Read by the API and CLI only, then passed down."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


@dataclass(frozen=True)
class ErasureRoots:
    """Where the stores that may hold a pupil live. store/erasure.py turns this into THE registry of
    stores (which folder holds what, and how each deletes one pupil by key)."""

    home: Path
    data: tuple[Path, ...]  # imported raw tables: <home>/data, and data_dir when it lies elsewhere
    reports: Path
    artifacts: Path | None  # the local MLflow artifact root; None when it is remote (not reachable from here)


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
    session_secret: SecretStr | None = Field(
        None,
        description="Key (at least 32 characters) under which web session tokens are stored as HMAC digests and the "
        "sign-in flow's state is signed. No default: `riskscore serve` stops (exit 2) without it, except in demo "
        "mode, where a random one is made per start.",
    )
    session_idle_minutes: int = Field(30, ge=1, le=24 * 60, description="A web session ends after this long "
                                                                        "without a request.")
    session_max_hours: float = Field(8.0, gt=0, le=7 * 24, description="A web session ends this long after "
                                                                        "sign-in, however active.")
    oidc_issuer: str = Field("", description="OpenID Connect issuer URL of the institution's identity provider "
                             "(discovery at <issuer>/.well-known/openid-configuration). Empty: no sign-in over OIDC.")
    oidc_discovery_url: str = Field("", description="Discovery document URL if it is not under the issuer.")
    oidc_client_id: str = Field("", description="riskscore's client id at the identity provider.")
    oidc_client_secret: SecretStr | None = Field(None, description="riskscore's client secret (no default).")
    oidc_scopes: str = Field("openid profile email", description="Scopes asked for at sign-in ('openid' is needed).")
    oidc_redirect_uri: str = Field("", description="The callback URL registered at the provider, e.g. "
                                   "https://riskscore.example.nl/login/callback; default: derived from the request.")
    oidc_provider_name: str = Field("", description="What the sign-in button names, e.g. 'SURFconext' or "
                                    "'Microsoft'; default: 'your institution'.")
    oidc_claim_name: str = Field("name", description="Claim with the person's display name.")
    oidc_claim_email: str = Field("email", description="Claim with the person's e-mail address (first sign-in "
                                  "matches the user table on it, then binds the subject).")
    oidc_roles_from_claims: bool = Field(False, description="Take role, scope and groups from the claims below for "
                                         "people not in the user table (the provider must be trusted to set them).")
    oidc_claim_role: str = Field("riskscore_role", description="Claim with the role (school, jeugdarts, ...).")
    oidc_claim_scope: str = Field("riskscore_scope", description="Claim with the scope, e.g. 'school:01AB,02CD'.")
    oidc_claim_groups: str = Field("riskscore_groups", description="Claim with mentor groups (list or comma text).")
    cookie_secure: bool | None = Field(None, description="Secure flag on web cookies; None = when the request came over https.")
    trusted_proxies: str = Field("", description="Comma-separated addresses of reverse proxies whose X-Forwarded-For "
                                 "and X-Forwarded-Proto are believed; empty (default): none, the peer is the client.")
    data_dir: Path | None = Field(None, description="Raw tables (Parquet) the service may rescore stored pupils "
                                                    "from (GET /v1/students/{id}/score?rescore=true); default <home>/data.")
    rules_path: Path | None = Field(None, description="Rule thresholds (YAML) for the service; default the "
                                                      "packaged rules.yaml, as `riskscore score --rules`.")
    auth_failure_limit: int = Field(10, ge=1, le=1_000_000,
                                    description="Failed API keys per client address (or key id) within 15 minutes "
                                                "before further failures are refused with 429.")
    max_batch: int = Field(1000, ge=1, le=100_000, description="Most pupils per POST /v1/scores request.")
    max_body_bytes: int = Field(20_000_000, ge=1024, description="Largest request body in bytes: a pupil with a "
                                "school year of events is about 13 kB, so max_batch pupils fit.")
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

    def erasure_roots(self) -> ErasureRoots:
        """The places erasure must reach (AVG art. 17); riskscore.store.erasure.registry() lists the stores
        in them. A remote MLflow artifact store cannot be reached from here (bundles hold no pupil now)."""
        data = tuple(dict.fromkeys([self.home / "data", self.resolved_data_dir()]))
        artifacts = self.resolved_artifact_root()
        local = artifacts.removeprefix("file://") if artifacts.startswith("file:///") else artifacts
        return ErasureRoots(home=self.home, data=data, reports=self.resolved_reports_dir(),
                            artifacts=None if "://" in local else Path(local))


@lru_cache
def get_settings() -> Settings:
    return Settings()
