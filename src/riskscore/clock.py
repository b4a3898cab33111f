"""The schools' day.

"Today", a legal deadline and the day a case opened are days in Amsterdam, not in UTC: the machine's
clock often runs in UTC, and between midnight in Amsterdam and midnight UTC its date is still
yesterday's. Every door, job and page asks this module for the day, so a deadline is never a day off
at night. Standard library only: the CLI imports it without loading pandas.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

#: the schools' time zone
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def today() -> dt.date:
    """Today where the schools are."""
    return dt.datetime.now(AMSTERDAM).date()


def local_day(at: dt.datetime | None) -> dt.date | None:
    """The day of a stored time (UTC when naive) where the schools are: a case opened at 00:18 in
    Amsterdam was opened that day, not the day before (its UTC date)."""
    if at is None:
        return None
    aware = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
    return aware.astimezone(AMSTERDAM).date()
