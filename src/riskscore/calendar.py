"""School calendar: holidays, lesson days and lesson weeks per region (noord/midden/zuid).

The Leerplichtwet counts absence per *lesson week*, so a holiday week must neither count as a week nor
break a run of consecutive weeks. Holidays are data (``data/school_holidays.csv``, the ministry's
schoolvakanties); public holidays are computed (Easter computus). Everything is precomputed into
day-indexed numpy arrays so that rules and features can map tens of millions of dates at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from riskscore.errors import ConfigError, DataError

REGIONS = ("noord", "midden", "zuid")
NATIONAL = "all"
HOLIDAY_COLUMNS = ("school_year", "region", "holiday", "start", "end")
#: the summer holiday is fixed by the ministry: schools may not move it
FIXED_HOLIDAYS = ("zomervakantie",)
FIRST_SCHOOL_YEAR = "2019-20"
LAST_SCHOOL_YEAR = "2027-28"
_EPOCH = np.datetime64("1970-01-01", "D")

MSG_OUT_OF_RANGE = "date {date} is outside the school calendar's range {first} .. {last}"
MSG_BAD_DATE = "not a date: {value!r}"
MSG_UNKNOWN_REGION = "unknown calendar region {region!r}; known: {known}"
MSG_BAD_HOLIDAYS = "school holiday table is invalid: {details}"
MSG_FIXED_OVERRIDE = "school {school} may not override the {holiday}: it is fixed by the ministry"
MSG_BAD_SCHOOL_YEAR = "not a school year like '2023-24': {value!r}"
MSG_NO_LESSON_WEEK = "no lesson week on or before {date} in region {region}"


def easter_sunday(year: int) -> dt.date:
    """Gregorian Easter (anonymous computus): Goede Vrijdag, Pasen, Hemelvaart and Pinksteren hang on it."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def public_holidays(year: int, *, liberation_day: bool = True) -> dict[dt.date, str]:
    """Dutch public holidays on which there are no lessons (Bevrijdingsdag is optional per school)."""
    easter = easter_sunday(year)
    kings = dt.date(year, 4, 27)
    if kings.weekday() == 6:  # on a Sunday Koningsdag moves to Saturday the 26th
        kings = dt.date(year, 4, 26)
    days = {
        dt.date(year, 1, 1): "Nieuwjaarsdag",
        easter - dt.timedelta(days=2): "Goede Vrijdag",
        easter + dt.timedelta(days=1): "Tweede Paasdag",
        kings: "Koningsdag",
        easter + dt.timedelta(days=39): "Hemelvaartsdag",
        easter + dt.timedelta(days=50): "Tweede Pinksterdag",
        dt.date(year, 12, 25): "Eerste Kerstdag",
        dt.date(year, 12, 26): "Tweede Kerstdag",
    }
    if liberation_day:
        days[dt.date(year, 5, 5)] = "Bevrijdingsdag"
    return days


def school_year_start(school_year: str) -> dt.date:
    """1 August of the school year's first calendar year ('2023-24' → 2023-08-01)."""
    try:
        first, second = school_year.split("-")
        year = int(first)
        if len(first) != 4 or len(second) != 2 or int(second) != (year + 1) % 100:
            raise ValueError(school_year)
    except (ValueError, AttributeError):
        raise DataError(MSG_BAD_SCHOOL_YEAR.format(value=school_year)) from None
    return dt.date(year, 8, 1)


def school_year_end(school_year: str) -> dt.date:
    """31 July of the school year's second calendar year ('2023-24' → 2024-07-31)."""
    return dt.date(school_year_start(school_year).year + 1, 7, 31)


def school_year_name(first_year: int) -> str:
    """The school year starting on 1 August of a calendar year (2023 → '2023-24')."""
    return f"{first_year}-{(first_year + 1) % 100:02d}"


def school_year_of(day: Any) -> str:
    """The school year containing a date; it runs 1 August – 31 July."""
    d = to_date(day)
    return school_year_name(d.year if d.month >= 8 else d.year - 1)


