"""School-system absence exports (SOMtoday, Magister, EduArte, …) read through mapping profiles.

A *profile* (``riskscore/data/profiles/<name>.yaml``, or any YAML file a user writes) says where
the fields of one system's export are: format (csv | json), the columns (or JSON paths) of the
pupil number, start/end date-times, lesson hours, absence code, hours, record id and (board-wide
exports) the BRIN of each row. A *school file* (YAML, one per school or board) says what the
school's own codes mean (one of :data:`CATEGORIES`), its lesson timetable and whether hours count as
lesson hours or clock hours. An unknown code stops the import with the list of unknown codes: never
a guess.

Natural key of a record: the system's record id (pseudonymised: a profile may map it to any
column) when the profile has one; otherwise pupil + date (+ lesson hour): the export is the truth for
that pupil-day, so a corrected category replaces the stored one. Records are spread over the lesson
days they cover (the school calendar of the school's region: weekends, holidays and public holidays
are no lesson days); a record with no lesson day is counted apart, never silently dropped.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from riskscore.calendar import SchoolCalendar
from riskscore.contracts import ABSENCE_CATEGORIES_KNOWN, CALENDAR_REGIONS
from riskscore.errors import ConfigError, DataError
from riskscore.ingest.formats import (
    TextTable,
    blank_to_na,
    parse_bool,
    parse_dates,
    parse_decimal,
    read_text_table,
)
from riskscore.ingest.pseudonym import pseudonymise, pseudonymise_record_ids, shown

#: what a school's code may mean: the absence vocabulary plus sick (which becomes a sick report)
CATEGORIES: tuple[str, ...] = ("unauthorised", "authorised", "sick", "late",
                               *(c for c in ABSENCE_CATEGORIES_KNOWN if c not in ("unauthorised", "authorised", "late")))
MSG_UNKNOWN_CODES = ("{file}: absence code(s) not in the code table of school {school}: {codes}; add them to "
                     "the school file ({school_file}) as one of " + ", ".join(CATEGORIES) + "; nothing imported")
MSG_UNKNOWN_SCHOOLS = ("{file}: BRIN(s) in column '{column}' not covered by the school file ({school_file}): {brins}; "
                       "add them under 'schools:' (a board-wide export) or import each school's own export; "
                       "nothing imported")
MSG_YAML_BOOL = ("code {value!r}: YAML reads an unquoted yes/no word as true/false; write the code in quotes "
                 "(\"{hint}\": ...)")
MSG_NO_PROFILE = "unknown profile {name!r}: use one of {known}, or the path of your own profile YAML"
MSG_BAD_YAML = "{path}: {details}"


class ProfileColumns(BaseModel):
    model_config = ConfigDict(extra="forbid")
    student: str = Field(description="Column/JSON path of the pupil number.")
    start: str | None = Field(None, description="Start date or date-time.")
    end: str | None = Field(None, description="End date-time (optional).")
    date: str | None = Field(None, description="Date, when start is a time only.")
    start_time: str | None = None
    end_time: str | None = None
    lesson: str | None = Field(None, description="Lesson hour number (one lesson).")
    begin_lesson: str | None = None
    end_lesson: str | None = None
    code: str = Field(description="The school's absence code.")
    school: str | None = Field(None, description="BRIN of each row (board-wide exports); else the school file's school_id.")
    authorised: str | None = Field(None, description="The system's yes/no authorised flag (kept for checks).")
    hours: str | None = Field(None, description="Hours, when the system exports them.")
    record_id: str | None = Field(None, description="The system's id of the absence record (corrections).")
    group: str | None = Field(None, description="The pupil's class or mentor group (klas, mentorgroep), when the "
                                                "export has one: kept as the students table's mentor_group.")


class Profile(BaseModel):
    """How one school system's absence export looks."""

    model_config = ConfigDict(extra="forbid")
    name: str
    system: str
    format: str = Field("csv", pattern="^(csv|json)$")
    records: str | None = Field(None, description="JSON: the key holding the list of records (items, Items).")
    student_number: str = Field("national", pattern="^(national|local)$",
                                description="national (BSN/onderwijsnummer: joins DUO) or local (the school's own "
                                            "number: joins the school's other local-number imports, see README)")
    columns: ProfileColumns
    sources: list[str] = Field(default_factory=list, description="Where each field is documented.")


