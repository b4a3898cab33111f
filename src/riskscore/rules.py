"""Legal and protocol triggers (Leerplichtwet, RMC, MAZL, VVA): deterministic, sourced, configurable.

These are not machine learning: they fire on fixed thresholds (DOMAIN.md) and are shown apart from the
model's score. Every table is cut at ``as_of`` first, so nothing dated later can change a trigger.
The heavy work is vectorised (weekly sums per student per lesson week, rolling via searchsorted); only
students whose unauthorised hours ever reach the threshold go through a small sequential scan, because
the "new period after a report" rule is inherently sequential.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from riskscore.calendar import SchoolCalendar, school_year_of, school_year_start, to_date
from riskscore.contracts import RULE_IDS
from riskscore.errors import MSG_CONFIG_INVALID, ConfigError, DataError

OUTPUT_COLUMNS = ("student_id", "rule_id", "fired_on", "due_date", "role", "source", "detail")
MSG_MISSING_COLUMNS = "table '{table}' lacks columns {columns} needed by the rules"
MSG_NO_STUDENTS = "the rules need a 'students' table"
_EPS = 1e-9  # float hours: 16 h summed from quarters must still reach 16


class RuleConfig(BaseModel):
    """Thresholds of every rule; defaults are DOMAIN.md's. Regions differ, so all are configurable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: dict[str, bool] = Field(
        default_factory=lambda: {r: r != "lateness" for r in RULE_IDS},
        description="rule id -> on/off; lateness is regional policy and off by default",
    )
    lookback_days: int = Field(28, ge=0, le=366, description="a fired trigger stays active this many days")
    unauthorised_categories: tuple[str, ...] = Field(("unauthorised",), min_length=1)
    late_category: str = "late"
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
    vva_apply_by: tuple[int, int] = Field((4, 1), description="(month, day) of the application deadline")
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
            return cls(enabled=enabled, **raw)
        except (OSError, yaml.YAMLError, ValueError, TypeError, ValidationError) as exc:
            raise ConfigError(MSG_CONFIG_INVALID.format(path=path, details=exc)) from None

    @classmethod
    def default(cls) -> RuleConfig:
        """The packaged defaults (data/rules.yaml)."""
        from importlib import resources

        return cls.from_yaml(Path(str(resources.files("riskscore").joinpath("data", "rules.yaml"))))


