"""One error family. Library code raises these; only the API and CLI translate them."""

from __future__ import annotations


class RiskscoreError(Exception):
    """Base class of every error the library raises on purpose."""

    exit_code = 1
    http_status = 400


class ConfigError(RiskscoreError):
    """A configuration file or option is invalid."""

    exit_code = 2
    http_status = 422


class ContractError(RiskscoreError):
    """A data table breaks its contract (names table, column and rows)."""

    exit_code = 3
    http_status = 422


class DataError(RiskscoreError):
    """Input data is missing or unusable."""

    exit_code = 3
    http_status = 422


class ModelError(RiskscoreError):
    """A model bundle is missing, corrupt or incompatible."""

    exit_code = 4
    http_status = 503


class RegistryError(RiskscoreError):
    """The MLflow registry refused or lacks what was asked."""

    exit_code = 4
    http_status = 503


class GateError(RiskscoreError):
    """A model failed a promotion gate."""

    exit_code = 5
    http_status = 409


class StoreError(RiskscoreError):
    """The database is unreachable, read-only or inconsistent."""

    exit_code = 6
    http_status = 503


class AuthError(RiskscoreError):
    """Missing or invalid credentials."""

    exit_code = 7
    http_status = 401


class NotFoundError(RiskscoreError):
    """Not found, or outside the caller's scope (never says which)."""

    exit_code = 8
    http_status = 404


class StorageFullError(RiskscoreError):
    """Writing a report or artifact failed for lack of space; nothing half-written remains."""

    exit_code = 9
    http_status = 507


# Messages kept as constants so tests and docs can refer to them.
MSG_TABLE_INVALID = "table '{table}' breaks its contract: {details}"
MSG_MISSING_TABLE = "table '{table}' not found in {path}"
MSG_CONFIG_INVALID = "config {path}: {details}"
MSG_NO_MODEL = "no model bundle could be loaded from {source}: {details}"
MSG_NOT_FOUND = "student not found"
MSG_BAD_KEY = "missing or invalid API key"
MSG_DB_UNAVAILABLE = "the database is unavailable or read-only; try again later"
