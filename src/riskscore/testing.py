"""Helpers for tests, the soak driver and examples — never used by the service itself."""

from __future__ import annotations

from pathlib import Path


def tiny_bundle(directory: Path, *, version: str = "test-1", card: bool = True) -> Path:
    """Train and save a tiny additive model in about a second: unauthorised absence and long sick
    spells raise the risk, the other features are noise. Deterministic."""
    import numpy as np
    import pandas as pd

    from riskscore.contracts import FEATURES
    from riskscore.model import additive as model
    from riskscore.model.bundle import ModelBundle

    rng = np.random.default_rng(7)
    n = 1500
    X = pd.DataFrame({f: rng.poisson(2.0, n).astype(float) for f in FEATURES})
    X["unauthorised_hours_4w"] = rng.uniform(0, 40, n)
    X["longest_sick_spell_days"] = rng.uniform(0, 30, n)
    logit = -4 + 0.15 * X["unauthorised_hours_4w"] + 0.12 * X["longest_sick_spell_days"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    additive = model.AdditiveLGBM(n_estimators=40, learning_rate=0.2, min_child_samples=20).fit(X.iloc[:1000], y[:1000])
    cal = model.Calibrator(method="platt").fit(additive.raw_score(X.iloc[1000:]), y[1000:])
    bundle = ModelBundle.from_model(additive, cal, version=version, band_thresholds={"medium": 0.1, "high": 0.4},
                                    metadata={"seed": 7, "metrics": {"auc": 0.8}})
    target = Path(bundle.save(directory))
    if card:
        (target / "model_card.md").write_text("# Model card\n\nTiny test model.\n")
    return target


def student_events(
    student_id: str = "S-1",
    *,
    school: str = "01AB",
    municipality: str = "GM0363",
    rmc_region: str = "RMC27",
    as_of: str = "2025-03-01",
    birth_date: str = "2009-06-01",
    region: str = "midden",
    level: str = "vmbo-b",
    grade: int = 3,
    has_sk: bool = False,
    absence_hours: float = 35.0,
    sick_days: int = 25,
) -> dict[str, object]:
    """A POST /v1/scores body for one pupil, from raw events: ``absence_hours`` of unauthorised absence
    spread in quarter hours over the lesson days of the last 4 lesson weeks before as_of (so
    unauthorised_hours_4w is exactly that), and one ongoing sick report covering the last
    ``sick_days`` school days. Used by the API tests, the soak driver and the benchmarks."""
    import datetime as dt

    from riskscore.calendar import SchoolCalendar

    cal = SchoolCalendar.default()
    day = dt.date.fromisoformat(as_of)
    absences: list[dict[str, object]] = []
    if absence_hours > 0:
        start, end = cal.lesson_week_window(day, 4, region)
        days = [d.date() for d in cal.lesson_days(start, min(end, day), region)]
        quarters = round(absence_hours * 4)
        base, extra = divmod(quarters, len(days))
        absences = [{"date": d.isoformat(), "hours": (base + (i < extra)) / 4, "category": "unauthorised"}
                    for i, d in enumerate(days) if base + (i < extra) > 0]
    sick: list[dict[str, object]] = []
    if sick_days > 0:
        back = [d.date() for d in cal.lesson_days(day - dt.timedelta(days=sick_days * 3 + 21), day, region)]
        sick = [{"start_date": back[-sick_days].isoformat(), "end_date": None}]
    return {
        "student_id": student_id, "as_of": as_of,
        "student": {"school_id": school, "municipality": municipality, "rmc_region": rmc_region,
                    "calendar_region": region, "birth_date": birth_date, "school_type": "vo", "level": level,
                    "grade": grade, "final_year": False, "expects_mbo": False, "has_sk": has_sk},
        "absences": absences, "sick_reports": sick,
    }


def year_of_events(student_id: str = "BENCH-1", *, school: str = "01AB", as_of: str = "2025-06-27",
                   region: str = "midden") -> dict[str, object]:
    """A POST /v1/scores body with a full school year of events up to as_of: one absence record on
    every lesson day (unauthorised 1 h, late 0.25 h or authorised 2 h in turn), a sick report every
    six weeks, an enrolment and an mbo application: what a school's system holds for a pupil who
    struggles. The service benchmark scores it."""
    import datetime as dt

    from riskscore.calendar import SchoolCalendar, school_year_of, school_year_start

    cal = SchoolCalendar.default()
    day = dt.date.fromisoformat(as_of)
    start = school_year_start(school_year_of(day))
    days = [d.date() for d in cal.lesson_days(start, day, region)]
    kinds = (("unauthorised", 1.0), ("late", 0.25), ("authorised", 2.0))
    absences = [{"date": d.isoformat(), "hours": kinds[i % 3][1], "category": kinds[i % 3][0]}
                for i, d in enumerate(days)]
    sick = [{"start_date": d.isoformat(), "end_date": days[min(i + 2, len(days) - 1)].isoformat()}
            for i, d in enumerate(days) if i % 30 == 15]
    body = student_events(student_id, school=school, as_of=as_of, birth_date="2008-09-14", region=region,
                          level="vmbo-k", grade=4, absence_hours=0, sick_days=0)
    body["student"]["final_year"] = True  # type: ignore[index]
    body["student"]["expects_mbo"] = True  # type: ignore[index]
    body.update({
        "absences": absences, "sick_reports": sick,
        "enrolments": [{"school_id": school, "level": "vmbo-k", "start_date": start.isoformat(), "end_date": None,
                        "dereg_reason": None}],
        "applications": [{"application_id": f"{student_id}-A1", "programme": "25180", "level": "mbo-2",
                          "submitted_on": f"{day.year}-04-20", "applied_on": f"{day.year}-04-20"}],
    })
    return body


def body_from_tables(tables: dict[str, object], student_id: str, as_of: object) -> dict[str, object]:
    """The POST /v1/scores body that carries exactly what the raw tables hold about one pupil up to
    as_of (events dated later are left out: the service would ignore them anyway). The pupil must
    have a students row for as_of's school year. Used by the parity test and the soak driver."""
    import pandas as pd

    from riskscore.calendar import school_year_of, to_date

    day = to_date(as_of)
    t = pd.Timestamp(day)

    def of(name: str) -> pd.DataFrame:
        df = tables.get(name)
        if not isinstance(df, pd.DataFrame) or df.empty:
            return pd.DataFrame()
        return df.loc[df["student_id"].astype(str) == student_id]

    def iso(value: object) -> str | None:
        return None if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()  # type: ignore[arg-type]

    rows = of("students").sort_values("school_year")
    current = rows.loc[rows["school_year"] == school_year_of(day)].iloc[0]
    record = {"school_id": str(current["school_id"]), "municipality": str(current["municipality"]),
              "rmc_region": str(current["rmc_region"]), "calendar_region": str(current["calendar_region"]),
              "birth_date": iso(current["birth_date"]), "school_type": str(current["school_type"]),
              "level": str(current["level"]), "pathway": None if pd.isna(current.get("pathway")) else str(current["pathway"]),
              "grade": int(current["grade"]), "final_year": bool(current["final_year"]),
              "expects_mbo": bool(current["expects_mbo"]), "has_sk": bool(current["has_sk"])}
    earlier = [{"school_year": str(r["school_year"]), "school_id": str(r["school_id"]), "school_type": str(r["school_type"]),
                "level": str(r["level"]), "grade": int(r["grade"]), "final_year": bool(r["final_year"]),
                "expects_mbo": bool(r["expects_mbo"]), "has_sk": bool(r["has_sk"])}
               for _, r in rows.loc[rows["school_year"] < current["school_year"]].iterrows()]
    ab = of("absences")
    ab = ab.loc[pd.to_datetime(ab["date"]) <= t] if len(ab) else ab
    sr = of("sick_reports")
    sr = sr.loc[pd.to_datetime(sr["start_date"]) <= t] if len(sr) else sr
    ap = of("applications")
    ap = ap.loc[pd.to_datetime(ap["submitted_on"]) <= t] if len(ap) else ap
    en = of("enrolments")
    en = en.loc[pd.to_datetime(en["start_date"]) <= t] if len(en) else en
    di = of("diplomas")
    di = di.loc[pd.to_datetime(di["date"]) <= t] if len(di) else di
    statuses = ("applied_on", "agreement_offered_on", "no_enrolment_on", "withdrawn_on", "enrolled_on")
    return {
        "student_id": student_id, "as_of": day.isoformat(), "student": record, "earlier_years": earlier,
        "absences": [{"date": iso(r["date"]), "hours": float(r["hours"]), "category": str(r["category"])}
                     for _, r in ab.iterrows()],
        "sick_reports": [{"start_date": iso(r["start_date"]), "end_date": iso(r["end_date"])} for _, r in sr.iterrows()],
        "applications": [{"application_id": str(r["application_id"]), "programme": str(r["programme"]),
                          "level": str(r["level"]), "submitted_on": iso(r["submitted_on"]),
                          **{c: iso(r[c]) for c in statuses if c in r.index}} for _, r in ap.iterrows()],
        "enrolments": [{"school_id": str(r["school_id"]), "level": str(r["level"]), "start_date": iso(r["start_date"]),
                        "end_date": iso(r["end_date"]),
                        "dereg_reason": None if pd.isna(r.get("dereg_reason")) else str(r["dereg_reason"])}
                       for _, r in en.iterrows()],
        "diplomas": [{"date": iso(r["date"]), "level": str(r["level"]), "is_sk": bool(r["is_sk"])} for _, r in di.iterrows()],
    }


def register_pupils(session: object, bodies: list[dict[str, object]]) -> int:
    """Record the registrations these POST /v1/scores bodies describe, as an import of the schools'
    students rows would (store.registrations.sync_registrations): each pupil registered at the body's
    school, municipality and region for the school year of its as-of date, plus its enrolments. For
    tests, the soak driver and the benchmarks; the service itself never takes a place from a body."""
    import pandas as pd

    from riskscore.calendar import school_year_of, to_date
    from riskscore.store.registrations import sync_registrations

    rows, enrolments = [], []
    for body in bodies:
        if not isinstance(body.get("student"), dict) or "as_of" not in body:
            continue  # a malformed body (for a 422 test) registers nothing
        student = dict(body["student"])  # type: ignore[call-overload]
        as_of = to_date(body["as_of"])
        rows.append({"student_id": body["student_id"], "school_year": school_year_of(as_of),
                     "school_id": student.get("school_id"), "municipality": student.get("municipality"),
                     "rmc_region": student.get("rmc_region"), "mentor_group": student.get("mentor_group")})
        for e in body.get("enrolments") or []:  # type: ignore[attr-defined]
            enrolments.append({"student_id": body["student_id"], **e})
    if not rows:
        return 0
    students = pd.DataFrame(rows)
    en = pd.DataFrame(enrolments) if enrolments else None
    return sync_registrations(session, students, en).added  # type: ignore[arg-type]


def register_places(session: object, places: list[tuple[str, str, str, str]], *, school_year: str) -> int:
    """Register pupils directly: (student_id, school_id, municipality, rmc_region) for one school year,
    as an import of students rows would. For tests that seed scores and cases by hand."""
    import pandas as pd

    from riskscore.store.registrations import sync_registrations

    rows = [{"student_id": sid, "school_year": school_year, "school_id": school, "municipality": gm,
             "rmc_region": rmc} for sid, school, gm, rmc in places]
    return sync_registrations(session, pd.DataFrame(rows)).added  # type: ignore[arg-type]
