"""Data contracts of the raw tables and the feature table (pandera).

Every table the project reads or writes is checked here; a breach raises ContractError naming the
table, the column and the first offending rows. Column names are the project's vocabulary: other
modules import them from here rather than spelling them again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from riskscore.errors import MSG_TABLE_INVALID, ContractError

# --- vocabularies --------------------------------------------------------------------------------
VO_LEVELS = ("pro", "vso", "vmbo-b", "vmbo-k", "vmbo-gt", "havo", "vwo")
MBO_LEVELS = ("mbo-1", "mbo-2", "mbo-3", "mbo-4")  # mbo-1 is the entree programme
LEVELS = VO_LEVELS + MBO_LEVELS
#: levels only imported data carries (never generated): vavo = havo/vmbo/vwo for adults at an mbo college
EXTRA_LEVELS = ("vavo",)
ALL_LEVELS = LEVELS + EXTRA_LEVELS
#: numeric code of a level, the model's (documented, monitored) level feature
LEVEL_CODE = {level: i for i, level in enumerate(ALL_LEVELS)}
SCHOOL_TYPES = ("vo", "mbo", "pro", "vso", "vavo")
PATHWAYS = ("BOL", "BBL")
CALENDAR_REGIONS = ("noord", "midden", "zuid")
#: absence categories are an open list (Wet terugdringen schoolverzuim will add more); these are known
ABSENCE_CATEGORIES_KNOWN = ("unauthorised", "authorised", "late", "sent_out", "suspended", "other")
#: the five VVA statuses (Regeling gegevensverstrekking bij overstap naar het mbo)
VVA_STATUSES = ("applied", "agreement_offered", "no_enrolment", "withdrawn", "enrolled")
#: one date column per VVA status on the applications table: <status>_on
VVA_STATUS_DATE_COLUMNS = tuple(f"{s}_on" for s in VVA_STATUSES)
DEREG_REASONS_KNOWN = ("diploma", "switch", "moved", "work", "dropout", "other")

#: audit-only columns: generated and kept for fairness monitoring, NEVER model features
AUDIT_COLUMNS = ("gender", "migration_background", "ses_band")
#: proxies of protected attributes: never model features either (DUO and Rotterdam lessons)
PROXY_COLUMNS = (
    "postcode",
    "neighbourhood",
    "nationality",
    "language",
    "home_language",
    "household_income",
    "income",
    "municipality",
    "rmc_region",
    "school_id",
)
PROTECTED_AND_PROXY = AUDIT_COLUMNS + PROXY_COLUMNS

#: direct identifiers that must never reach any table the project writes
DIRECT_IDENTIFIERS = (
    "BURGERSERVICENUMMER",
    "ONDERWIJSNUMMER",
    "PERSOONSGEBONDENNUMMER",
    "ACHTERNAAM",
    "VOORVOEGSEL",
    "VOORNAMEN",
    "ALLE_VOORNAMEN",
    "STRAAT",
    "HUISNUMMER",
    "HUISLETTER",
    "HUISNUMMER_TOEVOEGING",
    "HUISNUMMER_AANDUIDING",
    "ADRES_LOCATIE",
    "POSTCODE",
    "POSTCODE_CIJFERS",
    "WOONPLAATS",
)

# --- the model's features (point in time, see features.py) ---------------------------------------
#: name -> (monotone sign: +1 risk never falls as it rises, 0 unconstrained, justification)
FEATURE_SPEC: dict[str, tuple[int, str]] = {
    "unauthorised_hours_4w": (+1, "Unauthorised absence is the legal signal of the Leerplichtwet and the strongest early sign of dropping out."),
    "unauthorised_hours_12w": (+1, "Sustained unauthorised absence over a term, beyond the 4-week legal window."),
    "unauthorised_hours_year": (+1, "Cumulative unauthorised absence this school year."),
    "unauthorised_trend": (0, "Rising or falling absence: rate of the last 4 lesson weeks minus that of the 8 before."),
    "late_count_12w": (+1, "Frequent lateness precedes absence; regional lateness policies act on it."),
    "sick_reports_12w": (+1, "Frequent sick reporting (MAZL) signals health or personal problems behind absence."),
    "longest_sick_spell_days": (+1, "Long sick spells (MAZL) signal problems a youth doctor should look at."),
    "sick_days_year": (+1, "Total sick days this school year."),
    "application_days_late": (+1, "Days after 1 April without/before an mbo application; late applications predict failed transitions."),
    "vva_status_code": (0, "Latest VVA status of the mbo application (0 enrolled … 4 none); failed transitions drive VSV."),
    "switches": (+1, "Switches of programme or school signal a wrong study choice."),
    "retentions": (+1, "Grade retention signals study problems."),
    "over_age": (0, "Years older than usual for the grade."),
    "level_code": (0, "School type and level: VSV rates differ tenfold between levels. A documented, monitored exception."),
}
FEATURES: tuple[str, ...] = tuple(FEATURE_SPEC)
#: context, not signal: what a mentor cannot change (school level, age for the grade). They make the
#: pupil's base ("bij mbo-1 is de gebruikelijke kans …") and are never shown as a reason; the Dutch data
#: protection authority found DUO's use of education type and age in a risk model discriminatory.
CONTEXT_FEATURES: tuple[str, ...] = ("level_code", "over_age")  # in the order the base names them
MONOTONE: tuple[int, ...] = tuple(FEATURE_SPEC[f][0] for f in FEATURES)
#: VVA status codes used by vva_status_code (NaN: not applicable to this student)
VVA_STATUS_CODE = {"enrolled": 0, "agreement_offered": 1, "applied": 2, "no_enrolment": 3, "withdrawn": 3, "none": 4}

#: rule ids (rules.py) — also boolean columns rule_<id> on the feature table
RULE_IDS = (
    "leerplicht_16h_4w",
    "lrv_4w",
    "rmc_verzuim",
    "mazl_frequent",
    "mazl_long",
    "vva_not_applied",
    "vva_no_enrolment",
    "deregistered_no_sk",
    "lateness",
)
RULE_COLUMNS = tuple(f"rule_{r}" for r in RULE_IDS)
FEATURE_KEYS = ("student_id", "as_of")
FEATURE_CONTEXT = ("school_id", "municipality", "rmc_region", "school_year", "level", "age")

# --- schemas -------------------------------------------------------------------------------------
_str = pa.Column(str)
_nonneg = pa.Check.ge(0)

STUDENTS = pa.DataFrameSchema(
    {
        "student_id": pa.Column(str, pa.Check.str_length(1, 128)),
        "school_year": pa.Column(str, pa.Check.str_matches(r"^\d{4}-\d{2}$")),
        "school_id": _str,
        "municipality": _str,
        "rmc_region": _str,
        "calendar_region": pa.Column(str, pa.Check.isin(CALENDAR_REGIONS)),
        "birth_date": pa.Column("datetime64[ns]"),
        "school_type": pa.Column(str, pa.Check.isin(SCHOOL_TYPES)),
        "level": pa.Column(str, pa.Check.isin(ALL_LEVELS)),
        "pathway": pa.Column(str, pa.Check.isin(PATHWAYS), nullable=True),
        # missing where the source does not know it (DUO files carry no leerjaar)
        "grade": pa.Column(float, pa.Check.in_range(1, 8), nullable=True),
        "final_year": pa.Column(bool),
        "expects_mbo": pa.Column(bool),
        "has_sk": pa.Column(bool),
        # the class / mentor group (klas, mentorgroep) when the school's export has one: who a mentor's
        # pupils are (store/registrations.py; blank: no class); never a feature
        "mentor_group": pa.Column(str, pa.Check.str_length(max_value=32), nullable=True, required=False),
        "gender": pa.Column(str, nullable=True, required=False),  # audit: kept apart (audit.parquet)
        "migration_background": pa.Column(str, nullable=True, required=False),  # audit: kept apart (audit.parquet)
        "ses_band": pa.Column(str, nullable=True, required=False),  # audit: kept apart (audit.parquet)
    },
    unique=["student_id", "school_year"],
    strict=False,
    coerce=True,
    name="students",
)

ABSENCES = pa.DataFrameSchema(
    {
        "student_id": _str,
        "date": pa.Column("datetime64[ns]"),
        "hours": pa.Column(float, pa.Check.in_range(0, 24)),
        "category": pa.Column(str, pa.Check.str_length(1, 64)),
    },
    strict=False,
    coerce=True,
    name="absences",
)

SICK_REPORTS = pa.DataFrameSchema(
    {
        "student_id": _str,
        "start_date": pa.Column("datetime64[ns]"),
        "end_date": pa.Column("datetime64[ns]", nullable=True),
    },
    checks=pa.Check(
        lambda df: df["end_date"].isna() | (df["end_date"] >= df["start_date"]),
        error="end_date before start_date",
    ),
    strict=False,
    coerce=True,
    name="sick_reports",
)

APPLICATIONS = pa.DataFrameSchema(
    {
        "student_id": _str,
        "application_id": _str,
        "programme": _str,
        "level": pa.Column(str, pa.Check.isin(MBO_LEVELS)),
        "submitted_on": pa.Column("datetime64[ns]"),
        **{c: pa.Column("datetime64[ns]", nullable=True) for c in VVA_STATUS_DATE_COLUMNS},
    },
    unique=["application_id"],
    strict=False,
    coerce=True,
    name="applications",
)

ENROLMENTS = pa.DataFrameSchema(
    {
        "student_id": _str,
        "school_id": _str,
        "level": pa.Column(str, pa.Check.isin(ALL_LEVELS)),
        "start_date": pa.Column("datetime64[ns]"),
        "end_date": pa.Column("datetime64[ns]", nullable=True),
        "dereg_reason": pa.Column(str, nullable=True),
    },
    strict=False,
    coerce=True,
    name="enrolments",
)

DIPLOMAS = pa.DataFrameSchema(
    {
        "student_id": _str,
        "date": pa.Column("datetime64[ns]"),
        "level": pa.Column(str, pa.Check.isin(LEVELS)),
        "is_sk": pa.Column(bool),
    },
    strict=False,
    coerce=True,
    name="diplomas",
)

OUTCOMES = pa.DataFrameSchema(
    {
        "student_id": _str,
        "vsv_date": pa.Column("datetime64[ns]"),
    },
    strict=False,
    coerce=True,
    name="outcomes",
)

def _all_text(series: pd.Series) -> bool:
    return pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")


#: checks of this module that take the column's values as a numpy array as well as a Series
_ARRAY_CHECKS = frozenset({_all_text})


def _text(*checks: pa.Check) -> pa.Column:
    """A text column checked in one C pass: pandera's `str` calls Python per value (~1 s per million
    rows for four columns, a fifth of building the feature table). features.build writes these as str."""
    return pa.Column(object, [pa.Check(_all_text, error="values must be text"), *checks])


FEATURE_TABLE = pa.DataFrameSchema(
    {
        "student_id": _text(),
        "as_of": pa.Column("datetime64[ns]"),
        "school_id": _text(),
        "school_year": _text(),
        "level": _text(pa.Check.isin(ALL_LEVELS)),
        "age": pa.Column(float, pa.Check.in_range(4, 30)),
        **{
            f: pa.Column(float, _nonneg if f not in ("unauthorised_trend",) else None, nullable=True)
            for f in FEATURES
        },
        **{c: pa.Column(bool) for c in RULE_COLUMNS},
    },
    unique=["student_id", "as_of"],
    strict=False,
    coerce=True,
    name="features",
)

#: DUO's monthly signals as dated events (ingest/duo.py): a pupil on the possible-early-leaver list
#: (A04/A14), a statutory or other absence report DUO received, a deregistration
DUO_SIGNAL_KINDS = ("possible_vsv", "statutory_absence_report", "other_absence_report", "deregistered")
DUO_SIGNALS = pa.DataFrameSchema(
    {
        "student_id": _str,
        "date": pa.Column("datetime64[ns]"),
        "signal": pa.Column(str, pa.Check.isin(DUO_SIGNAL_KINDS)),
        "school_id": pa.Column(str, nullable=True),
        "since": pa.Column("datetime64[ns]", nullable=True),
        "code": pa.Column(str, nullable=True),
    },
    strict=False,
    coerce=True,
    name="duo_signals",
)

RAW_SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "students": STUDENTS,
    "absences": ABSENCES,
    "sick_reports": SICK_REPORTS,
    "applications": APPLICATIONS,
    "enrolments": ENROLMENTS,
    "diplomas": DIPLOMAS,
    "outcomes": OUTCOMES,
}
#: tables only `riskscore import` writes (optional beside the raw tables; read by datasets.read_tables)
IMPORTED_SCHEMAS: dict[str, pa.DataFrameSchema] = {"duo_signals": DUO_SIGNALS}
SCHEMAS: dict[str, pa.DataFrameSchema] = {**RAW_SCHEMAS, **IMPORTED_SCHEMAS, "features": FEATURE_TABLE}


def validate(table: str, df: pd.DataFrame, *, max_rows_in_message: int = 5) -> pd.DataFrame:
    """Validate (and coerce) a table; raise ContractError naming table, column and rows.

    A frame that already has the schema's dtypes and passes every check of the schema (the same check
    functions, see ``_passes_as_is``) is returned as it is; anything else goes through pandera, which
    coerces it or reports the breach as before. pandera's own pass costs ~10 ms for the 37-column
    feature table even when it has one row (the API scores one pupil per request)."""
    schema = SCHEMAS[table]
    if _passes_as_is(schema, df):
        return df
    try:
        return schema.validate(df, lazy=True)
    except SchemaErrors as exc:
        raise ContractError(MSG_TABLE_INVALID.format(table=table, details=_describe(exc, max_rows_in_message))) from None


#: dtypes whose pandera coercion is the identity when the column already has them
_PLAIN_DTYPES = frozenset({"float64", "int64", "bool", "object", "datetime64[ns]"})
#: pandera's built-in comparison checks, evaluated on the column's numpy values (same statistics)
_COMPARE = {
    "greater_than_or_equal_to": lambda v, k: v >= k["min_value"],
    "greater_than": lambda v, k: v > k["min_value"],
    "less_than_or_equal_to": lambda v, k: v <= k["max_value"],
    "less_than": lambda v, k: v < k["max_value"],
    "in_range": lambda v, k: ((v >= k["min_value"]) if k.get("include_min", True) else (v > k["min_value"]))
    & ((v <= k["max_value"]) if k.get("include_max", True) else (v < k["max_value"])),
}


def _check_passes(check: pa.Check, values: np.ndarray, series: Callable[[], pd.Series]) -> bool:
    """One column check on the column's non-missing values (what pandera passes with ignore_na):
    built-in comparisons and ``isin`` with the check's own statistics on the numpy values, this
    module's array-safe checks called directly, any other check by pandera itself (``check(series)``).
    Why: a pandas operation per check is most of the cost of validating a one-row table."""
    fn = check._check_fn
    name = getattr(fn, "__name__", None)
    if not check.ignore_na or check.element_wise or check.groupby is not None:
        return bool(check(series()).check_passed)
    kwargs = check._check_kwargs
    if name in _COMPARE and values.dtype.kind in "fi":
        return bool(np.all(_COMPARE[name](values, kwargs)))
    if name == "isin" and isinstance(kwargs.get("allowed_values"), tuple | list | set | frozenset):
        allowed = kwargs["allowed_values"]
        try:  # membership by hash and ==, as pandas' isin
            return all(v in allowed for v in pd.unique(values))
        except TypeError:  # unhashable values: pandera decides
            pass
    if fn in _ARRAY_CHECKS:
        return bool(fn(values))
    return bool(check(series()).check_passed)


def _passes_as_is(schema: pa.DataFrameSchema, df: pd.DataFrame) -> bool:
    """True only if pandera would accept ``df`` and return it unchanged: every column present with the
    schema's exact dtype (coercion is then the identity), no missing values where not nullable, every
    check of the schema passing on the non-missing values, and the schema's unique key holding.
    Whatever this cannot decide (other dtypes, regex columns, frame-level checks, ...) returns False,
    and pandera validates as before."""
    plan = _plan(schema)
    if plan is None or not isinstance(df, pd.DataFrame) or not df.columns.is_unique:
        return False
    position = {c: i for i, c in enumerate(df.columns)}
    dtypes = df.dtypes.tolist()
    for name, dtype, nullable, required, checks in plan:
        i = position.get(name)
        if i is None:
            if required:
                return False
            continue
        if dtype is None or dtypes[i] != dtype:
            return False
        values = _values(df, i)
        missing = _missing(values)
        if missing.any():
            if not nullable:
                return False
            values = values[~missing]
        series = partial(_series, df, i, missing)
        if not all(_check_passes(check, values, series) for check in checks):
            return False
    if schema.unique is not None and len(df) > 1:
        key = [schema.unique] if isinstance(schema.unique, str) else list(schema.unique)
        if any(k not in position for k in key) or df.duplicated(subset=key).any():
            return False
    return True


_Plan = list[tuple[str, "np.dtype[Any] | None", bool, bool, tuple[pa.Check, ...]]]
_PLANS: dict[int, tuple[pa.DataFrameSchema, _Plan | None]] = {}


def _plan(schema: pa.DataFrameSchema) -> _Plan | None:
    """What ``_passes_as_is`` reads from a schema, once per schema: per column its name, the numpy
    dtype whose coercion is the identity (None: not one of those), nullable, required, checks. None
    when the schema has anything the fast acceptance does not decide (then pandera always runs)."""
    cached = _PLANS.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    plan: _Plan | None = None
    if not (schema.checks or schema.parsers or schema.index is not None or schema.dtype is not None or schema.strict
            or schema.ordered or schema.add_missing_columns or schema.drop_invalid_rows or schema.unique_column_names
            or any(c.regex or c.parsers or c.unique or c.default is not None for c in schema.columns.values())):
        plan = [(name, np.dtype(str(column.dtype)) if str(column.dtype) in _PLAIN_DTYPES else None,
                 bool(column.nullable), bool(column.required), tuple(column.checks))
                for name, column in schema.columns.items()]
    _PLANS[id(schema)] = (schema, plan)
    return plan


def _missing(values: np.ndarray) -> np.ndarray:
    """Where a column of a plain dtype is missing (NaN, NaT, None); bool and int columns never are."""
    kind = values.dtype.kind
    if kind == "f":
        return np.isnan(values)
    if kind == "M":
        return np.isnat(values)
    if kind == "O":
        return np.asarray(pd.isna(values), dtype=bool)
    return np.zeros(len(values), dtype=bool)


def _series(df: pd.DataFrame, i: int, missing: np.ndarray) -> pd.Series:
    """The i-th column as pandera's checks see it (missing values dropped), for checks pandera runs."""
    full = df.iloc[:, i]
    return full[~missing] if missing.any() else full


