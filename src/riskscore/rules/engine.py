"""The rules on prepared events: who the pupil is on each day, the absence windows, MAZL, VVA, RMC."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskscore.calendar import (
    CalendarView,
    SchoolCalendar,
    birthdays,
    school_year_name,
    school_year_of,
    school_year_start,
    to_date,
)
from riskscore.errors import DataError
from riskscore.rules.catalogue import (
    _EPS,
    _NAT,
    MSG_BAD_HOURS,
    MSG_NO_BIRTH_DATE,
    MSG_TOO_MANY_HOURS,
    OUTPUT_COLUMNS,
    RULES,
    RuleConfig,
)
from riskscore.rules.events import _EMPTY_I, Events, day_numbers, flag_values


# --- who the pupil is on as_of, and on each day ----------------------------------------------------
@dataclass
class _People:
    """Per student code: the students row known on as_of (its school year or the latest before)."""

    present: np.ndarray  # bool: has a row up to as_of's school year
    row: np.ndarray  # index into Events.students (-1 if absent)
    birth: np.ndarray  # day number
    sk_from: np.ndarray  # first day with a startkwalificatie (_NAT: none)
    cal: np.ndarray  # index into view.keys (-1 if absent)
    view: CalendarView

    def turns(self, years: int) -> np.ndarray:
        """Per code: the day the pupil turns ``years``."""
        cache = self.__dict__.setdefault("_turns", {})
        if years not in cache:
            cache[years] = birthdays(self.birth, years)
        return cache[years]  # type: ignore[no-any-return]


def _people(ev: Events, t: int, y0: int, cal: SchoolCalendar) -> _People:
    st = ev.students
    n = len(ev.ids)
    upto = np.flatnonzero(st["year0"] <= y0)
    code = st["code"][upto]
    last = upto[np.r_[code[1:] != code[:-1], True]] if len(upto) else upto
    present = np.zeros(n, dtype=bool)
    row = np.full(n, -1, dtype=np.int64)
    lc = st["code"][last]
    present[lc] = True
    row[lc] = last
    birth = np.zeros(n, dtype=np.int64)
    birth[lc] = day_numbers(np.asarray(st["birth_date"])[last])
    if (birth[lc] == _NAT).any():
        bad = ev.ids[lc[birth[lc] == _NAT][0]]
        raise DataError(MSG_NO_BIRTH_DATE.format(student=bad))
    # sk: from a diploma's date, or from the first school year whose students row says so
    sk_from = np.full(n, _NAT, dtype=np.int64)
    sk_rows = upto[flag_values(st["has_sk"], fill=False)[upto]]
    if len(sk_rows):
        years = st["year0"][sk_rows]
        starts = np.array([_date_day(school_year_start(school_year_name(y))) for y in range(int(years.min()), int(years.max()) + 1)], dtype=np.int64)
        np.minimum.at(sk_from, st["code"][sk_rows], starts[years - years.min()])
    dp = ev.diplomas
    got = dp["day"] <= t
    np.minimum.at(sk_from, dp["code"][got], dp["day"][got])
    school = np.asarray(st["school_id"])[last] if "school_id" in st else None
    keys = cal.key_for(school, np.asarray(st["calendar_region"])[last])
    key_idx, key_names = pd.factorize(np.asarray(keys, dtype=object), sort=True)
    key = np.full(n, -1, dtype=np.int64)
    key[lc] = key_idx
    return _People(present, row, birth, sk_from, key, cal.view([str(k) for k in key_names]))


# --- output ----------------------------------------------------------------------------------------
_Fired = dict[str, np.ndarray]  # one rule's triggers as column arrays (code, rule_id, fired_on, ...)


def _triggers(ev: Events, rule_id: str, codes: np.ndarray, fired: np.ndarray, detail: Any, due: np.ndarray | None = None) -> _Fired:
    """One rule's triggers as arrays; ``_frame`` makes one DataFrame of all rules (a frame per rule
    costs ~0.3 ms each, which is most of the rules' time for one pupil)."""
    rule = RULES[rule_id]
    codes = np.asarray(codes, dtype=np.int64)
    n = len(codes)
    return {
        "code": codes,
        "rule_id": np.full(n, rule_id, dtype=object),
        "fired_on": np.asarray(fired, dtype=np.int64).astype("datetime64[D]"),
        "due_date": np.full(n, np.datetime64("NaT"), dtype="datetime64[D]") if due is None else np.asarray(due, dtype="datetime64[D]"),
        "role": np.full(n, rule.role, dtype=object),
        "source": np.full(n, rule.source, dtype=object),
        "detail": np.asarray(detail, dtype=object) if n else np.array([], dtype=object),
    }