class Rule(BaseModel):
    """A trigger's identity, legal source and who acts; shown next to every firing."""

    model_config = ConfigDict(frozen=True)

    id: str
    source: str
    role: str
    also_roles: tuple[str, ...] = ()
    description_nl: str
    description_en: str
    thresholds: tuple[str, ...] = Field(description="RuleConfig fields this rule reads")


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            id="leerplicht_16h_4w",
            source="Leerplichtwet 1969 art. 21a; onderwijsinspectie.nl 'registreren en melden van ongeoorloofd verzuim'; DUO verzuimloket",
            role="leerplicht",
            also_roles=("school",),
            description_nl="16 uur of meer ongeoorloofd verzuim binnen 4 opeenvolgende lesweken; school meldt binnen 5 werkdagen bij DUO.",
            description_en="16 or more hours of unauthorised absence within 4 consecutive lesson weeks; school reports to DUO within 5 working days.",
            thresholds=("leerplicht_hours", "leerplicht_weeks", "leerplicht_report_working_days"),
        ),
        Rule(
            id="lrv_4w",
            source="Leerplichtwet 1969; duo.nl langdurig relatief verzuim",
            role="leerplicht",
            description_nl="Langdurig relatief verzuim: ongeoorloofd afwezig op alle lesdagen van meer dan 4 opeenvolgende lesweken.",
            description_en="Long-term relative absence: unauthorised absence on every lesson day for more than 4 consecutive lesson weeks.",
            thresholds=("lrv_weeks", "lrv_min_day_share"),
        ),
        Rule(
            id="rmc_verzuim",
            source="WEB / RMC-wetgeving; duo.nl verzuim 18+",
            role="rmc",
            description_nl="Ongeoorloofd verzuim van een jongere van 18 tot 23 jaar zonder startkwalificatie.",
            description_en="Unauthorised absence of a young person aged 18 to 23 without a startkwalificatie.",
            thresholds=("rmc_min_age", "rmc_max_age", "rmc_hours", "rmc_weeks"),
        ),
        Rule(
            id="mazl_frequent",
            source="MAZL (Meer Aandacht voor Ziekgemelde Leerlingen), NCJ",
            role="jeugdarts",
            also_roles=("school",),
            description_nl="Vierde ziekmelding binnen 12 schoolweken.",
            description_en="Fourth sick report within 12 school weeks.",
            thresholds=("mazl_frequent_count", "mazl_frequent_window", "mazl_frequent_unit"),
        ),
        Rule(
            id="mazl_long",
            source="MAZL (Meer Aandacht voor Ziekgemelde Leerlingen), NCJ",
            role="jeugdarts",
            description_nl="Langer dan 6 aaneengesloten schooldagen ziek (vanaf de 7e schooldag).",
            description_en="Sick for more than 6 consecutive school days (from the 7th school day).",
            thresholds=("mazl_long_days",),
        ),
        Rule(
            id="vva_not_applied",
            source="Toelatingsrecht art. 8.0.1 WEB; Regeling gegevensverstrekking bij overstap naar het mbo (VVA, 2020)",
            role="school",
            description_nl="Examenleerling vo met mbo-verwachting heeft zich op 1 april nog niet aangemeld bij een mbo.",
            description_en="Final-year vo pupil expected to go to mbo has not applied to an mbo programme by 1 April.",
            thresholds=("vva_apply_by",),
        ),
        Rule(
            id="vva_no_enrolment",
            source="Regeling gegevensverstrekking bij overstap naar het mbo (VVA, 2020)",
            role="school",
            also_roles=("rmc",),
            description_nl="Bij de start van het schooljaar heeft geen mbo-aanmelding de status 'ingeschreven'.",
            description_en="At the start of the school year no mbo application has reached the status 'enrolled'.",
            thresholds=("vva_enrolled_by",),
        ),
        Rule(
            id="deregistered_no_sk",
            source="WEB art. 8.1.8 / RMC-meldplicht uitschrijving zonder startkwalificatie",
            role="rmc",
            description_nl="Uitschrijving van een jongere van 18 tot 23 jaar zonder startkwalificatie.",
            description_en="Deregistration of a young person aged 18 to 23 without a startkwalificatie.",
            thresholds=("rmc_min_age", "rmc_max_age"),
        ),
        Rule(
            id="lateness",
            source="Regional lateness policy (configurable)",
            role="school",
            description_nl="Vaker te laat dan het regionale maximum dit schooljaar.",
            description_en="More late arrivals this school year than the regional maximum.",
            thresholds=("lateness_max", "late_category"),
        ),
    )
}


# --- helpers ---------------------------------------------------------------------------------------
def _day(value: dt.date) -> np.datetime64:
    return np.datetime64(value, "D")


def age_on(birth_dates: Any, on: Any) -> np.ndarray:
    """Whole years of age on a date (or one date per birth date), exact on birthdays.

    Legal limits (under 16, 18–23) turn on the birthday itself; born 29 Feb → 1 March in other years.
    """
    b = pd.DatetimeIndex(pd.to_datetime(np.asarray(birth_dates)))
    if isinstance(on, dt.date):
        oy, om, od = on.year, on.month, on.day
    else:
        o = pd.DatetimeIndex(pd.to_datetime(np.asarray(on)))
        oy, om, od = o.year.to_numpy(), o.month.to_numpy(), o.day.to_numpy()
    bm, bd = b.month.to_numpy(), b.day.to_numpy()
    before = (om < bm) | ((om == bm) & (od < bd))
    return (oy - b.year.to_numpy() - before).astype(np.int64)


