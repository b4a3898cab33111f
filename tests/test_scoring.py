"""The one scoring core (riskscore.scoring): raw events -> ScoredStudent, the same path for every door."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Db
from riskscore import scoring
from riskscore.access import HEALTH_REDACTED_NL, redact
from riskscore.api.events import to_tables
from riskscore.api.schemas import StudentEvents
from riskscore.calendar import SchoolCalendar
from riskscore.model.bundle import ModelBundle
from riskscore.rules import RuleConfig
from riskscore.testing import student_events, tiny_bundle

AS_OF = dt.date(2025, 3, 1)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> ModelBundle:
    return ModelBundle.load(tiny_bundle(tmp_path_factory.mktemp("core") / "b"))


@pytest.fixture(scope="module")
def cal() -> SchoolCalendar:
    return SchoolCalendar.default()


def tables_of(*bodies: dict[str, Any]) -> dict[str, Any]:
    return to_tables([StudentEvents.model_validate(b) for b in bodies])


def test_events_become_typed_results_with_legal_deadlines(bundle: ModelBundle, cal: SchoolCalendar) -> None:
    result = scoring.score_events(tables_of(student_events("A", absence_hours=35, sick_days=25)), AS_OF, bundle,
                                  rule_config=RuleConfig.default(), calendar=cal)
    [s] = result.students
    assert isinstance(s, scoring.ScoredStudent) and s.scored and s.band == "high" and s.age == 15.0
    assert [r.code for r in s.reasons][:2] == ["ABS_UNAUTH_4W", "SICK_LONG"] and s.reasons[0].value == 35.0
    trig = {t.id: t for t in s.triggers}
    assert set(trig) == {"leerplicht_16h_4w", "mazl_long"}
    lp = trig["leerplicht_16h_4w"]
    assert lp.fired_on is not None and lp.fired_on <= AS_OF and lp.due_date == cal.add_working_days(lp.fired_on, 5)
    assert trig["mazl_long"].due_date is None
    assert s.roles == ("jeugdarts", "leerplicht", "school")
    stored = s.to_dict()
    assert stored["triggers"][0]["due_date"] == lp.due_date.isoformat() and stored["roles"] == list(s.roles)
    # the feature table's rule columns come from the same single evaluation
    assert bool(result.table.loc[0, "rule_leerplicht_16h_4w"]) and not bool(result.table.loc[0, "rule_lrv_4w"])


def test_due_date_follows_the_configured_rules_not_the_class_default(bundle: ModelBundle, cal: SchoolCalendar) -> None:
    slow = RuleConfig.default().model_copy(update={"leerplicht_report_working_days": 10})
    body = student_events("A", absence_hours=35, sick_days=0)
    lp5 = scoring.score_events(tables_of(body), AS_OF, bundle, rule_config=RuleConfig.default(), calendar=cal)
    lp10 = scoring.score_events(tables_of(body), AS_OF, bundle, rule_config=slow, calendar=cal)
    t5, t10 = lp5.students[0].triggers[0], lp10.students[0].triggers[0]
    assert t5.fired_on == t10.fired_on and t10.due_date == cal.add_working_days(t10.fired_on, 10) != t5.due_date


def test_objecting_pupil_gets_rules_but_no_model(bundle: ModelBundle, cal: SchoolCalendar) -> None:
    tables = tables_of(student_events("OBJ", absence_hours=35, sick_days=25), student_events("OK", absence_hours=35))
    plain = scoring.score_events(tables, AS_OF, bundle, calendar=cal).by_id()
    got = scoring.score_events(tables, AS_OF, bundle, calendar=cal, objecting=frozenset({"OBJ"})).by_id()
    obj = got["OBJ"]
    assert obj.objected and not obj.data_incomplete
    assert obj.probability is None and obj.band == scoring.UNKNOWN_BAND and obj.reasons == ()
    assert obj.triggers == plain["OBJ"].triggers and obj.triggers  # the law keeps running
    # no band-driven route: the school is there only for its legal duty to report the 16 hours to DUO
    assert ("model", "school") not in obj.routes and ("rule:leerplicht_16h_4w", "school") in obj.routes
    assert {"leerplicht", "jeugdarts"} <= set(obj.roles)
    assert got["OK"] == plain["OK"]  # the other pupil is untouched


def test_incomplete_school_is_flagged_not_scored_low(bundle: ModelBundle, cal: SchoolCalendar) -> None:
    tables = tables_of(student_events("GAP", school="09ZZ", absence_hours=0, sick_days=0),
                       student_events("FULL", absence_hours=0, sick_days=0))
    got = scoring.score_events(tables, AS_OF, bundle, calendar=cal, incomplete_schools=frozenset({"09ZZ"})).by_id()
    assert got["GAP"].data_incomplete and got["GAP"].band == "unknown" and got["GAP"].probability is None
    assert got["FULL"].band == "low" and not got["FULL"].data_incomplete


def test_prepared_feature_table_scores_the_same(bundle: ModelBundle, cal: SchoolCalendar) -> None:
    tables = tables_of(*(student_events(f"P{i}", absence_hours=h, sick_days=d)
                         for i, (h, d) in enumerate([(0, 0), (12, 3), (35, 25), (20, 0)])))
    full = scoring.score_events(tables, AS_OF, bundle, calendar=cal)
    from riskscore import features, rules

    fired = rules.evaluate(features.point_in_time(tables, AS_OF), AS_OF, calendar=cal)
    again = scoring.score_table(full.table, bundle, fired=fired, ctx=scoring.context(tables, AS_OF))
    assert again == full.students


def test_leaver_without_sk_gets_triggers_only(bundle: ModelBundle, cal: SchoolCalendar) -> None:
    body = student_events("LEFT", birth_date="2006-05-01", absence_hours=0, sick_days=0)
    body["student"].update({"school_type": "mbo", "level": "mbo-2", "grade": 1})
    body["enrolments"] = [{"school_id": "01AB", "level": "mbo-2", "start_date": "2024-08-20",
                           "end_date": "2025-02-20", "dereg_reason": "dropout"}]
    result = scoring.score_events(tables_of(body), AS_OF, bundle, calendar=cal)
    assert result.students == []  # not enrolled on as_of: no model score
    [left] = result.leavers
    assert [t.id for t in left.triggers] == ["deregistered_no_sk"] and left.roles == ("rmc",)
    assert left.probability is None and left.school_id == "01AB" and left.age == 18.0


def test_redact_works_on_the_typed_result(bundle: ModelBundle, cal: SchoolCalendar) -> None:
    [s] = scoring.score_events(tables_of(student_events("R")), AS_OF, bundle, calendar=cal).students
    assert redact(s, "jeugdarts") == s.to_dict()
    school = redact(s, "school")
    assert all(r["text_nl"] == HEALTH_REDACTED_NL for r in school["reasons"] if r["category"] == "sick")
    assert next(t for t in school["triggers"] if t["id"] == "mazl_long")["withheld"] is True


def test_results_without_a_model_score_are_stored_and_read_back(db: Db, bundle: ModelBundle,
                                                               cal: SchoolCalendar) -> None:
    from riskscore.store.runs import latest_score
    from riskscore.store.scores import store_scores, stored_to_result

    tables = tables_of(student_events("ST-OBJ"), student_events("ST-OK"))
    got = scoring.score_events(tables, AS_OF, bundle, calendar=cal, objecting=frozenset({"ST-OBJ"})).students
    with db.sessions() as session:
        store_scores(session, [s.to_dict() for s in got])
        back = {sid: stored_to_result(latest_score(session, sid)) for sid in ("ST-OBJ", "ST-OK")}
    assert back["ST-OBJ"]["probability"] is None and back["ST-OBJ"]["band"] == "unknown" and back["ST-OBJ"]["objected"]
    assert back["ST-OBJ"]["triggers"] == [t.to_dict() for t in got[0].triggers]
    assert back["ST-OK"]["probability"] == pytest.approx(got[1].probability) and not back["ST-OK"]["objected"]


def test_future_as_of_is_refused(bundle: ModelBundle) -> None:
    from riskscore.errors import DataError

    with pytest.raises(DataError, match="future"):
        scoring.score_events(tables_of(student_events()), AS_OF, bundle, today=AS_OF - dt.timedelta(days=1))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hours=st.lists(st.sampled_from([0.0, 0.25, 1.0, 2.0, 4.0, 6.0]), min_size=0, max_size=25),
       sick=st.integers(0, 12), objects=st.booleans())
def test_objection_never_changes_the_rules_and_never_leaks_a_score(bundle: ModelBundle, cal: SchoolCalendar,
                                                                   hours: list[float], sick: int, objects: bool) -> None:
    body = student_events("H", absence_hours=0, sick_days=sick)
    start, _ = cal.lesson_week_window(AS_OF, 4, "midden")
    # lesson days inside both the 4-lesson-week window and the 28-day lookback (a trigger stays active)
    days = [d.date() for d in cal.lesson_days(start, AS_OF, "midden") if d.date() >= dt.date(2025, 2, 3)]
    body["absences"] = [{"date": d.isoformat(), "hours": h, "category": "unauthorised"}
                        for d, h in zip(days, hours, strict=False) if h > 0]
    tables = tables_of(body)
    plain = scoring.score_events(tables, AS_OF, bundle, calendar=cal).students[0]
    got = scoring.score_events(tables, AS_OF, bundle, calendar=cal,
                               objecting=frozenset({"H"} if objects else ())).students[0]
    assert got.triggers == plain.triggers
    if objects:
        assert got.probability is None and got.reasons == () and got.band == "unknown"
    else:
        assert got == plain
    # 16 h or more within the window and under 16: the legal report is among the triggers
    assert (sum(hours[:len(days)]) >= 16) == any(t.id == "leerplicht_16h_4w" for t in got.triggers)
