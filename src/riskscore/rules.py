"""Legal and protocol triggers (Leerplichtwet, RMC, MAZL, VVA): deterministic, sourced, configurable.

These are not machine learning: they fire on fixed thresholds (DOMAIN.md) and are shown apart from the
model's score. Nothing dated after ``as_of`` is read, so later rows cannot change a trigger.

Exactness, per day of absence
-----------------------------
* Age and startkwalificatie are judged on the day the hours were missed: hours missed while under 16,
  or under 18 without sk, count toward ``leerplicht_16h_4w``; hours missed while 18–23 without sk
  toward ``rmc_verzuim``. Each hour belongs to at most one rule, and within a rule a report starts a
  new period, so the same hours are never reported twice.
* Only lesson days of the pupil's own calendar count (the school's, when it moved a holiday, else its
  region's — the same calendar the features use): weekends, public holidays and school holidays never.
* Unauthorised hours per pupil per day may not exceed ``max_hours_per_day``; more is a registration
  error and raises a DataError naming the pupil, the date and the hours (why not clip: a legal report
  must rest on what the school registered, not on a number this software made up).
* Periods are counted per school year from its first day, whatever the as-of date, so a daily, weekly
  or monthly run finds the same reports on the same dates (as long as ``lookback_days`` covers the
  interval between runs).

Speed: raw tables become integer codes and day numbers once (``Events``); every rule is numpy over
sorted arrays (searchsorted, reduceat, bincount). The "new period after a report" rule is solved by a
few vectorised passes (one per report a pupil gets), not a loop per pupil.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from riskscore.calendar import (
    CalendarView,
    SchoolCalendar,
    ages_on,
    birthdays,
    school_year_name,
    school_year_of,
    school_year_start,
    to_date,
)
from riskscore.contracts import RULE_IDS
from riskscore.errors import MSG_CONFIG_INVALID, ConfigError, DataError

OUTPUT_COLUMNS = ("student_id", "rule_id", "fired_on", "due_date", "role", "source", "detail")
MSG_MISSING_COLUMNS = "table '{table}' lacks columns {columns} needed by the rules"
MSG_NO_STUDENTS = "the rules need a 'students' table"
MSG_TOO_MANY_HOURS = (
    "pupil {student} has {hours:g} hours of unauthorised absence registered on {date}, more than a school day's "
    "{limit:g} lesson hours (max_hours_per_day): correct the registration"
)
MSG_NO_BIRTH_DATE = "pupil {student} has no birth date: the rules need it to know who is leerplichtig"
MSG_NOT_DATES = "a date column holds values that are not dates: {details}"
MSG_BAD_HOURS = "pupil {student} has an absence of {hours!r} hours on {date}: hours must be a number from 0 upwards"
_EPS = 1e-9  # float hours: 16 h summed from quarters must still reach 16
_NAT = np.iinfo(np.int64).max  # day number standing for "no date"
_NS_PER_DAY = 86_400 * 10**9


class RuleConfig(BaseModel):
    """Thresholds of every rule; defaults are DOMAIN.md's. Regions differ, so all are configurable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: dict[str, bool] = Field(
        default_factory=lambda: {r: r != "lateness" for r in RULE_IDS},
        description="rule id -> on/off; lateness is regional policy and off by default",
    )
    lookback_days: int = Field(28, ge=0, le=366, description="a fired trigger stays active this many days; at least the interval between runs")
    unauthorised_categories: tuple[str, ...] = Field(("unauthorised",), min_length=1)
    late_category: str = "late"
    max_hours_per_day: float = Field(10.0, gt=0, le=24, description="most lesson (or practical) hours of one school day; more is a registration error")
    # Leerplichtwet: 16 h in 4 consecutive lesson weeks, report within 5 working days
    leerplicht_hours: float = Field(16.0, gt=0)
    leerplicht_weeks: int = Field(4, ge=1, le=52)
    leerplicht_report_working_days: int = Field(5, ge=0, le=60)
    leerplicht_age: int = Field(16, description="under this age: leerplichtig")
    kwalificatieplicht_age: int = Field(18, description="under this age without sk: kwalificatieplichtig")
    # langdurig relatief verzuim: absent on (a share of) every lesson day for more than N lesson weeks
    lrv_weeks: int = Field(4, ge=1, le=52, description="fires when the run is LONGER than this")
    lrv_min_day_share: float = Field(1.0, gt=0, le=1, description="share of a week's lesson days with unauthorised absence")
    # RMC: not leerplichtig any more, under 23, no sk
    rmc_min_age: int = Field(18, ge=12, le=23)
    rmc_max_age: int = Field(23, ge=12, le=30, description="under this age")
    rmc_hours: float = Field(16.0, gt=0)
    rmc_weeks: int = Field(4, ge=1, le=52)
    # MAZL
    mazl_frequent_count: int = Field(4, ge=2, le=20)
    mazl_frequent_window: int = Field(12, ge=1, le=52)
    mazl_frequent_unit: str = Field("lesson_weeks", pattern="^(lesson_weeks|months)$", description="'4 in 3 months' is months")
    mazl_long_days: int = Field(6, ge=1, le=60, description="fires when sick MORE than this many consecutive school days")
    # VVA (vo -> mbo)
    vva_apply_by: tuple[int, int] = Field((4, 1), description="(month, day): apply at the latest ON this day; the breach is from the next day")
    vva_enrolled_by: tuple[int, int] = Field((8, 1), description="(month, day) in the next school year")
    # lateness
    lateness_max: int = Field(9, ge=0, description="fires on MORE than this many late arrivals in a school year")

    @classmethod
    def from_yaml(cls, path: str | Path) -> RuleConfig:
        """Load and validate; a bad file fails before anything runs."""
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            if not isinstance(raw, dict):
                raise ValueError("top level must be a mapping")
            enabled = {**cls().enabled, **raw.pop("enabled", {})}
            cfg = cls(enabled=enabled, **raw)
            for field in ("vva_apply_by", "vva_enrolled_by"):
                month, day = getattr(cfg, field)
                dt.date(2024, month, day)  # a leap year: 29 February is a valid deadline
            return cfg
        except (OSError, yaml.YAMLError, ValueError, TypeError, ValidationError) as exc:
            raise ConfigError(MSG_CONFIG_INVALID.format(path=path, details=exc)) from None

    @classmethod
    def default(cls) -> RuleConfig:
        """The packaged defaults (data/rules.yaml)."""
        from importlib import resources

        return cls.from_yaml(Path(str(resources.files("riskscore").joinpath("data", "rules.yaml"))))


