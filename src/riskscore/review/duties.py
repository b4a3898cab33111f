"""The legal duty where it lies, the next step, and overdue — computed here and nowhere else.

A 16-hour signal (Leerplichtwet 1969 art. 21a) gives two duties:

* the **school** must report it to DUO's verzuimloket within 5 school days — its legal deadline is the
  trigger's due date (rules.evaluate, from the configured number of working days);
* the **attendance officer** (leerplicht) expects that report by the same date, and acts on it.

A legal duty is *done* when the school records its report (date and DUO's reference); it is *overdue*
when its deadline lies before today and it is not done. The attendance officer sees the same: whether
the report came, and which are late. Every other step has no statutory deadline: it is a *next step*
with a target date (streefdatum) — from the case's plan (the earliest open action or follow-up check),
else a default number of days after the case opened (TARGET_DAYS, regional practice). The two dates are
kept apart, on the page and in the ordering."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from riskscore.clock import AMSTERDAM, local_day, today

__all__ = ["AMSTERDAM", "local_day", "today"]  # the schools' day, kept in clock (the foundation)

#: (role, rule id) -> the kind of legal duty the role holds for it
REPORT_DUO, EXPECT_REPORT = "report_duo", "expect_report"
DUTIES: dict[tuple[str, str], str] = {
    ("school", "leerplicht_16h_4w"): REPORT_DUO,
    ("leerplicht", "leerplicht_16h_4w"): EXPECT_REPORT,
}
#: rules whose report to DUO the school records (and leerplicht awaits)
REPORTABLE_RULES = frozenset(rule for (_, rule), kind in DUTIES.items() if kind == REPORT_DUO)
#: calendar days from a case's opening to each role's default target date; regional practice
TARGET_DAYS: dict[str, int] = {"school": 10, "leerplicht": 10, "jeugdarts": 10, "rmc": 14}
#: the follow-up check after an action, unless the team sets another date (weeks)
FOLLOW_UP_WEEKS = 6

#: (role, case reason) → what the role does first; "*" matches any reason of the role
FIRST_ACTIONS: dict[tuple[str, str], str] = {
    ("school", "rule:leerplicht_16h_4w"): "act_school_report_duo",
    ("school", "rule:vva_not_applied"): "act_school_vva_apply",
    ("school", "rule:vva_no_enrolment"): "act_school_vva_enrol",
    ("school", "rule:lateness"): "act_school_lateness",
    ("school", "*"): "act_school_talk",
    ("leerplicht", "rule:leerplicht_16h_4w"): "act_leerplicht_invite",
    ("leerplicht", "rule:lrv_4w"): "act_leerplicht_lrv",
    ("leerplicht", "*"): "act_leerplicht_school",
    ("jeugdarts", "rule:mazl_frequent"): "act_jeugdarts_invite",
    ("jeugdarts", "rule:mazl_long"): "act_jeugdarts_invite",
    ("jeugdarts", "*"): "act_jeugdarts_consult",
    ("rmc", "rule:rmc_verzuim"): "act_rmc_contact",
    ("rmc", "rule:deregistered_no_sk"): "act_rmc_deregistered",
    ("rmc", "rule:vva_not_applied"): "act_rmc_vva",
    ("rmc", "rule:vva_no_enrolment"): "act_rmc_vva",
    ("rmc", "*"): "act_rmc_contact",
}


def duty(role: str, rule_id: str | None) -> str | None:
    """The legal duty a role holds for a rule's signal, or None."""
    return DUTIES.get((role, rule_id)) if rule_id else None


def legal_deadline(role: str, signals: Iterable[tuple[str | None, dt.date | None]]) -> dt.date | None:
    """The earliest deadline among the (rule id, deadline) signals the role holds a legal duty for."""
    dates = [d for rule, d in signals if d is not None and duty(role, rule) is not None]
    return min(dates) if dates else None


def is_overdue(deadline: dt.date | None, done_on: dt.date | None, on: dt.date) -> bool:
    """A legal duty is overdue when its deadline lies before ``on`` and it is not done."""
    return deadline is not None and done_on is None and deadline < on


@dataclass(frozen=True)
class NextStep:
    """What the team does next and by when (a target date, never a legal deadline)."""

    action_key: str
    due: dt.date
    from_plan: bool
    days_left: int  # negative: past the target date
    is_duty: bool = False  # the step is the open legal duty itself: ``due`` is its legal deadline

    @property
    def late(self) -> bool:
        return self.days_left < 0


#: first actions that ARE the legal duty: their date is the duty's deadline, never a target date beside it
DUTY_ACTIONS: dict[str, str] = {"act_school_report_duo": REPORT_DUO}


def next_step(role: str, reason: str, *, opened_on: dt.date, plan: Iterable[tuple[str, dt.date]] = (),
              on: dt.date | None = None, open_duty: dt.date | None = None) -> NextStep:
    """The next step: the plan's earliest open action (its text key and date) if there is one, else the
    role's first action for the case's reason, due TARGET_DAYS after the case opened — unless that first
    action is the open legal duty itself (the school's report to DUO): then its date is the duty's deadline
    (``open_duty``), so a row never says "report, 10 days left" beside a deadline that has passed."""
    day = on or today()
    planned = sorted(plan, key=lambda p: p[1])
    if planned:
        key, due = planned[0]
        return NextStep(key, due, True, (due - day).days)
    key = FIRST_ACTIONS.get((role, reason)) or FIRST_ACTIONS.get((role, "*"), "act_school_talk")
    if key in DUTY_ACTIONS and open_duty is not None:
        return NextStep(key, open_duty, False, (open_duty - day).days, is_duty=True)
    due = opened_on + dt.timedelta(days=TARGET_DAYS.get(role, 10))
    return NextStep(key, due, False, (due - day).days)


def follow_up_on(done_on: dt.date) -> dt.date:
    """The default follow-up check after an action is done."""
    return done_on + dt.timedelta(weeks=FOLLOW_UP_WEEKS)