class SchoolFile(BaseModel):
    """One school's code table, timetable and counting rule."""

    model_config = ConfigDict(extra="forbid")
    school_id: str = Field(min_length=2, max_length=12, description="BRIN of the school (as DUO writes it).")
    calendar_region: str | None = None
    hours: str = Field("lessons", pattern="^(lessons|clock)$",
                       description="lessons: one lesson counts as one hour; clock: clock hours of the timetable")
    timetable: dict[int, str] = Field(description="lesson number -> 'hh:mm-hh:mm'")
    codes: dict[str, str] = Field(description="absence code -> one of CATEGORIES (unauthorised, authorised, sick, late, …)")
    schools: list[str] = Field(default_factory=list, description="Further BRINs this file covers (a board-wide export "
                                                                  "whose profile maps a school column).")
    volume_min_ratio: float = Field(0.5, gt=0, le=1, description="flag an import below this share of the school's usual records per pupil")
    join_min_share: float = Field(0.9, ge=0, le=1, description="flag the school when fewer of its absence/sick records "
                                                               "belong to a pupil of the students table")
    max_age_days: int = Field(8, ge=1, le=366, description="flag the school when its last absence import is older")
    source: str = Field("", exclude=True, description="The file it was read from (set by load_school).")

    @field_validator("codes", mode="before")
    @classmethod
    def _known(cls, value: Any) -> dict[str, str]:
        if not isinstance(value, dict):
            raise ValueError("codes must be a table: code -> category")
        out: dict[str, str] = {}
        for k, v in value.items():
            if isinstance(k, bool):  # a YAML yes/no word read as true/false (1.1 booleans)
                raise ValueError(MSG_YAML_BOOL.format(value=k, hint="ON" if k else "NO"))
            if v not in CATEGORIES:
                raise ValueError(f"code {k!r} maps to {v!r}; allowed: {', '.join(CATEGORIES)}")
            out[str(k).strip().upper()] = str(v)
        return out

    @field_validator("school_id")
    @classmethod
    def _brin(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("schools")
    @classmethod
    def _brins(cls, value: list[str]) -> list[str]:
        return [str(v).strip().upper() for v in value]

    def brins(self) -> list[str]:
        """Every BRIN this school file covers, its own first."""
        return [self.school_id, *(b for b in self.schools if b != self.school_id)]

    @field_validator("calendar_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and value not in CALENDAR_REGIONS:
            raise ValueError(f"calendar_region must be one of {', '.join(CALENDAR_REGIONS)}")
        return value

    @field_validator("timetable")
    @classmethod
    def _slots(cls, value: dict[int, str]) -> dict[int, str]:
        for k, v in value.items():
            if not re.fullmatch(r"\d{1,2}:\d{2}-\d{1,2}:\d{2}", str(v).replace(" ", "")):
                raise ValueError(f"lesson {k}: {v!r} is not 'hh:mm-hh:mm'")
        if not value:
            raise ValueError("the timetable is empty")
        return value

    def slots(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lesson numbers, start minutes, end minutes), sorted by start."""
        nums, starts, ends = [], [], []
        for k, v in sorted(self.timetable.items(), key=lambda kv: kv[1]):
            a, b = str(v).replace(" ", "").split("-")
            nums.append(int(k))
            starts.append(_minutes(a))
            ends.append(_minutes(b))
        return np.array(nums), np.array(starts), np.array(ends)


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


class _Loader(yaml.SafeLoader):
    """YAML with only true/false as booleans (YAML 1.2): absence codes such as ON (ongeoorloofd), NO, Y
    and N stay text, where YAML 1.1 would read ON and NO as true and false."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(MSG_BAD_YAML.format(path=path, details=str(exc).splitlines()[0])) from None


def builtin_profiles() -> list[str]:
    folder = resources.files("riskscore") / "data" / "profiles"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_profile(name_or_path: str | Path) -> Profile:
    path = Path(name_or_path)
    if not (path.suffix.lower() in (".yaml", ".yml") and path.is_file()):
        known = builtin_profiles()
        if str(name_or_path) not in known:
            raise ConfigError(MSG_NO_PROFILE.format(name=str(name_or_path), known=", ".join(known)))
        path = Path(str(resources.files("riskscore") / "data" / "profiles" / f"{name_or_path}.yaml"))
    try:
        return Profile.model_validate(_load_yaml(path))
    except ValidationError as exc:
        raise ConfigError(MSG_BAD_YAML.format(path=path, details=_pyd(exc))) from None


def load_school(path: str | Path) -> SchoolFile:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"school file not found: {path}")
    try:
        return SchoolFile.model_validate(_load_yaml(path)).model_copy(update={"source": str(path)})
    except ValidationError as exc:
        raise ConfigError(MSG_BAD_YAML.format(path=path, details=_pyd(exc))) from None


def _pyd(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])


