"""The raw store an import folder holds: staging tables merged by natural key, contract tables derived.

Layout of ``--out`` (the folder ``riskscore features``/``score --data`` read)::

    students.parquet absences.parquet … duo_signals.parquet   contract tables, derived (never edited)
    ingest/<staging>.parquet                                   what every import added, by natural key
    ingest/ledger.jsonl                                        one line per imported file

Merging (weekly imports): a record whose natural key is new is *added*; the same key with other
content *replaces* the stored one (a correction); identical content is a *duplicate* and changes
nothing. A key can hold several rows (an absence record spread over days): the group is compared and
replaced as a whole. Definitive DUO files outrank provisional ones (``precedence``). After every
import the contract tables are derived again from the union of all staging tables, so the data a
``riskscore score`` run reads is always the union of all imports, consistently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from riskscore.contracts import SCHEMAS, empty, validate
from riskscore.datasets import REQUIRED_TABLES, write_parquet_atomic
from riskscore.errors import DataError

STAGING = "ingest"
#: natural keys of the staging tables (tables_<name>: the project's own tables imported as-is)
KEYS: dict[str, tuple[str, ...]] = {
    "duo_population": ("student_id", "school_year", "school_id"),
    "duo_vsv": ("student_id", "school_year"),
    "duo_monthly": ("student_id", "school_id", "report_month", "enrolment_seq"),
    "school_absences": ("school_id", "record_key"),
    "tables_students": ("student_id", "school_year"),
    # the record id when the file has one, else pupil + date (+ lesson): a corrected category replaces
    "tables_absences": ("record_key",),
    "tables_sick_reports": ("student_id", "start_date"),
    "tables_applications": ("application_id",),
    "tables_enrolments": ("student_id", "school_id", "start_date"),
    "tables_diplomas": ("student_id", "date", "level"),
    "tables_outcomes": ("student_id",),
}
#: columns that do not make two rows different (the same DUO list in the A04 and the A14 layout)
IGNORE = {"duo_monthly": ("file_type",), "duo_population": ("file_type",)}


@dataclass
class MergeStats:
    added: int = 0
    replaced: int = 0
    duplicate: int = 0
    kept_better: int = 0  # a provisional row not replacing a definitive one

    def __iadd__(self, other: MergeStats) -> MergeStats:
        self.added += other.added
        self.replaced += other.replaced
        self.duplicate += other.duplicate
        self.kept_better += other.kept_better
        return self


def _key_hash(df: pd.DataFrame, key: tuple[str, ...]) -> np.ndarray:
    return pd.util.hash_pandas_object(df[list(key)].astype(str), index=False).to_numpy()


def _canonical(df: pd.DataFrame) -> pd.DataFrame:
    """Each column as text with one spelling of "missing": the same rows hash the same whether they were
    just read (object column of True/None) or came back from Parquet (bool column) — else an unchanged
    pupil of DUO's cumulative monthly files counted as "replaced"."""
    out = {}
    for c in df.columns:
        col = df[c].astype(object)
        out[c] = col.where(col.notna(), None).astype(str)
    return pd.DataFrame(out, index=df.index)


def _group_content(df: pd.DataFrame, keys: np.ndarray, ignore: tuple[str, ...]) -> pd.Series:
    cols = sorted(c for c in df.columns if c not in ignore)
    rows = pd.util.hash_pandas_object(_canonical(df[cols]), index=False, categorize=True).to_numpy()
    # order-independent hash of a group's rows (sum mod 2**64) and its size
    s = pd.Series(rows, dtype=np.uint64).groupby(keys).sum()
    n = pd.Series(1, index=range(len(keys))).groupby(keys).sum()
    return s.astype(np.uint64) ^ (n.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))


#: a transient column of staging rows: the file line each came from (rows read are counted by it)
LINE = "_line"