def school_year_first_years(days: np.ndarray) -> np.ndarray:
    """Vectorised school_year_of for day numbers since 1970: the school year's first calendar year."""
    months = (np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]")).astype(np.int64)
    year, month0 = np.divmod(months, 12)
    return (year + 1970 - (month0 < 7)).astype(np.int64)


# --- age: legal limits (16, 18, 23) turn on the birthday itself ---------------------------------
def age_on(birth_date: Any, on: Any) -> int:
    """Whole years of age on a date, exact on birthdays; born 29 February → 1 March in other years."""
    b, d = to_date(birth_date), to_date(on)
    return d.year - b.year - ((d.month, d.day) < (b.month, b.day))


def ages_on(birth_dates: Any, on: Any) -> np.ndarray:
    """Vectorised age_on: one date for all, or one date per birth date."""
    births = np.asarray(birth_dates)
    if births.dtype.kind == "M" and isinstance(on, dt.date) and not np.isnat(births).any():
        # calendar parts straight from numpy (a DatetimeIndex and its .year/.month/.day cost ~0.2 ms)
        days = births.astype("datetime64[D]")
        months = days.astype("datetime64[M]")
        years = months.astype("datetime64[Y]")
        bm = (months - years.astype("datetime64[M]")).astype(np.int64) + 1
        bd = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
        before = (on.month < bm) | ((on.month == bm) & (on.day < bd))
        return (on.year - (years.astype(np.int64) + 1970) - before).astype(np.int64)
    b = pd.DatetimeIndex(pd.to_datetime(births))
    if isinstance(on, dt.date):
        oy, om, od = on.year, on.month, on.day
    else:
        o = pd.DatetimeIndex(pd.to_datetime(np.asarray(on)))
        oy, om, od = o.year.to_numpy(), o.month.to_numpy(), o.day.to_numpy()
    bm, bd = b.month.to_numpy(), b.day.to_numpy()
    before = (om < bm) | ((om == bm) & (od < bd))
    return (oy - b.year.to_numpy() - before).astype(np.int64)


def birthdays(birth_days: np.ndarray, years: int) -> np.ndarray:
    """Day number (since 1970) on which each person turns ``years``: age_on(b, d) >= years ⇔ d >= it.

    Why: rules judge age per day of absence; comparing day numbers is exact and needs no loop.
    Born 29 February: the birthday is 1 March in a non-leap year (month + 28 days rolls over).
    """
    d = np.asarray(birth_days, dtype=np.int64).astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    day0 = (d - month.astype("datetime64[D]")).astype(np.int64)
    return ((month + 12 * years).astype("datetime64[D]").astype(np.int64) + day0).astype(np.int64)


def to_date(value: Any) -> dt.date:
    """Accept date, datetime, Timestamp, numpy datetime64 or ISO string; raise DataError otherwise."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise DataError(MSG_BAD_DATE.format(value=value)) from None
    if pd.isna(ts):
        raise DataError(MSG_BAD_DATE.format(value=value))
    return ts.date()


def _day_number(value: Any) -> int:
    return (np.datetime64(to_date(value), "D") - _EPOCH).astype(np.int64).item()


def _day_numbers(dates: Any) -> np.ndarray:
    """Days since 1970 for an array-like of dates, fast for datetime64 input."""
    arr = dates.to_numpy() if isinstance(dates, pd.Series | pd.Index) else np.asarray(dates)
    if arr.dtype.kind != "M":
        try:
            arr = pd.to_datetime(arr.ravel()).to_numpy().reshape(arr.shape)
        except (ValueError, TypeError):
            raise DataError(MSG_BAD_DATE.format(value=dates)) from None
    if np.isnat(arr).any():
        raise DataError(MSG_BAD_DATE.format(value="NaT"))
    return arr.astype("datetime64[D]").astype(np.int64)


@dataclass(frozen=True)
class _RegionTables:
    """Per-calendar lookup arrays indexed by day offset from the calendar's first Monday."""

    lesson_day: np.ndarray  # bool per day
    lesson_ordinal: np.ndarray  # int64: number of lesson days up to and including the day
    week_id: np.ndarray  # int64 per day: lesson-week id or -1
    week_monday: np.ndarray  # int64 day offset of the Monday of each lesson-week id