# --- reading an export ---------------------------------------------------------------------------
@dataclass
class AbsenceFile:
    rows: pd.DataFrame  # staging school_absences, one row per source record
    read_rows: int
    duplicate_in_file: int
    blank_rows: int
    encoding: str
    dropped_columns: list[str]
    notes: list[str] = field(default_factory=list)
    duplicate_by_school: dict[str, int] = field(default_factory=dict)


def _get(item: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(item, dict):
            item = item.get(part)
        elif isinstance(item, list) and part.isdigit() and int(part) < len(item):
            item = item[int(part)]
        else:
            return None
    return item


def _read_json(path: Path, profile: Profile, encoding: str | None) -> TextTable:
    from riskscore.ingest.formats import decode

    text, used = decode(path, encoding)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path.name}, line {exc.lineno}: not valid JSON: {exc.msg}") from None
    items = doc.get(profile.records or "items", []) if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise DataError(f"{path.name}: no list of records under {profile.records or 'items'!r}")
    wanted = {k: v for k, v in profile.columns.model_dump().items() if v}
    frame = pd.DataFrame({v: [_str(_get(it, v)) for it in items] for v in wanted.values()})
    # "line" of a JSON record: its position (1-based) in the list, stated as such in messages
    return TextTable(path, frame, np.arange(1, len(items) + 1, dtype=np.int64), used, "json", 0)