# --- the catalogue: identity, source, who acts, and texts built from the configured thresholds -----
_MONTHS_NL = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober", "november", "december")
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")


def _num(value: float, lang: str) -> str:
    text = f"{value:g}"
    return text.replace(".", ",") if lang == "nl" else text


def _ordinal_en(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _text_values(cfg: RuleConfig, lang: str) -> dict[str, str]:
    """The thresholds as words of one language, for the rule texts' placeholders."""
    months = _MONTHS_EN if lang == "en" else _MONTHS_NL
    apply_m, apply_d = cfg.vva_apply_by
    enrol_m, enrol_d = cfg.vva_enrolled_by
    nth = _ordinal_en if lang == "en" else (lambda n: f"{n}e")
    unit_nl = "schoolweken" if cfg.mazl_frequent_unit == "lesson_weeks" else "maanden"
    unit_en = "school weeks" if cfg.mazl_frequent_unit == "lesson_weeks" else "months"
    return {
        "leerplicht_hours": _num(cfg.leerplicht_hours, lang),
        "leerplicht_weeks": str(cfg.leerplicht_weeks),
        "report_days": str(cfg.leerplicht_report_working_days),
        "lrv_weeks": str(cfg.lrv_weeks),
        "lrv_share": f"{cfg.lrv_min_day_share:.0%}",
        "rmc_min_age": str(cfg.rmc_min_age),
        "rmc_max_age": str(cfg.rmc_max_age),
        "rmc_hours": _num(cfg.rmc_hours, lang),
        "rmc_weeks": str(cfg.rmc_weeks),
        "mazl_nth": nth(cfg.mazl_frequent_count),
        "mazl_window": str(cfg.mazl_frequent_window),
        "mazl_unit": unit_en if lang == "en" else unit_nl,
        "mazl_long_days": str(cfg.mazl_long_days),
        "mazl_long_nth": nth(cfg.mazl_long_days + 1),
        "apply_by": f"{apply_d} {months[apply_m - 1]}",
        "enrolled_by": f"{enrol_d} {months[enrol_m - 1]}",
        "lateness_max": str(cfg.lateness_max),
    }


class Rule(BaseModel):
    """A trigger's identity, legal source and who acts; shown next to every firing.

    The texts are templates: ``text(lang, config)`` fills in the configured thresholds, so a region
    that reports at 12 hours never reads "16 uur".
    """

    model_config = ConfigDict(frozen=True)

    id: str
    source: str
    role: str
    also_roles: tuple[str, ...] = ()
    template_nl: str
    template_en: str
    thresholds: tuple[str, ...] = Field(description="RuleConfig fields this rule reads")

    def text(self, lang: str = "nl", config: RuleConfig | None = None) -> str:
        """The rule in plain words of ``lang`` ('nl' or 'en') with the thresholds of ``config``."""
        values = _text_values(config or RuleConfig(), "en" if lang == "en" else "nl")
        return (self.template_en if lang == "en" else self.template_nl).format(**values)

    @property
    def description_nl(self) -> str:
        """The Dutch text with the default thresholds."""
        return self.text("nl")

    @property
    def description_en(self) -> str:
        """The English text with the default thresholds."""
        return self.text("en")


def rule_text(rule_id: str, lang: str = "nl", config: RuleConfig | None = None) -> str:
    """A rule's text for display, with the configured thresholds; an unknown id is shown as itself."""
    rule = RULES.get(rule_id)
    return rule.text(lang, config) if rule is not None else rule_id


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            id="leerplicht_16h_4w",
            source="Leerplichtwet 1969 art. 21a; onderwijsinspectie.nl 'registreren en melden van ongeoorloofd verzuim'; DUO verzuimloket",
            role="leerplicht",
            also_roles=("school",),
            template_nl="{leerplicht_hours} uur of meer ongeoorloofd verzuim binnen {leerplicht_weeks} opeenvolgende lesweken; "
            "school meldt binnen {report_days} werkdagen bij DUO.",
            template_en="{leerplicht_hours} or more hours of unauthorised absence within {leerplicht_weeks} consecutive lesson weeks; "
            "school reports to DUO within {report_days} working days.",
            thresholds=("leerplicht_hours", "leerplicht_weeks", "leerplicht_report_working_days"),
        ),
        Rule(
            id="lrv_4w",
            source="Leerplichtwet 1969; duo.nl langdurig relatief verzuim",
            role="leerplicht",
            template_nl="Langdurig relatief verzuim: ongeoorloofd afwezig op {lrv_share} van de lesdagen van meer dan {lrv_weeks} opeenvolgende lesweken.",
            template_en="Long-term relative absence: unauthorised absence on {lrv_share} of the lesson days for more than {lrv_weeks} consecutive lesson weeks.",
            thresholds=("lrv_weeks", "lrv_min_day_share"),
        ),
        Rule(
            id="rmc_verzuim",
            source="WEB / RMC-wetgeving; duo.nl verzuim 18+",
            role="rmc",
            template_nl="{rmc_hours} uur of meer ongeoorloofd verzuim binnen {rmc_weeks} lesweken van een jongere van {rmc_min_age} tot "
            "{rmc_max_age} jaar zonder startkwalificatie.",
            template_en="{rmc_hours} or more hours of unauthorised absence within {rmc_weeks} lesson weeks of a young person aged "
            "{rmc_min_age} to {rmc_max_age} without a startkwalificatie.",
            thresholds=("rmc_min_age", "rmc_max_age", "rmc_hours", "rmc_weeks"),
        ),
        Rule(
            id="mazl_frequent",
            source="MAZL (Meer Aandacht voor Ziekgemelde Leerlingen), NCJ",
            role="jeugdarts",
            also_roles=("school",),
            template_nl="{mazl_nth} ziekmelding binnen {mazl_window} {mazl_unit}.",
            template_en="{mazl_nth} sick report within {mazl_window} {mazl_unit}.",
            thresholds=("mazl_frequent_count", "mazl_frequent_window", "mazl_frequent_unit"),
        ),
        Rule(
            id="mazl_long",
            source="MAZL (Meer Aandacht voor Ziekgemelde Leerlingen), NCJ",
            role="jeugdarts",
            template_nl="Langer dan {mazl_long_days} aaneengesloten schooldagen ziek (vanaf de {mazl_long_nth} schooldag).",
            template_en="Sick for more than {mazl_long_days} consecutive school days (from the {mazl_long_nth} school day).",
            thresholds=("mazl_long_days",),
        ),
        Rule(
            id="vva_not_applied",
            source="Toelatingsrecht art. 8.0.1 WEB; Regeling gegevensverstrekking bij overstap naar het mbo (VVA, 2020)",
            role="school",
            template_nl="Examenleerling vo met mbo-verwachting heeft zich niet uiterlijk op {apply_by} aangemeld bij een mbo.",
            template_en="Final-year vo pupil expected to go to mbo did not apply to an mbo programme on or before {apply_by}.",
            thresholds=("vva_apply_by",),
        ),
        Rule(
            id="vva_no_enrolment",
            source="Regeling gegevensverstrekking bij overstap naar het mbo (VVA, 2020)",
            role="school",
            also_roles=("rmc",),
            template_nl="Op {enrolled_by}, de start van het schooljaar, heeft geen mbo-aanmelding de status 'ingeschreven'.",
            template_en="On {enrolled_by}, the start of the school year, no mbo application has reached the status 'enrolled'.",
            thresholds=("vva_enrolled_by",),
        ),
        Rule(
            id="deregistered_no_sk",
            source="WEB art. 8.1.8 / RMC-meldplicht uitschrijving zonder startkwalificatie",
            role="rmc",
            template_nl="Uitschrijving van een jongere van {rmc_min_age} tot {rmc_max_age} jaar zonder startkwalificatie.",
            template_en="Deregistration of a young person aged {rmc_min_age} to {rmc_max_age} without a startkwalificatie.",
            thresholds=("rmc_min_age", "rmc_max_age"),
        ),
        Rule(
            id="lateness",
            source="Regional lateness policy (configurable)",
            role="school",
            template_nl="Dit schooljaar vaker dan {lateness_max} keer te laat.",
            template_en="Late more than {lateness_max} times this school year.",
            thresholds=("lateness_max", "late_category"),
        ),
    )
}