def _regions(people: pd.DataFrame) -> np.ndarray:
    """Calendar region per person as fixed-width strings: np.unique on objects sorts 10x slower."""
    return people["region"].to_numpy().astype("U16")


def _need(tables: dict[str, pd.DataFrame], name: str, columns: tuple[str, ...]) -> pd.DataFrame | None:
    df = tables.get(name)
    if df is None:
        return None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(MSG_MISSING_COLUMNS.format(table=name, columns=missing))
    return df


def _cut(df: pd.DataFrame | None, column: str, as_of: dt.date) -> pd.DataFrame | None:
    """Point in time: drop every row dated after as_of (and undated ones)."""
    if df is None or df.empty:
        return None
    dates = pd.to_datetime(df[column])
    out = df.loc[dates.notna() & (dates <= pd.Timestamp(as_of))]
    return out if len(out) else None


def _frame(rows: list[pd.DataFrame]) -> pd.DataFrame:
    rows = [r for r in rows if len(r)]
    if not rows:
        return pd.DataFrame(
            {
                "student_id": pd.Series(dtype=str),
                "rule_id": pd.Series(dtype=str),
                "fired_on": pd.Series(dtype="datetime64[ns]"),
                "due_date": pd.Series(dtype="datetime64[ns]"),
                "role": pd.Series(dtype=str),
                "source": pd.Series(dtype=str),
                "detail": pd.Series(dtype=str),
            }
        )
    out = pd.concat(rows, ignore_index=True)
    out["fired_on"] = pd.to_datetime(out["fired_on"]).astype("datetime64[ns]")
    out["due_date"] = pd.to_datetime(out["due_date"]).astype("datetime64[ns]")
    return out.sort_values(["student_id", "rule_id", "fired_on"], kind="stable").reset_index(drop=True)[
        list(OUTPUT_COLUMNS)
    ]


def _triggers(rule_id: str, student_ids: Any, fired_on: Any, detail: Any, due_date: Any = None) -> pd.DataFrame:
    rule = RULES[rule_id]
    n = len(student_ids)
    return pd.DataFrame(
        {
            "student_id": np.asarray(student_ids, dtype=object),
            "rule_id": rule_id,
            "fired_on": np.asarray(fired_on, dtype="datetime64[D]"),
            "due_date": np.full(n, np.datetime64("NaT"), dtype="datetime64[D]") if due_date is None else due_date,
            "role": rule.role,
            "source": rule.source,
            "detail": np.asarray(detail, dtype=object) if n else np.array([], dtype=object),
        }
    )


def _students_at(students: pd.DataFrame, diplomas: pd.DataFrame | None, as_of: dt.date) -> pd.DataFrame:
    """One row per student: the row of as_of's school year, else the latest earlier one (leavers)."""
    sy = school_year_of(as_of)
    s = students.loc[students["school_year"].astype(str) <= sy]
    s = s.sort_values("school_year", kind="stable").drop_duplicates("student_id", keep="last")
    s = s.set_index(s["student_id"].astype(str))
    has_sk = s["has_sk"].astype(bool).to_numpy()
    if diplomas is not None:
        sk_ids = diplomas.loc[diplomas["is_sk"].astype(bool), "student_id"].astype(str).unique()
        has_sk = has_sk | s.index.isin(sk_ids)
    age = age_on(s["birth_date"], as_of)
    return pd.DataFrame(
        {
            "school_year": s["school_year"].astype(str).to_numpy(),
            "region": s["calendar_region"].astype(str).to_numpy(),
            "birth_date": pd.to_datetime(s["birth_date"]).to_numpy(),
            "age": age,
            "has_sk": has_sk,
            "final_year": s["final_year"].astype(bool).to_numpy(),
            "expects_mbo": s["expects_mbo"].astype(bool).to_numpy(),
        },
        index=s.index,
    )