def _str(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def read_absences(path: str | Path, *, profile: Profile, school: SchoolFile, key: bytes,
                  encoding: str | None = None) -> AbsenceFile:
    """One export → staging rows (student_id, school_id, record_key, start, end, hours, category, code, _line).

    ``_line`` is the file line of each row (its position in a JSON list): the import counts every row
    read into one bucket, and a record spread over days is still one row read."""
    path = Path(path)
    if profile.format == "json":
        table = _read_json(path, profile, encoding)
    else:
        table = read_text_table(path, encoding=encoding)
    df = table.frame
    cols = profile.columns
    wanted = [c for c in cols.model_dump().values() if c]
    if len(df) == 0:
        return AbsenceFile(_empty(), 0, 0, table.blank_rows, table.encoding, [], ["0 rows in the file"])
    from riskscore.ingest.formats import require_columns

    require_columns(table, [c for c in wanted if c])
    dropped = [c for c in df.columns if c not in wanted]
    codes = blank_to_na(df[cols.code]).str.upper()
    unknown = sorted(set(codes.dropna().unique()) - set(school.codes))
    if codes.isna().any():
        pos = int(np.flatnonzero(codes.isna().to_numpy())[0])
        raise table.fail(pos, cols.code, "no absence code", df[cols.code].iloc[pos])
    if unknown:
        raise DataError(MSG_UNKNOWN_CODES.format(file=path.name, school=school.school_id,
                                                 codes=", ".join(shown(u, quote=False) for u in unknown[:30]),
                                                 school_file=school.source or "--school"))
    brin = _schools(table, profile, school)
    category = codes.map(school.codes)
    start, end = _times(table, profile, school)
    hours = _hours(table, profile, school, start, end)
    person = blank_to_na(df[cols.student])
    if person.isna().any():
        pos = int(np.flatnonzero(person.isna().to_numpy())[0])
        raise table.fail(pos, cols.student, "no pupil number", "")
    sid = pupil_ids(person, brin, key, local=profile.student_number == "local")
    if cols.record_id:
        record = blank_to_na(df[cols.record_id])
        if record.isna().any():
            pos = int(np.flatnonzero(record.isna().to_numpy())[0])
            raise table.fail(pos, cols.record_id, "no record id", "")
        record_key = profile.name + ":" + pseudonymise_record_ids(record, key, namespace=profile.name)
    else:  # pupil + date (+ lesson hour): the export is the truth for that pupil-day
        lesson_col = cols.lesson or cols.begin_lesson
        lesson = blank_to_na(df[lesson_col]).fillna("") if lesson_col else pd.Series("", index=df.index)
        record_key = sid.astype(str) + "|" + start.dt.strftime("%Y-%m-%d") + "|" + lesson.astype(str)
    rows = pd.DataFrame({
        "student_id": sid,
        "school_id": brin.to_numpy(),
        "record_key": record_key.to_numpy(),
        "start": start.to_numpy(),
        "end": end.to_numpy(),
        "hours": hours.to_numpy(),
        "category": category.to_numpy(),
        "code": codes.to_numpy(),
        "profile": profile.name,
    })
    if cols.group:  # the class as the school writes it (trimmed, at most 32 characters; blank: unknown)
        group = blank_to_na(df[cols.group]).str.strip().str.slice(0, 32)
        rows["mentor_group"] = group.astype(object).where(group.notna(), None).to_numpy()
    notes = []
    if cols.authorised:  # the system's own flag, checked against the school's code table (which decides)
        flag = parse_bool(df[cols.authorised], table=table, column=cols.authorised).to_numpy()
        cat = category.to_numpy()
        disagree = int((((cat == "unauthorised") & flag) | ((cat == "authorised") & ~flag)).sum())
        if disagree:
            notes.append(f"{disagree} record(s) where {profile.system}'s '{cols.authorised}' flag disagrees with the "
                         "school's code table; the code table was followed")
    n = len(rows)
    dup = rows.duplicated().to_numpy()
    by_school = {str(k): int(v) for k, v in rows.loc[dup, "school_id"].value_counts().items()}
    rows = rows[~dup].assign(_line=table.lines[~dup]).reset_index(drop=True)
    return AbsenceFile(rows, n, int(dup.sum()), table.blank_rows, table.encoding, dropped, notes, by_school)


def pupil_ids(numbers: pd.Series, brins: pd.Series, key: bytes, *, local: bool) -> pd.Series:
    """Pseudonyms of pupil numbers: national numbers (BSN, onderwijsnummer) with no namespace, so they
    join DUO's files; a school's own (local) numbers within the namespace of the row's BRIN, the same
    in every kind of import (absence exports, ``--kind tables --student-number local``), so that a
    school's local-number exports join each other and never another school's pupil."""
    if not local:
        return pseudonymise(numbers, key)
    out = pd.Series([None] * len(numbers), index=numbers.index, dtype=object, name="student_id")
    upper = brins.astype(str).str.strip().str.upper()
    for brin in pd.unique(upper):
        mine = (upper == brin).to_numpy()
        out[mine] = pseudonymise(numbers[mine], key, namespace=f"local:{brin}").to_numpy()
    return out


def _schools(table: TextTable, profile: Profile, school: SchoolFile) -> pd.Series:
    """The BRIN of each row: the profile's school column (board-wide exports), else the school file's."""
    column = profile.columns.school
    if column is None:
        return pd.Series(school.school_id, index=table.frame.index, dtype=object)
    brin = blank_to_na(table.frame[column]).str.upper()
    if brin.isna().any():
        pos = int(np.flatnonzero(brin.isna().to_numpy())[0])
        raise table.fail(pos, column, "no BRIN", "")
    unknown = sorted(set(brin.unique()) - set(school.brins()))
    if unknown:
        raise DataError(MSG_UNKNOWN_SCHOOLS.format(file=table.path.name, column=column, school_file=school.source or "--school",
                                                   brins=", ".join(shown(b, quote=False) for b in unknown[:30])))
    return brin.astype(object)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in (
        ("student_id", object), ("school_id", object), ("record_key", object), ("start", "datetime64[ns]"),
        ("end", "datetime64[ns]"), ("hours", float), ("category", object), ("code", object), ("profile", object),
        ("_line", np.int64))})