# --- events: raw tables as integer codes and day numbers, once --------------------------------------
STUDENT_COLUMNS = ("student_id", "school_year", "calendar_region", "birth_date", "has_sk", "final_year", "expects_mbo")
#: absences older than this before an as-of date can change nothing: the rules scan from the school year
#: of (as_of - lookback_days, at most 366), the features look back 12 lesson weeks or to 1 August
HISTORY_DAYS = 800
_CONTEXT_COLUMNS = ("school_id", "municipality", "rmc_region", "school_type", "level", "grade")  # kept for the features
_EMPTY_I = np.zeros(0, dtype=np.int64)


def day_numbers(values: Any) -> np.ndarray:
    """Days since 1970 (int64) of a date column; missing dates become a sentinel later than any date."""
    arr = values.to_numpy() if isinstance(values, pd.Series | pd.Index) else np.asarray(values)
    if arr.dtype.kind != "M":
        try:
            arr = pd.to_datetime(pd.Series(arr)).to_numpy()
        except (ValueError, TypeError) as exc:
            raise DataError(MSG_NOT_DATES.format(details=f"{getattr(values, 'name', None) or 'date'}: {exc}")) from None
    if arr.dtype != np.dtype("datetime64[ns]"):
        arr = arr.astype("datetime64[ns]")
    raw = arr.view(np.int64)
    missing = np.isnat(arr)
    out = np.floor_divide(raw, _NS_PER_DAY)
    out[missing] = _NAT
    return out


def codes_of(ids: pd.Index, values: Any) -> np.ndarray:
    """Integer code of each student id (-1 when unknown).

    Exports come sorted by pupil, so only the first row of each run of equal ids is looked up (a
    hash lookup per row costs seconds at 30M rows; comparing neighbours costs a tenth of that).
    """
    arr = values.to_numpy() if isinstance(values, pd.Series | pd.Index) else np.asarray(values)
    n = len(arr)
    if n == 0:
        return _EMPTY_I.copy()
    if arr.dtype == object or arr.dtype.kind in "US":
        heads = np.flatnonzero(np.r_[True, arr[1:] != arr[:-1]])
        if len(heads) < n // 2:
            looked = ids.get_indexer(arr[heads]).astype(np.int64)
            return np.repeat(looked, np.diff(np.r_[heads, n]))
    return ids.get_indexer(arr).astype(np.int64)


def _need(tables: dict[str, pd.DataFrame], name: str, columns: tuple[str, ...]) -> pd.DataFrame | None:
    df = tables.get(name)
    if df is None:
        return None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(MSG_MISSING_COLUMNS.format(table=name, columns=missing))
    return df


@dataclass
class Events:
    """The raw tables reduced to numpy arrays keyed by an integer student code (``ids[code]``).

    Built once per call of ``features.build`` or ``evaluate``; every as-of date then only masks and
    counts. Columns not needed by the rules stay in ``students`` for the features.
    """

    ids: pd.Index
    students: pd.DataFrame  # sorted by code, year0; with 'code' and 'year0'
    absences: dict[str, np.ndarray]  # code, day, hours, unauthorised (bool), late (bool)
    sick: dict[str, np.ndarray]  # code, start, end
    applications: dict[str, np.ndarray]  # code, submitted, one day array per status
    enrolments: dict[str, np.ndarray]  # code, start, end, switch (bool), reason (object)
    diplomas: dict[str, np.ndarray]  # code, day of each sk diploma

    @classmethod
    def from_tables(cls, tables: dict[str, pd.DataFrame], config: RuleConfig | None = None, *,
                    as_of: tuple[Any, Any] | None = None) -> Events:
        """``as_of=(first, last)``: only absences that can matter for as-of dates in that range are kept
        (from ``HISTORY_DAYS`` before the first to the last), so years of history cost no time."""
        from riskscore.contracts import VVA_STATUSES

        cfg = config or RuleConfig()
        st = _need(tables, "students", STUDENT_COLUMNS)
        if st is None or st.empty:
            raise DataError(MSG_NO_STUDENTS)
        code, uniques = pd.factorize(st["student_id"].to_numpy())
        ids = pd.Index(uniques)
        year_idx, years = pd.factorize(st["school_year"].to_numpy())
        year0_of = np.array([school_year_start(str(y)).year for y in years], dtype=np.int64)  # a malformed year fails here
        year0 = year0_of[year_idx]
        order = np.lexsort((year0, code))
        st = st[[c for c in st.columns if c in STUDENT_COLUMNS or c in _CONTEXT_COLUMNS]]
        if not (order[1:] > order[:-1]).all():
            st = st.take(order)
        st = st.reset_index(drop=True)
        st["code"] = code[order].astype(np.int64)
        st["year0"] = year0[order]

        absences = _need(tables, "absences", ("student_id", "date", "hours", "category"))
        sick = _need(tables, "sick_reports", ("student_id", "start_date", "end_date"))
        apps = _need(tables, "applications", ("student_id", "submitted_on"))
        enrol = _need(tables, "enrolments", ("student_id", "start_date", "end_date"))
        diplomas = _need(tables, "diplomas", ("student_id", "date", "is_sk"))
        window = None if as_of is None else (to_date(as_of[0]) - dt.timedelta(days=HISTORY_DAYS), to_date(as_of[1]))
        return cls(ids, st, _prep_absences(absences, ids, cfg, window), _prep_sick(sick, ids), _prep_apps(apps, ids, VVA_STATUSES),
                   _prep_enrolments(enrol, ids), _prep_diplomas(diplomas, ids))


