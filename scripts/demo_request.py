"""Print a POST /v1/scores body for the README's example: a pupil the demo registered at the demo school in
the current school year, with a month of raw events up to today (unauthorised absence in the last four
lesson weeks, a late arrival, a short sick spell). The service only scores pupils whose registration places
them in the caller's scope, so the example uses a registered one rather than a made-up id.

    .venv/bin/python scripts/demo_request.py [--school BRIN] [--data .riskscore/data] > body.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from pathlib import Path

import pandas as pd

from riskscore.calendar import SchoolCalendar, school_year_of
from riskscore.testing import student_events


def main() -> None:
    home = Path(os.environ.get("RISKSCORE_HOME", ".riskscore"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=home / "data", help="the demo's raw tables")
    parser.add_argument("--school", help="the school (BRIN); default the demo key's school")
    args = parser.parse_args()
    keys = home / "demo-keys.txt"
    school = args.school or next(line.split()[1].removeprefix("school:") for line in keys.read_text().splitlines()
                                 if line.startswith("school "))
    today = dt.date.today()
    students = pd.read_parquet(args.data / "students.parquet")
    mine = students[(students["school_id"] == school) & (students["school_year"] == school_year_of(today))]
    if mine.empty:
        raise SystemExit(f"no pupil of school {school} in {school_year_of(today)} in {args.data}")
    row = mine.sort_values("student_id").iloc[0]
    cal = SchoolCalendar.default()
    as_of = today if cal.is_lesson_day(today, row["calendar_region"]) else \
        max(d.date() for d in cal.lesson_days(today - dt.timedelta(days=21), today, row["calendar_region"]))
    body = student_events(str(row["student_id"]), school=school, municipality=str(row["municipality"]),
                          rmc_region=str(row["rmc_region"]), as_of=as_of.isoformat(),
                          region=str(row["calendar_region"]), birth_date=str(pd.Timestamp(row["birth_date"]).date()),
                          level=str(row["level"]), grade=int(row["grade"]) if pd.notna(row["grade"]) else 3,
                          absence_hours=18.0, sick_days=3)
    body["student"]["school_type"] = str(row["school_type"])  # type: ignore[index]
    print(json.dumps({"students": [body]}, indent=1))


if __name__ == "__main__":
    main()