def _times(table: TextTable, profile: Profile, school: SchoolFile) -> tuple[pd.Series, pd.Series]:
    """Start and end as date-times; a lesson number fills in a date-only value from the timetable."""
    df, c = table.frame, profile.columns
    nums, s_min, e_min = school.slots()
    slot_start = dict(zip(nums.tolist(), s_min.tolist(), strict=True))
    slot_end = dict(zip(nums.tolist(), e_min.tolist(), strict=True))
    if c.start:
        start = parse_dates(df[c.start], table=table, column=c.start)
    else:
        assert c.date is not None, "a profile needs start or date"
        day = parse_dates(df[c.date], table=table, column=c.date)
        start = day
        if c.start_time:
            start = day + pd.to_timedelta(_clock(table, c.start_time), unit="m")
    end = parse_dates(df[c.end], table=table, column=c.end) if c.end else pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
    if c.end_time and not c.end:
        end = start.dt.normalize() + pd.to_timedelta(_clock(table, c.end_time), unit="m")
    date_only = (start == start.dt.normalize()).to_numpy()
    first_lesson = c.lesson or c.begin_lesson
    last_lesson = c.lesson or c.end_lesson
    if first_lesson and date_only.any():
        n = _lesson_numbers(table, first_lesson)
        bad = date_only & ~np.isin(n, nums) & ~np.isnan(n)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise table.fail(pos, first_lesson, "lesson hour not in the school's timetable", df[first_lesson].iloc[pos])
        minutes = pd.Series(n).map(slot_start).to_numpy(dtype=float)
        use = date_only & ~np.isnan(minutes)
        start = start.where(~use, start.dt.normalize() + pd.to_timedelta(np.nan_to_num(minutes), unit="m"))
        m_end = pd.Series(_lesson_numbers(table, last_lesson or first_lesson)).map(slot_end).to_numpy(dtype=float)
        base = end.where(end.notna(), start).dt.normalize()
        fill = use & ~np.isnan(m_end) & (end.isna() | (end == end.dt.normalize())).to_numpy()
        end = end.where(~fill, base + pd.to_timedelta(np.nan_to_num(m_end), unit="m"))
    # a whole day (no time, no lesson): the school day
    day_start, day_end = int(s_min.min()), int(e_min.max())
    whole = (start == start.dt.normalize()).to_numpy()
    if whole.any():
        start = start.where(~whole, start + pd.Timedelta(minutes=day_start))
        end_day = end.where(end.notna(), start).dt.normalize()
        end = end.where(~(whole & ((end.isna()) | (end == end.dt.normalize())).to_numpy()), end_day + pd.Timedelta(minutes=day_end))
    backwards = (end < start).to_numpy()
    if backwards.any():
        pos = int(np.flatnonzero(backwards)[0])
        raise table.fail(pos, c.end or "end", "ends before it starts", df[c.end].iloc[pos] if c.end else "")
    return start, end