def _known(code: np.ndarray, **arrays: np.ndarray) -> dict[str, np.ndarray]:
    keep = code >= 0
    if keep.all():
        return {"code": code, **arrays}
    return {"code": code[keep], **{k: v[keep] for k, v in arrays.items()}}


def _prep_absences(df: pd.DataFrame | None, ids: pd.Index, cfg: RuleConfig,
                   window: tuple[dt.date, dt.date] | None = None) -> dict[str, np.ndarray]:
    if df is None or df.empty:
        return {"code": _EMPTY_I, "day": _EMPTY_I, "hours": np.zeros(0), "unauthorised": np.zeros(0, bool), "late": np.zeros(0, bool)}
    dates = df["date"].to_numpy()
    inside = None
    if window is not None and dates.dtype.kind == "M":
        inside = (dates >= np.datetime64(window[0])) & (dates <= np.datetime64(window[1]))
    category = df["category"]
    if isinstance(category.dtype, pd.CategoricalDtype):  # codes compare in microseconds
        cats = category.cat.categories
        unauth_of = np.append(cats.isin(cfg.unauthorised_categories), False)
        late_of = np.append(cats == cfg.late_category, False)
        c = category.cat.codes.to_numpy()
        unauth, late = unauth_of[c], late_of[c]
    else:  # string compares only inside the window: they are the expensive part
        cat = category.to_numpy()
        unauth = np.zeros(len(cat), dtype=bool)
        late = np.zeros(len(cat), dtype=bool)
        where = True if inside is None else inside
        for name in cfg.unauthorised_categories:
            np.logical_or(unauth, np.equal(cat, name, out=np.zeros(len(cat), dtype=bool), where=where), out=unauth)
        np.equal(cat, cfg.late_category, out=late, where=where)
        late &= ~unauth
    keep = unauth | late
    if inside is not None:
        keep &= inside
    rows = np.flatnonzero(keep)
    code = codes_of(ids, df["student_id"])  # on every row: runs of one pupil are longest there
    hours = df["hours"].to_numpy(dtype=np.float64)
    if len(rows) < len(df):
        code, hours, dates, unauth, late = code[rows], hours[rows], dates[rows], unauth[rows], late[rows]
    return _known(code, day=day_numbers(dates), hours=hours, unauthorised=unauth, late=late)


def _prep_sick(df: pd.DataFrame | None, ids: pd.Index) -> dict[str, np.ndarray]:
    if df is None or df.empty:
        return {"code": _EMPTY_I, "start": _EMPTY_I, "end": _EMPTY_I}
    return _known(codes_of(ids, df["student_id"]), start=day_numbers(df["start_date"]), end=day_numbers(df["end_date"]))


def _prep_apps(df: pd.DataFrame | None, ids: pd.Index, statuses: tuple[str, ...]) -> dict[str, np.ndarray]:
    if df is None or df.empty:
        return {"code": _EMPTY_I, "submitted": _EMPTY_I, **{s: _EMPTY_I for s in statuses}}
    cols = {s: (day_numbers(df[f"{s}_on"]) if f"{s}_on" in df.columns else np.full(len(df), _NAT)) for s in statuses}
    return _known(codes_of(ids, df["student_id"]), submitted=day_numbers(df["submitted_on"]), **cols)


def _prep_enrolments(df: pd.DataFrame | None, ids: pd.Index) -> dict[str, np.ndarray]:
    if df is None or df.empty:
        return {"code": _EMPTY_I, "start": _EMPTY_I, "end": _EMPTY_I, "switch": np.zeros(0, bool), "reason": np.zeros(0, object)}
    reason = df["dereg_reason"].to_numpy(dtype=object) if "dereg_reason" in df.columns else np.full(len(df), None, dtype=object)
    return _known(codes_of(ids, df["student_id"]), start=day_numbers(df["start_date"]), end=day_numbers(df["end_date"]),
                  switch=reason == "switch", reason=reason)


def _prep_diplomas(df: pd.DataFrame | None, ids: pd.Index) -> dict[str, np.ndarray]:
    if df is None or df.empty:
        return {"code": _EMPTY_I, "day": _EMPTY_I}
    sk = df.loc[df["is_sk"].fillna(False).astype(bool)]
    return _known(codes_of(ids, sk["student_id"]), day=day_numbers(sk["date"]))


# --- who the pupil is on as_of, and on each day ----------------------------------------------------
@dataclass
class _People:
    """Per student code: the students row known on as_of (its school year or the latest before)."""

    present: np.ndarray  # bool: has a row up to as_of's school year
    row: np.ndarray  # index into Events.students (-1 if absent)
    birth: np.ndarray  # day number
    sk_from: np.ndarray  # first day with a startkwalificatie (_NAT: none)
    cal: np.ndarray  # index into view.keys (-1 if absent)
    view: CalendarView

    def turns(self, years: int) -> np.ndarray:
        """Per code: the day the pupil turns ``years``."""
        cache = self.__dict__.setdefault("_turns", {})
        if years not in cache:
            cache[years] = birthdays(self.birth, years)
        return cache[years]  # type: ignore[no-any-return]