def _week_ordinal(week_id: np.ndarray) -> np.ndarray:
    """Per day: the id of its lesson week, or of the last one before it (-1 before the first)."""
    return np.maximum.accumulate(week_id).astype(np.int64)


@dataclass(frozen=True)
class CalendarView:
    """Several calendars' day tables stacked: row = calendar index, column = day offset.

    Lookups take (calendar index, day number since 1970) arrays and need no loop per school or region.
    """

    keys: tuple[str, ...]
    origin: int
    first_day: int
    last_day: int
    lesson_day: np.ndarray
    lesson_ordinal: np.ndarray
    week_id: np.ndarray
    week_ordinal: np.ndarray

    def offsets(self, days: np.ndarray) -> np.ndarray:
        """Column per day number; a day outside the calendar raises a DataError."""
        days = np.asarray(days, dtype=np.int64)
        if days.size and (days.min() < self.first_day or days.max() > self.last_day):
            bad = days[(days < self.first_day) | (days > self.last_day)][0]
            raise DataError(MSG_OUT_OF_RANGE.format(date=_EPOCH + int(bad), first=_EPOCH + self.first_day, last=_EPOCH + self.last_day))
        return days - self.origin

    def cells(self, key: np.ndarray, days: np.ndarray, *, in_range: bool = False) -> np.ndarray:
        """Flat positions of (calendar, day) in the tables: compute once, then take() several tables.

        ``in_range=True``: the caller already cut the days to the calendar's range (skips two passes).
        """
        out = np.multiply(key, self.lesson_day.shape[1], dtype=np.int64)
        if in_range:
            out += days
            out -= self.origin
            return out
        out += self.offsets(days)
        return out

    def take(self, table: str, cells: np.ndarray) -> np.ndarray:
        """Values of one table ('lesson_day', 'week_id', 'week_ordinal', 'lesson_ordinal') at flat cells."""
        return getattr(self, table).reshape(-1)[cells]  # type: ignore[no-any-return]

    def is_lesson_day(self, key: np.ndarray, days: np.ndarray) -> np.ndarray:
        return self.take("lesson_day", self.cells(key, days))

    def lesson_week(self, key: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Lesson-week id per day (-1 in a holiday week); ids are consecutive over holidays."""
        return self.take("week_id", self.cells(key, days))

    def lesson_week_ordinal(self, key: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Id of the lesson week containing each day, or of the last one before it."""
        return self.take("week_ordinal", self.cells(key, days))

    def lesson_day_ordinal(self, key: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Lesson days from the calendar's start up to and including each day."""
        return self.take("lesson_ordinal", self.cells(key, days))

    def school_year_first_years(self, days: np.ndarray) -> np.ndarray:
        """Vectorised school_year_of (first calendar year) by table lookup."""
        offsets = self.offsets(days)
        first = int(school_year_first_years(np.array([self.origin]))[0])
        starts = np.array([(np.datetime64(f"{y}-08-01", "D") - _EPOCH).astype(np.int64) - self.origin
                           for y in range(first + 1, first + 2 + self.lesson_day.shape[1] // 365 + 1)], dtype=np.int64)
        return first + np.searchsorted(starts, offsets, side="right")

    def day_of_lesson_ordinal(self, key: np.ndarray, ordinals: np.ndarray) -> np.ndarray:
        """Day number of the n-th lesson day of each calendar (inverse of lesson_day_ordinal)."""
        key, ordinals = np.asarray(key, np.int64), np.asarray(ordinals, np.int64)
        out = np.empty(len(key), dtype=np.int64)
        for k in np.unique(key):
            m = key == k
            row = self.lesson_ordinal[k]
            if ordinals[m].max() > row[-1]:
                raise DataError(MSG_OUT_OF_RANGE.format(date=f"lesson day #{ordinals[m].max()}", first=_EPOCH + self.first_day, last=_EPOCH + self.last_day))
            out[m] = np.searchsorted(row, ordinals[m], side="left") + self.origin
        return out

    def lesson_days_per_week(self, key: int, until_day: int) -> np.ndarray:
        """Lesson days in each lesson week of one calendar (index = week id), up to and including a day."""
        cut = self.offsets(np.array([until_day]))[0] + 1
        lesson = self.lesson_day[key, :cut]
        n_weeks = int(self.week_id[key].max()) + 1
        return np.bincount(self.week_id[key, :cut][lesson], minlength=n_weeks).astype(np.int64)


#: views of at most this many calendars are kept (SchoolCalendar.view)
_VIEW_CACHE_KEYS = 8


class SchoolCalendar:
    """Lesson days and lesson weeks per calendar (a region, or a school that overrides its region)."""

    def __init__(
        self,
        holidays: pd.DataFrame,
        *,
        overrides: pd.DataFrame | None = None,
        liberation_day: bool = True,
    ) -> None:
        self.holidays = _check_holidays(holidays)
        self.liberation_day = liberation_day
        self.first = school_year_start(FIRST_SCHOOL_YEAR)
        self.last = dt.date(school_year_start(LAST_SCHOOL_YEAR).year + 1, 7, 31)
        # arrays start on the Monday on/before the first covered day and end on the Sunday after the last
        self._origin = _day_number(self.first) - to_date(self.first).weekday()
        last_day = _day_number(self.last)
        self._n_days = (last_day - self._origin) // 7 * 7 + 7
        self._first_day = _day_number(self.first)
        self._last_day = last_day
        self._public = self._public_holiday_mask()
        self._tables: dict[str, _RegionTables] = {}
        for region in REGIONS:
            rows = self.holidays[self.holidays["region"].isin([region, NATIONAL])]
            self._tables[region] = self._build(rows)
        if overrides is not None:
            self._add_overrides(overrides)

    # --- construction --------------------------------------------------------------------------
    @classmethod
    def default(cls, *, overrides: pd.DataFrame | None = None, liberation_day: bool = True) -> SchoolCalendar:
        """The packaged ministry calendar; schools may override non-summer holidays."""
        source = resources.files("riskscore").joinpath("data", "school_holidays.csv")
        with source.open("r", encoding="utf-8") as fh:
            holidays = pd.read_csv(fh, comment="#", dtype=str)
        return cls(holidays, overrides=overrides, liberation_day=liberation_day)

    def _public_holiday_mask(self) -> np.ndarray:
        mask = np.zeros(self._n_days, dtype=bool)
        for year in range(self.first.year, self.last.year + 2):
            for day in public_holidays(year, liberation_day=self.liberation_day):
                offset = _day_number(day) - self._origin
                if 0 <= offset < self._n_days:
                    mask[offset] = True
        return mask

    def _build(self, rows: pd.DataFrame) -> _RegionTables:
        free = self._public.copy()
        for start, end in zip(rows["start"], rows["end"], strict=True):
            a = max(_day_number(start) - self._origin, 0)
            b = min(_day_number(end) - self._origin, self._n_days - 1)
            if a <= b:
                free[a : b + 1] = True
        weekday = np.arange(self._n_days) % 7  # origin is a Monday
        lesson = (weekday < 5) & ~free
        in_range = np.zeros(self._n_days, dtype=bool)
        in_range[self._first_day - self._origin : self._last_day - self._origin + 1] = True
        lesson &= in_range
        ordinal = np.cumsum(lesson, dtype=np.int64)
        week_has_lesson = lesson.reshape(-1, 7).any(axis=1)
        week_counter = np.cumsum(week_has_lesson) - 1
        week_of_week = np.where(week_has_lesson, week_counter, -1)
        week_id = np.repeat(week_of_week, 7).astype(np.int64)
        week_monday = np.flatnonzero(week_has_lesson).astype(np.int64) * 7
        return _RegionTables(lesson, ordinal, week_id, week_monday)

    def _add_overrides(self, overrides: pd.DataFrame) -> None:
        """Per-school calendars: the region's holidays with the school's own dates for named holidays."""
        required = {"school_id", *HOLIDAY_COLUMNS}
        missing = required - set(overrides.columns)
        if missing:
            raise ConfigError(MSG_BAD_HOLIDAYS.format(details=f"override columns missing: {sorted(missing)}"))
        for school, group in overrides.groupby("school_id", sort=False):
            fixed = group[group["holiday"].isin(FIXED_HOLIDAYS)]
            if len(fixed):
                raise ConfigError(MSG_FIXED_OVERRIDE.format(school=school, holiday=fixed["holiday"].iloc[0]))
            regions = group["region"].unique()
            if len(regions) != 1 or regions[0] not in REGIONS:
                raise ConfigError(MSG_UNKNOWN_REGION.format(region=list(regions), known=REGIONS))
            own = _check_holidays(group[list(HOLIDAY_COLUMNS)])
            base = self.holidays[self.holidays["region"].isin([regions[0], NATIONAL])]
            replaced = base.set_index(["school_year", "holiday"]).index.isin(
                own.set_index(["school_year", "holiday"]).index
            )
            self._tables[str(school)] = self._build(pd.concat([base[~replaced], own], ignore_index=True))

    # --- lookups -------------------------------------------------------------------------------
    def key_for(self, school_ids: Any, regions: Any) -> np.ndarray:
        """The calendar of each pupil: the school's own when it has one, else the region's.

        Why one function: the rules and the features must count the same lesson weeks.
        """
        regions = np.asarray(regions, dtype=object)
        own_keys = [k for k in self._tables if k not in REGIONS]
        if not own_keys or school_ids is None:
            return regions
        schools = np.asarray(school_ids, dtype=object)
        own = pd.Index(own_keys).get_indexer(schools.astype(str)) >= 0
        return np.where(own, schools.astype(str), regions)

    def view(self, keys: Any) -> CalendarView:
        """Day-indexed tables of several calendars stacked, for lookups by (calendar index, day) at once.

        Small views (a few calendars: the regions, one pupil's school) are kept per set of keys, with
        read-only arrays: the features and the rules ask for the same one in every call, and stacking
        the tables costs more than a one-pupil rule evaluation. Views of many school calendars (~80 kB
        each) are built per call as before, so a cache never holds much memory."""
        names = tuple(str(k) for k in keys)
        if len(names) > _VIEW_CACHE_KEYS:
            return self._stack(names)
        cache: dict[tuple[str, ...], CalendarView] = self.__dict__.setdefault("_views", {})
        view = cache.get(names)
        if view is None:
            view = self._stack(names)
            for table in (view.lesson_day, view.lesson_ordinal, view.week_id, view.week_ordinal):
                table.flags.writeable = False
            if len(cache) >= 64:  # many different small sets: start afresh
                cache.clear()
            cache[names] = view
        return view

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (e.g. shipped to Spark workers) without the cached views."""
        return {k: v for k, v in self.__dict__.items() if k != "_views"}

    def _stack(self, names: tuple[str, ...]) -> CalendarView:
        tables = [self._table(k) for k in names]
        return CalendarView(
            keys=names,
            origin=self._origin,
            first_day=self._first_day,
            last_day=self._last_day,
            lesson_day=np.stack([t.lesson_day for t in tables]) if tables else np.zeros((0, self._n_days), bool),
            lesson_ordinal=np.stack([t.lesson_ordinal for t in tables]) if tables else np.zeros((0, self._n_days), np.int64),
            week_id=np.stack([t.week_id for t in tables]) if tables else np.zeros((0, self._n_days), np.int64),
            week_ordinal=np.stack([_week_ordinal(t.week_id) for t in tables]) if tables else np.zeros((0, self._n_days), np.int64),
        )

    @property
    def calendars(self) -> tuple[str, ...]:
        """Regions plus schools with their own calendar."""
        return tuple(self._tables)

    def _table(self, region: str) -> _RegionTables:
        try:
            return self._tables[region]
        except KeyError:
            raise DataError(MSG_UNKNOWN_REGION.format(region=region, known=self.calendars)) from None

    def _offset(self, value: Any) -> int:
        day = _day_number(value)
        if not self._first_day <= day <= self._last_day:
            raise DataError(MSG_OUT_OF_RANGE.format(date=to_date(value), first=self.first, last=self.last))
        return day - self._origin

    def _offsets(self, dates: Any) -> np.ndarray:
        days = _day_numbers(dates)
        if days.size and (days.min() < self._first_day or days.max() > self._last_day):
            bad = days[(days < self._first_day) | (days > self._last_day)][0]
            raise DataError(
                MSG_OUT_OF_RANGE.format(date=_EPOCH + int(bad), first=self.first, last=self.last)
            )
        return days - self._origin

    def _date_of_offset(self, offset: int) -> dt.date:
        return (_EPOCH + int(offset + self._origin)).astype(dt.date)

    def covers(self, day: Any) -> bool:
        """Whether a date lies within the calendar's school years."""
        return self._first_day <= _day_number(day) <= self._last_day

    @staticmethod
    def school_year_of(day: Any) -> str:
        """The school year containing a date (1 August – 31 July)."""
        return school_year_of(day)

    @staticmethod
    def school_year_start(school_year: str) -> dt.date:
        """1 August of the school year."""
        return school_year_start(school_year)

    def is_lesson_day(self, day: Any, region: str) -> bool:
        """Monday–Friday, outside school holidays and public holidays."""
        return bool(self._table(region).lesson_day[self._offset(day)])

    def lesson_days(self, start: Any, end: Any, region: str) -> pd.DatetimeIndex:
        """The lesson days in [start, end], both inclusive."""
        a, b = self._offset(start), self._offset(end)
        idx = np.flatnonzero(self._table(region).lesson_day[a : b + 1]) + a + self._origin
        return pd.DatetimeIndex((_EPOCH + idx).astype("datetime64[ns]"))

    def school_days_between(self, start: Any, end: Any, region: str) -> int:
        """Number of lesson days in [start, end], both inclusive (0 when end < start)."""
        a, b = self._offset(start), self._offset(end)
        if b < a:
            return 0
        ordinal = self._table(region).lesson_ordinal
        return int(ordinal[b] - (ordinal[a - 1] if a > 0 else 0))

    def lesson_day_ordinals(self, dates: Any, region: str) -> np.ndarray:
        """Lesson days from the calendar's start up to and including each date (vectorised)."""
        return self._table(region).lesson_ordinal[self._offsets(dates)]

    def date_of_lesson_day_ordinal(self, ordinals: Any, region: str) -> np.ndarray:
        """The date (datetime64[D]) of the n-th lesson day; inverse of lesson_day_ordinals on lesson days."""
        ordinal = self._table(region).lesson_ordinal
        ords = np.asarray(ordinals, dtype=np.int64)
        if ords.size and (ords.min() < 1 or ords.max() > ordinal[-1]):
            raise DataError(MSG_OUT_OF_RANGE.format(date=f"lesson day #{ords.max()}", first=self.first, last=self.last))
        pos = np.searchsorted(ordinal, ords, side="left")
        return _EPOCH + (pos + self._origin)

    def lesson_week_ids(self, dates: Any, region: str) -> np.ndarray:
        """Lesson-week id per date; consecutive lesson weeks have consecutive ids, holiday weeks -1.

        A lesson week is a Monday–Sunday week with at least one lesson day (so a week with only a
        public holiday off still counts). Ids are comparable only within one region.
        """
        return self._table(region).week_id[self._offsets(dates)]

    def lesson_day_mask(self, dates: Any, region: str) -> np.ndarray:
        """Whether each date is a lesson day (vectorised is_lesson_day)."""
        return self._table(region).lesson_day[self._offsets(dates)]

    def lesson_week_ordinals(self, dates: Any, region: str) -> np.ndarray:
        """Id of the lesson week containing each date, or of the last one before it (-1 before the first).

        Why: windows like "12 school weeks" must place events in holiday weeks somewhere.
        """
        table = self._table(region)
        offsets = self._offsets(dates)
        return np.searchsorted(table.week_monday, offsets, side="right").astype(np.int64) - 1

    def lesson_days_per_week(self, region: str, *, until: Any = None) -> np.ndarray:
        """Lesson days in each lesson week (index = week id), counting only days up to ``until``."""
        table = self._table(region)
        lesson = table.lesson_day
        if until is not None:
            lesson = lesson.copy()
            lesson[self._offset(until) + 1 :] = False
        ids = table.week_id[lesson]
        return np.bincount(ids, minlength=len(table.week_monday)).astype(np.int64)

    def lesson_week_monday(self, week_ids: Any, region: str) -> np.ndarray:
        """The Monday (datetime64[D]) of each lesson-week id."""
        mondays = self._table(region).week_monday
        ids = np.asarray(week_ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(mondays)):
            raise DataError(MSG_OUT_OF_RANGE.format(date=f"lesson week #{ids.max()}", first=self.first, last=self.last))
        return _EPOCH + (mondays[ids] + self._origin)

    def last_lesson_week_id(self, as_of: Any, region: str) -> int:
        """The id of the lesson week containing as_of, or of the last one before it."""
        table = self._table(region)
        offset = self._offset(as_of)
        current = int(table.week_id[offset])
        if current >= 0:
            return current
        before = np.searchsorted(table.week_monday, offset, side="right") - 1
        if before < 0:
            raise DataError(MSG_NO_LESSON_WEEK.format(date=to_date(as_of), region=region))
        return int(before)

    def lesson_week_window(self, as_of: Any, n_weeks: int, region: str) -> tuple[dt.date, dt.date]:
        """The dates spanned by the last n lesson weeks up to as_of: (Monday of the first, as_of).

        The week containing as_of counts as the last one when it is a lesson week; holiday weeks in
        between are spanned but not counted.
        """
        if n_weeks < 1:
            raise DataError(MSG_BAD_DATE.format(value=f"n_weeks={n_weeks}"))
        last = self.last_lesson_week_id(as_of, region)
        first = max(last - n_weeks + 1, 0)
        start = self.lesson_week_monday([first], region)[0].astype(dt.date)
        return start, to_date(as_of)

    def add_working_days(self, day: Any, n: int) -> dt.date:
        """The n-th working day after a date (Mon–Fri, not a public holiday): legal reporting deadlines."""
        d = to_date(day)
        step = 1 if n >= 0 else -1
        remaining = abs(n)
        cache: dict[int, dict[dt.date, str]] = {}
        while remaining:
            d += dt.timedelta(days=step)
            if d.year not in cache:
                cache[d.year] = public_holidays(d.year, liberation_day=False)
            if d.weekday() < 5 and d not in cache[d.year]:
                remaining -= 1
        return d

    def add_working_days_array(self, dates: Any, n: int) -> np.ndarray:
        """Vectorised add_working_days for datetime64 arrays (numpy busday arithmetic)."""
        days = np.asarray(dates).astype("datetime64[D]")
        if days.size == 0:
            return days
        years = days.astype("datetime64[Y]").astype(np.int64) + 1970
        holidays = [
            np.datetime64(h, "D")
            for y in range(int(years.min()) - 1, int(years.max()) + 2)
            for h in public_holidays(y, liberation_day=False)
        ]
        # rolling a weekend start back to Friday makes "Saturday + 5" end on the next Friday
        return np.busday_offset(days, n, roll="backward" if n >= 0 else "forward", holidays=holidays)


def _check_holidays(holidays: pd.DataFrame) -> pd.DataFrame:
    """Validate the holiday table; why: a typo in a date would silently shift every lesson week."""
    missing = set(HOLIDAY_COLUMNS) - set(holidays.columns)
    if missing:
        raise ConfigError(MSG_BAD_HOLIDAYS.format(details=f"columns missing: {sorted(missing)}"))
    out = holidays[list(HOLIDAY_COLUMNS)].copy()
    out["region"] = out["region"].astype(str).str.strip().str.lower()
    bad_region = ~out["region"].isin([*REGIONS, NATIONAL])
    if bad_region.any():
        raise ConfigError(MSG_BAD_HOLIDAYS.format(details=f"unknown region {out['region'][bad_region].iloc[0]!r}"))
    try:
        start = pd.to_datetime(out["start"], format="%Y-%m-%d")
        end = pd.to_datetime(out["end"], format="%Y-%m-%d")
    except (ValueError, TypeError) as exc:
        raise ConfigError(MSG_BAD_HOLIDAYS.format(details=str(exc))) from None
    if (end < start).any():
        raise ConfigError(MSG_BAD_HOLIDAYS.format(details="a holiday ends before it starts"))
    out["start"] = start.dt.date
    out["end"] = end.dt.date
    return out