def _values(df: pd.DataFrame, i: int) -> np.ndarray:
    """The i-th column's numpy values without building a Series (pandas keeps them in its blocks)."""
    get = getattr(df, "_get_column_array", None)
    values = get(i) if get is not None else df.iloc[:, i].to_numpy()
    return np.asarray(values)


def _describe(exc: SchemaErrors, max_rows: int) -> str:
    cases: Any = exc.failure_cases
    parts: list[str] = []
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        rows = [int(i) for i in group["index"].dropna().unique()[:max_rows] if _is_int(i)]
        col = column if isinstance(column, str) else "<table>"
        where = f" rows {rows}" if rows else ""
        parts.append(f"column '{col}' failed {check}{where}")
    return "; ".join(parts[:10]) or str(exc)[:500]


def _is_int(value: Any) -> bool:
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Breach:
    """The first value of a table that breaks its contract, in words a data team can act on."""

    position: int  # row position in the frame
    column: str
    allowed: str  # what is allowed, in plain words


def _allowed(check: pa.Check) -> str:
    k = check._check_kwargs
    name = check.name
    if name == "in_range":
        return f"a number from {k['min_value']:g} to {k['max_value']:g}"
    if name == "greater_than_or_equal_to":
        return f"a number of at least {k['min_value']:g}"
    if name == "isin":
        return "one of " + ", ".join(sorted(map(str, k["allowed_values"])))
    if name == "str_matches":
        return f"text in the form {k['pattern'].strip('^$')!r}"
    if name == "str_length":
        return f"text of {k['min_value']} to {k['max_value']} characters"
    return str(check.error or name)


