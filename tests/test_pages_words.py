"""The pages' words and dates, as properties: each role's next step and its due date, "verlopen" exactly
when the date has passed, Dutch dates in words, times in Europe/Amsterdam (summer and winter time)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from riskscore.review import duties, plans
from riskscore.store.cases import CASE_ROLES
from riskscore.web import i18n

dates = st.dates(min_value=dt.date(2019, 8, 1), max_value=dt.date(2030, 7, 31))
reasons = st.sampled_from(["capacity", "rule:leerplicht_16h_4w", "rule:lrv_4w", "rule:mazl_long", "rule:mazl_frequent",
                           "rule:vva_not_applied", "rule:vva_no_enrolment", "rule:rmc_verzuim",
                           "rule:deregistered_no_sk"])
plan_keys = st.sampled_from(["act_follow_up", *(f"step_{k}" for kinds in plans.ACTION_KINDS.values() for k in kinds)])


@given(role=st.sampled_from(CASE_ROLES), reason=reasons, opened=dates,
       plan=st.lists(st.tuples(plan_keys, dates), max_size=4), today=dates)
def test_each_role_gets_its_own_step_and_a_target_date(role: str, reason: str, opened: dt.date,
                                                       plan: list[tuple[str, dt.date]], today: dt.date) -> None:
    """The next step is the plan's earliest open item, else the role's first step a fixed number of days
    after the case opened — a target date, never the legal deadline (that is the duty, shown apart)."""
    step = duties.next_step(role, reason, opened_on=opened, plan=plan, on=today)
    assert step.action_key in i18n.TEXTS  # always a sentence in both languages, never a code
    if plan:
        assert step.from_plan and step.due == min(d for _, d in plan)
    else:
        assert not step.from_plan and step.due == opened + dt.timedelta(days=duties.TARGET_DAYS[role])
    assert step.days_left == (step.due - today).days and step.late == (step.due < today)
    words = i18n.days_left(step.days_left, "nl")
    assert ("verlopen" in words) == step.late
    assert (words == "vandaag") == (step.due == today)


@given(n=st.integers(-400, 400))
def test_days_left_reads_plainly(n: int) -> None:
    nl, en = i18n.days_left(n, "nl"), i18n.days_left(n, "en")
    if n < 0:
        assert nl.startswith("verlopen") and en.startswith("overdue") and str(-n) in nl
    elif n == 0:
        assert (nl, en) == ("vandaag", "today")
    else:
        assert nl == f"nog {n} {'dag' if n == 1 else 'dagen'}" and en == f"{n} {'day' if n == 1 else 'days'} left"


@given(moment=st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 12, 31)))
def test_times_are_shown_in_amsterdam_and_dates_in_words(moment: dt.datetime) -> None:
    local = moment.replace(tzinfo=dt.UTC).astimezone(ZoneInfo("Europe/Amsterdam"))
    shown = i18n.when(moment, "nl")  # stored naive = UTC (SQLite)
    assert shown == f"{local.day} {i18n.MONTHS_NL[local.month - 1]} {local.year}, {local:%H:%M}"
    assert i18n.when(moment.replace(tzinfo=dt.UTC), "nl") == shown  # PostgreSQL hands back aware UTC
    assert i18n.when(local.date().isoformat(), "en").endswith(str(local.year))
    assert "UTC" not in shown and "-" not in shown.split(",")[0]


DUTCH_WORDS = ("uur", "lesweken", "jaar", "ziek", "uitgeschreven", "geen", "aangemeld", "ingeschreven", "keer")


def test_rule_details_read_in_the_readers_language(small_world: Any) -> None:
    """The rule engine writes each trigger's detail in Dutch; the pages give every one of them in
    English words too, and a deregistration's reason in words rather than its code."""
    import pandas as pd

    from riskscore import features, rules
    from riskscore.web.data import DEREG_REASONS, detail_words

    details: dict[str, set[str]] = {}
    for day in ("2023-11-15", "2024-02-01", "2024-04-15", "2024-05-01", "2024-08-10"):
        fired = rules.evaluate(features.point_in_time(small_world.tables, day), pd.Timestamp(day))
        for rule_id, detail in zip(fired["rule_id"], fired["detail"], strict=True):
            details.setdefault(rule_id, set()).add(str(detail))
    assert {"rmc_verzuim", "deregistered_no_sk", "leerplicht_16h_4w", "vva_not_applied"} <= set(details)
    for rule_id, texts in details.items():
        for text in texts:
            en, nl = detail_words(text, "en"), detail_words(text, "nl")
            assert en != text and not any(w in en.split() for w in DUTCH_WORDS), (rule_id, text, en)
            assert not any(f"({code})" in nl for code in DEREG_REASONS if code), (rule_id, nl)
    assert detail_words("uitgeschreven (dropout), 19 jaar, zonder startkwalificatie", "en") == (
        "deregistered (left school) at age 19, without a basic qualification (startkwalificatie)")
    assert detail_words("16,5 uur ongeoorloofd verzuim binnen 4 lesweken", "en") == (
        "16.5 hours of unauthorised absence within 4 lesson weeks")
