"""Signing people in: the session secret, the OpenID Connect configuration, and what a provider's
claims say about a person. Pure rules, no I/O: the store matches people (store/users.py), the web does
the protocol (web/signin.py), `riskscore serve` checks the configuration before it starts.

There is no built-in secret. Without ``RISKSCORE_SESSION_SECRET`` the service refuses to start (exit 2),
except in the loudly named demo mode (``RISKSCORE_DEMO_MODE_NOT_FOR_REAL_PUPILS=1``), where a random
secret is made at each start (sessions then end with the process). The secret is the HMAC key under
which session tokens are stored and the key that signs the sign-in flow's state and nonce.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from riskscore.access.principal import parse_scope, validate_role
from riskscore.errors import ConfigError, RiskscoreError

SECRET_ENV = "RISKSCORE_SESSION_SECRET"
MIN_SECRET_CHARS = 32
MSG_NO_SESSION_SECRET = (
    "no session secret: set " + SECRET_ENV + " to a long random secret (e.g. `export " + SECRET_ENV
    + "=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')`); it keys the web sessions"
)
MSG_SHORT_SESSION_SECRET = f"{SECRET_ENV} is shorter than {MIN_SECRET_CHARS} characters: use a long random secret"
MSG_OIDC_INCOMPLETE = ("RISKSCORE_OIDC_ISSUER is set but {missing} is not: set it (see README, 'Signing in') or "
                       "unset RISKSCORE_OIDC_ISSUER")
MSG_OIDC_NO_OPENID = "RISKSCORE_OIDC_SCOPES must include 'openid'"
MSG_OIDC_BAD_URL = "{name} must be an https:// URL (http:// only on localhost): {value}"

#: what a refused sign-in says in the audit log (never shown to the person in detail)
REFUSED_UNKNOWN = "unknown_person"
REFUSED_INACTIVE = "deactivated"
REFUSED_CLAIMS = "invalid_claims"
REFUSED_AMBIGUOUS = "ambiguous_email"

_GROUP = re.compile(r"^[\w .:/-]{1,64}$")
_EMAIL = re.compile(r"^[^@\s]{1,200}@[^@\s]{1,118}$")


class SignInRefused(RiskscoreError):
    """The provider vouched for the person, but riskscore does not know them (or their account is off)."""

    http_status = 403

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def resolve_session_secret(secret: str | None, *, demo_mode: bool) -> tuple[bytes, bool]:
    """The session key and whether it is a throwaway one (demo mode without a configured secret).

    ConfigError (exit 2 in the CLI) when there is none outside demo mode, or it is short."""
    if secret:
        if len(secret) < MIN_SECRET_CHARS and not demo_mode:
            raise ConfigError(MSG_SHORT_SESSION_SECRET)
        return secret.encode("utf-8"), False
    if demo_mode:
        return secrets.token_urlsafe(32).encode("ascii"), True
    raise ConfigError(MSG_NO_SESSION_SECRET)


def _check_url(name: str, value: str) -> None:
    local = re.match(r"^http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/|$)", value)
    if not (value.startswith("https://") or local):
        raise ConfigError(MSG_OIDC_BAD_URL.format(name=name, value=value))


@dataclass(frozen=True)
class OidcConfig:
    """Where the identity provider is and how its claims are read."""

    metadata_url: str
    client_id: str
    client_secret: str
    scopes: str
    redirect_uri: str = ""
    provider_name: str = ""
    claim_name: str = "name"
    claim_email: str = "email"
    roles_from_claims: bool = False
    claim_role: str = "riskscore_role"
    claim_scope: str = "riskscore_scope"
    claim_groups: str = "riskscore_groups"


def oidc_config(*, issuer: str, discovery_url: str = "", client_id: str, client_secret: str | None, scopes: str,
                redirect_uri: str = "", provider_name: str = "", claim_name: str = "name", claim_email: str = "email",
                roles_from_claims: bool = False, claim_role: str = "riskscore_role",
                claim_scope: str = "riskscore_scope", claim_groups: str = "riskscore_groups") -> OidcConfig | None:
    """The provider's configuration, or None when no issuer is configured (no OIDC sign-in).

    ConfigError when it is half configured: an issuer without client id or secret, no 'openid' scope, or
    a plain-http URL other than localhost."""
    issuer = issuer.strip().rstrip("/")
    if not issuer:
        return None
    missing = [name for name, value in (("RISKSCORE_OIDC_CLIENT_ID", client_id),
                                        ("RISKSCORE_OIDC_CLIENT_SECRET", client_secret)) if not value]
    if missing:
        raise ConfigError(MSG_OIDC_INCOMPLETE.format(missing=" and ".join(missing)))
    if "openid" not in scopes.split():
        raise ConfigError(MSG_OIDC_NO_OPENID)
    metadata_url = discovery_url.strip() or f"{issuer}/.well-known/openid-configuration"
    _check_url("RISKSCORE_OIDC_ISSUER", issuer)
    _check_url("RISKSCORE_OIDC_DISCOVERY_URL", metadata_url)
    if redirect_uri:
        _check_url("RISKSCORE_OIDC_REDIRECT_URI", redirect_uri)
    return OidcConfig(metadata_url=metadata_url, client_id=client_id, client_secret=client_secret or "",
                      scopes=scopes, redirect_uri=redirect_uri, provider_name=provider_name, claim_name=claim_name,
                      claim_email=claim_email, roles_from_claims=roles_from_claims, claim_role=claim_role,
                      claim_scope=claim_scope, claim_groups=claim_groups)


@dataclass(frozen=True)
class Identity:
    """Who the identity provider says signed in, and what role and scope its claims carry (if any)."""

    issuer: str
    subject: str
    name: str
    email: str | None
    email_verified: bool | None
    role: str | None = None
    scope_kind: str | None = None
    scope_values: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    claims_valid: bool = True  # False: role/scope claims were present but unusable


def normalise_email(value: object) -> str | None:
    """Lower-cased, trimmed e-mail address, or None when it does not look like one."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    return text if _EMAIL.match(text) else None


def parse_groups(value: object) -> tuple[str, ...]:
    """Mentor groups from a claim or a form: a list, or text separated by commas; odd entries dropped."""
    items = value if isinstance(value, list | tuple) else str(value or "").split(",")
    return tuple(dict.fromkeys(g.strip() for g in items if isinstance(g, str) and _GROUP.match(g.strip())))


def identity_from_claims(claims: Mapping[str, Any], config: OidcConfig) -> Identity:
    """Read the person from validated ID-token (and userinfo) claims. Role and scope claims are read
    only when the deployment takes roles from claims; a present but invalid one marks the identity."""
    name = claims.get(config.claim_name)
    email = normalise_email(claims.get(config.claim_email))
    verified = claims.get("email_verified")
    display = name.strip()[:200] if isinstance(name, str) and name.strip() else (email or str(claims["sub"]))
    role = scope_kind = None
    values: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    valid = True
    if config.roles_from_claims and (claims.get(config.claim_role) or claims.get(config.claim_scope)):
        try:
            role = validate_role(str(claims.get(config.claim_role) or ""))
            scope_kind, values = parse_scope(str(claims.get(config.claim_scope) or ""))
            groups = parse_groups(claims.get(config.claim_groups))
        except ConfigError:
            role, scope_kind, values, valid = None, None, (), False
    return Identity(issuer=str(claims["iss"]), subject=str(claims["sub"]), name=display, email=email,
                    email_verified=verified if isinstance(verified, bool) else None, role=role,
                    scope_kind=scope_kind, scope_values=values, groups=groups, claims_valid=valid)