def first_breach(table: str, df: pd.DataFrame) -> Breach | None:
    """Where ``df`` first breaks the contract of ``table`` (a required value missing, a value outside
    a column's checks, a repeated key, an end before its start), or None. Why: pandera's own report
    ("failed in_range(0, 24)") names neither the value nor what is allowed; importers say both."""
    schema = SCHEMAS[table]
    for name, column in schema.columns.items():
        if name not in df.columns:
            continue
        values = df[name]
        missing = values.isna().to_numpy()
        if not column.nullable and missing.any():
            return Breach(int(np.flatnonzero(missing)[0]), name, "a value (it may not be empty)")
        present = values[~missing]
        for check in column.checks:
            if check.element_wise or check.groupby is not None:
                continue
            try:
                ok = np.asarray(check(present).check_output, dtype=bool)
            except Exception:  # a check that cannot run on these values: say what it wants
                ok = np.zeros(len(present), dtype=bool)
            if ok.shape == (len(present),) and not ok.all():
                return Breach(int(np.flatnonzero(~missing)[np.flatnonzero(~ok)[0]]), name, _allowed(check))
    if table == "sick_reports" and {"start_date", "end_date"} <= set(df.columns):
        bad = (df["end_date"].notna() & (df["end_date"] < df["start_date"])).to_numpy()
        if bad.any():
            return Breach(int(np.flatnonzero(bad)[0]), "end_date", "a date on or after start_date")
    if schema.unique is not None and len(df) > 1:
        key = [schema.unique] if isinstance(schema.unique, str) else list(schema.unique)
        if all(k in df.columns for k in key):
            dup = df.duplicated(subset=key).to_numpy()
            if dup.any():
                return Breach(int(np.flatnonzero(dup)[0]), key[-1], f"one row per {' + '.join(key)}")
    return None


def empty(table: str) -> pd.DataFrame:
    """An empty, correctly typed frame of a raw table (for students without events)."""
    schema = SCHEMAS[table]
    return pd.DataFrame({name: pd.Series(dtype=str(col.dtype) if col.dtype else "object") for name, col in schema.columns.items()})