def _sort_order(student_id: np.ndarray, rule_id: np.ndarray, fired_on: np.ndarray) -> np.ndarray:
    """Stable order by (student_id, rule_id, fired_on): what DataFrame.sort_values gives, on arrays."""
    try:
        sid = np.unique(student_id, return_inverse=True)[1]
    except TypeError:  # ids of mixed types: let pandas order them as before
        return pd.DataFrame({"s": student_id, "r": rule_id, "f": fired_on}).sort_values(
            ["s", "r", "f"], kind="stable").index.to_numpy()
    rid = np.unique(rule_id, return_inverse=True)[1]
    return np.lexsort((fired_on.view(np.int64), rid, sid))


#: the columns of a frame without triggers: OUTPUT_COLUMNS' dtypes (text as object)
_EMPTY_COLUMNS = {"code": np.int64, "student_id": object, "rule_id": object, "fired_on": "datetime64[ns]",
                  "due_date": "datetime64[ns]", "role": object, "source": object, "detail": object}


def triggers_frame(ev: Events, rows: list[_Fired], *, codes: bool = False) -> pd.DataFrame:
    """All rules' triggers (``evaluate_arrays``) in one frame: OUTPUT_COLUMNS, plus ``code`` if asked,
    sorted by pupil, rule and date."""
    columns = ["code", *OUTPUT_COLUMNS] if codes else list(OUTPUT_COLUMNS)
    rows = [r for r in rows if len(r["code"])]
    if not rows:
        return pd.DataFrame({c: np.zeros(0, dtype=_EMPTY_COLUMNS[c]) for c in columns})
    cols = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    cols["student_id"] = ev.ids.to_numpy()[cols["code"]]
    cols["fired_on"] = cols["fired_on"].astype("datetime64[ns]")
    cols["due_date"] = cols["due_date"].astype("datetime64[ns]")
    if len(cols["code"]) > 1:
        order = _sort_order(cols["student_id"], cols["rule_id"], cols["fired_on"])
        cols = {k: v[order] for k, v in cols.items()}
    return pd.DataFrame({c: cols[c] for c in columns})


# --- absence-window rules (leerplicht_16h_4w, rmc_verzuim) and lrv_4w ---------------------------------
@dataclass
class _Daily:
    """Unauthorised hours per pupil per lesson day, sorted by (code, day), with who the pupil was that day."""

    code: np.ndarray
    day: np.ndarray
    week: np.ndarray
    year0: np.ndarray  # school year of the day
    hours: np.ndarray
    leerplichtig: np.ndarray  # under leerplicht_age, or under kwalificatieplicht_age without sk, on that day
    rmc: np.ndarray  # not leerplichtig, rmc_min_age <= age < rmc_max_age, no sk, on that day