def _people(ev: Events, t: int, y0: int, cal: SchoolCalendar) -> _People:
    st = ev.students
    n = len(ev.ids)
    upto = np.flatnonzero(st["year0"].to_numpy() <= y0)
    code = st["code"].to_numpy()[upto]
    last = upto[np.r_[code[1:] != code[:-1], True]] if len(upto) else upto
    present = np.zeros(n, dtype=bool)
    row = np.full(n, -1, dtype=np.int64)
    lc = st["code"].to_numpy()[last]
    present[lc] = True
    row[lc] = last
    birth = np.zeros(n, dtype=np.int64)
    birth[lc] = day_numbers(st["birth_date"].to_numpy()[last])
    if (birth[lc] == _NAT).any():
        bad = ev.ids[lc[birth[lc] == _NAT][0]]
        raise DataError(MSG_NO_BIRTH_DATE.format(student=bad))
    # sk: from a diploma's date, or from the first school year whose students row says so
    sk_from = np.full(n, _NAT, dtype=np.int64)
    sk_rows = upto[st["has_sk"].fillna(False).astype(bool).to_numpy()[upto]]
    if len(sk_rows):
        years = st["year0"].to_numpy()[sk_rows]
        starts = np.array([_date_day(school_year_start(school_year_name(y))) for y in range(int(years.min()), int(years.max()) + 1)], dtype=np.int64)
        np.minimum.at(sk_from, st["code"].to_numpy()[sk_rows], starts[years - years.min()])
    dp = ev.diplomas
    got = dp["day"] <= t
    np.minimum.at(sk_from, dp["code"][got], dp["day"][got])
    school = st["school_id"].to_numpy()[last] if "school_id" in st.columns else None
    keys = cal.key_for(school, st["calendar_region"].to_numpy()[last])
    key_idx, key_names = pd.factorize(pd.Series(keys, dtype=object), sort=True)
    key = np.full(n, -1, dtype=np.int64)
    key[lc] = key_idx
    return _People(present, row, birth, sk_from, key, cal.view([str(k) for k in key_names]))


# --- output ----------------------------------------------------------------------------------------
def _triggers(ev: Events, rule_id: str, codes: np.ndarray, fired: np.ndarray, detail: Any, due: np.ndarray | None = None) -> pd.DataFrame:
    rule = RULES[rule_id]
    n = len(codes)
    return pd.DataFrame(
        {
            "code": np.asarray(codes, dtype=np.int64),
            "student_id": ev.ids.to_numpy()[np.asarray(codes, dtype=np.int64)] if n else np.array([], dtype=object),
            "rule_id": rule_id,
            "fired_on": np.asarray(fired, dtype=np.int64).astype("datetime64[D]"),
            "due_date": np.full(n, np.datetime64("NaT"), dtype="datetime64[D]") if due is None else np.asarray(due, dtype="datetime64[D]"),
            "role": rule.role,
            "source": rule.source,
            "detail": np.asarray(detail, dtype=object) if n else np.array([], dtype=object),
        }
    )


def _frame(rows: list[pd.DataFrame], *, codes: bool = False) -> pd.DataFrame:
    columns = ["code", *OUTPUT_COLUMNS] if codes else list(OUTPUT_COLUMNS)
    rows = [r for r in rows if len(r)]
    if not rows:
        return pd.DataFrame(
            {
                "code": pd.Series(dtype=np.int64),
                "student_id": pd.Series(dtype=str),
                "rule_id": pd.Series(dtype=str),
                "fired_on": pd.Series(dtype="datetime64[ns]"),
                "due_date": pd.Series(dtype="datetime64[ns]"),
                "role": pd.Series(dtype=str),
                "source": pd.Series(dtype=str),
                "detail": pd.Series(dtype=str),
            }
        )[columns]
    out = pd.concat(rows, ignore_index=True)
    out["fired_on"] = out["fired_on"].astype("datetime64[ns]")
    out["due_date"] = out["due_date"].astype("datetime64[ns]")
    return out.sort_values(["student_id", "rule_id", "fired_on"], kind="stable").reset_index(drop=True)[columns]


# --- absence-window rules (leerplicht_16h_4w, rmc_verzuim) and lrv_4w ---------------------------------
@dataclass
class _Daily:
    """Unauthorised hours per pupil per lesson day, sorted by (code, day), with who the pupil was that day."""

    code: np.ndarray
    day: np.ndarray
    week: np.ndarray
    year0: np.ndarray  # school year of the day
    hours: np.ndarray
    leerplichtig: np.ndarray  # under leerplicht_age, or under kwalificatieplicht_age without sk, on that day
    rmc: np.ndarray  # not leerplichtig, rmc_min_age <= age < rmc_max_age, no sk, on that day