def _clock(table: TextTable, column: str) -> np.ndarray:
    text = blank_to_na(table.frame[column])
    ok = text.str.fullmatch(r"\d{1,2}[:.]\d{2}").fillna(False).to_numpy(dtype=bool)
    if (~ok & text.notna().to_numpy()).any():
        pos = int(np.flatnonzero(~ok & text.notna().to_numpy())[0])
        raise table.fail(pos, column, "not a time (uu:mm)", table.frame[column].iloc[pos])
    parts = text.str.replace(".", ":", regex=False).str.split(":", expand=True)
    return (pd.to_numeric(parts[0]) * 60 + pd.to_numeric(parts[1])).to_numpy(dtype=float)


def _lesson_numbers(table: TextTable, column: str) -> np.ndarray:
    text = blank_to_na(table.frame[column])
    n = pd.to_numeric(text, errors="coerce")
    bad = (n.isna() & text.notna()).to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise table.fail(pos, column, "not a lesson number", table.frame[column].iloc[pos])
    return n.to_numpy(dtype=float)


def _hours(table: TextTable, profile: Profile, school: SchoolFile, start: pd.Series, end: pd.Series) -> pd.Series:
    """Total hours of each record: the exported hours, else by the timetable (lessons or clock)."""
    if profile.columns.hours:
        h = parse_decimal(table.frame[profile.columns.hours], table=table, column=profile.columns.hours)
        bad = ((h < 0) | (h > 24 * 31)).to_numpy()
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise table.fail(pos, profile.columns.hours, "hours out of range", table.frame[profile.columns.hours].iloc[pos])
        return h
    return pd.Series(np.nan, index=table.frame.index)  # computed per day in expand_days


@functools.lru_cache(maxsize=1)
def default_calendar() -> SchoolCalendar:
    """The packaged ministry calendar, built once per process (lazily: nothing happens at import)."""
    return SchoolCalendar.default()


#: why a row read ends in no stored day
OUTSIDE_LESSON_DAYS = "outside lesson days"
MSG_OUT_OF_CALENDAR = "date outside the school calendar ({first} .. {last})"


@dataclass
class DaySplit:
    """Records spread over their lesson days, and the file lines of the records that cover none."""

    days: pd.DataFrame
    outside: np.ndarray  # file lines of records with no lesson day (weekend, holiday, public holiday)
    out_of_calendar: np.ndarray  # file lines of records dated outside the calendar's school years


def expand_days(records: pd.DataFrame, school: SchoolFile, *, region: str | None = None,
                calendar: SchoolCalendar | None = None) -> pd.DataFrame:
    """Records → one row per lesson day they cover (see :func:`split_days`)."""
    return split_days(records, school, region=region, calendar=calendar).days