def _daily(ev: Events, pp: _People, cfg: RuleConfig, scan_start: int, t: int) -> _Daily:
    ab = ev.absences
    sel = ab["unauthorised"] & (ab["day"] >= scan_start) & (ab["day"] <= t)
    sel[sel] = pp.present[ab["code"][sel]]
    code, day, hours = ab["code"][sel], ab["day"][sel], ab["hours"][sel]
    bad = ~np.isfinite(hours) | (hours < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(MSG_BAD_HOURS.format(student=ev.ids[code[i]], hours=float(hours[i]), date=_iso(day[i])))
    span = t - scan_start + 1
    key = code * span + (day - scan_start)
    if len(key) > 1 and not (key[1:] >= key[:-1]).all():  # exports are usually sorted already
        order = np.argsort(key, kind="stable")
        key, code, day, hours = key[order], code[order], day[order], hours[order]
    heads = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else _EMPTY_I
    if len(heads) < len(key):
        code, day, hours = code[heads], day[heads], np.add.reduceat(hours, heads)
    cells = pp.view.cells(pp.cal[code], day, in_range=True)  # day in [scan_start >= calendar start, as_of]
    lesson = pp.view.take("lesson_day", cells)  # weekends, public and school holidays never count
    code, day, hours, cells = code[lesson], day[lesson], hours[lesson], cells[lesson]
    too_many = hours > cfg.max_hours_per_day + _EPS  # checked where it counts: on lesson days
    if too_many.any():
        i = int(np.flatnonzero(too_many)[0])
        raise DataError(MSG_TOO_MANY_HOURS.format(student=ev.ids[code[i]], hours=float(hours[i]), date=_iso(day[i]), limit=cfg.max_hours_per_day))
    week = pp.view.take("week_id", cells)
    sk = day >= pp.sk_from[code]
    leerplichtig = (day < pp.turns(cfg.leerplicht_age)[code]) | ((day < pp.turns(cfg.kwalificatieplicht_age)[code]) & ~sk)
    rmc = ~leerplichtig & ~sk & (day >= pp.turns(cfg.rmc_min_age)[code]) & (day < pp.turns(cfg.rmc_max_age)[code])
    return _Daily(code, day, week, pp.view.school_year_first_years(day), hours, leerplichtig, rmc)


def _iso(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


def _groups(*keys: np.ndarray) -> np.ndarray:
    """Group id per row of arrays sorted by these keys (a new group wherever any key changes)."""
    n = len(keys[0])
    if n == 0:
        return _EMPTY_I
    new = np.zeros(n, dtype=bool)
    new[0] = True
    for k in keys:
        new[1:] |= k[1:] != k[:-1]
    return np.cumsum(new) - 1


def window_reports(group: np.ndarray, week: np.ndarray, hours: np.ndarray, *, n_hours: float | np.ndarray,
                   n_weeks: int | np.ndarray, eligible: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Report rows of the rule "N hours within W consecutive lesson weeks, then a new period".

    Rows are days sorted by (group, day); ``group`` is a pupil in one school year. On day d of lesson
    week w the period holds the hours of days in weeks w-W+1..w after the previous report; when it
    reaches N hours, d is a report and the next period starts the day after. ``n_hours`` and
    ``n_weeks`` may differ per row (the rule that applies on that day), and only ``eligible`` rows can
    be a report — but every row's hours count in the window of the day that is judged. Returns
    (report rows, hours counted). One vectorised pass per report a pupil gets: no loop per pupil.
    """
    if len(group) == 0:
        return _EMPTY_I, np.zeros(0)
    need = np.broadcast_to(np.asarray(n_hours, dtype=np.float64), group.shape)
    span = np.broadcast_to(np.asarray(n_weeks, dtype=np.int64), group.shape)
    ok = np.ones(len(group), dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    # only groups whose hours add up to N at all can report: most pupils are dropped here
    can = np.bincount(group, weights=hours)[group] >= (need[ok].min() if ok.any() else np.inf) - _EPS
    if not can.all():
        subset = np.flatnonzero(can)
        if subset.size == 0:
            return _EMPTY_I, np.zeros(0)
        sub_reports, sub_hours = window_reports(group[subset], week[subset], hours[subset], n_hours=need[subset],
                                                n_weeks=span[subset], eligible=ok[subset])
        return subset[sub_reports], sub_hours
    n = len(group)
    minutes = hours * 60.0
    if np.array_equal(minutes, np.round(minutes)) and minutes.sum() < 2**52:
        # registrations in whole minutes (lesson hours, quarters): integer sums are exact and fast
        cum = np.concatenate([np.zeros(1, np.int64), np.cumsum(np.round(minutes).astype(np.int64))])
        scale, threshold = 60.0, np.round(need * 60.0, 6)
    else:
        cum = np.concatenate([np.zeros(1, np.longdouble), np.cumsum(hours, dtype=np.longdouble)])
        scale, threshold = 1.0, need - _EPS
    stride = int(week.max()) + int(span.max()) + 1
    key = group * stride + week
    heads = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    first_of_group = np.repeat(heads, np.diff(np.r_[heads, n]))
    window_lo = np.maximum(np.searchsorted(key, key - (span - 1), side="left"), first_of_group)
    period = np.zeros(int(group[-1]) + 1, dtype=np.int64)  # per group: first row of the current period
    period[group] = first_of_group
    rows = np.flatnonzero(ok).astype(np.int64)
    reports: list[np.ndarray] = []
    counted: list[np.ndarray] = []
    while rows.size:
        g = group[rows]
        lo = np.maximum(window_lo[rows], period[g])
        total = cum[rows + 1] - cum[lo]
        hit = total >= threshold[rows]
        if not hit.any():
            break
        hit_rows, hit_groups = rows[hit], g[hit]
        first = np.r_[True, hit_groups[1:] != hit_groups[:-1]]
        rep, rep_groups = hit_rows[first], hit_groups[first]
        reports.append(rep)
        counted.append(total[hit][first].astype(np.float64) / scale)
        period[rep_groups] = rep + 1
        again = np.zeros(len(period), dtype=bool)
        again[rep_groups] = True
        rows = rows[again[g] & (rows > period[g])]
    if not reports:
        return _EMPTY_I, np.zeros(0)
    out = np.concatenate(reports)
    order = np.argsort(out, kind="stable")
    return out[order], np.concatenate(counted)[order]


def _absence_reports(d: _Daily, cfg: RuleConfig, *, leerplicht_on: bool, rmc_on: bool,
                     since: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The 16-hour reports of leerplicht and RMC together: one period per pupil and school year that a
    report of either kind restarts, the window's hours counted on the day it is judged whatever the
    pupil's age on the days they were missed, and the rule (and so who is told) decided by who the
    pupil is on that day. So a pupil absent 8 h the day before the 18th birthday and 8 h on it is
    reported to RMC on the birthday, and no hour is ever reported twice. DUO ('Soorten verzuim',
    melding 16 uur in 4 weken): the period runs from the first day of absence to the day the 16 hours
    are reached, and counting restarts the day after a report.
    Returns (rows of d, hours counted, is_leerplicht, active)."""
    eligible = (d.leerplichtig & leerplicht_on) | (d.rmc & rmc_on)
    need = np.where(d.leerplichtig, cfg.leerplicht_hours, cfg.rmc_hours)
    weeks = np.where(d.leerplichtig, cfg.leerplicht_weeks, cfg.rmc_weeks)
    reps, counted = window_reports(_groups(d.code, d.year0), d.week, d.hours, n_hours=need, n_weeks=weeks,
                                   eligible=eligible)
    return reps, counted, d.leerplichtig[reps], d.day[reps] >= since


def _lrv(ev: Events, d: _Daily, pp: _People, cfg: RuleConfig, t: int, since: int) -> _Fired:
    """Runs of > lrv_weeks consecutive lesson weeks (within a school year) in which the pupil, while
    leerplichtig, missed (a share of) every lesson day."""
    rows = np.flatnonzero(d.leerplichtig & (d.hours > 0))
    if rows.size == 0:
        return _triggers(ev, "lrv_4w", _EMPTY_I, _EMPTY_I, [])
    code, week, day, year0 = d.code[rows], d.week[rows], d.day[rows], d.year0[rows]
    g = _groups(code, week)
    heads = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    days = np.diff(np.r_[heads, len(g)])
    code, week, first, year0 = code[heads], week[heads], day[heads], year0[heads]
    key = pp.cal[code]
    needed = np.zeros(len(code), dtype=np.float64)
    for k in np.unique(key):
        m = key == k
        per_week = pp.view.lesson_days_per_week(int(k), t)
        needed[m] = per_week[week[m]]
    full = (days >= np.ceil(needed * cfg.lrv_min_day_share - _EPS)) & (needed > 0)
    code, week, first, year0, key = code[full], week[full], first[full], year0[full], key[full]
    if code.size == 0:
        return _triggers(ev, "lrv_4w", _EMPTY_I, _EMPTY_I, [])
    new_run = np.r_[True, (np.diff(code) != 0) | (np.diff(week) != 1) | (np.diff(year0) != 0)]
    run_id = np.cumsum(new_run) - 1
    run_start = np.flatnonzero(new_run)
    nth = np.arange(len(code)) - run_start[run_id]  # 0-based week number inside the run
    fire = nth == cfg.lrv_weeks  # the first week beyond lrv_weeks
    run_last_week = week[np.r_[run_start[1:] - 1, len(code) - 1]][run_id]
    current = pp.view.lesson_week_ordinal(key, np.full(len(key), t))
    ongoing = run_last_week >= current - 1
    m = fire & ((first >= since) | ongoing)
    run_len = np.bincount(run_id)[run_id]
    detail = [f"{n} opeenvolgende lesweken ongeoorloofd afwezig" for n in run_len[m]]
    return _triggers(ev, "lrv_4w", code[m], first[m], detail)


# --- sick reports (MAZL) ---------------------------------------------------------------------------
def _mazl(ev: Events, pp: _People, cfg: RuleConfig, t: int, since: int) -> list[_Fired]:
    sr = ev.sick
    sel = sr["start"] <= t
    sel[sel] = pp.present[sr["code"][sel]]
    code, start, end = sr["code"][sel], sr["start"][sel], sr["end"][sel]
    ongoing = (end == _NAT) | (end >= t)  # an end after as_of is not known yet
    end = np.where(ongoing, t, end)
    covered = (start >= pp.view.first_day) & (end <= pp.view.last_day) & (end >= start)
    code, start, end, ongoing = code[covered], start[covered], end[covered], ongoing[covered]
    key = pp.cal[code]
    ord_start = pp.view.lesson_day_ordinal(key, start) - pp.view.is_lesson_day(key, start)  # lesson days before the spell
    ord_end = pp.view.lesson_day_ordinal(key, end)
    out: list[_Fired] = []
    if cfg.enabled.get("mazl_long", True):
        n = cfg.mazl_long_days + 1
        long = (ord_end - ord_start) >= n
        fired = np.zeros(len(code), dtype=np.int64)
        if long.any():
            fired[long] = pp.view.day_of_lesson_ordinal(key[long], ord_start[long] + n)
        m = long & ((fired >= since) | ongoing)
        detail = [f"{k} schooldagen ziek{' (loopt nog)' if o else ''}" for k, o in zip(ord_end[m] - ord_start[m], ongoing[m], strict=True)]
        out.append(_triggers(ev, "mazl_long", code[m], fired[m], detail))
    if cfg.enabled.get("mazl_frequent", True) and len(code):
        k = cfg.mazl_frequent_count
        often = np.bincount(code)[code] >= k  # only pupils with at least k reports can reach the k-th
        code, start, key = code[often], start[often], key[often]
        order = np.argsort(code * (int(start.max(initial=0)) - int(start.min(initial=0)) + 1) + (start - start.min(initial=0)), kind="stable")
        p, st = code[order], start[order]
        prev = np.clip(np.arange(len(p)) - (k - 1), 0, None)
        ok = (np.arange(len(p)) >= k - 1) & (p[prev] == p)
        if cfg.mazl_frequent_unit == "lesson_weeks":
            wk = pp.view.lesson_week_ordinal(key[order], st)
            ok &= wk[prev] > wk - cfg.mazl_frequent_window
        else:
            limit = (pd.DatetimeIndex(st.astype("datetime64[D]").astype("datetime64[ns]")) - pd.DateOffset(months=cfg.mazl_frequent_window))
            ok &= st[prev] > limit.to_numpy().astype("datetime64[D]").astype(np.int64)
        ok &= st >= since
        unit = "lesweken" if cfg.mazl_frequent_unit == "lesson_weeks" else "maanden"
        detail = [f"{k}e ziekmelding binnen {cfg.mazl_frequent_window} {unit}"] * int(ok.sum())
        out.append(_triggers(ev, "mazl_frequent", p[ok], st[ok], detail))
    return out


# --- VVA, deregistration, lateness -----------------------------------------------------------------
def _date_day(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def _day_of(year: int, month_day: tuple[int, int]) -> int:
    return int((np.datetime64(dt.date(year, month_day[0], month_day[1]), "D") - np.datetime64(0, "D")).astype(np.int64))


def _vva(ev: Events, pp: _People, cfg: RuleConfig, t: int, y0: int, since: int) -> list[_Fired]:
    ap = ev.applications
    st = ev.students
    out: list[_Fired] = []
    if cfg.enabled.get("vva_not_applied", True):
        # "uiterlijk op 1 april": an application on the deadline is on time; the breach exists from the next day
        deadline = _day_of(y0 + (cfg.vva_apply_by[0] < 8), cfg.vva_apply_by)
        breach = deadline + 1
        if t >= breach:
            rows = pp.row[pp.present]
            this_year = st["year0"][rows] == y0
            wants = flag_values(st["final_year"])[rows] & flag_values(st["expects_mbo"])[rows]
            cand = np.flatnonzero(pp.present)[this_year & wants]
            submitted = ap["submitted"]
            on_time = np.zeros(len(ev.ids), dtype=bool)
            on_time[ap["code"][submitted <= deadline]] = True
            applied = np.zeros(len(ev.ids), dtype=bool)
            applied[ap["code"][submitted <= t]] = True
            late = cand[~on_time[cand]]
            still = ~applied[late]
            if breach < since:  # beyond the lookback only the ones that still did not apply stay active
                late, still = late[still], still[still]
            detail = np.where(still, "geen mbo-aanmelding", "aangemeld na de uiterste datum")
            out.append(_triggers(ev, "vva_not_applied", late, np.full(len(late), breach), detail))
    if cfg.enabled.get("vva_no_enrolment", True):
        check = _day_of(y0 + (cfg.vva_enrolled_by[0] < 8), cfg.vva_enrolled_by)
        if t >= check:
            prev = st["code"][(st["year0"] == y0 - 1) & flag_values(st["final_year"]) & flag_values(st["expects_mbo"])]
            prev = np.unique(prev)
            enrolled_by = np.zeros(len(ev.ids), dtype=bool)
            enrolled_now = np.zeros(len(ev.ids), dtype=bool)
            enrolled = ap["enrolled"] if "enrolled" in ap else np.full(len(ap["code"]), _NAT)
            enrolled_by[ap["code"][(enrolled <= check) & (ap["submitted"] <= t)]] = True
            enrolled_now[ap["code"][(enrolled <= t) & (ap["submitted"] <= t)]] = True
            missing = prev[~enrolled_by[prev]]
            still = ~enrolled_now[missing]
            if check < since:
                missing, still = missing[still], still[still]
            detail = np.where(still, "geen inschrijving mbo", "ingeschreven na de start van het schooljaar")
            out.append(_triggers(ev, "vva_no_enrolment", missing, np.full(len(missing), check), detail))
    return out


def _deregistered(ev: Events, pp: _People, cfg: RuleConfig, t: int, since: int) -> _Fired:
    """Deregistrations (enrolment end_date <= as_of) within the lookback of 18-23-year-olds without sk then."""
    en = ev.enrolments
    # an enrolment that starts after as_of was not known on as_of (as features.point_in_time drops it)
    sel = (en["start"] <= t) & (en["end"] <= t) & (en["end"] >= since)
    sel[sel] = pp.present[en["code"][sel]]
    code, end, reason = en["code"][sel], en["end"][sel], en["reason"][sel]
    m = (end >= pp.turns(cfg.rmc_min_age)[code]) & (end < pp.turns(cfg.rmc_max_age)[code]) & (end < pp.sk_from[code])
    ages = [_age_at(pp.birth[c], e) for c, e in zip(code[m], end[m], strict=True)]
    detail = [f"uitgeschreven ({'' if r is None else r}), {a} jaar, zonder startkwalificatie" for r, a in zip(reason[m], ages, strict=True)]
    return _triggers(ev, "deregistered_no_sk", code[m], end[m], detail)


def _age_at(birth: int, day: int) -> int:
    from riskscore.calendar import age_on

    return age_on(np.datetime64(int(birth), "D"), np.datetime64(int(day), "D"))


def _lateness(ev: Events, pp: _People, cfg: RuleConfig, t: int, y0: int, since: int) -> _Fired:
    """The (N+1)th late arrival of the school year; active within the lookback."""
    ab = ev.absences
    sel = ab["late"] & (ab["day"] >= _date_day(school_year_start(school_year_name(y0)))) & (ab["day"] <= t)
    sel[sel] = pp.present[ab["code"][sel]]
    code, day = ab["code"][sel], ab["day"][sel]
    order = np.lexsort((day, code))
    code, day = code[order], day[order]
    rank = np.arange(len(code)) - np.searchsorted(code, code, side="left")  # 0-based per student
    m = (rank == cfg.lateness_max) & (day >= since)
    detail = [f"meer dan {cfg.lateness_max} keer te laat"] * int(m.sum())
    return _triggers(ev, "lateness", code[m], day[m], detail)


# --- entry points ----------------------------------------------------------------------------------
def evaluate(
    tables: dict[str, pd.DataFrame],
    as_of: Any,
    *,
    config: RuleConfig | None = None,
    calendar: SchoolCalendar | None = None,
) -> pd.DataFrame:
    """Triggers active at as_of: fired within the lookback, or (long absence/sickness) still ongoing.

    Nothing dated after as_of is read, so later rows cannot change the answer. The result for a pupil
    depends only on that pupil's rows: any split of the pupils into calls gives the same triggers.
    """
    cfg = config or RuleConfig()
    return evaluate_events(Events.from_tables(tables, cfg, as_of=(as_of, as_of)), as_of, config=cfg, calendar=calendar)


def evaluate_events(ev: Events, as_of: Any, *, config: RuleConfig | None = None, calendar: SchoolCalendar | None = None,
                    codes: bool = False) -> pd.DataFrame:
    """evaluate() on prepared events (features.build prepares them once for all its as-of dates).

    ``codes=True`` adds each trigger's student code (``ev.ids[code]``), so a caller can place the
    triggers without hashing student ids again.
    """
    return triggers_frame(ev, evaluate_arrays(ev, as_of, config=config, calendar=calendar), codes=codes)


def evaluate_arrays(ev: Events, as_of: Any, *, config: RuleConfig | None = None,
                    calendar: SchoolCalendar | None = None) -> list[dict[str, np.ndarray]]:
    """evaluate_events' triggers before they become a frame: per evaluated rule, its triggers as
    column arrays (``code``, ``rule_id``, ``fired_on``, ``due_date``, ``role``, ``source``,
    ``detail``; one rule per dict). features.build only needs who fired which rule, so it does not
    build and sort a frame it would throw away; ``triggers_frame`` makes evaluate_events' frame."""
    cfg = config or RuleConfig()
    cal = calendar or SchoolCalendar.default()
    day = to_date(as_of)
    if not cal.covers(day):
        cal.is_lesson_day(day, "noord")  # raises the calendar's out-of-range DataError
    t = _day_of(day.year, (day.month, day.day))
    y0 = school_year_start(school_year_of(day)).year
    since = t - cfg.lookback_days
    pp = _people(ev, t, y0, cal)
    on = cfg.enabled
    out: list[_Fired] = []
    if any(on.get(r, False) for r in ("leerplicht_16h_4w", "lrv_4w", "rmc_verzuim")):
        # periods restart each school year, counted from its first day whatever as_of is
        since_day = max(dt.date(1970, 1, 1) + dt.timedelta(days=since), cal.first)
        scan_start = max(_date_day(school_year_start(school_year_of(since_day))), _date_day(cal.first))
        d = _daily(ev, pp, cfg, scan_start, t)
        lp_on, rmc_on = on.get("leerplicht_16h_4w", False), on.get("rmc_verzuim", False)
        reps, counted, is_lp, active = _absence_reports(d, cfg, leerplicht_on=lp_on, rmc_on=rmc_on, since=since)
        if lp_on:
            m = active & is_lp
            code, fired, hours = d.code[reps][m], d.day[reps][m], counted[m]
            due = cal.add_working_days_array(fired.astype("datetime64[D]"), cfg.leerplicht_report_working_days)
            detail = [f"{_uur(h)} uur ongeoorloofd verzuim binnen {cfg.leerplicht_weeks} lesweken" for h in hours]
            out.append(_triggers(ev, "leerplicht_16h_4w", code, fired, detail, due))
        if on.get("lrv_4w", False):
            out.append(_lrv(ev, d, pp, cfg, t, since))
        if rmc_on:
            m = active & ~is_lp
            code, fired, hours = d.code[reps][m], d.day[reps][m], counted[m]
            detail = [f"{_uur(h)} uur ongeoorloofd verzuim binnen {cfg.rmc_weeks} lesweken" for h in hours]
            out.append(_triggers(ev, "rmc_verzuim", code, fired, detail))
    if on.get("mazl_long", False) or on.get("mazl_frequent", False):
        out.extend(_mazl(ev, pp, cfg, t, since))
    out.extend(_vva(ev, pp, cfg, t, y0, since))
    if on.get("deregistered_no_sk", False):
        out.append(_deregistered(ev, pp, cfg, t, since))
    if on.get("lateness", False):
        out.append(_lateness(ev, pp, cfg, t, y0, since))
    return out


def _uur(hours: float) -> str:
    """Hours as a Dutch reader writes them: 18, 16,5, 16,25 (decimal comma, no trailing zeros)."""
    return f"{hours:.2f}".rstrip("0").rstrip(".").replace(".", ",")
