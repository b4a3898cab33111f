"""Reasons + rule triggers + age → the human reviewers who should look at a signal.

Routing is policy, not code: regions differ (some RMC regions also take 16–17-year-old mbo
students, some municipalities run the Doorstroompunt themselves), so the table below is data with
documented defaults, and a deployment can replace it with a YAML file (``RoutingTable.from_yaml``).

The table maps three kinds of input to *targets*. A target is a reviewer role (``school``,
``jeugdarts``, ``leerplicht``, ``rmc``) or one of two age-dependent pseudo-roles, resolved per
student because the law assigns the responsible authority by age and startkwalificatie (sk):

* ``attendance_authority`` — who acts on unauthorised absence: ``leerplicht`` for pupils under
  ``leerplicht_age`` (16), and for those under ``kwalificatieplicht_age`` (18) without sk
  (Leerplichtwet: leerplicht + kwalificatieplicht); ``rmc`` for 18 up to ``rmc_max_age`` (23)
  without sk; nobody else (an adult with an sk, or 23+, is no longer the authorities' business).
* ``transition_authority`` — the municipality/Doorstroompunt (role ``rmc``) for under-23s without
  sk, as the VVA regulation says for pupils who did not apply to mbo in time.

Defaults (DOMAIN.md):

* reason category ``absence`` → attendance_authority (lateness reason ``LATE_12W`` → ``school``:
  lateness is regional school policy, not a legal report);
* ``sick`` → ``jeugdarts`` (MAZL); ``transition`` → ``school`` (decaan); ``school_career`` →
  ``school``; ``context`` (education level) routes nowhere by itself;
* trigger ``leerplicht_16h_4w`` → ``school`` (it holds the legal duty to report to DUO's verzuimloket
  within 5 school days, Leerplichtwet art. 21a) + attendance_authority (who acts on the report);
  ``lrv_4w`` → attendance_authority; ``rmc_verzuim``,
  ``deregistered_no_sk`` → ``rmc``; ``mazl_*`` → ``jeugdarts``; ``vva_not_applied`` → ``school`` +
  transition_authority; ``vva_no_enrolment`` → ``school`` + ``rmc``; ``lateness`` → ``school``;
* band ``high`` → ``school``: the student's own school always sees its students' high scores.

Model reasons only route from band ``min_band_for_reasons`` (default ``medium``) upwards: even a
low-risk pupil has *some* positive contribution, and sending every one of them to a leerplicht
officer would bury the real signals. Rule triggers always route — they carry legal force.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from riskscore.contracts import RULE_IDS
from riskscore.errors import MSG_CONFIG_INVALID, ConfigError

#: roles a signal can be routed to (data_team and admin never review a single student)
REVIEWER_ROLES = ("school", "jeugdarts", "leerplicht", "rmc")
ATTENDANCE_AUTHORITY = "attendance_authority"
TRANSITION_AUTHORITY = "transition_authority"
TARGETS = (*REVIEWER_ROLES, ATTENDANCE_AUTHORITY, TRANSITION_AUTHORITY)
BANDS = ("low", "medium", "high")
REASON_CATEGORIES = ("absence", "sick", "transition", "school_career", "context")

#: the default table as plain data (the same shape a YAML override has)
DEFAULT_TABLE: dict[str, Any] = {
    "categories": {
        "absence": [ATTENDANCE_AUTHORITY],
        "sick": ["jeugdarts"],
        "transition": ["school"],
        "school_career": ["school"],
        "context": [],
    },
    "codes": {"LATE_12W": ["school"]},
    "rules": {
        "leerplicht_16h_4w": ["school", ATTENDANCE_AUTHORITY],
        "lrv_4w": [ATTENDANCE_AUTHORITY],
        "rmc_verzuim": ["rmc"],
        "deregistered_no_sk": ["rmc"],
        "mazl_frequent": ["jeugdarts"],
        "mazl_long": ["jeugdarts"],
        "vva_not_applied": ["school", TRANSITION_AUTHORITY],
        "vva_no_enrolment": ["school", "rmc"],
        "lateness": ["school"],
    },
    "bands": {"high": ["school"]},
    "min_band_for_reasons": "medium",
    "leerplicht_min_age": 5,
    "leerplicht_age": 16,
    "kwalificatieplicht_age": 18,
    "rmc_max_age": 23,
}

MSG_UNKNOWN_TARGET = "unknown routing target(s) {targets}; choose from {allowed}"
MSG_UNKNOWN_RULE = "unknown rule id(s) {rules}"


class RoutingTable(BaseModel):
    """Validated routing policy; build from DEFAULT_TABLE, a mapping or a YAML file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    categories: dict[str, tuple[str, ...]] = Field(description="reason category -> targets")
    codes: dict[str, tuple[str, ...]] = Field(default_factory=dict, description="reason code -> targets (overrides its category)")
    rules: dict[str, tuple[str, ...]] = Field(description="rule id -> targets")
    bands: dict[str, tuple[str, ...]] = Field(default_factory=dict, description="band -> targets")
    min_band_for_reasons: str = Field("medium", pattern="^(low|medium|high)$")
    leerplicht_min_age: float = Field(5, ge=0, le=30)
    leerplicht_age: float = Field(16, ge=0, le=30, description="under this age: leerplichtig")
    kwalificatieplicht_age: float = Field(18, ge=0, le=30, description="under this age without sk: kwalificatieplichtig")
    rmc_max_age: float = Field(23, ge=0, le=30, description="RMC acts for under this age without sk")

    @model_validator(mode="after")
    def _known_targets(self) -> RoutingTable:
        used = {t for group in (self.categories, self.codes, self.rules, self.bands) for ts in group.values() for t in ts}
        bad = sorted(used - set(TARGETS))
        if bad:
            raise ValueError(MSG_UNKNOWN_TARGET.format(targets=bad, allowed=list(TARGETS)))
        unknown_rules = sorted(set(self.rules) - set(RULE_IDS))
        if unknown_rules:
            raise ValueError(MSG_UNKNOWN_RULE.format(rules=unknown_rules))
        if set(self.bands) - set(BANDS):
            raise ValueError(f"unknown band(s) {sorted(set(self.bands) - set(BANDS))}")
        return self

    @classmethod
    def default(cls) -> RoutingTable:
        return cls.from_mapping(DEFAULT_TABLE)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "<mapping>") -> RoutingTable:
        """Validate a table; a typo fails loudly instead of silently routing to nobody."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise ConfigError(MSG_CONFIG_INVALID.format(path=source, details=exc)) from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> RoutingTable:
        """Load an override; keys left out keep their defaults (dicts are merged one level deep)."""
        import yaml

        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(MSG_CONFIG_INVALID.format(path=path, details=exc)) from None
        if not isinstance(raw, dict):
            raise ConfigError(MSG_CONFIG_INVALID.format(path=path, details="top level must be a mapping"))
        merged = dict(DEFAULT_TABLE)
        for key, value in raw.items():
            merged[key] = {**DEFAULT_TABLE[key], **value} if isinstance(DEFAULT_TABLE.get(key), dict) and isinstance(value, dict) else value
        return cls.from_mapping(merged, source=str(path))

    # --- resolution ------------------------------------------------------------------------------
    def attendance_authority(self, age: float, has_sk: bool) -> tuple[str, ...]:
        """Who acts on unauthorised absence at this age (Leerplichtwet, RMC)."""
        if age < self.leerplicht_min_age:
            return ()
        if age < self.leerplicht_age or (age < self.kwalificatieplicht_age and not has_sk):
            return ("leerplicht",)
        if self.kwalificatieplicht_age <= age < self.rmc_max_age and not has_sk:
            return ("rmc",)
        return ()

    def transition_authority(self, age: float, has_sk: bool) -> tuple[str, ...]:
        """Municipality/Doorstroompunt (RMC) for under-23s without sk (VVA)."""
        return ("rmc",) if age < self.rmc_max_age and not has_sk else ()

    def resolve(self, targets: Iterable[str], *, age: float, has_sk: bool) -> set[str]:
        out: set[str] = set()
        for t in targets:
            if t == ATTENDANCE_AUTHORITY:
                out.update(self.attendance_authority(age, has_sk))
            elif t == TRANSITION_AUTHORITY:
                out.update(self.transition_authority(age, has_sk))
            else:
                out.add(t)
        return out


def _field(item: Any, *names: str) -> Any:
    for name in names:
        if isinstance(item, Mapping) and name in item:
            return item[name]
        if hasattr(item, name):
            return getattr(item, name)
    return None


#: the signal key of the model's own reasons (a rule trigger's key is ``rule:<id>``)
MODEL_SIGNAL = "model"


def route_signals(
    reasons: Iterable[Any],
    triggers: Iterable[Any],
    *,
    age: float,
    has_sk: bool,
    band: str,
    table: RoutingTable | None = None,
) -> tuple[tuple[str, str], ...]:
    """Who reviews what, once: (signal, role) pairs, sorted. A signal is ``model`` (the band and the
    model's reasons) or ``rule:<id>`` (a legal or protocol trigger). The review core opens one case per
    pupil per team from these pairs; ``route`` is their roles.

    reasons: objects or mappings with ``category`` (and ``code``), e.g. explain.Reason;
    triggers: rule ids, or objects/mappings with ``id`` or ``rule_id``."""
    tbl = table or RoutingTable.default()
    model_targets: list[str] = list(tbl.bands.get(band, ()))
    if band in BANDS and BANDS.index(band) >= BANDS.index(tbl.min_band_for_reasons):
        for reason in reasons:
            code = _field(reason, "code")
            if code is not None and code in tbl.codes:
                model_targets.extend(tbl.codes[code])
            else:
                model_targets.extend(tbl.categories.get(_field(reason, "category") or "", ()))
    pairs = {(MODEL_SIGNAL, role) for role in tbl.resolve(model_targets, age=age, has_sk=has_sk)}
    for trig in triggers:
        rule_id = trig if isinstance(trig, str) else _field(trig, "id", "rule_id")
        for role in tbl.resolve(tbl.rules.get(rule_id, ()), age=age, has_sk=has_sk):
            pairs.add((f"rule:{rule_id}", role))
    return tuple(sorted(pairs))


def route(
    reasons: Iterable[Any],
    triggers: Iterable[Any],
    *,
    age: float,
    has_sk: bool,
    band: str,
    table: RoutingTable | None = None,
) -> list[str]:
    """Reviewer roles for one student, sorted and unique (the roles of route_signals)."""
    return sorted({role for _, role in route_signals(reasons, triggers, age=age, has_sk=has_sk, band=band,
                                                     table=table)})


__all__ = ["DEFAULT_TABLE", "MODEL_SIGNAL", "REVIEWER_ROLES", "RoutingTable", "route", "route_signals"]