def merge(existing: pd.DataFrame | None, new: pd.DataFrame, table: str) -> tuple[pd.DataFrame, MergeStats]:
    """Merge new staging rows into the stored ones by natural key (groups of rows per key).

    The statistics count **rows read**: the distinct file lines (``_line``) of a key's group when the
    rows carry them (a record spread over days is one row read), else the rows themselves."""
    key = KEYS[table]
    ignore = (*IGNORE.get(table, ()), LINE)
    stats = MergeStats()
    if new.empty:
        return (existing if existing is not None else new.drop(columns=LINE, errors="ignore")), stats
    nk = _key_hash(new, key)
    new_content = _group_content(new, nk, ignore)
    if LINE in new.columns:
        reads = pd.Series(new[LINE].to_numpy()).groupby(nk).nunique()
    else:
        reads = pd.Series(1, index=range(len(new))).groupby(nk).sum()
    stored_new = new.drop(columns=LINE, errors="ignore")
    if existing is None or existing.empty:
        stats.added = int(reads.sum())
        return stored_new.reset_index(drop=True), stats
    existing = existing.drop(columns=LINE, errors="ignore")
    ek = _key_hash(existing, key)
    touched = np.isin(ek, new_content.index.to_numpy())  # only stored groups the new rows speak about
    old_content = _group_content(existing[touched], ek[touched], ignore) if touched.any() else new_content.iloc[:0]
    common = new_content.index.intersection(old_content.index)
    same = common[(new_content[common].to_numpy() == old_content[common].to_numpy())]
    differ = common.difference(same)
    if "precedence" in new.columns and len(differ):
        newp = pd.Series(new["precedence"].to_numpy()).groupby(nk).max()
        oldp = pd.Series(existing["precedence"].to_numpy()[touched]).groupby(ek[touched]).max()
        lower = differ[newp[differ].to_numpy() < oldp[differ].to_numpy()]
        differ = differ.difference(lower)
        stats.kept_better = int(reads[lower].sum())
        skip = same.union(lower)
    else:
        skip = same
    stats.duplicate = int(reads[same].sum())
    stats.replaced = int(reads[differ].sum())
    stats.added = int(reads[new_content.index.difference(old_content.index)].sum())  # old_content: touched groups only
    keep_old = ~np.isin(ek, differ.to_numpy())
    take_new = ~np.isin(nk, skip.to_numpy())
    merged = pd.concat([existing[keep_old], stored_new[take_new]], ignore_index=True)
    return merged, stats


def staging_path(out: Path, table: str) -> Path:
    return out / STAGING / f"{table}.parquet"


def read_staging(out: Path) -> dict[str, pd.DataFrame]:
    folder = out / STAGING
    tables: dict[str, pd.DataFrame] = {}
    if folder.is_dir():
        for table in KEYS:
            path = folder / f"{table}.parquet"
            if path.exists():
                try:
                    tables[table] = pd.read_parquet(path)
                except Exception as exc:  # pyarrow raises many kinds
                    raise DataError(f"staging table {path} cannot be read: {exc}") from None
    own = tables.get("tables_absences")
    if own is not None and "record_key" not in own.columns:  # a store written before record keys
        tables["tables_absences"] = own.assign(record_key=tables_absence_keys(own))
    return tables


def tables_absence_keys(df: pd.DataFrame, record_ids: pd.Series | None = None) -> pd.Series:
    """Natural key of the project's own absence rows: the (pseudonymised) record id when the file has
    one, else pupil + date (+ lesson hour)."""
    if record_ids is not None:
        return ("id:" + record_ids.astype(str)).astype(object)
    lesson = df["lesson"].astype("string").fillna("") if "lesson" in df.columns else pd.Series("", index=df.index)
    day = pd.to_datetime(df["date"]).dt.strftime("%Y-%m-%d")
    return (df["student_id"].astype(str) + "|" + day + "|" + lesson.astype(str)).astype(object)


