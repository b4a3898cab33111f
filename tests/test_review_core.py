"""The review core (riskscore.review): candidates from the scoring core's routes (routing once), one
case per pupil per team with all its signals, the legal duty where it lies, overdue and the next step
kept apart, the plan, the letter — and the store's migration of old cases to one case per team."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from riskscore.review import candidates, duties, letters, plans
from riskscore.review.teams import TEAM_UNITS, Team
from riskscore.routing import RoutingTable, route_signals
from riskscore.scoring import ScoredStudent, Trigger
from riskscore.store import cases as store
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.models import ReviewCase

D = dt.date


def pupil(sid: str, *, p: float | None = 0.5, band: str = "medium", triggers: tuple[Trigger, ...] = (),
          age: float = 15.0, school: str = "01AB", gm: str = "GM0363", rmc: str = "RMC27",
          reasons: tuple[Any, ...] = ()) -> ScoredStudent:
    routes = route_signals(reasons, triggers, age=age, has_sk=False, band=band if p is not None else "unknown",
                           table=RoutingTable.default())
    return ScoredStudent(student_id=sid, school_id=school, municipality=gm, rmc_region=rmc, age=age,
                         as_of=D(2025, 3, 3), probability=p, band=band if p is not None else "unknown", reasons=reasons,
                         triggers=triggers, roles=tuple(sorted({r for _, r in routes})), model_version="m",
                         routes=routes)


SIXTEEN = Trigger("leerplicht_16h_4w", "Leerplichtwet 1969 art. 21a", "leerplicht", D(2025, 2, 28), D(2025, 3, 7),
                  "18 uur ongeoorloofd verzuim binnen 4 lesweken")
SICK_LONG = Trigger("mazl_long", "MAZL (NCJ)", "jeugdarts", D(2025, 2, 20), None, "8 schooldagen ziek")
SICK_OFTEN = Trigger("mazl_frequent", "MAZL (NCJ)", "jeugdarts", D(2025, 2, 25), None, "4e ziekmelding binnen 12 lesweken")


def test_a_16_hour_signal_gives_the_school_its_report_deadline_and_leerplicht_a_case() -> None:
    cands, _ = candidates([pupil("P1", triggers=(SIXTEEN,))], capacity_per_10k={})
    by_role = {c.role: c for c in cands}
    assert set(by_role) == {"school", "leerplicht"}
    assert by_role["school"].legal_deadline == by_role["leerplicht"].legal_deadline == D(2025, 3, 7)
    assert by_role["school"].reason == "rule:leerplicht_16h_4w" and by_role["school"].team == Team("school", "01AB")
    assert by_role["leerplicht"].team == Team("leerplicht", "GM0363")
    assert duties.duty("school", "leerplicht_16h_4w") == duties.REPORT_DUO
    assert duties.duty("leerplicht", "leerplicht_16h_4w") == duties.EXPECT_REPORT


def test_vaak_ziek_and_lang_ziek_are_one_jeugdarts_case_with_two_signals() -> None:
    cands, _ = candidates([pupil("P2", triggers=(SICK_LONG, SICK_OFTEN))], capacity_per_10k={})
    doctor = [c for c in cands if c.role == "jeugdarts"]
    assert len(doctor) == 1 and {s.rule_id for s in doctor[0].signals} == {"mazl_long", "mazl_frequent"}
    assert doctor[0].reason == "rule:mazl_long" and doctor[0].legal_deadline is None  # no statutory deadline


def test_capacity_takes_the_highest_risks_per_team_and_never_a_pupil_with_a_rule_case() -> None:
    reason = type("R", (), {"code": "ABS_UNAUTH_4W", "category": "absence"})()
    pupils = [pupil(f"S{i:02d}", p=i / 100, band="high", reasons=(reason,)) for i in range(40)]
    pupils.append(pupil("RULE", p=0.99, band="high", reasons=(reason,), triggers=(SIXTEEN,)))
    cands, caps = candidates(pupils, capacity_per_10k={"school": 500, "leerplicht": 0, "jeugdarts": 0, "rmc": 0})
    model = [c for c in cands if c.role == "school" and c.reason == "capacity"]
    assert caps["school"] == 2 and len(model) == 2  # 41 pupils x 500 / 10,000 = 2
    assert {c.student_id for c in model} == {"S39", "S38"}  # the highest, not the pupil who has a rule case
    assert not [c for c in cands if c.role == "leerplicht" and c.reason == "capacity"]  # capacity 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["P1", "P2", "P3"]), st.sampled_from([(SIXTEEN,), (SICK_LONG,), (),
                                                                                   (SIXTEEN, SICK_OFTEN)]),
                          st.floats(0, 1), st.sampled_from([12.0, 15.0, 17.0, 19.0])), max_size=6, unique_by=lambda t: t[0]))
def test_at_most_one_candidate_per_pupil_per_team_and_only_where_routing_sends(rows: list[Any]) -> None:
    scored = [pupil(sid, p=p, band="high", triggers=trig, age=age) for sid, trig, p, age in rows]
    cands, _ = candidates(scored, capacity_per_10k={"school": 10_000, "leerplicht": 10_000, "jeugdarts": 10_000,
                                                    "rmc": 10_000})
    keys = Counter((c.student_id, c.team) for c in cands)
    assert not keys or max(keys.values()) == 1
    routes = {s.student_id: set(s.routes) for s in scored}
    for c in cands:
        for sig in c.signals:
            signal = "model" if sig.kind == "model" else f"rule:{sig.rule_id}"
            assert (signal, c.role) in routes[c.student_id]


def test_overdue_and_the_next_step_are_kept_apart() -> None:
    on = D(2025, 3, 10)
    assert duties.is_overdue(D(2025, 3, 7), None, on) and not duties.is_overdue(D(2025, 3, 7), D(2025, 3, 6), on)
    assert not duties.is_overdue(D(2025, 3, 11), None, on) and not duties.is_overdue(None, None, on)
    default = duties.next_step("leerplicht", "rule:leerplicht_16h_4w", opened_on=D(2025, 3, 3), on=on)
    assert default.action_key == "act_leerplicht_invite" and default.due == D(2025, 3, 13) and not default.from_plan
    planned = duties.next_step("school", "capacity", opened_on=D(2025, 3, 3), on=on,
                               plan=[("step_talk_parents", D(2025, 3, 20)), ("act_follow_up", D(2025, 3, 15))])
    assert planned.action_key == "act_follow_up" and planned.due == D(2025, 3, 15) and planned.days_left == 5
    assert duties.follow_up_on(D(2025, 3, 10)) == D(2025, 4, 21)  # six weeks
    # the school's first step IS its legal duty: dated by the deadline, late when that passed (no "10 days left")
    report = duties.next_step("school", "rule:leerplicht_16h_4w", opened_on=D(2025, 3, 3), on=on,
                              open_duty=D(2025, 3, 7))
    assert report.action_key == "act_school_report_duo" and report.due == D(2025, 3, 7) and report.late


def test_a_case_opened_just_after_midnight_in_amsterdam_counts_from_that_day() -> None:
    """The stored time is UTC; the day is Amsterdam's. A case opened at 00:30 in Amsterdam (23:30 UTC the
    day before) has its first step due ten days after the Amsterdam day — counted from the UTC date, every
    row built between midnight and 01:00 (02:00 in summer) was a day early, and "20 days ago" read 21."""
    from types import SimpleNamespace

    from riskscore.access import Principal
    from riskscore.clock import local_day
    from riskscore.review import worklist

    night = dt.datetime(2026, 11, 7, 23, 30, tzinfo=dt.UTC)
    assert local_day(night) == D(2026, 11, 8) and local_day(night.replace(tzinfo=None)) == D(2026, 11, 8)
    assert local_day(dt.datetime(2026, 7, 7, 22, 30, tzinfo=dt.UTC)) == D(2026, 7, 8)  # summer: UTC+2
    assert local_day(dt.datetime(2026, 11, 7, 22, 30, tzinfo=dt.UTC)) == D(2026, 11, 7)
    case = SimpleNamespace(id=1, student_id="P1", role="school", team="school:01AB", school_id="01AB",
                           municipality="GM0363", rmc_region="RMC27", status="open", owner=None, reason="capacity",
                           as_of=D(2026, 11, 2), opened_at=night, updated_at=night, probability=0.4, band="high",
                           legal_deadline=None, legal_done_on=None, priority=None)
    mentor = Principal("user:m", "m", "school", "school", ("01AB",))
    row = worklist.row(case, viewer=mentor, on=D(2026, 12, 8))
    assert row.next_step.due == D(2026, 11, 18) and row.next_step.days_left == -20


def test_each_role_has_its_own_steps_and_outcomes() -> None:
    assert {"warning", "halt", "official_report", "care", "conversation"} <= set(plans.ACTION_KINDS["leerplicht"])
    assert {"back_to_education", "back_to_work", "referred_care", "not_reached"} <= set(plans.OUTCOMES_BY_ROLE["rmc"])
    with pytest.raises(Exception, match="not a step"):
        plans.check_action("school", "halt")
    with pytest.raises(Exception, match="not available"):
        plans.check_outcome("leerplicht", "reported_leerplicht")


def test_api_enums_equal_the_review_core() -> None:
    from typing import get_args

    from riskscore.api.schemas import ActionKind, OutcomeCode

    assert set(get_args(OutcomeCode)) == set(plans.OUTCOMES)
    assert set(get_args(ActionKind)) == {k for kinds in plans.ACTION_KINDS.values() for k in kinds}


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.parametrize("hours", [None, 16.0, 18.25, 120.5])
@pytest.mark.parametrize("reported", [False, True])
def test_the_letter_is_short_filled_from_the_case_and_names_no_health(lang: str, hours: float | None,
                                                                      reported: bool) -> None:
    facts = letters.LetterFacts(hours=hours, weeks=4 if hours else None, reported=reported,
                                meeting_on=D(2025, 3, 12), meeting_at="15:30", contact="06-12345678")
    letter = letters.write(facts, lang)
    assert letter.words < 150
    assert ("woensdag 12 maart om 15:30" if lang == "nl" else "Wednesday 12 March at 15:30") in letter.body
    if hours is not None:
        assert (f"{hours:g}".replace(".", ",") if lang == "nl" else f"{hours:g}") in letter.body
    assert ("leerplichtambtenaar" in letter.body if lang == "nl" else "attendance officer" in letter.body) == reported
    assert "ziek" not in letter.body.lower() and "sick" not in letter.body.lower()


def test_the_letter_takes_hours_and_weeks_from_the_absence_signal() -> None:
    sig = type("S", (), {"rule_id": "leerplicht_16h_4w", "detail": "18,5 uur ongeoorloofd verzuim binnen 4 lesweken"})
    sick = type("S", (), {"rule_id": "mazl_long", "detail": "12 schooldagen ziek"})
    facts = letters.facts_from_signals([sick(), sig()], meeting_on=D(2025, 3, 12), meeting_at="9 uur", contact="")
    assert (facts.hours, facts.weeks, facts.reported) == (18.5, 4, True)
    with pytest.raises(Exception, match="hh:mm"):
        letters.write(facts)


# --- the migration to one case per team ------------------------------------------------------------------
def test_old_cases_merge_into_one_active_case_per_team(tmp_path: Any) -> None:
    """0005_review_core: two active school cases of one pupil (the old key was per reason) become one
    case with both signals; the other is closed with a line that says where it went; the school's 16-hour
    due date becomes its legal deadline; a jeugdarts case's date does not (no statutory deadline)."""
    from alembic import command
    from alembic.config import Config

    from riskscore.store.db import _ALEMBIC_INI, _MIGRATIONS_DIR

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    cfg = Config(str(_ALEMBIC_INI))
    cfg.set_main_option("script_location", str(_MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004_registrations")
    now = dt.datetime(2025, 3, 3, tzinfo=dt.UTC)
    base = {"school_id": "01AB", "municipality": "GM0363", "rmc_region": "RMC27", "as_of": D(2025, 3, 3),
            "opened_at": now, "priority": 1, "probability": 0.4, "band": "medium", "updated_at": now}
    with engine.begin() as conn:
        t = sa.table("review_cases", *(sa.column(c) for c in [*base, "student_id", "role", "reason", "due_date",
                                                                 "status"]))
        conn.execute(sa.insert(t), [
            {**base, "student_id": "P", "role": "school", "reason": "rule:leerplicht_16h_4w", "due_date": D(2025, 3, 7),
             "status": "open"},
            {**base, "student_id": "P", "role": "school", "reason": "capacity", "due_date": None, "status": "in_review"},
            {**base, "student_id": "P", "role": "jeugdarts", "reason": "rule:mazl_long", "due_date": D(2025, 3, 13),
             "status": "open"},
            {**base, "student_id": "Q", "role": "school", "reason": "capacity", "due_date": None, "status": "closed"}])
        outcomes = sa.table("review_outcomes", *(sa.column(c) for c in ("case_id", "outcome", "worth_conversation",
                                                                          "recorded_by", "recorded_at")))
        conn.execute(sa.insert(outcomes), [{"case_id": 4, "outcome": "no_concern", "worth_conversation": False,
                                            "recorded_by": "mentor", "recorded_at": now}])
        events = sa.table("case_events", *(sa.column(c) for c in ("case_id", "at", "actor", "action", "note")))
        conn.execute(sa.insert(events), [{"case_id": i, "at": now, "actor": "batch", "action": "open", "note": "x"}
                                         for i in (1, 2, 3, 4)])
    migrate(engine)  # SQLite rebuilds review_cases: the history and outcomes that reference it must survive
    with session_factory(engine)() as s:
        rows = {c.id: c for c in s.scalars(sa.select(ReviewCase))}
        active = [c for c in rows.values() if c.status in store.ACTIVE_STATUSES]
        assert sorted((c.student_id, c.role, c.team) for c in active) == [("P", "jeugdarts", "RMC27"),
                                                                          ("P", "school", "01AB")]
        school = next(c for c in active if c.role == "school")
        assert school.id == 1 and school.legal_deadline == D(2025, 3, 7) and school.legal_done_on is None
        assert rows[3].legal_deadline is None  # the jeugdarts has no statutory deadline
        held = store.case_signals(s, [1])[1]
        assert {(g.kind, g.rule_id) for g in held} == {("rule", "leerplicht_16h_4w"), ("model", None)}
        assert rows[2].status == "closed"
        assert "merged into case 1" in store.case_history(s, 2)[-1].note
        assert [e.action for e in store.case_history(s, 1)] == ["open"]
        assert [o.outcome for o in store.case_outcomes(s, 4)] == ["no_concern"]
        # and the unique index now holds: a second active school case of P cannot be written
        with pytest.raises(sa.exc.IntegrityError):
            s.execute(sa.update(ReviewCase).where(ReviewCase.id == 2).values(status="open"))
    engine.dispose()
    assert TEAM_UNITS["jeugdarts"] == "rmc_region"