# --- absence-window rules (leerplicht_16h_4w, rmc_verzuim) -----------------------------------------
def _daily_unauthorised(absences: pd.DataFrame, people: pd.DataFrame, cal: SchoolCalendar, cfg: RuleConfig, since: dt.date) -> pd.DataFrame:
    """Unauthorised hours per student per day with the lesson-week id of the student's region."""
    a = absences.loc[absences["category"].isin(cfg.unauthorised_categories)]
    dates = pd.to_datetime(a["date"]).to_numpy().astype("datetime64[D]")
    keep = dates >= _day(since)
    a, dates = a.loc[keep], dates[keep]
    pos = people.index.get_indexer(a["student_id"].astype(str))
    keep = pos >= 0
    pos, dates, hours = pos[keep], dates[keep], a["hours"].to_numpy(dtype=float)[keep]
    week = np.full(len(pos), -1, dtype=np.int64)
    regions = _regions(people)[pos]
    for region in np.unique(regions):
        m = regions == region
        week[m] = cal.lesson_week_ids(dates[m], str(region))
    m = week >= 0  # absence booked in a holiday week has no lesson to miss
    pos, dates, week, hours = pos[m], dates[m], week[m], hours[m]
    # sum per (student, day) with a numpy sort: several times faster than a pandas groupby here
    key = pos.astype(np.int64) * 100_000 + (dates - _day(since)).astype(np.int64)
    order = np.argsort(key, kind="stable")
    key = key[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.array([], np.int64)
    return pd.DataFrame(
        {
            "pos": pos[order][first],
            "date": dates[order][first],
            "week": week[order][first],
            "hours": np.add.reduceat(hours[order], first) if len(first) else np.array([], float),
        }
    )


def _window_reports(daily: pd.DataFrame, hours: float, weeks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Report dates of the 'N hours within W consecutive lesson weeks, then a new period' rule.

    Definition: on day d in lesson week w, the period holds the unauthorised hours on days in lesson
    weeks w-W+1..w that fall after the student's previous report; when it reaches N hours, d is a
    report date and the next period starts the day after. Returns (pos, report date, hours counted).
    """
    if daily.empty:
        return np.array([], np.int64), np.array([], "datetime64[D]"), np.array([], float)
    weekly = daily.groupby(["pos", "week"], sort=True)["hours"].sum()
    pos_w = weekly.index.get_level_values(0).to_numpy(np.int64)
    week_w = weekly.index.get_level_values(1).to_numpy(np.int64)
    key = pos_w * 100_000 + week_w
    cum = np.concatenate([[0.0], np.cumsum(weekly.to_numpy())])
    first = np.searchsorted(key, key - (weeks - 1), side="left")
    window = cum[np.arange(len(key)) + 1] - cum[first]
    candidates = np.unique(pos_w[window >= hours - _EPS])
    if candidates.size == 0:
        return np.array([], np.int64), np.array([], "datetime64[D]"), np.array([], float)
    d = daily.loc[daily["pos"].isin(candidates)]
    out_pos: list[int] = []
    out_date: list[np.datetime64] = []
    out_hours: list[float] = []
    p_arr, d_arr, w_arr, h_arr = (d[c].to_numpy() for c in ("pos", "date", "week", "hours"))
    bounds = np.flatnonzero(np.diff(p_arr)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(p_arr)], strict=True):
        start = lo  # first day of the current period still inside the window
        total = 0.0
        for i in range(lo, hi):
            total += h_arr[i]
            while w_arr[start] < w_arr[i] - (weeks - 1):
                total -= h_arr[start]
                start += 1
            if total >= hours - _EPS:
                out_pos.append(int(p_arr[i]))
                out_date.append(d_arr[i])
                out_hours.append(total)
                start, total = i + 1, 0.0
    return np.array(out_pos, np.int64), np.array(out_date, "datetime64[D]"), np.array(out_hours, float)


def _absence_window_rule(
    rule_id: str, daily: pd.DataFrame, people: pd.DataFrame, in_scope: np.ndarray, *, hours: float, weeks: int, since: np.datetime64
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    scoped = daily.loc[in_scope[daily["pos"].to_numpy()]]
    pos, dates, counted = _window_reports(scoped, hours, weeks)
    m = dates >= since
    detail = [f"{h:.2f} h ongeoorloofd verzuim binnen {weeks} lesweken" for h in counted[m]]
    return _triggers(rule_id, people.index.to_numpy()[pos[m]], dates[m], detail), pos[m], dates[m]


# --- lrv_4w ----------------------------------------------------------------------------------------
def _lrv(daily: pd.DataFrame, people: pd.DataFrame, in_scope: np.ndarray, cal: SchoolCalendar, cfg: RuleConfig, as_of: dt.date, since: np.datetime64) -> pd.DataFrame:
    """Runs of > lrv_weeks consecutive lesson weeks in which the pupil missed (a share of) every lesson day."""
    d = daily.loc[in_scope[daily["pos"].to_numpy()] & (daily["hours"].to_numpy() > 0)]
    if d.empty:
        return _triggers("lrv_4w", [], [], [])
    regions = _regions(people)[d["pos"].to_numpy()]
    is_lesson = np.zeros(len(d), dtype=bool)
    for region in np.unique(regions):
        m = regions == region
        is_lesson[m] = cal.lesson_day_mask(d["date"].to_numpy()[m], str(region))
    d = d.loc[is_lesson]
    weekly = d.groupby(["pos", "week"], sort=True).agg(days=("date", "size"), first=("date", "min"))
    pos = weekly.index.get_level_values(0).to_numpy(np.int64)
    week = weekly.index.get_level_values(1).to_numpy(np.int64)
    needed = np.zeros(len(weekly), dtype=float)
    wregions = _regions(people)[pos]
    for region in np.unique(wregions):
        m = wregions == region
        needed[m] = cal.lesson_days_per_week(str(region), until=as_of)[week[m]]
    full = (weekly["days"].to_numpy() >= np.ceil(needed * cfg.lrv_min_day_share - _EPS)) & (needed > 0)
    pos, week, first = pos[full], week[full], weekly["first"].to_numpy()[full]
    if pos.size == 0:
        return _triggers("lrv_4w", [], [], [])
    new_run = np.r_[True, (np.diff(pos) != 0) | (np.diff(week) != 1)]
    run_id = np.cumsum(new_run) - 1
    run_start = np.flatnonzero(new_run)
    nth = np.arange(len(pos)) - run_start[run_id]  # 0-based week number inside the run
    fire = nth == cfg.lrv_weeks  # the first week beyond lrv_weeks
    run_last_week = week[np.r_[run_start[1:] - 1, len(pos) - 1]][run_id]
    current_of = {str(r): cal.last_lesson_week_id(as_of, str(r)) for r in np.unique(wregions)}
    current = np.array([current_of[str(r)] for r in wregions[full]], dtype=np.int64)
    ongoing = run_last_week >= current - 1
    m = fire & ((first >= since) | ongoing)
    run_len = np.bincount(run_id)[run_id]
    detail = [f"{n} opeenvolgende lesweken volledig ongeoorloofd afwezig" for n in run_len[m]]
    return _triggers("lrv_4w", people.index.to_numpy()[pos[m]], first[m], detail)


# --- sick reports (MAZL) ---------------------------------------------------------------------------
def _mazl(sick: pd.DataFrame | None, people: pd.DataFrame, cal: SchoolCalendar, cfg: RuleConfig, as_of: dt.date, since: np.datetime64) -> list[pd.DataFrame]:
    if sick is None:
        return []
    pos_all = people.index.get_indexer(sick["student_id"].astype(str))
    s = sick.loc[pos_all >= 0]
    pos = pos_all[pos_all >= 0]
    start = pd.to_datetime(s["start_date"]).to_numpy().astype("datetime64[D]")
    end = pd.to_datetime(s["end_date"]).to_numpy().astype("datetime64[D]")
    as_of_d = _day(as_of)
    ongoing = np.isnat(end) | (end >= as_of_d)  # an end after as_of is not known yet
    end = np.where(ongoing, as_of_d, end)
    covered = (start >= _day(cal.first)) & (end <= _day(cal.last))
    pos, start, end, ongoing = pos[covered], start[covered], end[covered], ongoing[covered]
    regions = _regions(people)[pos]
    ord_start = np.zeros(len(pos), np.int64)  # lesson days before the spell
    ord_end = np.zeros(len(pos), np.int64)
    week = np.zeros(len(pos), np.int64)
    for region in np.unique(regions):
        m = regions == region
        r = str(region)
        ord_start[m] = cal.lesson_day_ordinals(start[m], r) - cal.lesson_day_mask(start[m], r)
        ord_end[m] = cal.lesson_day_ordinals(end[m], r)
        week[m] = cal.lesson_week_ordinals(start[m], r)
    out: list[pd.DataFrame] = []
    ids = people.index.to_numpy()
    if cfg.enabled.get("mazl_long", True):
        n = cfg.mazl_long_days + 1
        long = (ord_end - ord_start) >= n
        fired = np.zeros(len(pos), "datetime64[D]")
        for region in np.unique(regions[long]):
            m = long & (regions == region)
            fired[m] = cal.date_of_lesson_day_ordinal(ord_start[m] + n, str(region))
        m = long & ((fired >= since) | ongoing)
        detail = [f"{k} schooldagen ziek{' (loopt nog)' if o else ''}" for k, o in zip(ord_end[m] - ord_start[m], ongoing[m], strict=True)]
        out.append(_triggers("mazl_long", ids[pos[m]], fired[m], detail))
    if cfg.enabled.get("mazl_frequent", True) and len(pos):
        k = cfg.mazl_frequent_count
        order = np.lexsort((start, pos))
        p, st, wk = pos[order], start[order], week[order]
        prev = np.arange(len(p)) - (k - 1)
        ok = prev >= 0
        prev_c = np.clip(prev, 0, None)
        ok &= p[prev_c] == p
        if cfg.mazl_frequent_unit == "lesson_weeks":
            ok &= wk[prev_c] > wk - cfg.mazl_frequent_window
        else:
            limit = (pd.DatetimeIndex(st.astype("datetime64[ns]")) - pd.DateOffset(months=cfg.mazl_frequent_window)).to_numpy()
            ok &= st[prev_c].astype("datetime64[ns]") > limit
        ok &= st >= since
        unit = "lesweken" if cfg.mazl_frequent_unit == "lesson_weeks" else "maanden"
        detail = [f"{k}e ziekmelding binnen {cfg.mazl_frequent_window} {unit}"] * int(ok.sum())
        out.append(_triggers("mazl_frequent", ids[p[ok]], st[ok], detail))
    return out


# --- VVA, deregistration, lateness ---------------------------------------------------------------
def _md(year: int, month_day: tuple[int, int]) -> dt.date:
    return dt.date(year, month_day[0], month_day[1])


def _vva(students: pd.DataFrame, people: pd.DataFrame, apps: pd.DataFrame | None, cfg: RuleConfig, as_of: dt.date, since: np.datetime64) -> list[pd.DataFrame]:
    sy = school_year_of(as_of)
    sy_start = school_year_start(sy)
    out: list[pd.DataFrame] = []
    if cfg.enabled.get("vva_not_applied", True):
        deadline = _md(sy_start.year + (cfg.vva_apply_by[0] < 8), cfg.vva_apply_by)
        if as_of >= deadline:
            cand = people.index[(people["school_year"] == sy) & people["final_year"] & people["expects_mbo"]]
            applied_by = applied_now = np.array([], dtype=object)
            if apps is not None:
                submitted = pd.to_datetime(apps["submitted_on"])
                applied_by = apps.loc[submitted <= pd.Timestamp(deadline), "student_id"].astype(str).unique()
                applied_now = apps["student_id"].astype(str).unique()  # apps is cut at as_of
            late = cand[~cand.isin(applied_by)]
            still = ~late.isin(applied_now)
            if not _day(deadline) >= since:
                late = late[still]
                still = still[still]
            detail = np.where(still, "geen mbo-aanmelding", "aangemeld na de uiterste datum")
            out.append(_triggers("vva_not_applied", late.to_numpy(), [_day(deadline)] * len(late), detail))
    if cfg.enabled.get("vva_no_enrolment", True):
        check = _md(sy_start.year + (cfg.vva_enrolled_by[0] < 8), cfg.vva_enrolled_by)
        prev_sy = f"{sy_start.year - 1}-{sy_start.year % 100:02d}"
        if as_of >= check:
            prev = students.loc[students["school_year"].astype(str) == prev_sy]
            prev = prev.loc[prev["final_year"].astype(bool) & prev["expects_mbo"].astype(bool), "student_id"].astype(str).unique()
            enrolled = np.array([], dtype=object)
            if apps is not None:
                enrolled_on = pd.to_datetime(apps["enrolled_on"])
                enrolled = apps.loc[enrolled_on.notna() & (enrolled_on <= pd.Timestamp(as_of)), "student_id"].astype(str).unique()
            missing = pd.Index(prev)[~pd.Index(prev).isin(enrolled)]
            out.append(_triggers("vva_no_enrolment", missing.to_numpy(), [_day(check)] * len(missing), ["geen inschrijving mbo"] * len(missing)))
    return out


def _deregistered(enrol: pd.DataFrame | None, people: pd.DataFrame, diplomas: pd.DataFrame | None, cfg: RuleConfig, since: np.datetime64) -> pd.DataFrame:
    """Deregistrations (enrolment end_date <= as_of) within the lookback of 18-23-year-olds without sk then."""
    if enrol is None:
        return _triggers("deregistered_no_sk", [], [], [])
    end = pd.to_datetime(enrol["end_date"]).to_numpy().astype("datetime64[D]")
    e = enrol.loc[end >= since]
    end = end[end >= since]
    pos = people.index.get_indexer(e["student_id"].astype(str))
    known = pos >= 0
    e, end, pos = e.loc[known], end[known], pos[known]
    birth = people["birth_date"].to_numpy()[pos]
    age = age_on(birth, end)
    no_sk = ~people["has_sk"].to_numpy()[pos]
    if diplomas is not None and len(pos):
        sk = diplomas.loc[diplomas["is_sk"].astype(bool)]
        first_sk = pd.to_datetime(sk["date"]).groupby(sk["student_id"].astype(str)).min()
        sk_date = first_sk.reindex(people.index[pos]).to_numpy().astype("datetime64[D]")
        no_sk &= ~(sk_date <= end)
    m = (age >= cfg.rmc_min_age) & (age < cfg.rmc_max_age) & no_sk
    reason = e["dereg_reason"].astype(str).to_numpy() if "dereg_reason" in e.columns else np.full(len(e), "")
    detail = [f"uitgeschreven ({r}), {a} jaar, zonder startkwalificatie" for r, a in zip(reason[m], age[m], strict=True)]
    return _triggers("deregistered_no_sk", people.index.to_numpy()[pos[m]], end[m], detail)


def _lateness(absences: pd.DataFrame | None, people: pd.DataFrame, cfg: RuleConfig, as_of: dt.date, since: np.datetime64) -> pd.DataFrame:
    """The (N+1)th late arrival of the school year; active within the lookback."""
    if absences is None:
        return _triggers("lateness", [], [], [])
    late = absences.loc[absences["category"] == cfg.late_category]
    dates = pd.to_datetime(late["date"]).to_numpy().astype("datetime64[D]")
    in_year = dates >= _day(school_year_start(school_year_of(as_of)))
    pos = people.index.get_indexer(late["student_id"].astype(str))[in_year]
    dates = dates[in_year]
    keep = pos >= 0
    pos, dates = pos[keep], dates[keep]
    order = np.lexsort((dates, pos))
    pos, dates = pos[order], dates[order]
    rank = np.arange(len(pos)) - np.searchsorted(pos, pos, side="left")  # 0-based per student
    m = (rank == cfg.lateness_max) & (dates >= since)
    detail = [f"meer dan {cfg.lateness_max} keer te laat"] * int(m.sum())
    return _triggers("lateness", people.index.to_numpy()[pos[m]], dates[m], detail)


# --- entry point -----------------------------------------------------------------------------------
def evaluate(
    tables: dict[str, pd.DataFrame],
    as_of: Any,
    *,
    config: RuleConfig | None = None,
    calendar: SchoolCalendar | None = None,
) -> pd.DataFrame:
    """Triggers active at as_of: fired within the lookback, or (long absence/sickness) still ongoing.

    Every table is cut at as_of before anything else, so later rows cannot change the answer.
    """
    cfg = config or RuleConfig()
    cal = calendar or SchoolCalendar.default()
    day = to_date(as_of)
    if not cal.covers(day):
        cal.is_lesson_day(day, "noord")  # raises the calendar's out-of-range DataError
    students = _need(tables, "students", ("student_id", "school_year", "calendar_region", "birth_date", "has_sk", "final_year", "expects_mbo"))
    if students is None:
        raise DataError(MSG_NO_STUDENTS)
    sy = school_year_of(day)
    students = students.loc[students["school_year"].astype(str) <= sy]
    absences = _cut(_need(tables, "absences", ("student_id", "date", "hours", "category")), "date", day)
    sick = _cut(_need(tables, "sick_reports", ("student_id", "start_date", "end_date")), "start_date", day)
    apps = _cut(_need(tables, "applications", ("student_id", "submitted_on", "enrolled_on")), "submitted_on", day)
    enrol = _cut(_need(tables, "enrolments", ("student_id", "end_date")), "end_date", day)
    diplomas = _cut(_need(tables, "diplomas", ("student_id", "date", "is_sk")), "date", day)
    people = _students_at(students, diplomas, day)
    since = _day(day - dt.timedelta(days=cfg.lookback_days))
    on = cfg.enabled
    out: list[pd.DataFrame] = []

    absence_rules = [r for r in ("leerplicht_16h_4w", "lrv_4w", "rmc_verzuim") if on.get(r, False)]
    if absences is not None and absence_rules:
        # periods are counted per school year: a fixed start keeps the "new period" points stable
        daily = _daily_unauthorised(absences, people, cal, cfg, max(school_year_start(sy), cal.first))
        age = people["age"].to_numpy()
        has_sk = people["has_sk"].to_numpy()
        leerplichtig = (age < cfg.leerplicht_age) | ((age < cfg.kwalificatieplicht_age) & ~has_sk)
        if on.get("leerplicht_16h_4w", False):
            trig, _, fired = _absence_window_rule(
                "leerplicht_16h_4w", daily, people, leerplichtig, hours=cfg.leerplicht_hours, weeks=cfg.leerplicht_weeks, since=since
            )
            trig["due_date"] = cal.add_working_days_array(fired, cfg.leerplicht_report_working_days)
            out.append(trig)
        if on.get("lrv_4w", False):
            out.append(_lrv(daily, people, leerplichtig, cal, cfg, day, since))
        if on.get("rmc_verzuim", False):
            rmc = ~leerplichtig & (age >= cfg.rmc_min_age) & (age < cfg.rmc_max_age) & ~has_sk
            trig, _, _ = _absence_window_rule(
                "rmc_verzuim", daily, people, rmc, hours=cfg.rmc_hours, weeks=cfg.rmc_weeks, since=since
            )
            out.append(trig)
    if on.get("mazl_long", False) or on.get("mazl_frequent", False):
        out.extend(_mazl(sick, people, cal, cfg, day, since))
    out.extend(_vva(students, people, apps, cfg, day, since))
    if on.get("deregistered_no_sk", False):
        out.append(_deregistered(enrol, people, diplomas, cfg, since))
    if on.get("lateness", False):
        out.append(_lateness(absences, people, cfg, day, since))
    return _frame(out)