def _daily(ev: Events, pp: _People, cfg: RuleConfig, scan_start: int, t: int) -> _Daily:
    ab = ev.absences
    sel = ab["unauthorised"] & (ab["day"] >= scan_start) & (ab["day"] <= t)
    sel[sel] = pp.present[ab["code"][sel]]
    code, day, hours = ab["code"][sel], ab["day"][sel], ab["hours"][sel]
    bad = ~np.isfinite(hours) | (hours < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(MSG_BAD_HOURS.format(student=ev.ids[code[i]], hours=float(hours[i]), date=_iso(day[i])))
    span = t - scan_start + 1
    key = code * span + (day - scan_start)
    if len(key) > 1 and not (key[1:] >= key[:-1]).all():  # exports are usually sorted already
        order = np.argsort(key, kind="stable")
        key, code, day, hours = key[order], code[order], day[order], hours[order]
    heads = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else _EMPTY_I
    if len(heads) < len(key):
        code, day, hours = code[heads], day[heads], np.add.reduceat(hours, heads)
    cells = pp.view.cells(pp.cal[code], day, in_range=True)  # day in [scan_start >= calendar start, as_of]
    lesson = pp.view.take("lesson_day", cells)  # weekends, public and school holidays never count
    code, day, hours, cells = code[lesson], day[lesson], hours[lesson], cells[lesson]
    too_many = hours > cfg.max_hours_per_day + _EPS  # checked where it counts: on lesson days
    if too_many.any():
        i = int(np.flatnonzero(too_many)[0])
        raise DataError(MSG_TOO_MANY_HOURS.format(student=ev.ids[code[i]], hours=float(hours[i]), date=_iso(day[i]), limit=cfg.max_hours_per_day))
    week = pp.view.take("week_id", cells)
    sk = day >= pp.sk_from[code]
    leerplichtig = (day < pp.turns(cfg.leerplicht_age)[code]) | ((day < pp.turns(cfg.kwalificatieplicht_age)[code]) & ~sk)
    rmc = ~leerplichtig & ~sk & (day >= pp.turns(cfg.rmc_min_age)[code]) & (day < pp.turns(cfg.rmc_max_age)[code])
    return _Daily(code, day, week, pp.view.school_year_first_years(day), hours, leerplichtig, rmc)


def _iso(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


def _groups(*keys: np.ndarray) -> np.ndarray:
    """Group id per row of arrays sorted by these keys (a new group wherever any key changes)."""
    n = len(keys[0])
    if n == 0:
        return _EMPTY_I
    new = np.zeros(n, dtype=bool)
    new[0] = True
    for k in keys:
        new[1:] |= k[1:] != k[:-1]
    return np.cumsum(new) - 1


def window_reports(group: np.ndarray, week: np.ndarray, hours: np.ndarray, *, n_hours: float, n_weeks: int) -> tuple[np.ndarray, np.ndarray]:
    """Report rows of the rule "N hours within W consecutive lesson weeks, then a new period".

    Rows are days sorted by (group, day); ``group`` is a pupil in one school year. On day d of lesson
    week w the period holds the hours of days in weeks w-W+1..w after the previous report; when it
    reaches N hours, d is a report and the next period starts the day after. Returns (report rows,
    hours counted). One vectorised pass per report a pupil gets: no loop per pupil.
    """
    if len(group) == 0:
        return _EMPTY_I, np.zeros(0)
    # only groups whose hours add up to N at all can report: most pupils are dropped here
    can = np.bincount(group, weights=hours)[group] >= n_hours - _EPS
    if not can.all():
        subset = np.flatnonzero(can)
        if subset.size == 0:
            return _EMPTY_I, np.zeros(0)
        sub_reports, sub_hours = window_reports(group[subset], week[subset], hours[subset], n_hours=n_hours, n_weeks=n_weeks)
        return subset[sub_reports], sub_hours
    n = len(group)
    minutes = hours * 60.0
    if np.array_equal(minutes, np.round(minutes)) and minutes.sum() < 2**52:
        # registrations in whole minutes (lesson hours, quarters): integer sums are exact and fast
        cum = np.concatenate([np.zeros(1, np.int64), np.cumsum(np.round(minutes).astype(np.int64))])
        scale, threshold = 60.0, round(n_hours * 60.0, 6)
    else:
        cum = np.concatenate([np.zeros(1, np.longdouble), np.cumsum(hours, dtype=np.longdouble)])
        scale, threshold = 1.0, n_hours - _EPS
    stride = int(week.max()) + n_weeks + 1
    key = group * stride + week
    heads = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    first_of_group = np.repeat(heads, np.diff(np.r_[heads, n]))
    window_lo = np.maximum(np.searchsorted(key, key - (n_weeks - 1), side="left"), first_of_group)
    period = np.zeros(int(group[-1]) + 1, dtype=np.int64)  # per group: first row of the current period
    period[group] = first_of_group
    rows = np.arange(n, dtype=np.int64)
    reports: list[np.ndarray] = []
    counted: list[np.ndarray] = []
    while rows.size:
        g = group[rows]
        lo = np.maximum(window_lo[rows], period[g])
        total = cum[rows + 1] - cum[lo]
        hit = total >= threshold
        if not hit.any():
            break
        hit_rows, hit_groups = rows[hit], g[hit]
        first = np.r_[True, hit_groups[1:] != hit_groups[:-1]]
        rep, rep_groups = hit_rows[first], hit_groups[first]
        reports.append(rep)
        counted.append(total[hit][first].astype(np.float64) / scale)
        period[rep_groups] = rep + 1
        again = np.zeros(len(period), dtype=bool)
        again[rep_groups] = True
        rows = rows[again[g] & (rows > period[g])]
    if not reports:
        return _EMPTY_I, np.zeros(0)
    out = np.concatenate(reports)
    order = np.argsort(out, kind="stable")
    return out[order], np.concatenate(counted)[order]


def _absence_window_rule(ev: Events, d: _Daily, rule_id: str, scope: np.ndarray, *, hours: float, weeks: int,
                         since: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = np.flatnonzero(scope)
    code, year0 = d.code[rows], d.year0[rows]
    reps, counted = window_reports(_groups(code, year0), d.week[rows], d.hours[rows], n_hours=hours, n_weeks=weeks)
    reps = rows[reps]
    active = d.day[reps] >= since
    return d.code[reps][active], d.day[reps][active], counted[active]


def _lrv(ev: Events, d: _Daily, pp: _People, cfg: RuleConfig, t: int, since: int) -> pd.DataFrame:
    """Runs of > lrv_weeks consecutive lesson weeks (within a school year) in which the pupil, while
    leerplichtig, missed (a share of) every lesson day."""
    rows = np.flatnonzero(d.leerplichtig & (d.hours > 0))
    if rows.size == 0:
        return _triggers(ev, "lrv_4w", _EMPTY_I, _EMPTY_I, [])
    code, week, day, year0 = d.code[rows], d.week[rows], d.day[rows], d.year0[rows]
    g = _groups(code, week)
    heads = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    days = np.diff(np.r_[heads, len(g)])
    code, week, first, year0 = code[heads], week[heads], day[heads], year0[heads]
    key = pp.cal[code]
    needed = np.zeros(len(code), dtype=np.float64)
    for k in np.unique(key):
        m = key == k
        per_week = pp.view.lesson_days_per_week(int(k), t)
        needed[m] = per_week[week[m]]
    full = (days >= np.ceil(needed * cfg.lrv_min_day_share - _EPS)) & (needed > 0)
    code, week, first, year0, key = code[full], week[full], first[full], year0[full], key[full]
    if code.size == 0:
        return _triggers(ev, "lrv_4w", _EMPTY_I, _EMPTY_I, [])
    new_run = np.r_[True, (np.diff(code) != 0) | (np.diff(week) != 1) | (np.diff(year0) != 0)]
    run_id = np.cumsum(new_run) - 1
    run_start = np.flatnonzero(new_run)
    nth = np.arange(len(code)) - run_start[run_id]  # 0-based week number inside the run
    fire = nth == cfg.lrv_weeks  # the first week beyond lrv_weeks
    run_last_week = week[np.r_[run_start[1:] - 1, len(code) - 1]][run_id]
    current = pp.view.lesson_week_ordinal(key, np.full(len(key), t))
    ongoing = run_last_week >= current - 1
    m = fire & ((first >= since) | ongoing)
    run_len = np.bincount(run_id)[run_id]
    detail = [f"{n} opeenvolgende lesweken ongeoorloofd afwezig" for n in run_len[m]]
    return _triggers(ev, "lrv_4w", code[m], first[m], detail)


# --- sick reports (MAZL) ---------------------------------------------------------------------------
def _mazl(ev: Events, pp: _People, cfg: RuleConfig, t: int, since: int) -> list[pd.DataFrame]:
    sr = ev.sick
    sel = sr["start"] <= t
    sel[sel] = pp.present[sr["code"][sel]]
    code, start, end = sr["code"][sel], sr["start"][sel], sr["end"][sel]
    ongoing = (end == _NAT) | (end >= t)  # an end after as_of is not known yet
    end = np.where(ongoing, t, end)
    covered = (start >= pp.view.first_day) & (end <= pp.view.last_day) & (end >= start)
    code, start, end, ongoing = code[covered], start[covered], end[covered], ongoing[covered]
    key = pp.cal[code]
    ord_start = pp.view.lesson_day_ordinal(key, start) - pp.view.is_lesson_day(key, start)  # lesson days before the spell
    ord_end = pp.view.lesson_day_ordinal(key, end)
    out: list[pd.DataFrame] = []
    if cfg.enabled.get("mazl_long", True):
        n = cfg.mazl_long_days + 1
        long = (ord_end - ord_start) >= n
        fired = np.zeros(len(code), dtype=np.int64)
        if long.any():
            fired[long] = pp.view.day_of_lesson_ordinal(key[long], ord_start[long] + n)
        m = long & ((fired >= since) | ongoing)
        detail = [f"{k} schooldagen ziek{' (loopt nog)' if o else ''}" for k, o in zip(ord_end[m] - ord_start[m], ongoing[m], strict=True)]
        out.append(_triggers(ev, "mazl_long", code[m], fired[m], detail))
    if cfg.enabled.get("mazl_frequent", True) and len(code):
        k = cfg.mazl_frequent_count
        often = np.bincount(code)[code] >= k  # only pupils with at least k reports can reach the k-th
        code, start, key = code[often], start[often], key[often]
        order = np.argsort(code * (int(start.max(initial=0)) - int(start.min(initial=0)) + 1) + (start - start.min(initial=0)), kind="stable")
        p, st = code[order], start[order]
        prev = np.clip(np.arange(len(p)) - (k - 1), 0, None)
        ok = (np.arange(len(p)) >= k - 1) & (p[prev] == p)
        if cfg.mazl_frequent_unit == "lesson_weeks":
            wk = pp.view.lesson_week_ordinal(key[order], st)
            ok &= wk[prev] > wk - cfg.mazl_frequent_window
        else:
            limit = (pd.DatetimeIndex(st.astype("datetime64[D]").astype("datetime64[ns]")) - pd.DateOffset(months=cfg.mazl_frequent_window))
            ok &= st[prev] > limit.to_numpy().astype("datetime64[D]").astype(np.int64)
        ok &= st >= since
        unit = "lesweken" if cfg.mazl_frequent_unit == "lesson_weeks" else "maanden"
        detail = [f"{k}e ziekmelding binnen {cfg.mazl_frequent_window} {unit}"] * int(ok.sum())
        out.append(_triggers(ev, "mazl_frequent", p[ok], st[ok], detail))
    return out


# --- VVA, deregistration, lateness -----------------------------------------------------------------
def _date_day(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def _day_of(year: int, month_day: tuple[int, int]) -> int:
    return int((np.datetime64(dt.date(year, month_day[0], month_day[1]), "D") - np.datetime64(0, "D")).astype(np.int64))


def _vva(ev: Events, pp: _People, cfg: RuleConfig, t: int, y0: int, since: int) -> list[pd.DataFrame]:
    ap = ev.applications
    st = ev.students
    out: list[pd.DataFrame] = []
    if cfg.enabled.get("vva_not_applied", True):
        # "uiterlijk op 1 april": an application on the deadline is on time; the breach exists from the next day
        deadline = _day_of(y0 + (cfg.vva_apply_by[0] < 8), cfg.vva_apply_by)
        breach = deadline + 1
        if t >= breach:
            rows = pp.row[pp.present]
            this_year = st["year0"].to_numpy()[rows] == y0
            wants = st["final_year"].astype(bool).to_numpy()[rows] & st["expects_mbo"].astype(bool).to_numpy()[rows]
            cand = np.flatnonzero(pp.present)[this_year & wants]
            submitted = ap["submitted"]
            on_time = np.zeros(len(ev.ids), dtype=bool)
            on_time[ap["code"][submitted <= deadline]] = True
            applied = np.zeros(len(ev.ids), dtype=bool)
            applied[ap["code"][submitted <= t]] = True
            late = cand[~on_time[cand]]
            still = ~applied[late]
            if breach < since:  # beyond the lookback only the ones that still did not apply stay active
                late, still = late[still], still[still]
            detail = np.where(still, "geen mbo-aanmelding", "aangemeld na de uiterste datum")
            out.append(_triggers(ev, "vva_not_applied", late, np.full(len(late), breach), detail))
    if cfg.enabled.get("vva_no_enrolment", True):
        check = _day_of(y0 + (cfg.vva_enrolled_by[0] < 8), cfg.vva_enrolled_by)
        if t >= check:
            prev = st.loc[(st["year0"].to_numpy() == y0 - 1) & st["final_year"].astype(bool).to_numpy() & st["expects_mbo"].astype(bool).to_numpy(), "code"]
            prev = np.unique(prev.to_numpy())
            enrolled_by = np.zeros(len(ev.ids), dtype=bool)
            enrolled_now = np.zeros(len(ev.ids), dtype=bool)
            enrolled = ap["enrolled"] if "enrolled" in ap else np.full(len(ap["code"]), _NAT)
            enrolled_by[ap["code"][(enrolled <= check) & (ap["submitted"] <= t)]] = True
            enrolled_now[ap["code"][(enrolled <= t) & (ap["submitted"] <= t)]] = True
            missing = prev[~enrolled_by[prev]]
            still = ~enrolled_now[missing]
            if check < since:
                missing, still = missing[still], still[still]
            detail = np.where(still, "geen inschrijving mbo", "ingeschreven na de start van het schooljaar")
            out.append(_triggers(ev, "vva_no_enrolment", missing, np.full(len(missing), check), detail))
    return out


def _deregistered(ev: Events, pp: _People, cfg: RuleConfig, t: int, since: int) -> pd.DataFrame:
    """Deregistrations (enrolment end_date <= as_of) within the lookback of 18-23-year-olds without sk then."""
    en = ev.enrolments
    sel = (en["end"] <= t) & (en["end"] >= since)
    sel[sel] = pp.present[en["code"][sel]]
    code, end, reason = en["code"][sel], en["end"][sel], en["reason"][sel]
    m = (end >= pp.turns(cfg.rmc_min_age)[code]) & (end < pp.turns(cfg.rmc_max_age)[code]) & (end < pp.sk_from[code])
    ages = [_age_at(pp.birth[c], e) for c, e in zip(code[m], end[m], strict=True)]
    detail = [f"uitgeschreven ({'' if r is None else r}), {a} jaar, zonder startkwalificatie" for r, a in zip(reason[m], ages, strict=True)]
    return _triggers(ev, "deregistered_no_sk", code[m], end[m], detail)


def _age_at(birth: int, day: int) -> int:
    from riskscore.calendar import age_on

    return age_on(np.datetime64(int(birth), "D"), np.datetime64(int(day), "D"))


def _lateness(ev: Events, pp: _People, cfg: RuleConfig, t: int, y0: int, since: int) -> pd.DataFrame:
    """The (N+1)th late arrival of the school year; active within the lookback."""
    ab = ev.absences
    sel = ab["late"] & (ab["day"] >= _date_day(school_year_start(school_year_name(y0)))) & (ab["day"] <= t)
    sel[sel] = pp.present[ab["code"][sel]]
    code, day = ab["code"][sel], ab["day"][sel]
    order = np.lexsort((day, code))
    code, day = code[order], day[order]
    rank = np.arange(len(code)) - np.searchsorted(code, code, side="left")  # 0-based per student
    m = (rank == cfg.lateness_max) & (day >= since)
    detail = [f"meer dan {cfg.lateness_max} keer te laat"] * int(m.sum())
    return _triggers(ev, "lateness", code[m], day[m], detail)


# --- entry points ----------------------------------------------------------------------------------
def evaluate(
    tables: dict[str, pd.DataFrame],
    as_of: Any,
    *,
    config: RuleConfig | None = None,
    calendar: SchoolCalendar | None = None,
) -> pd.DataFrame:
    """Triggers active at as_of: fired within the lookback, or (long absence/sickness) still ongoing.

    Nothing dated after as_of is read, so later rows cannot change the answer. The result for a pupil
    depends only on that pupil's rows: any split of the pupils into calls gives the same triggers.
    """
    cfg = config or RuleConfig()
    return evaluate_events(Events.from_tables(tables, cfg, as_of=(as_of, as_of)), as_of, config=cfg, calendar=calendar)


def evaluate_events(ev: Events, as_of: Any, *, config: RuleConfig | None = None, calendar: SchoolCalendar | None = None,
                    codes: bool = False) -> pd.DataFrame:
    """evaluate() on prepared events (features.build prepares them once for all its as-of dates).

    ``codes=True`` adds each trigger's student code (``ev.ids[code]``), so a caller can place the
    triggers without hashing student ids again.
    """
    cfg = config or RuleConfig()
    cal = calendar or SchoolCalendar.default()
    day = to_date(as_of)
    if not cal.covers(day):
        cal.is_lesson_day(day, "noord")  # raises the calendar's out-of-range DataError
    t = _day_of(day.year, (day.month, day.day))
    y0 = school_year_start(school_year_of(day)).year
    since = t - cfg.lookback_days
    pp = _people(ev, t, y0, cal)
    on = cfg.enabled
    out: list[pd.DataFrame] = []
    if any(on.get(r, False) for r in ("leerplicht_16h_4w", "lrv_4w", "rmc_verzuim")):
        # periods restart each school year, counted from its first day whatever as_of is
        since_day = max(dt.date(1970, 1, 1) + dt.timedelta(days=since), cal.first)
        scan_start = max(_date_day(school_year_start(school_year_of(since_day))), _date_day(cal.first))
        d = _daily(ev, pp, cfg, scan_start, t)
        if on.get("leerplicht_16h_4w", False):
            code, fired, hours = _absence_window_rule(ev, d, "leerplicht_16h_4w", d.leerplichtig, hours=cfg.leerplicht_hours,
                                                      weeks=cfg.leerplicht_weeks, since=since)
            due = cal.add_working_days_array(fired.astype("datetime64[D]"), cfg.leerplicht_report_working_days)
            detail = [f"{h:.2f} uur ongeoorloofd verzuim binnen {cfg.leerplicht_weeks} lesweken" for h in hours]
            out.append(_triggers(ev, "leerplicht_16h_4w", code, fired, detail, due))
        if on.get("lrv_4w", False):
            out.append(_lrv(ev, d, pp, cfg, t, since))
        if on.get("rmc_verzuim", False):
            code, fired, hours = _absence_window_rule(ev, d, "rmc_verzuim", d.rmc, hours=cfg.rmc_hours, weeks=cfg.rmc_weeks, since=since)
            detail = [f"{h:.2f} uur ongeoorloofd verzuim binnen {cfg.rmc_weeks} lesweken" for h in hours]
            out.append(_triggers(ev, "rmc_verzuim", code, fired, detail))
    if on.get("mazl_long", False) or on.get("mazl_frequent", False):
        out.extend(_mazl(ev, pp, cfg, t, since))
    out.extend(_vva(ev, pp, cfg, t, y0, since))
    if on.get("deregistered_no_sk", False):
        out.append(_deregistered(ev, pp, cfg, t, since))
    if on.get("lateness", False):
        out.append(_lateness(ev, pp, cfg, t, y0, since))
    return _frame(out, codes=codes)


#: the vectorised age lives in calendar.py (one place); this name stays for callers of rules.age_on
age_on = ages_on

__all__ = ["OUTPUT_COLUMNS", "RULES", "Events", "Rule", "RuleConfig", "age_on", "evaluate", "evaluate_events", "rule_text", "window_reports"]
