"""Legal and protocol triggers (Leerplichtwet, RMC, MAZL, VVA): deterministic, sourced, configurable.

These are not machine learning: they fire on fixed thresholds (DOMAIN.md) and are shown apart from the
model's score. Nothing dated after ``as_of`` is read, so later rows cannot change a trigger.

Exactness, per day of absence
-----------------------------
* Age and startkwalificatie are judged on the day the hours were missed: hours missed while under 16,
  or under 18 without sk, count toward ``leerplicht_16h_4w``; hours missed while 18–23 without sk
  toward ``rmc_verzuim``. Each hour belongs to at most one rule, and within a rule a report starts a
  new period, so the same hours are never reported twice.
* Only lesson days of the pupil's own calendar count (the school's, when it moved a holiday, else its
  region's — the same calendar the features use): weekends, public holidays and school holidays never.
* Unauthorised hours per pupil per day may not exceed ``max_hours_per_day``; more is a registration
  error and raises a DataError naming the pupil, the date and the hours (why not clip: a legal report
  must rest on what the school registered, not on a number this software made up).
* Periods are counted per school year from its first day, whatever the as-of date, so a daily, weekly
  or monthly run finds the same reports on the same dates (as long as ``lookback_days`` covers the
  interval between runs).

Speed: raw tables become integer codes and day numbers once (``Events``); every rule is numpy over
sorted arrays (searchsorted, reduceat, bincount). The "new period after a report" rule is solved by a
few vectorised passes (one per report a pupil gets), not a loop per pupil.
"""

from riskscore.calendar import ages_on
from riskscore.rules.catalogue import (
    MSG_BAD_HOURS,
    MSG_MISSING_COLUMNS,
    MSG_NO_BIRTH_DATE,
    MSG_NO_STUDENTS,
    MSG_NOT_DATES,
    MSG_TOO_MANY_HOURS,
    OUTPUT_COLUMNS,
    RULES,
    Rule,
    RuleConfig,
    parse_absence_detail,
    rule_text,
)
from riskscore.rules.engine import evaluate, evaluate_arrays, evaluate_events, triggers_frame, window_reports
from riskscore.rules.events import HISTORY_DAYS, STUDENT_COLUMNS, Events, codes_of, day_numbers

#: the vectorised age lives in calendar.py (one place); this name stays for callers of rules.age_on
age_on = ages_on

__all__ = [
    "HISTORY_DAYS",
    "MSG_BAD_HOURS",
    "MSG_MISSING_COLUMNS",
    "MSG_NOT_DATES",
    "MSG_NO_BIRTH_DATE",
    "MSG_NO_STUDENTS",
    "MSG_TOO_MANY_HOURS",
    "OUTPUT_COLUMNS",
    "RULES",
    "STUDENT_COLUMNS",
    "Events",
    "Rule",
    "RuleConfig",
    "age_on",
    "codes_of",
    "day_numbers",
    "evaluate",
    "evaluate_arrays",
    "evaluate_events",
    "parse_absence_detail",
    "rule_text",
    "triggers_frame",
    "window_reports",
]
