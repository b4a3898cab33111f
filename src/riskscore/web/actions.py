"""Each reviewing role's own next step on a case, with its due date and the days left.

A case's stored due date is the *school's* legal deadline (report 16 h of unauthorised absence to
DUO's verzuimloket within 5 working days). The attendance officer, the youth doctor and RMC have no
statutory deadline of their own; they get a target date (streefdatum) counted from that deadline or
from the date the signal fired, which a region can change in TARGET_DAYS. The page says which kind
of date it shows, and "verlopen" (overdue) or how many days are left, counted in Europe/Amsterdam."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

#: (role, case reason) → the action's text key; "*" matches any reason of the role
ACTIONS: dict[tuple[str, str], str] = {
    ("school", "rule:leerplicht_16h_4w"): "act_school_report_duo",
    ("school", "rule:lrv_4w"): "act_school_report_duo",
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
#: roles whose stored due date is their own legal deadline for these reasons (the school's report to
#: DUO; the decaan's 1 April for an mbo application, toelatingsrecht art. 8.0.1 WEB)
LEGAL: frozenset[tuple[str, str]] = frozenset({("school", "rule:leerplicht_16h_4w"), ("school", "rule:lrv_4w"),
                                               ("school", "rule:vva_not_applied")})
#: calendar days from the base date (the legal deadline if the case has one, else the date the signal
#: fired or the case's reference date) to each role's target date; regional practice, so configurable
TARGET_DAYS: dict[str, int] = {"school": 10, "leerplicht": 10, "jeugdarts": 10, "rmc": 14}


@dataclass(frozen=True)
class NextStep:
    """What this role does next, by when, and how that date relates to today."""

    action_key: str
    due: dt.date
    legal: bool  # a statutory deadline (True) or a target date (False)
    days_left: int  # negative: overdue

    @property
    def overdue(self) -> bool:
        return self.days_left < 0


def today() -> dt.date:
    """Today where the schools are."""
    return dt.datetime.now(AMSTERDAM).date()


def next_step(role: str, reason: str, *, due_date: dt.date | None, fired_on: dt.date | None, as_of: dt.date,
              on: dt.date | None = None) -> NextStep:
    """The role's next step on a case (role and reason as stored on the case)."""
    key = ACTIONS.get((role, reason)) or ACTIONS.get((role, "*"), "act_school_talk")
    legal = (role, reason) in LEGAL and due_date is not None
    if legal:
        assert due_date is not None
        due = due_date
    else:
        base = due_date or fired_on or as_of
        due = base + dt.timedelta(days=TARGET_DAYS.get(role, 10))
    return NextStep(action_key=key, due=due, legal=legal, days_left=(due - (on or today())).days)