def split_days(records: pd.DataFrame, school: SchoolFile, *, region: str | None = None,
               calendar: SchoolCalendar | None = None) -> DaySplit:
    """Records → one row per **lesson day** they cover, with that day's hours.

    Lesson days are those of the school calendar (the school file's region, else ``region``):
    weekends, school holidays and public holidays hold no lessons, so no absence. Hours of a day by
    the timetable: ``lessons`` counts each timetable lesson overlapping the absence as 1, ``clock``
    the overlapping minutes / 60. Exported hours (EduArte's ``Uren``) are spread over the lesson days
    in proportion to each day's timetable hours within the record (evenly when the record's times
    fall outside the timetable), so 30 hours from Monday to Friday are 6 a day, not 30 on Monday.
    """
    cal = calendar or default_calendar()
    region_key = school.calendar_region or region or "midden"
    line_col = records["_line"].to_numpy(dtype=np.int64) if "_line" in records.columns else np.arange(len(records), dtype=np.int64)
    if records.empty:
        return DaySplit(_empty_days(), np.zeros(0, np.int64), np.zeros(0, np.int64))
    nums, s_min, e_min = school.slots()
    start = records["start"].to_numpy(dtype="datetime64[m]")
    end = records["end"].to_numpy(dtype="datetime64[m]")
    end = np.where(np.isnat(end), start.astype("datetime64[D]") + np.timedelta64(int(e_min.max()), "m"), end)
    d0 = start.astype("datetime64[D]")
    d1 = (end - np.timedelta64(1, "m")).astype("datetime64[D]")
    d1 = np.maximum(d1, d0)
    first, last = np.datetime64(cal.first, "D"), np.datetime64(cal.last, "D")
    in_calendar = (d0 >= first) & (d1 <= last)
    span = np.where(in_calendar, (d1 - d0).astype(np.int64) + 1, 0)
    idx = np.repeat(np.arange(len(records)), span)
    offset = np.arange(len(idx)) - np.repeat(np.cumsum(span) - span, span)
    day = d0[idx] + offset.astype("timedelta64[D]")
    keep = cal.lesson_day_mask(day, region_key) if len(day) else np.zeros(0, dtype=bool)
    idx, day = idx[keep], day[keep]
    day_m = day.astype("datetime64[m]")
    a = np.maximum(start[idx], day_m)
    b = np.minimum(end[idx], day_m + np.timedelta64(1440, "m"))
    a_min = (a - day_m).astype(np.int64)
    b_min = (b - day_m).astype(np.int64)
    counted = np.zeros(len(idx))
    for s, e in zip(s_min, e_min, strict=True):
        overlap = np.clip(np.minimum(b_min, e) - np.maximum(a_min, s), 0, None)
        counted += (overlap > 0) if school.hours == "lessons" else overlap / 60.0
    given = records["hours"].to_numpy(dtype=float)[idx]
    # exported hours spread over the record's lesson days: by timetable weight, else evenly
    weight_sum = np.bincount(idx, weights=counted, minlength=len(records))[idx]
    n_days = np.bincount(idx, minlength=len(records))[idx].astype(float)
    share = np.where(weight_sum > 0, counted / np.where(weight_sum > 0, weight_sum, 1.0), 1.0 / np.maximum(n_days, 1.0))
    hours = np.where(np.isnan(given), counted, given * share)
    capacity = float(len(nums)) if school.hours == "lessons" else float((e_min - s_min).sum()) / 60.0
    has_day = np.zeros(len(records), dtype=bool)
    has_day[idx] = True
    out = pd.DataFrame({
        "day_capacity": capacity,  # a school day holds no more hours than this (overlapping records)
        "student_id": records["student_id"].to_numpy()[idx],
        "school_id": records["school_id"].to_numpy()[idx],
        "record_key": records["record_key"].to_numpy()[idx],
        "date": day.astype("datetime64[ns]"),
        "hours": np.minimum(hours, 24.0),
        "category": records["category"].to_numpy()[idx],
        "start": records["start"].to_numpy()[idx],
        "end": records["end"].to_numpy()[idx],
        "_line": line_col[idx],
    })
    if "mentor_group" in records.columns:
        out["mentor_group"] = records["mentor_group"].to_numpy()[idx]
    return DaySplit(out, np.unique(line_col[in_calendar & ~has_day]), np.unique(line_col[~in_calendar]))


def _empty_days() -> pd.DataFrame:
    return pd.DataFrame({"day_capacity": pd.Series(dtype=float), "student_id": pd.Series(dtype=object),
                         "school_id": pd.Series(dtype=object), "record_key": pd.Series(dtype=object),
                         "date": pd.Series(dtype="datetime64[ns]"), "hours": pd.Series(dtype=float),
                         "category": pd.Series(dtype=object), "start": pd.Series(dtype="datetime64[ns]"),
                         "end": pd.Series(dtype="datetime64[ns]"), "_line": pd.Series(dtype=np.int64)})
