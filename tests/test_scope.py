"""Scope from registrations (access.scope, store.registrations): where a pupil belongs comes from the
imported students rows and enrolments on a date, and nothing else; the one test of a place against a
principal's scope; mentor groups narrow a school scope."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskscore.access import Place, Principal, Span, in_scope, place_for, pupil_in_scope
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.registrations import derive, group_of, spans_of, sync_registrations

D = dt.date


def who(role: str = "school", kind: str = "school", values: tuple[str, ...] = ("01AB",),
        groups: tuple[str, ...] = ()) -> Principal:
    return Principal(actor_id="k1", label="t", role=role, scope_kind=kind, scope_values=values, groups=groups)


def students(*rows: tuple[str, str, str, str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"student_id": sid, "school_year": sy, "school_id": school, "municipality": gm,
                          "rmc_region": rmc} for sid, sy, school, gm, rmc in rows])


def test_students_rows_cover_their_school_year_and_enrolments_their_own_dates() -> None:
    frame = derive(students(("P1", "2024-25", "01AB", "GM0363", "RMC27")),
                   pd.DataFrame([{"student_id": "P1", "school_id": "02CD", "start_date": pd.Timestamp("2025-01-06"),
                                  "end_date": pd.NaT}]))
    rows = {r.source: r for r in frame.itertuples()}
    assert (rows["students"].starts_on, rows["students"].ends_on) == (D(2024, 8, 1), D(2025, 7, 31))
    # a mid-year switch: the new school from its first day, with the town and region the pupil lives in
    assert (rows["enrolments"].school_id, rows["enrolments"].starts_on, rows["enrolments"].ends_on) == \
        ("02CD", D(2025, 1, 6), None)
    assert (rows["enrolments"].municipality, rows["enrolments"].rmc_region) == ("GM0363", "RMC27")


def test_place_for_acts_only_inside_the_scope_on_the_day() -> None:
    spans = [Span(Place("01AB", "GM0363", "RMC27"), D(2024, 8, 1), D(2025, 7, 31)),
             Span(Place("02CD", "GM0363", "RMC27"), D(2025, 1, 6), None)]
    a, b = who(values=("01AB",)), who(values=("02CD",))
    assert place_for(a, spans, D(2024, 12, 1)) == Place("01AB", "GM0363", "RMC27")
    assert place_for(b, spans, D(2024, 12, 1)) is None  # before the switch: not B's pupil yet
    assert place_for(b, spans, D(2025, 2, 1)) == Place("02CD", "GM0363", "RMC27")
    assert place_for(a, spans, D(2025, 9, 1)) is None  # A's registration ended with the school year
    town = who("leerplicht", "municipality", ("GM0363",))
    assert place_for(town, spans, D(2025, 2, 1)) == Place("02CD", "GM0363", "RMC27")  # the newest registration
    assert place_for(who("leerplicht", "municipality", ("GM0599",)), spans, D(2025, 2, 1)) is None


def test_data_team_and_admin_never_see_one_pupil_whatever_their_scope() -> None:
    place = Place("01AB", "GM0363", "RMC27")
    for role in ("data_team", "admin"):
        p = who(role, "all", ())
        assert not in_scope(p, place)
    assert in_scope(who("jeugdarts", "all", ()), place)


def test_unknown_parts_never_match() -> None:
    assert not in_scope(who(), Place(None, "GM0363", "RMC27"))
    assert not in_scope(who("rmc", "rmc_region", ("RMC27",)), Place("01AB", "GM0363", None))


def test_mentor_groups_narrow_a_school_scope() -> None:
    mentor = who(groups=("3A",))
    spans = [Span(Place("01AB", "GM0363", "RMC27", "3B"), D(2024, 8, 1), D(2025, 7, 31))]
    assert not pupil_in_scope(mentor, spans) and pupil_in_scope(who(), spans)
    assert pupil_in_scope(mentor, [Span(Place("01AB", "GM0363", "RMC27", "3A"), D(2024, 8, 1), None)])


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(["school", "municipality", "rmc_region"]),
       scope=st.lists(st.sampled_from(["01AB", "02CD", "GM0363", "GM0599", "RMC27", "RMC05"]), min_size=1, max_size=3),
       school=st.sampled_from(["01AB", "02CD", None]), gm=st.sampled_from(["GM0363", "GM0599", None]),
       rmc=st.sampled_from(["RMC27", "RMC05", None]), day=st.dates(D(2024, 1, 1), D(2026, 12, 31)))
def test_a_write_place_is_always_in_scope_and_active(kind: str, scope: list[str], school: str | None,
                                                     gm: str | None, rmc: str | None, day: dt.date) -> None:
    p = who("leerplicht", kind, tuple(scope))
    spans = [Span(Place(school, gm, rmc), D(2024, 8, 1), D(2025, 7, 31)), Span(Place("02CD", "GM0599", "RMC05"),
                                                                             D(2025, 8, 1), None)]
    place = place_for(p, spans, day)
    if place is not None:
        assert in_scope(p, place) and any(s.place == place and s.active_on(day) for s in spans)
    else:
        assert not any(in_scope(p, s.place) and s.active_on(day) for s in spans)


@pytest.fixture()
def db(tmp_path):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


def test_a_re_import_replaces_a_pupils_registrations_and_leaves_the_others(db) -> None:  # type: ignore[no-untyped-def]
    with db() as s:
        sync_registrations(s, students(("P1", "2024-25", "01AB", "GM0363", "RMC27"),
                                       ("P2", "2024-25", "01AB", "GM0363", "RMC27")))
        # the same tables again: nothing to write
        again = sync_registrations(s, students(("P1", "2024-25", "01AB", "GM0363", "RMC27")))
        assert (again.added, again.removed, again.unchanged) == (0, 0, 1)
        # the school corrects P1: it was at 02CD all along
        fixed = sync_registrations(s, students(("P1", "2024-25", "02CD", "GM0599", "RMC05")))
        assert (fixed.added, fixed.removed) == (1, 1)
        spans = spans_of(s, ["P1", "P2", "P3"])
    assert [sp.place.school_id for sp in spans["P1"]] == ["02CD"]
    assert [sp.place.school_id for sp in spans["P2"]] == ["01AB"]
    assert "P3" not in spans


def test_mentor_group_comes_from_the_school_export(db) -> None:  # type: ignore[no-untyped-def]
    rows = students(("P1", "2024-25", "01AB", "GM0363", "RMC27"), ("P2", "2024-25", "01AB", "GM0363", "RMC27"))
    rows["mentor_group"] = ["3A", None]
    with db() as s:
        sync_registrations(s, rows)
        assert group_of(s, ["P1", "P2"], D(2025, 3, 1)) == {"P1": "3A", "P2": None}
        assert group_of(s, ["P1"], D(2025, 9, 1)) == {"P1": None}  # another school year


def test_an_import_brings_the_registrations_into_the_database(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`riskscore import` of DUO's files (real format, tests/fixtures/duo) places their pupils in the
    service's database at once: the API can take a school system's events for them without a batch run;
    importing the same files again writes nothing."""
    import json
    import sys
    from pathlib import Path

    from riskscore.cli import main
    from riskscore.settings import get_settings

    db = tmp_path / "rs.db"
    monkeypatch.setenv("RISKSCORE_HOME", str(tmp_path))
    monkeypatch.setenv("RISKSCORE_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("RISKSCORE_DEMO_MODE_NOT_FOR_REAL_PUPILS", "1")
    get_settings.cache_clear()
    source = Path(__file__).parent / "fixtures" / "duo"
    try:
        for _ in range(2):
            monkeypatch.setattr(sys, "argv", ["riskscore", "import", "--kind", "duo", "--source", str(source),
                                              "--out", str(tmp_path / "data")])
            try:
                main()
            except SystemExit as exit_info:
                assert exit_info.code in (0, None)
    finally:
        get_settings.cache_clear()
    import pandas as pd

    pupils = set(pd.read_parquet(tmp_path / "data" / "students.parquet")["student_id"].astype(str))
    engine = make_engine(f"sqlite:///{db}")
    with session_factory(engine)() as s:
        spans = spans_of(s, pupils)
    engine.dispose()
    assert pupils and set(spans) == pupils
    brins = {sp.place.school_id for spans_ in spans.values() for sp in spans_}
    assert brins <= {"27GZ", "24ZZ"} and brins  # DUO's BRINs, as the files say
    assert json.dumps(sorted(pupils))  # pseudonyms, never the files' numbers
