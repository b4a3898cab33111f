"""Registrations in the store: where each pupil belongs and when, derived from the imported raw tables.

The raw tables' students rows (one per pupil per school year, from DUO's files or a school's export) and
enrolments (a school between two dates) are the registrations. ``sync_registrations`` replaces the
registrations of the pupils in the tables it is given (in one transaction), so a re-import corrects a
wrong school; ``spans_of`` reads them back as ``access.scope.Span`` for the scope decision. Nothing else
decides where a pupil belongs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from riskscore.access.principal import Principal
from riskscore.access.scope import Place, Span
from riskscore.calendar import school_year_end, school_year_of, school_year_start
from riskscore.store.db import run_write, translate_errors
from riskscore.store.models import Registration, utcnow

_CHUNK = 5_000
COLUMNS = ("student_id", "school_id", "municipality", "rmc_region", "starts_on", "ends_on", "mentor_group", "source")


def _text(series: pd.Series) -> list[str | None]:
    return [None if (v is None or (isinstance(v, float) and v != v) or v is pd.NA or str(v) == "") else str(v)
            for v in series.tolist()]


def _dates(series: pd.Series) -> list[dt.date | None]:
    values = pd.to_datetime(series, errors="coerce")
    return [None if pd.isna(v) else v.date() for v in values]


def derive(students: pd.DataFrame, enrolments: pd.DataFrame | None = None) -> pd.DataFrame:
    """The registrations the raw tables say: one per students row (its school year, 1 August – 31 July)
    and one per enrolment (its own dates; municipality and region from the students row of the school
    year it starts in, or the pupil's latest before it). Columns: COLUMNS."""
    st = students
    years = st["school_year"].astype(str)
    starts = {y: school_year_start(y) for y in years.unique()}
    rows = pd.DataFrame({
        "student_id": st["student_id"].astype(str).to_numpy(),
        "school_id": _text(st["school_id"]),
        "municipality": _text(st["municipality"]),
        "rmc_region": _text(st["rmc_region"]),
        "starts_on": [starts[y] for y in years],
        "ends_on": [school_year_end(y) for y in years],
        "mentor_group": _text(st["mentor_group"]) if "mentor_group" in st.columns else [None] * len(st),
        "source": "students",
        "year": [starts[y].year for y in years],
    })
    out = [rows.drop(columns="year")]
    if enrolments is not None and len(enrolments):
        en = pd.DataFrame({
            "student_id": enrolments["student_id"].astype(str).to_numpy(),
            "school_id": _text(enrolments["school_id"]),
            "starts_on": _dates(enrolments["start_date"]),
            "ends_on": _dates(enrolments["end_date"]) if "end_date" in enrolments.columns else [None] * len(enrolments),
        })
        en = en[en["starts_on"].notna()]
        en["year"] = [school_year_start(school_year_of(d)).year for d in en["starts_on"]]
        # the place the pupil lived: the students row of the enrolment's school year, else the latest before
        homes = rows[["student_id", "year", "municipality", "rmc_region", "mentor_group", "school_id"]]
        homes = homes.rename(columns={"school_id": "home_school"}).sort_values(["year"])
        en = en.sort_values("year")
        merged = pd.merge_asof(en, homes, on="year", by="student_id", direction="backward") \
            if len(homes) and len(en) else en.assign(municipality=None, rmc_region=None, mentor_group=None,
                                                    home_school=None)
        # a mentor group belongs to the school that keeps it
        merged["mentor_group"] = [g if s == h else None for g, s, h in
                                  zip(merged["mentor_group"], merged["school_id"], merged["home_school"], strict=True)]
        merged["source"] = "enrolments"
        out.append(merged[list(COLUMNS)])
    frame = pd.concat(out, ignore_index=True)
    return frame.astype(object).where(frame.notna(), None).drop_duplicates(list(COLUMNS)).reset_index(drop=True)


@dataclass(frozen=True)
class SyncCounts:
    pupils: int
    added: int
    removed: int
    unchanged: int


def sync_registrations(session: Session, students: pd.DataFrame,
                       enrolments: pd.DataFrame | None = None) -> SyncCounts:
    """Make the registrations of every pupil in ``students`` what the tables say, in one transaction:
    registrations the tables no longer hold go, new ones come, unchanged ones stay untouched (a weekly run
    over unchanged data writes nothing). A re-import that corrects a school corrects the scope."""
    frame = derive(students, enrolments)
    ids = sorted(set(frame["student_id"]) | set(students["student_id"].astype(str)))
    want = {tuple(r) for r in frame[list(COLUMNS)].itertuples(index=False, name=None)}
    table = cast(sa.Table, Registration.__table__)
    cols = [table.c[c] for c in COLUMNS]

    def work(s: Session) -> SyncCounts:
        have: dict[tuple[Any, ...], list[int]] = {}
        for start in range(0, len(ids), 900):
            for row in s.execute(sa.select(table.c.id, *cols).where(table.c.student_id.in_(ids[start:start + 900]))):
                have.setdefault(tuple(row[1:]), []).append(row[0])
        gone = [i for key, rows in have.items() for i in (rows if key not in want else rows[1:])]
        new = sorted(want - set(have), key=lambda r: (str(r[0]), str(r[4])))
        for start in range(0, len(gone), 900):
            s.execute(sa.delete(table).where(table.c.id.in_(gone[start:start + 900])))
        now = utcnow()
        records = [{**dict(zip(COLUMNS, r, strict=True)), "imported_at": now} for r in new]
        for start in range(0, len(records), _CHUNK):
            s.execute(sa.insert(table), records[start:start + _CHUNK])
        return SyncCounts(pupils=len(ids), added=len(records), removed=len(gone), unchanged=len(want) - len(new))

    return run_write(session, work)


def spans_of(session: Session, student_ids: Iterable[str]) -> dict[str, list[Span]]:
    """Each pupil's registrations as spans (pupils without any are absent from the result)."""
    ids = list(dict.fromkeys(str(i) for i in student_ids))
    out: dict[str, list[Span]] = {}
    table = cast(sa.Table, Registration.__table__)
    cols = (table.c.student_id, table.c.school_id, table.c.municipality, table.c.rmc_region, table.c.mentor_group,
            table.c.starts_on, table.c.ends_on)
    for start in range(0, len(ids), 900):
        stmt = sa.select(*cols).where(table.c.student_id.in_(ids[start:start + 900]))
        with translate_errors():
            for sid, school, gm, rmc, group, starts, ends in session.execute(stmt):
                out.setdefault(sid, []).append(Span(Place(school, gm, rmc, group), starts, ends))
    return out


def group_of(session: Session, student_ids: Iterable[str], on: dt.date) -> dict[str, str | None]:
    """Each pupil's mentor group on a day (the newest registration active then that names one)."""
    out: dict[str, str | None] = {}
    for sid, spans in spans_of(session, student_ids).items():
        named = [s for s in spans if s.active_on(on) and s.place.mentor_group]
        out[sid] = max(named, key=lambda s: s.starts_on).place.mentor_group if named else None
    return out


def current_groups(session: Session, student_ids: Iterable[str], on: dt.date,
                   school_ids: Iterable[str] | None = None) -> dict[str, str | None]:
    """Each pupil's mentor group as the school knows it on a day: the newest registration that started
    on or before ``on`` and names a group (within ``school_ids`` when given). Unlike ``group_of`` this
    does not need the registration to be active that day, so a list read in early August (last year's
    rows ended 31 July, this year's not imported yet) still knows the class."""
    schools = None if school_ids is None else set(school_ids)
    out: dict[str, str | None] = {}
    for sid, spans in spans_of(session, student_ids).items():
        named = [s for s in spans if s.place.mentor_group and s.starts_on <= on
                 and (schools is None or s.place.school_id in schools)]
        out[sid] = max(named, key=lambda s: (s.starts_on, s.ends_on or dt.date.max)).place.mentor_group \
            if named else None
    return out


def pupils_in_groups(session: Session, groups: Iterable[str], *, on: dt.date,
                     school_ids: Iterable[str] | None = None) -> tuple[str, ...]:
    """The pupils whose current mentor group (``current_groups``) is one of ``groups``: a mentor's own
    pupils. One query finds everyone ever registered in the groups; their newest group decides."""
    wanted = sorted({g for g in groups if g})
    if not wanted:
        return ()
    table = cast(sa.Table, Registration.__table__)
    stmt = sa.select(table.c.student_id).where(table.c.mentor_group.in_(wanted), table.c.starts_on <= on).distinct()
    schools = None if school_ids is None else sorted(set(school_ids))
    if schools is not None:
        stmt = stmt.where(table.c.school_id.in_(schools))
    with translate_errors():
        candidates = [str(r) for r in session.scalars(stmt)]
    now = current_groups(session, candidates, on, schools)
    return tuple(sorted(sid for sid, group in now.items() if group in wanted))


def mentor_pupils(session: Session, principal: Principal, *, on: dt.date,
                  group: str | None = None) -> tuple[str, ...] | None:
    """The pupils a principal narrowed to mentor groups may list (its groups', or ``group``'s when that is
    one of them), within its school scope; None when the principal has no groups (the whole scope)."""
    if not principal.groups:
        return None
    groups = (group,) if group in principal.groups else principal.groups
    schools = principal.scope_values if principal.scope_kind == "school" else None
    return pupils_in_groups(session, groups, on=on, school_ids=schools)


def counts(session: Session) -> Mapping[str, Any]:
    """How many pupils and registrations the store knows (for `riskscore registrations` and readiness)."""
    table = cast(sa.Table, Registration.__table__)
    with translate_errors():
        n, pupils = session.execute(sa.select(sa.func.count(), sa.func.count(sa.distinct(table.c.student_id)))).one()
    return {"registrations": int(n), "pupils": int(pupils)}