# --- deriving the contract tables from the union of all imports ----------------------------------
def derive(staging: dict[str, pd.DataFrame], *, notes: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """The contract tables (students, enrolments, outcomes, absences, sick_reports, duo_signals, …)."""
    notes = notes if notes is not None else []
    out: dict[str, pd.DataFrame] = {}
    duo_students, duo_enrol = _duo_students(staging, notes)
    days = staging.get("school_absences")
    if duo_students is not None and days is not None and "calendar_region" in days.columns:
        region = days.dropna(subset=["calendar_region"]).drop_duplicates("school_id", keep="last")
        by_school = region.set_index("school_id")["calendar_region"]
        duo_students["calendar_region"] = duo_students["school_id"].map(by_school).fillna(duo_students["calendar_region"])
    if duo_students is not None:
        duo_students = _with_mentor_groups(duo_students, days)
    out["students"] = _union(staging.get("tables_students"), duo_students, KEYS["tables_students"])
    out["enrolments"] = _union(staging.get("tables_enrolments"), duo_enrol, KEYS["tables_enrolments"])
    out["outcomes"] = _union(staging.get("tables_outcomes"), _duo_outcomes(staging), ("student_id",))
    absences, sick = _school_absences(staging.get("school_absences"))
    out["absences"] = _union(staging.get("tables_absences"), absences, ("student_id", "date", "category"))
    out["sick_reports"] = _union(staging.get("tables_sick_reports"), sick, KEYS["tables_sick_reports"])
    for name in ("applications", "diplomas"):
        t = staging.get(f"tables_{name}")
        if t is not None:
            out[name] = t
    signals = _duo_signals(staging.get("duo_monthly"))
    if signals is not None:
        out["duo_signals"] = signals
    for name in REQUIRED_TABLES:
        if name not in out or out[name] is None:
            out[name] = empty(name)
    result = {}
    for name, df in out.items():
        if df is None:
            continue
        cols = list(SCHEMAS[name].columns)
        if name in ("absences", "sick_reports") and "school_id" not in df.columns:
            df = df.assign(school_id=pd.Series([None] * len(df), index=df.index, dtype=object))  # coverage marker
        extra = [c for c in df.columns if c not in cols and c in ("school_id", "calendar_region")]
        df = df[[c for c in cols if c in df.columns] + extra].reset_index(drop=True)
        result[name] = validate(name, df)
    return result


def _with_mentor_groups(students: pd.DataFrame, days: pd.DataFrame | None) -> pd.DataFrame:
    """DUO's pupils with the class a school's absence export names (a profile's ``group`` column): per
    pupil, school and school year, the class of the newest record. Without such exports: unchanged."""
    if days is None or days.empty or "mentor_group" not in days.columns:
        return students
    named = days[days["mentor_group"].notna()]
    if named.empty:
        return students
    y0 = pd.to_datetime(named["date"]).dt.year - (pd.to_datetime(named["date"]).dt.month < 8).astype(int)
    named = named.assign(school_year=y0.astype(str) + "-" + ((y0 + 1) % 100).astype(str).str.zfill(2))
    latest = (named.sort_values("date", kind="stable")
              .drop_duplicates(["student_id", "school_id", "school_year"], keep="last")
              .set_index(["student_id", "school_id", "school_year"])["mentor_group"])
    key = pd.MultiIndex.from_frame(students[["student_id", "school_id", "school_year"]].astype(str))
    found = latest.reindex(key).to_numpy()
    return students.assign(mentor_group=pd.Series(found, index=students.index, dtype=object)
                           .where(pd.notna(found), None))


def _union(own: pd.DataFrame | None, derived: pd.DataFrame | None, key: tuple[str, ...]) -> pd.DataFrame | None:
    """The project's own tables win over what is derived from DUO/school exports for the same key."""
    if own is None or own.empty:
        return derived
    if derived is None or derived.empty:
        return own
    k_own = _key_hash(own, key)
    k_der = _key_hash(derived, key)
    return pd.concat([own, derived[~np.isin(k_der, k_own)]], ignore_index=True)


def _y0(school_year: pd.Series) -> pd.Series:
    return school_year.astype(str).str[:4].astype(int)


def _duo_students(staging: dict[str, pd.DataFrame], notes: list[str]) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    pop = staging.get("duo_population")
    mon = staging.get("duo_monthly")
    parts = []
    if pop is not None and not pop.empty:
        p = pop.sort_values(["precedence", "report_month"], na_position="first", kind="stable")
        p = p.drop_duplicates(["student_id", "school_year"], keep="last")
        parts.append(p.assign(_src=0))
    if mon is not None and not mon.empty:
        m = mon.sort_values("report_month", kind="stable").drop_duplicates(["student_id", "school_year"], keep="last")
        parts.append(m.assign(_src=1, has_sk=None, gender=None))
    if not parts:
        return None, None
    cols = ["student_id", "school_year", "school_id", "municipality", "rmc_region", "calendar_region", "birth_date",
            "school_type", "level", "pathway", "has_sk", "gender", "_src"]
    st = pd.concat([p.reindex(columns=cols) for p in parts], ignore_index=True)
    st = st.sort_values("_src", kind="stable").drop_duplicates(["student_id", "school_year"], keep="first")
    usable = st["birth_date"].notna() & st["level"].notna() & st["school_id"].notna()
    if (~usable).any():
        notes.append(f"{int((~usable).sum())} DUO pupil-year(s) without birth date, level or school left out of students")
    st = st[usable].copy()
    st["municipality"] = st["municipality"].fillna("unknown")
    st["rmc_region"] = st["rmc_region"].fillna("unknown")
    st["calendar_region"] = st["calendar_region"].fillna("midden")
    st["grade"] = np.nan  # DUO files carry no leerjaar
    st["final_year"] = False
    st["expects_mbo"] = False
    # the VSV start population is, by DUO's definition, pupils without a startkwalificatie
    st["has_sk"] = st["has_sk"].astype(object).where(st["has_sk"].notna(), False).astype(bool)
    st["migration_background"] = None
    st["ses_band"] = None
    st = st.drop(columns="_src").reset_index(drop=True)
    enrol = st[["student_id", "school_year", "school_id", "level"]].copy()
    enrol["start_date"] = pd.to_datetime(_y0(enrol["school_year"]).astype(str) + "-08-01")
    enrol["end_date"] = pd.NaT
    enrol["dereg_reason"] = None
    if mon is not None and not mon.empty:
        dereg = mon[mon["dereg_date"].notna()].groupby(["student_id", "school_year"])["dereg_date"].min()
        if len(dereg):
            idx = pd.MultiIndex.from_frame(enrol[["student_id", "school_year"]])
            ended = pd.Series(dereg.reindex(idx).to_numpy(), index=enrol.index)
            enrol["end_date"] = ended
            enrol.loc[ended.notna(), "dereg_reason"] = "other"  # DUO's REDEN_UITSTROOM code is kept in duo_signals
    return st, enrol.drop(columns="school_year")


def _duo_outcomes(staging: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    vsv = staging.get("duo_vsv")
    if vsv is None or vsv.empty:
        return None
    v = vsv.sort_values("precedence", kind="stable").drop_duplicates(["student_id", "school_year"], keep="last")
    return v.groupby("student_id", as_index=False)["vsv_date"].min()


def _duo_signals(mon: pd.DataFrame | None) -> pd.DataFrame | None:
    if mon is None or mon.empty:
        return None
    base = {"student_id": mon["student_id"], "school_id": mon["school_id"]}
    frames = [pd.DataFrame({**base, "date": mon["report_month"], "signal": "possible_vsv", "since": mon["since"], "code": None})]
    st = mon["statutory"].astype(bool)
    frames.append(pd.DataFrame({**base, "date": mon["report_month"], "signal": "statutory_absence_report",
                                "since": mon["since"], "code": mon["reason"]})[st])
    ot = mon["other_report"].astype(bool)
    frames.append(pd.DataFrame({**base, "date": mon["report_month"], "signal": "other_absence_report",
                                "since": mon["since"], "code": mon["reason"]})[ot])
    dr = mon["dereg_date"].notna()
    frames.append(pd.DataFrame({**base, "date": mon["dereg_date"], "signal": "deregistered", "since": pd.NaT,
                                "code": mon["dereg_code"]})[dr])
    out = pd.concat(frames, ignore_index=True)
    out["since"] = pd.to_datetime(out["since"])
    return out.drop_duplicates(["student_id", "school_id", "date", "signal"]).sort_values(["date", "student_id"]).reset_index(drop=True)


def _school_absences(days: pd.DataFrame | None) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Per-day school records → absences (unauthorised/authorised/late) and sick spells (MAZL counts reports)."""
    if days is None or days.empty:
        return None, None
    ab = days[days["category"] != "sick"]
    if "day_capacity" not in ab.columns:
        ab = ab.assign(day_capacity=24.0)
    absences = (ab.groupby(["student_id", "date", "category", "school_id"], as_index=False, sort=False)
                .agg(hours=("hours", "sum"), cap=("day_capacity", "max")))
    # two records covering the same lessons (a corrected melding under a new id) never count twice a day
    absences["hours"] = absences["hours"].clip(upper=absences["cap"].fillna(24.0)).clip(upper=24.0)
    absences = absences.drop(columns="cap")
    sick = days[days["category"] == "sick"]
    if sick.empty:
        return absences, None
    per_day = (sick.assign(open=sick["end"].isna()).groupby(["student_id", "date"], as_index=False)
               .agg(open=("open", "max"), school_id=("school_id", "first")))
    per_day = per_day.sort_values(["student_id", "date"]).reset_index(drop=True)
    d = per_day["date"].to_numpy(dtype="datetime64[D]")
    same = per_day["student_id"].eq(per_day["student_id"].shift()).to_numpy()
    gap = np.zeros(len(d), dtype=np.int64)
    gap[1:] = (d[1:] - d[:-1]).astype(np.int64)
    prev_weekday = np.zeros(len(d), dtype=np.int64)
    prev_weekday[1:] = (d[:-1].astype(np.int64) + 3) % 7
    # consecutive school days: the next day, or Friday → Monday
    adjacent = same & ((gap == 1) | ((gap == 3) & (prev_weekday == 4)))
    spell = np.cumsum(~adjacent)
    per_day["spell"] = spell
    spells = per_day.groupby("spell").agg(student_id=("student_id", "first"), start_date=("date", "min"),
                                          end_date=("date", "max"), open=("open", "any"),
                                          school_id=("school_id", "first"))
    spells.loc[spells["open"], "end_date"] = pd.NaT
    return absences, spells[["student_id", "start_date", "end_date", "school_id"]].reset_index(drop=True)


def write_store(out: Path, staging: dict[str, pd.DataFrame], tables: dict[str, pd.DataFrame]) -> list[Path]:
    """Write staging then contract tables, each atomically (readers never see half a file)."""
    written = [write_parquet_atomic(df, staging_path(out, name)) for name, df in staging.items()]
    written += [write_parquet_atomic(df, out / f"{name}.parquet") for name, df in tables.items()]
    return written
