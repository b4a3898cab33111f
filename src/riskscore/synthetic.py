"""Causal synthetic Dutch cohort generator, calibrated to public VSV figures.

Why causal: the model, the rules and the monitoring are tested against it, so observable signals must
be *consequences* of hidden causes (latent factors), and the outcome must follow from the real signals.
Mechanism per student-year::

    latents (wrong study choice, prefers work, health, home situation) ── audit columns (via home)
        │
        ▼
    true behaviour: unauthorised-absence rate, lateness, sick spells, application timing, retention
        │                                 └─ recorded events (absences, sick_reports, applications)
        ▼
    VSV hazard = sigmoid(level intercept + eta(true behaviour, latents, history))

The level intercepts are solved numerically (bisection) on a fixed reference population so the
*expected* rate per level matches the public figures below; a generated sample then scatters around
them. Knobs (`Knobs`) create the shifts monitoring must catch. Fully vectorised numpy: events are
drawn per student-year as counts and placed on lesson-day ordinals of the school calendar, so cost
grows with the number of events, not with students × days.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskscore.calendar import school_year_end, school_year_name, school_year_start
from riskscore.contracts import LEVELS, MBO_LEVELS
from riskscore.errors import ConfigError, DataError

if TYPE_CHECKING:
    from riskscore.calendar import SchoolCalendar

# --- public targets ------------------------------------------------------------------------------
#: public VSV rates per level group (share of the level's students becoming VSV'er in a school year):
#: (target, tolerance as the spread of the published years, source)
PUBLIC_VSV_RATES: dict[str, tuple[float, float, str]] = {
    "vo": (0.005, 0.002, "ocwincijfers.nl/themas/voortijdig-schoolverlaten: vo 0.4-0.8 % (2017-18 .. 2023-24)"),
    "mbo-1": (0.25, 0.05, "onderwijsincijfers.nl vsv-in-het-middelbaar-beroepsonderwijs: entree 23-33 % (2015-18)"),
    "mbo-2": (0.09, 0.015, "onderwijsincijfers.nl vsv-in-het-middelbaar-beroepsonderwijs: level 2 8.5-10.7 % (2015-18)"),
    "mbo-3": (0.035, 0.007, "onderwijsincijfers.nl vsv-in-het-middelbaar-beroepsonderwijs: level 3 2.9-3.9 % (2015-18)"),
    "mbo-4": (0.03, 0.006, "onderwijsincijfers.nl vsv-in-het-middelbaar-beroepsonderwijs: level 4 2.5-3.4 % (2015-18)"),
    "mbo": (0.055, 0.01, "ocwincijfers.nl/themas/voortijdig-schoolverlaten: mbo 4.6-6.4 % (2016-17 .. 2023-24)"),
}
#: share of all students per level (~60 % vo incl. pro/vso, ~40 % mbo; DUO participation figures, rounded)
LEVEL_MIX: dict[str, float] = {
    "pro": 0.02, "vso": 0.02, "vmbo-b": 0.07, "vmbo-k": 0.08, "vmbo-gt": 0.12, "havo": 0.14, "vwo": 0.15,
    "mbo-1": 0.015, "mbo-2": 0.075, "mbo-3": 0.11, "mbo-4": 0.20,
}
#: programme length in grades (final_year = grade == length)
LEVEL_GRADES = {"pro": 5, "vso": 5, "vmbo-b": 4, "vmbo-k": 4, "vmbo-gt": 4, "havo": 5, "vwo": 6,
                "mbo-1": 1, "mbo-2": 2, "mbo-3": 3, "mbo-4": 3}
#: within-vo relative risk (log-odds); one common vo intercept is solved on top
VO_OFFSETS = {"vmbo-b": 1.0, "vmbo-k": 0.7, "vmbo-gt": 0.4, "havo": -0.3, "vwo": -0.9}
#: mbo level a vo track usually continues to, with a second option and its share
NEXT_MBO = {"vmbo-b": ("mbo-2", "mbo-1", 0.15), "vmbo-k": ("mbo-2", "mbo-3", 0.4),
            "vmbo-gt": ("mbo-4", "mbo-3", 0.35), "havo": ("mbo-4", "mbo-4", 0.0)}
GROUP_ORDER = ("vo", "mbo-1", "mbo-2", "mbo-3", "mbo-4", "mbo")
N_RMC = 39
_LV = {lv: i for i, lv in enumerate(LEVELS)}
_VO_SCORED = tuple(VO_OFFSETS)
#: log-odds added after the solve: in a running panel the riskiest leave first (survivor selection),
#: which a fresh reference population does not show; measured on 20000 x 4 panels, seeds 7 and 11
_PANEL_SHIFT = {"vo": 0.0, "mbo-1": 0.0, "mbo-2": 0.08, "mbo-3": 0.2, "mbo-4": 0.0}
_REF_SEED = 20_240_401
_REF_N = 150_000

MSG_BAD_KNOB = "synthetic knob {name}: {details}"
MSG_BAD_SIZE = "synthetic cohort: {details}"


@dataclass(frozen=True)
class Knobs:
    """Shifts that monitoring must later catch; all off by default.

    absence_surge_*: real unauthorised absence × factor in one school year (like 2021-22); it raises
    real risk too. strict_*: from a school year, one audit group's authorised absence is recorded as
    unauthorised and its recorded unauthorised episodes × factor, with NO change in real risk.
    level_mix_*: from a school year, this share of students is moved toward mbo-1/mbo-2.
    """

    absence_surge_year: str | None = None
    absence_surge_factor: float = 1.0
    strict_group: tuple[str, str] | None = None
    strict_factor: float = 1.0
    strict_from: str | None = None
    level_mix_shift: float = 0.0
    level_mix_from: str | None = None

    def check(self) -> None:
        """Raise ConfigError on values that would silently do nothing or nonsense."""
        if not 0.1 <= self.absence_surge_factor <= 20:
            raise ConfigError(MSG_BAD_KNOB.format(name="absence_surge_factor", details="must be in [0.1, 20]"))
        if self.absence_surge_year is not None:
            _year_index(self.absence_surge_year)
        if not 1.0 <= self.strict_factor <= 20:
            raise ConfigError(MSG_BAD_KNOB.format(name="strict_factor", details="must be in [1, 20]"))
        if self.strict_group is not None:
            column, value = self.strict_group
            if column not in AUDIT_VALUES or value not in AUDIT_VALUES[column]:
                raise ConfigError(MSG_BAD_KNOB.format(
                    name="strict_group", details=f"{column}={value} is not an audit group; known: {AUDIT_VALUES}"))
        if self.strict_from is not None:
            _year_index(self.strict_from)
        if not 0.0 <= self.level_mix_shift <= 0.9:
            raise ConfigError(MSG_BAD_KNOB.format(name="level_mix_shift", details="must be in [0, 0.9]"))
        if self.level_mix_from is not None:
            _year_index(self.level_mix_from)


AUDIT_VALUES: dict[str, tuple[str, ...]] = {
    "gender": ("m", "v", "x"),
    "migration_background": ("none", "western", "non_western"),
    "ses_band": ("low", "mid", "high"),
}


def _year_index(school_year: str) -> int:
    try:
        return school_year_start(school_year).year
    except DataError:
        raise ConfigError(MSG_BAD_SIZE.format(details=f"not a school year like '2021-22': {school_year!r}")) from None


def _sy(year: int) -> str:
    return school_year_name(year)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# --- geography -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Geography:
    muni_code: np.ndarray  # str per municipality
    muni_rmc: np.ndarray  # int RMC number per municipality
    school_id: np.ndarray  # str per school
    school_type: np.ndarray  # str per school
    school_muni: np.ndarray  # municipality index per school
    school_weight: np.ndarray  # relative size


def _calendar_region(rmc: np.ndarray) -> np.ndarray:
    """Synthetic mapping RMC01-13 noord, 14-26 midden, 27-39 zuid (the real one follows provinces)."""
    return np.where(rmc <= 13, 0, np.where(rmc <= 26, 1, 2))


def _geography(n: int, rng: np.random.Generator) -> _Geography:
    """Municipalities nested in RMC regions, schools of one type each, sized like Dutch ones."""
    n_muni = int(np.clip(n // 800, 3, 342))
    n_rmc = int(np.clip(n_muni // 4, 3, N_RMC))
    # stratified over the three calendar regions so every region occurs
    pools = [np.arange(1, 14), np.arange(14, 27), np.arange(27, 40)]
    per = [n_rmc // 3 + (i < n_rmc % 3) for i in range(3)]
    rmcs = np.sort(np.concatenate([rng.choice(p, k, replace=False) for p, k in zip(pools, per, strict=True)]))
    muni_rmc = np.concatenate([rmcs, rng.choice(rmcs, n_muni - n_rmc)])
    codes = rng.choice(np.arange(1, 2000), n_muni, replace=False)
    muni_code = np.array([f"GM{c:04d}" for c in codes], dtype=object)
    n_type = {"vo": max(2, round(0.56 * n / 1000)), "pro": max(1, round(0.02 * n / 250)),
              "vso": max(1, round(0.02 * n / 200)), "mbo": max(1, round(0.40 * n / 5000))}
    types = np.concatenate([[t] * k for t, k in n_type.items()]).astype(object)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    n_sch = len(types)
    nums = rng.choice(np.arange(100), size=n_sch * 4)
    ids: list[str] = []
    seen: set[str] = set()
    for i in range(n_sch):  # BRIN-like: 2 digits + 2 letters, unique
        while True:
            code = f"{nums[i * 4] % 100:02d}{letters[rng.integers(26)]}{letters[rng.integers(26)]}"
            if code not in seen:
                seen.add(code)
                ids.append(code)
                break
    return _Geography(muni_code, muni_rmc, np.array(ids, dtype=object), types,
                      rng.integers(0, n_muni, n_sch), rng.gamma(4.0, 1.0, n_sch))


# --- students ------------------------------------------------------------------------------------
_STATIC = ("birth", "gender", "mig", "ses", "wc", "pw", "hp", "hs", "muni")


def _new_students(k: int, levels: np.ndarray, grades: np.ndarray, year: int, rng: np.random.Generator,
                  geo: _Geography, *, initial: bool) -> dict[str, np.ndarray]:
    """Static attributes (latents, audit columns, birth date) and starting state of k new students."""
    hs = rng.standard_normal(k)  # home situation (higher = more difficult)
    wc = rng.standard_normal(k)  # wrong study choice
    pw = rng.standard_normal(k)  # prefers work over school
    hp = rng.standard_normal(k)  # health / personal problems
    ses_score = -0.7 * hs + 0.7 * rng.standard_normal(k)
    ses = np.digitize(ses_score, [-0.5, 0.5])  # 0 low, 1 mid, 2 high
    mig_u = rng.random(k)
    p_nw = np.clip(0.13 + 0.08 * hs, 0.02, 0.6)
    mig = np.where(mig_u < p_nw, 2, np.where(mig_u < p_nw + 0.10, 1, 0))
    gender = np.where(rng.random(k) < 0.01, 2, (rng.random(k) < 0.49).astype(int))
    lv_mbo = levels >= _LV["mbo-1"]
    base_age = np.where(lv_mbo, 16.0 + np.where(levels == _LV["mbo-1"], 0.8, 0.0) + 0.6 * rng.exponential(1.0, k),
                        12.0)
    extra = (rng.random(k) < 0.12).astype(int) if initial else np.zeros(k, int)
    age_oct = base_age + (grades - 1) + extra + rng.random(k)
    age_oct = np.minimum(age_oct, 22.5)
    oct1 = (np.datetime64(f"{year}-10-01") - np.datetime64("1970-01-01")).astype(np.int64)
    birth = oct1 - np.round(age_oct * 365.25).astype(np.int64)
    state = {
        "birth": birth, "gender": gender, "mig": mig, "ses": ses, "wc": wc, "pw": pw, "hp": hp, "hs": hs,
        "level": levels.astype(np.int64), "grade": grades.astype(np.int64), "retentions": extra,
        "switches": np.zeros(k, np.int64),
        "has_sk": lv_mbo & (levels >= _LV["mbo-3"]) & (rng.random(k) < np.where(levels == _LV["mbo-4"], 0.18, 0.2)),
        "bbl": lv_mbo & (rng.random(k) < np.where(levels <= _LV["mbo-2"], 0.3, 0.17)),
    }
    school = _pick_school(levels, rng, geo)
    state["school"] = school
    muni = geo.school_muni[school].copy()
    move = rng.random(k) < 0.3  # live elsewhere in the same RMC region
    if move.any():
        same = geo.muni_rmc[muni[move]]
        cand = rng.integers(0, len(geo.muni_code), move.sum())
        ok = geo.muni_rmc[cand] == same
        idx = np.flatnonzero(move)[ok]
        muni[idx] = cand[ok]
    state["muni"] = muni
    start_year = year - (grades - 1) - extra if initial else np.full(k, year)
    state["spell_start"] = start_year.astype(np.int64)  # school year the current enrolment started
    return state


def _school_type_of(levels: np.ndarray) -> np.ndarray:
    return np.where(levels == _LV["pro"], "pro", np.where(levels == _LV["vso"], "vso",
                    np.where(levels >= _LV["mbo-1"], "mbo", "vo"))).astype(object)


def _pick_school(levels: np.ndarray, rng: np.random.Generator, geo: _Geography) -> np.ndarray:
    out = np.zeros(len(levels), np.int64)
    types = _school_type_of(levels)
    for t in ("vo", "pro", "vso", "mbo"):
        rows = np.flatnonzero(types == t)
        cands = np.flatnonzero(geo.school_type == t)
        w = geo.school_weight[cands] / geo.school_weight[cands].sum()
        out[rows] = cands[rng.choice(len(cands), len(rows), p=w)]
    return out


def _draw_levels(k: int, rng: np.random.Generator, mix: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    names = list(mix)
    p = np.array([mix[x] for x in names])
    lv = np.array([_LV[x] for x in names])[rng.choice(len(names), k, p=p / p.sum())]
    n_grades = np.array([LEVEL_GRADES[x] for x in LEVELS])[lv]
    grade = 1 + np.floor(rng.random(k) * n_grades).astype(np.int64)
    return lv, grade


# --- behaviour and risk --------------------------------------------------------------------------
_U_BASE = np.array([0.003, 0.004, 0.005, 0.0045, 0.004, 0.003, 0.0025, 0.012, 0.009, 0.007, 0.006])
_MBO1 = _LV["mbo-1"]


def _behaviour(s: dict[str, np.ndarray], rng: np.random.Generator, *, surge: float) -> dict[str, np.ndarray]:
    """True behaviour of one school year from latents + a yearly shock; eta excludes the intercept."""
    k = len(s["level"])
    lv = s["level"]
    shock = 0.4 * rng.standard_normal(k)
    a = 0.5 * s["wc"] + 0.6 * s["pw"] + 0.3 * s["hp"] + 0.5 * s["hs"] + shock
    u_rate = _U_BASE[lv] * np.exp(0.8 * a) * surge  # unauthorised episodes per lesson day (true)
    late_rate = 0.012 * np.exp(0.5 * s["pw"] + 0.3 * s["hs"] + 0.5 * shock)
    auth_rate = 0.006 * np.exp(0.3 * s["hp"])
    frequent = s["hp"] > 1.5
    sick_rate = 0.010 * np.exp(0.45 * s["hp"]) * np.where(frequent, 2.5, 1.0)
    final = s["grade"] >= np.array([LEVEL_GRADES[x] for x in LEVELS])[lv]
    is_vmbo = (lv >= _LV["vmbo-b"]) & (lv <= _LV["vmbo-gt"])
    expects = final & ((is_vmbo & (rng.random(k) < 0.95)) | ((lv == _LV["havo"]) & (rng.random(k) < 0.08)))
    r_app = 0.8 * s["wc"] + 0.5 * s["pw"] + 0.3 * s["hs"]
    no_app = expects & (rng.random(k) < _sigmoid(-3.0 + 1.1 * r_app))
    app_days = np.clip(np.round(-50 + 22 * r_app + 30 * rng.standard_normal(k)), -170, 100)  # vs 1 April
    late_days = np.where(expects & ~no_app, np.maximum(app_days, 0), 0)
    eta = (0.9 * np.log(u_rate / _U_BASE[lv]) + 0.35 * s["hp"] + 0.4 * s["wc"] + 0.3 * s["pw"]
           + 0.35 * s["retentions"] + 0.3 * s["switches"]
           + (expects & is_vmbo) * (0.6 + 1.6 * no_app + 0.015 * late_days))
    return {"a": a, "u_rate": u_rate, "late_rate": late_rate, "auth_rate": auth_rate, "sick_rate": sick_rate,
            "final": final, "expects": expects, "no_app": no_app, "app_days": app_days, "eta": eta,
            "frequent": frequent}


def _eligible(s: dict[str, np.ndarray], year: int) -> np.ndarray:
    """Who can become a VSV'er: 12-23, no sk, not from pro/vso."""
    oct1 = (np.datetime64(f"{year}-10-01") - np.datetime64("1970-01-01")).astype(np.int64)
    age = (oct1 - s["birth"]) / 365.25
    return (~s["has_sk"]) & (s["level"] != _LV["pro"]) & (s["level"] != _LV["vso"]) & (age >= 12) & (age < 23)


def _offsets(levels: np.ndarray) -> np.ndarray:
    off = np.zeros(len(LEVELS))
    for lv, o in VO_OFFSETS.items():
        off[_LV[lv]] = o
    return off[levels]


@functools.lru_cache(maxsize=1)
def level_intercepts() -> dict[str, float]:
    """Intercepts so that the expected VSV rate per level group equals PUBLIC_VSV_RATES.

    Solved by bisection on a fixed reference population (seed independent of the caller's), never on
    the generated sample: a sample must be free to miss the target by chance, and knobs must show.
    """
    rng = np.random.default_rng(_REF_SEED)
    geo = _geography(_REF_N, rng)
    lv, gr = _draw_levels(_REF_N, rng, LEVEL_MIX)
    s = _new_students(_REF_N, lv, gr, 2020, rng, geo, initial=True)
    b = _behaviour(s, rng, surge=1.0)
    elig = _eligible(s, 2020)
    eta = b["eta"] + _offsets(s["level"])
    out: dict[str, float] = {}
    groups = {"vo": [_LV[x] for x in _VO_SCORED], **{m: [_LV[m]] for m in MBO_LEVELS}}
    for name, members in groups.items():
        mask = np.isin(s["level"], members)
        e, w = eta[mask], elig[mask]
        target = PUBLIC_VSV_RATES[name][0]
        lo, hi = -20.0, 10.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if float(np.mean(w * _sigmoid(mid + e))) < target:
                lo = mid
            else:
                hi = mid
        out[name] = (lo + hi) / 2 + _PANEL_SHIFT[name]
    return out


def _intercept(levels: np.ndarray) -> np.ndarray:
    ic = level_intercepts()
    table = np.full(len(LEVELS), -50.0)  # pro/vso: never VSV
    for lv in _VO_SCORED:
        table[_LV[lv]] = ic["vo"]
    for m in MBO_LEVELS:
        table[_LV[m]] = ic[m]
    return table[levels] + _offsets(levels)


# --- the intervention knob ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Intervention:
    """What a conversation does to a pupil whose case was opened AND acted on (impact-evaluation knob):
    each later unauthorised-absence event disappears with probability absence_reduction (absence ×
    (1 - r)), and a later VSV outcome disappears with probability vsv_reduction (the dropout hazard
    × (1 - r)). acted_share: the share of opened cases that lead to a conversation. Off by default."""

    absence_reduction: float = 0.0
    vsv_reduction: float = 0.0
    acted_share: float = 1.0

    def check(self) -> None:
        for name in ("absence_reduction", "vsv_reduction", "acted_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(MSG_BAD_KNOB.format(name=name, details="must be in [0, 1]"))


def apply_intervention(tables: dict[str, pd.DataFrame], conversations: dict[str, dt.date], knob: Intervention, *,
                       seed: int) -> dict[str, pd.DataFrame]:
    """The tables as they would have been had these pupils had a conversation on these dates.

    The random draws are one per event row, fixed by seed and independent of who is treated, so two
    calls with different pupils give coupled potential outcomes (the same events survive or vanish).
    Only absences and outcomes change: it is applied after generation, for the evaluation of a flag."""
    knob.check()
    out = dict(tables)
    rng = np.random.default_rng([seed, 16])
    when = pd.Series({k: pd.Timestamp(v) for k, v in conversations.items()}, dtype="datetime64[ns]")
    absences = tables["absences"]
    u_abs = rng.random(len(absences))
    outcomes = tables["outcomes"]
    u_out = rng.random(len(outcomes))
    if len(when) and knob.absence_reduction > 0:
        after = pd.to_datetime(absences["student_id"].map(when))
        drop = ((absences["category"] == "unauthorised").to_numpy() & (pd.to_datetime(absences["date"]) > after).to_numpy()
                & (u_abs < knob.absence_reduction))
        out["absences"] = absences.loc[~drop].reset_index(drop=True)
    if len(when) and knob.vsv_reduction > 0:
        after = pd.to_datetime(outcomes["student_id"].map(when))
        drop = (pd.to_datetime(outcomes["vsv_date"]) > after).to_numpy() & (u_out < knob.vsv_reduction)
        out["outcomes"] = outcomes.loc[~drop].reset_index(drop=True)
    return out


# --- the generator -------------------------------------------------------------------------------
def generate(n_students: int, n_years: int, seed: int, *, first_year: str = "2020-21",
             knobs: Knobs | None = None, calendar: SchoolCalendar | None = None) -> dict[str, pd.DataFrame]:
    """A panel of about n_students per school year for n_years, as raw tables per the contracts."""
    from riskscore.calendar import SchoolCalendar

    knobs = knobs or Knobs()
    knobs.check()
    if not 10 <= n_students <= 5_000_000:
        raise ConfigError(MSG_BAD_SIZE.format(details=f"n_students must be in [10, 5000000], got {n_students}"))
    if not 1 <= n_years <= 9:
        raise ConfigError(MSG_BAD_SIZE.format(details=f"n_years must be in [1, 9], got {n_years}"))
    y0 = _year_index(first_year)
    cal = calendar or SchoolCalendar.default()
    last_year = y0 + n_years - 1
    if not (cal.covers(school_year_start(first_year)) and cal.covers(school_year_end(_sy(last_year)))):
        raise ConfigError(MSG_BAD_SIZE.format(
            details=f"school years {first_year} .. {_sy(last_year)} are outside the calendar {cal.first} .. {cal.last}"))
    rng = np.random.default_rng(seed)
    geo = _geography(n_students, rng)
    gen = _Generator(n_students, rng, geo, cal, knobs, y0, last_year)
    return gen.run()


class _Generator:
    """Year loop over the active population; collects event arrays and turns them into tables at the end."""

    def __init__(self, n: int, rng: np.random.Generator, geo: _Geography, cal: SchoolCalendar, knobs: Knobs,
                 y0: int, y_last: int) -> None:
        self.n, self.rng, self.geo, self.cal, self.knobs = n, rng, geo, cal, knobs
        self.y0, self.y_last = y0, y_last
        self.static: dict[str, list[np.ndarray]] = {k: [] for k in _STATIC}
        self.n_ids = 0
        self.rows: list[dict[str, np.ndarray]] = []
        self.events: dict[str, list[np.ndarray]] = {}
        self.end_day = _dn(dt.date(y_last + 1, 7, 31))
        self.app_counter = 0

    # ids are global integers until the very end
    def _register(self, st: dict[str, np.ndarray]) -> np.ndarray:
        k = len(st["level"])
        gid = np.arange(self.n_ids, self.n_ids + k)
        self.n_ids += k
        for key in _STATIC:
            self.static[key].append(st[key])
        return gid

    def _add(self, table: str, **cols: np.ndarray) -> None:
        for c, v in cols.items():
            self.events.setdefault(f"{table}.{c}", []).append(np.asarray(v))

    def run(self) -> dict[str, pd.DataFrame]:
        rng = self.rng
        lv, gr = _draw_levels(self.n, rng, LEVEL_MIX)
        st = _new_students(self.n, lv, gr, self.y0, rng, self.geo, initial=True)
        st["gid"] = self._register(st)
        st["spell_start_day"] = _year_start_days(st["spell_start"])
        for year in range(self.y0, self.y_last + 1):
            st = self._year(st, year)
        # open enrolment spells at the end of the panel
        self._add("enrol", gid=st["gid"], school=st["school"], level=st["level"],
                  start=st["spell_start_day"], end=np.full(len(st["gid"]), -1), reason=np.full(len(st["gid"]), -1))
        return self._tables()

    def _year(self, st: dict[str, np.ndarray], year: int) -> dict[str, np.ndarray]:
        rng, knobs = self.rng, self.knobs
        sy = _sy(year)
        k = len(st["gid"])
        surge = knobs.absence_surge_factor if knobs.absence_surge_year == sy else 1.0
        b = _behaviour(st, rng, surge=surge)
        region = _calendar_region(self.geo.muni_rmc[self.geo.school_muni[st["school"]]])
        elig = _eligible(st, year)
        p = np.where(elig, _sigmoid(_intercept(st["level"]) + b["eta"]), 0.0)
        vsv = rng.random(k) < p
        is_vmbo = (st["level"] >= _LV["vmbo-b"]) & (st["level"] <= _LV["vmbo-gt"])
        transition = vsv & b["expects"] & is_vmbo & (rng.random(k) < 0.7)
        dropout = vsv & ~transition
        # calendar: lesson-day ordinals of this school year per region
        first_ord, n_days, drop_ord = np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros(k, np.int64)
        oct_ord, jun_ord = np.zeros(k, np.int64), np.zeros(k, np.int64)
        for r, name in enumerate(("noord", "midden", "zuid")):
            m = region == r
            o = self.cal.lesson_day_ordinals(np.array([f"{year}-08-01", f"{year}-10-01", f"{year + 1}-06-30",
                                                       f"{year + 1}-07-31"], dtype="datetime64[D]"), name)
            lesson_aug1 = self.cal.lesson_day_mask(np.array([f"{year}-08-01"], dtype="datetime64[D]"), name)[0]
            first_ord[m] = o[0] - int(lesson_aug1)
            n_days[m] = o[3] - first_ord[m]
            oct_ord[m], jun_ord[m] = o[1], o[2]
        drop_ord[:] = oct_ord + np.floor(rng.random(k) * (jun_ord - oct_ord)).astype(np.int64) + 1
        end_ord = np.where(dropout, drop_ord, first_ord + n_days + 1)  # events strictly before
        self._student_rows(st, b, year, region)
        self._events(st, b, year, region, first_ord, n_days, end_ord, dropout)
        drop_day = self._ord_to_day(drop_ord, region)
        transition_day = np.full(k, _dn(dt.date(year + 1, 10, 1)))
        vsv_day = np.where(dropout, drop_day, transition_day)
        self._add("out", gid=st["gid"][vsv], day=vsv_day[vsv])
        passed = b["final"] & ~vsv & (rng.random(k) < 0.93 - 0.04 * np.clip(b["a"], 0, None))
        self._applications(st, b, year, vsv, transition, dropout, drop_day, passed)
        return self._progress(st, b, year, vsv, dropout, drop_day, passed)

    def _ord_to_day(self, ords: np.ndarray, region: np.ndarray) -> np.ndarray:
        out = np.zeros(len(ords), np.int64)
        for r, name in enumerate(("noord", "midden", "zuid")):
            m = region == r
            if m.any():
                out[m] = self.cal.date_of_lesson_day_ordinal(ords[m], name).astype("datetime64[D]").astype(np.int64)
        return out

    def _student_rows(self, st: dict[str, np.ndarray], b: dict[str, np.ndarray], year: int,
                      region: np.ndarray) -> None:
        self.rows.append({"gid": st["gid"], "year": np.full(len(st["gid"]), year), "school": st["school"],
                          "muni": st["muni"], "level": st["level"], "grade": st["grade"], "bbl": st["bbl"],
                          "final": b["final"], "expects": b["expects"], "has_sk": st["has_sk"], "region": region})

    def _events(self, st: dict[str, np.ndarray], b: dict[str, np.ndarray], year: int, region: np.ndarray,
                first_ord: np.ndarray, n_days: np.ndarray, end_ord: np.ndarray, dropout: np.ndarray) -> None:
        """Absence and sick events as counts per student-year placed on lesson-day ordinals."""
        rng, knobs = self.rng, self.knobs
        k = len(st["gid"])
        strict = np.zeros(k, bool)
        if knobs.strict_group is not None and (knobs.strict_from is None or year >= _year_index(knobs.strict_from)):
            col, val = knobs.strict_group
            key = {"gender": "gender", "migration_background": "mig", "ses_band": "ses"}[col]
            strict = st[key] == AUDIT_VALUES[col].index(val)
        # unauthorised episodes (true), clustered in runs of consecutive lesson days
        rec_rate = b["u_rate"] * np.where(strict, knobs.strict_factor, 1.0)
        n_ep = rng.poisson(rec_rate * n_days)
        # escalation before dropping out: extra episodes in the last ~40 lesson days, denser near the end
        n_esc = np.where(dropout, rng.poisson(6 + 10 * rng.random(k)), 0)
        owner = np.repeat(np.arange(k), n_ep)
        start = first_ord[owner] + 1 + np.floor(rng.random(len(owner)) * n_days[owner]).astype(np.int64)
        own_e = np.repeat(np.arange(k), n_esc)
        start_e = end_ord[own_e] - 1 - np.floor(40 * (1 - np.sqrt(rng.random(len(own_e))))).astype(np.int64)
        owner = np.concatenate([owner, own_e])
        start = np.concatenate([start, np.maximum(start_e, first_ord[own_e] + 1)])
        length = rng.geometric(1 / (1.3 + 0.4 * np.clip(b["a"][owner], 0, 3)))
        length = np.minimum(length, 15)
        o2 = np.repeat(owner, length)
        d2 = np.repeat(start, length) + _ramp(length)
        full = np.repeat(rng.random(len(owner)) < 0.35, length)
        hours = np.where(full, 6.0, rng.integers(1, 4, len(o2)).astype(float))
        self._emit(st, o2, d2, hours, "unauthorised", first_ord, n_days, end_ord, region)
        # lateness: one row per late arrival, hours = minutes / 60
        n_l = rng.poisson(b["late_rate"] * n_days * np.where(strict, knobs.strict_factor, 1.0))
        o3 = np.repeat(np.arange(k), n_l)
        d3 = first_ord[o3] + 1 + np.floor(rng.random(len(o3)) * n_days[o3]).astype(np.int64)
        mins = 5 * rng.integers(1, 10, len(o3))
        self._emit(st, o3, d3, mins / 60.0, "late", first_ord, n_days, end_ord, region)
        # authorised absence (appointments, leave); recorded as unauthorised for the strict group
        n_a = rng.poisson(b["auth_rate"] * n_days)
        o4 = np.repeat(np.arange(k), n_a)
        d4 = first_ord[o4] + 1 + np.floor(rng.random(len(o4)) * n_days[o4]).astype(np.int64)
        h4 = rng.integers(1, 5, len(o4)).astype(float)
        cat4 = np.where(strict[o4], "unauthorised", "authorised")
        for cat in ("authorised", "unauthorised"):
            m = cat4 == cat
            self._emit(st, o4[m], d4[m], h4[m], cat, first_ord, n_days, end_ord, region)
        # sick spells: mostly 1-3 calendar days, a tail of long spells, frequent reporters
        n_s = rng.poisson(b["sick_rate"] * n_days)
        o5 = np.repeat(np.arange(k), n_s)
        d5 = first_ord[o5] + 1 + np.floor(rng.random(len(o5)) * n_days[o5]).astype(np.int64)
        keep = d5 < end_ord[o5]
        o5, d5 = o5[keep], d5[keep]
        p_long = np.clip(0.04 * np.exp(0.5 * st["hp"][o5]), 0, 0.3)
        short = rng.choice(np.arange(1, 6), len(o5), p=[0.38, 0.3, 0.18, 0.09, 0.05])
        long_ = 5 + np.round(rng.lognormal(2.0, 0.8, len(o5))).astype(np.int64)
        length5 = np.where(rng.random(len(o5)) < p_long, long_, short)
        start_day = self._ord_to_day(d5, region[o5])
        end_day = start_day + length5 - 1
        self._add("sick", gid=st["gid"][o5], start=start_day, end=np.where(end_day > self.end_day, -1, end_day))

    def _emit(self, st: dict[str, np.ndarray], owner: np.ndarray, ords: np.ndarray, hours: np.ndarray, cat: str,
              first_ord: np.ndarray, n_days: np.ndarray, end_ord: np.ndarray, region: np.ndarray) -> None:
        keep = (ords <= first_ord[owner] + n_days[owner]) & (ords < end_ord[owner])
        owner, ords, hours = owner[keep], ords[keep], hours[keep]
        # one row per student, day and category
        key = owner.astype(np.int64) * 1_000_000 + ords
        _, first = np.unique(key, return_index=True)
        owner, ords, hours = owner[first], ords[first], hours[first]
        day = self._ord_to_day(ords, region[owner])
        self._add("abs", gid=st["gid"][owner], day=day, hours=hours, cat=np.full(len(owner), _CAT[cat]))

    def _applications(self, st: dict[str, np.ndarray], b: dict[str, np.ndarray], year: int, vsv: np.ndarray,
                      transition: np.ndarray, dropout: np.ndarray, drop_day: np.ndarray, passed: np.ndarray) -> None:
        """VVA: applications of final-year pupils expecting mbo, with status dates up to the data's end."""
        rng = self.rng
        apr1 = _dn(dt.date(year + 1, 4, 1))
        sub = apr1 + b["app_days"].astype(np.int64)
        has = b["expects"] & ~b["no_app"] & ~(dropout & (sub >= drop_day))
        idx = np.flatnonzero(has)
        m = len(idx)
        sub = sub[idx]
        lv = st["level"][idx]
        nxt = [NEXT_MBO.get(x, ("mbo-4", "mbo-4", 0.0)) for x in LEVELS]
        first = np.array([_LV[f] for f, _, _ in nxt])
        second = np.array([_LV[s] for _, s, _ in nxt])
        shares = np.array([p for _, _, p in nxt])
        target = np.where(rng.random(m) < shares[lv], second[lv], first[lv])
        offered = sub + rng.integers(10, 60, m)
        ok = passed[idx] & ~vsv[idx]
        enrolled = _dn(dt.date(year + 1, 8, 20)) + rng.integers(0, 15, m)
        failed = vsv[idx] | ~passed[idx]
        withdrawn_pick = rng.random(m) < 0.5
        no_enrol = np.where(failed & ~withdrawn_pick, _dn(dt.date(year + 1, 9, 1)) + rng.integers(0, 30, m), -1)
        wd_day = np.where(dropout[idx], np.maximum(drop_day[idx], sub + 1), _dn(dt.date(year + 1, 7, 10)))
        withdrawn = np.where(failed & withdrawn_pick, wd_day + rng.integers(0, 20, m), -1)
        offered = np.where(ok | (rng.random(m) < 0.4), offered, -1)
        enrolled = np.where(ok, enrolled, -1)
        ids = np.arange(self.app_counter, self.app_counter + m)
        self.app_counter += m
        programme = _CREBO_BASE[target] + rng.integers(0, 40, m)
        self._add("app", aid=ids, gid=st["gid"][idx], level=target, programme=programme, sub=sub,
                  applied=sub, offered=offered, no_enrol=no_enrol, withdrawn=withdrawn, enrolled=enrolled)
        st["next_mbo"] = np.full(len(st["gid"]), -1)
        st["next_mbo"][idx] = np.where(ok, target, -1)

    def _progress(self, st: dict[str, np.ndarray], b: dict[str, np.ndarray], year: int, vsv: np.ndarray,
                  dropout: np.ndarray, drop_day: np.ndarray, passed: np.ndarray) -> dict[str, np.ndarray]:
        """Diplomas, retention, switches and transitions; leavers are replaced by new entrants."""
        rng, geo = self.rng, self.geo
        k = len(st["gid"])
        lv = st["level"]
        y_end = _dn(dt.date(year + 1, 7, 31))
        is_mbo = lv >= _MBO1
        # diplomas
        dip = passed
        dip_day = np.where(is_mbo, _dn(dt.date(year + 1, 6, 1)) + rng.integers(0, 50, k),
                           _dn(dt.date(year + 1, 7, 1)) + rng.integers(0, 14, k))
        is_sk = np.isin(lv, [_LV["havo"], _LV["vwo"], _LV["mbo-2"], _LV["mbo-3"], _LV["mbo-4"]])
        d = np.flatnonzero(dip & (lv != _LV["pro"]) & (lv != _LV["vso"]))
        self._add("dip", gid=st["gid"][d], day=dip_day[d], level=lv[d], sk=is_sk[d])
        # mid-year switches in mbo (another programme, possibly another school): a new enrolment spell
        risk = 0.7 * st["wc"] + 0.3 * b["a"]
        sw_mid = is_mbo & ~vsv & ~b["final"] & (rng.random(k) < _sigmoid(-3.6 + 0.8 * risk))
        sw_day = _dn(dt.date(year, 11, 1)) + rng.integers(0, 120, k)
        i = np.flatnonzero(sw_mid)
        self._add("enrol", gid=st["gid"][i], school=st["school"][i], level=lv[i],
                  start=st["spell_start_day"][i], end=sw_day[i], reason=np.full(len(i), _REASON["switch"]))
        st["school"] = st["school"].copy()
        st["school"][i] = _pick_school(lv[i], rng, geo)
        st["spell_start_day"] = st["spell_start_day"].copy()
        st["spell_start_day"][i] = sw_day[i] + 1
        st["switches"] = st["switches"] + sw_mid
        # leavers this year
        next_mbo = st.get("next_mbo", np.full(k, -1))
        to_mbo = dip & (next_mbo >= 0)
        mbo1_on = dip & (lv == _MBO1) & (rng.random(k) < 0.5)
        mbo2_on = dip & (lv == _LV["mbo-2"]) & (rng.random(k) < 0.3)
        continues_new_level = to_mbo | mbo1_on | mbo2_on
        aged_out = (_dn(dt.date(year + 1, 10, 1)) - st["birth"]) / 365.25 >= 23  # beyond the VSV age range
        leaves = (vsv | (dip & ~continues_new_level) | (b["final"] & ~dip & np.isin(lv, [_LV["pro"], _LV["vso"]]))
                  | aged_out)
        retained = (~b["final"] & ~vsv & (rng.random(k) < _sigmoid(-3.4 + 0.5 * b["a"]))) | (b["final"] & ~dip & ~leaves)
        afstroom = (~b["final"] & ~vsv & ~retained & np.isin(lv, [_LV["vwo"], _LV["havo"], _LV["vmbo-gt"], _LV["vmbo-k"]])
                    & (rng.random(k) < _sigmoid(-3.5 + 0.8 * st["wc"])))
        new_lv = lv.copy()
        new_lv[to_mbo] = next_mbo[to_mbo]
        new_lv[mbo1_on] = _LV["mbo-2"]
        new_lv[mbo2_on] = _LV["mbo-3"]
        new_lv[afstroom] = lv[afstroom] - 1
        new_school = st["school"].copy()
        ch = np.flatnonzero(to_mbo)
        new_school[ch] = _pick_school(new_lv[ch], rng, geo)
        # close spells that end this year
        closes = leaves | continues_new_level | afstroom
        reason = np.where(dropout, _REASON["dropout"], np.where(dip, _REASON["diploma"],
                          np.where(afstroom, _REASON["switch"], np.where(vsv, _REASON["other"], _REASON["other"]))))
        end = np.where(dropout, drop_day, y_end)
        c = np.flatnonzero(closes)
        self._add("enrol", gid=st["gid"][c], school=st["school"][c], level=lv[c], start=st["spell_start_day"][c],
                  end=end[c], reason=reason[c])
        # next year's state
        stay = ~leaves
        nxt = {key: val[stay] for key, val in st.items() if key not in ("next_mbo",)}
        nxt["level"] = new_lv[stay]
        nxt["school"] = new_school[stay]
        nxt["grade"] = np.where(continues_new_level[stay] | retained[stay], np.where(retained[stay], st["grade"][stay], 1),
                                st["grade"][stay] + 1)
        nxt["grade"] = np.where(afstroom[stay], st["grade"][stay] + 1, nxt["grade"])
        nxt["grade"] = np.minimum(nxt["grade"], np.array([LEVEL_GRADES[x] for x in LEVELS])[nxt["level"]])
        nxt["retentions"] = st["retentions"][stay] + retained[stay]
        nxt["switches"] = st["switches"][stay] + afstroom[stay]
        nxt["has_sk"] = st["has_sk"][stay] | (dip & is_sk)[stay]
        nxt["bbl"] = np.where(to_mbo[stay], rng.random(stay.sum()) < 0.15, st["bbl"][stay])
        new_spell = closes[stay]
        nxt["spell_start"] = np.where(new_spell, year + 1, st["spell_start"][stay])
        nxt["spell_start_day"] = np.where(new_spell, _year_start_days(np.full(stay.sum(), year + 1)),
                                          st["spell_start_day"][stay])
        if year < self.y_last:
            nxt = self._refill(nxt, year + 1)
        return nxt

    def _refill(self, st: dict[str, np.ndarray], year: int) -> dict[str, np.ndarray]:
        """New entrants fill each level up to its target share; the mix-shift knob moves the targets."""
        rng, knobs = self.rng, self.knobs
        mix = dict(LEVEL_MIX)
        shift = knobs.level_mix_shift if (knobs.level_mix_shift and (
            knobs.level_mix_from is None or year >= _year_index(knobs.level_mix_from))) else 0.0
        if shift:
            mix = {x: (1 - shift) * v for x, v in mix.items()}
            mix["mbo-1"] += 0.4 * shift
            mix["mbo-2"] += 0.6 * shift
        target = np.array([mix[x] for x in LEVELS]) * self.n
        count = np.bincount(st["level"], minlength=len(LEVELS))
        # too many at a level (only after a shift of targets): some move away (region change)
        over = count - target
        drop = np.zeros(len(st["level"]), bool)
        for lvl in np.flatnonzero(over > 0.05 * target + 1):
            rows = np.flatnonzero(st["level"] == lvl)
            drop[rng.choice(rows, int(over[lvl]), replace=False)] = True
        if drop.any():
            d = np.flatnonzero(drop)
            self._add("enrol", gid=st["gid"][d], school=st["school"][d], level=st["level"][d],
                      start=st["spell_start_day"][d], end=np.full(len(d), _dn(dt.date(year, 7, 31))),
                      reason=np.full(len(d), _REASON["moved"]))
            st = {key: val[~drop] for key, val in st.items()}
            count = np.bincount(st["level"], minlength=len(LEVELS))
        deficit = np.clip(target - count, 0, None)
        n_new = max(self.n - len(st["level"]), 0)
        if n_new == 0 or deficit.sum() == 0:
            return st
        lv = rng.choice(len(LEVELS), n_new, p=deficit / deficit.sum())
        n_grades = np.array([LEVEL_GRADES[x] for x in LEVELS])[lv]
        first = rng.random(n_new) < 0.75
        grade = np.where(first, 1, 1 + np.floor(rng.random(n_new) * n_grades)).astype(np.int64)
        new = _new_students(n_new, lv, grade, year, rng, self.geo, initial=False)
        new["gid"] = self._register(new)
        new["spell_start_day"] = _year_start_days(new["spell_start"])
        return {key: np.concatenate([st[key], new[key]]) for key in st}

    # --- tables ----------------------------------------------------------------------------------
    def _tables(self) -> dict[str, pd.DataFrame]:
        static = {key: np.concatenate(v) for key, v in self.static.items()}
        perm = self.rng.permutation(max(self.n_ids, 1))  # pseudonymous: ids reveal no order
        width = max(6, len(str(self.n_ids)))
        sid = np.array([f"S{p:0{width}d}" for p in perm], dtype=object)

        def cat(key: str) -> np.ndarray:
            return np.concatenate(self.events[key]) if key in self.events else np.zeros(0, np.int64)

        rows = {key: np.concatenate([r[key] for r in self.rows]) for key in self.rows[0]}
        g = rows["gid"]
        students = pd.DataFrame({
            "student_id": sid[g],
            "school_year": np.array([_sy(y) for y in range(self.y0, self.y_last + 1)], dtype=object)[rows["year"] - self.y0],
            "school_id": self.geo.school_id[rows["school"]],
            "municipality": self.geo.muni_code[rows["muni"]],
            "rmc_region": np.array([f"RMC{i:02d}" for i in range(N_RMC + 1)], dtype=object)[
                self.geo.muni_rmc[rows["muni"]]],
            "calendar_region": np.array(["noord", "midden", "zuid"], dtype=object)[rows["region"]],
            "birth_date": _to_ts(static["birth"][g]),
            "school_type": _school_type_of(rows["level"]),
            "level": np.array(LEVELS, dtype=object)[rows["level"]],
            "pathway": np.where(rows["level"] >= _MBO1, np.where(rows["bbl"], "BBL", "BOL"), None),  # type: ignore[call-overload]
            "grade": rows["grade"].astype(np.int64),
            "final_year": rows["final"].astype(bool),
            "expects_mbo": rows["expects"].astype(bool),
            "has_sk": rows["has_sk"].astype(bool),
            "mentor_group": mentor_groups(rows["year"], rows["school"], rows["level"], rows["grade"], g),
        })
        # audit attributes live apart from the school's records (training/audit.py): one row per pupil
        ug = np.unique(g)
        audit = pd.DataFrame({
            "student_id": sid[ug],
            "gender": np.array(AUDIT_VALUES["gender"], dtype=object)[static["gender"][ug]],
            "migration_background": np.array(AUDIT_VALUES["migration_background"], dtype=object)[static["mig"][ug]],
            "ses_band": np.array(AUDIT_VALUES["ses_band"], dtype=object)[static["ses"][ug]],
        })
        ab_order = np.lexsort((cat("abs.day"), cat("abs.gid")))
        absences = pd.DataFrame({
            "student_id": sid[cat("abs.gid")[ab_order]],
            "date": _to_ts(cat("abs.day")[ab_order]),
            "hours": cat("abs.hours")[ab_order].astype(float),
            "category": np.array(_CATS, dtype=object)[cat("abs.cat")[ab_order].astype(np.int64)],
        })
        sick = pd.DataFrame({"student_id": sid[cat("sick.gid")], "start_date": _to_ts(cat("sick.start")),
                             "end_date": _to_ts(cat("sick.end"))})
        a = {c: cat(f"app.{c}") for c in ("aid", "gid", "level", "programme", "sub", "applied", "offered",
                                          "no_enrol", "withdrawn", "enrolled")}
        status = {c: np.where(a[c] > self.end_day, -1, a[c]) for c in ("applied", "offered", "no_enrol", "withdrawn", "enrolled")}
        applications = pd.DataFrame({
            "student_id": sid[a["gid"]],
            "application_id": np.array([f"A{i:08d}" for i in a["aid"]], dtype=object),
            "programme": a["programme"].astype(str).astype(object),
            "level": np.array(LEVELS, dtype=object)[a["level"].astype(np.int64)],
            "submitted_on": _to_ts(a["sub"]),
            "applied_on": _to_ts(status["applied"]),
            "agreement_offered_on": _to_ts(status["offered"]),
            "no_enrolment_on": _to_ts(status["no_enrol"]),
            "withdrawn_on": _to_ts(status["withdrawn"]),
            "enrolled_on": _to_ts(status["enrolled"]),
        })
        e = {c: cat(f"enrol.{c}") for c in ("gid", "school", "level", "start", "end", "reason")}
        e_end = np.where(e["end"] > self.end_day, -1, e["end"])
        enrolments = pd.DataFrame({
            "student_id": sid[e["gid"]],
            "school_id": self.geo.school_id[e["school"].astype(np.int64)],
            "level": np.array(LEVELS, dtype=object)[e["level"].astype(np.int64)],
            "start_date": _to_ts(e["start"]),
            "end_date": _to_ts(e_end),
            "dereg_reason": np.array([*_REASONS, None], dtype=object)[np.where(e_end < 0, -1, e["reason"]).astype(np.int64)],
        }).sort_values(["student_id", "start_date"], kind="stable").reset_index(drop=True)
        d = {c: cat(f"dip.{c}") for c in ("gid", "day", "level", "sk")}
        diplomas = pd.DataFrame({"student_id": sid[d["gid"]], "date": _to_ts(d["day"]),
                                 "level": np.array(LEVELS, dtype=object)[d["level"].astype(np.int64)],
                                 "is_sk": d["sk"].astype(bool)})
        o = {c: cat(f"out.{c}") for c in ("gid", "day")}
        outcomes = pd.DataFrame({"student_id": sid[o["gid"]], "vsv_date": _to_ts(o["day"])})
        return {"students": students, "absences": absences, "sick_reports": sick, "applications": applications,
                "enrolments": enrolments, "diplomas": diplomas, "outcomes": outcomes, "audit": audit}


#: how a class name shows the programme: "3HA" (havo 3, class A), "2TB" (vmbo-gt 2), "N4-2A" (mbo level 4, year 2)
_CLASS_CODE = {"pro": "P", "vso": "S", "vmbo-b": "B", "vmbo-k": "K", "vmbo-gt": "T", "havo": "H", "vwo": "V",
               "mbo-1": "E", "mbo-2": "N2", "mbo-3": "N3", "mbo-4": "N4"}
CLASS_SIZE = 25


def mentor_groups(years: np.ndarray, schools: np.ndarray, levels: np.ndarray, grades: np.ndarray,
                  gids: np.ndarray) -> np.ndarray:
    """A plausible class (mentor group) per students row: the school's pupils of one level and grade in a
    year split into classes of about CLASS_SIZE, lettered A, B, … ("3HA", "N4-2B"). Derived from the
    pupil's number, so it draws nothing from the generator's random stream (seeded cohorts stay as
    they were)."""
    frame = pd.DataFrame({"y": years, "s": schools, "l": levels, "g": grades})
    size = frame.groupby(["y", "s", "l", "g"])["y"].transform("size").to_numpy()
    n_classes = np.maximum(1, np.rint(size / CLASS_SIZE).astype(np.int64))
    letter = np.asarray(gids, dtype=np.int64) % np.minimum(n_classes, 26)
    codes = np.array([_CLASS_CODE[x] for x in LEVELS], dtype=object)[np.asarray(levels, dtype=np.int64)]
    grade = np.asarray(grades, dtype=np.int64).astype(str)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), dtype=object)[letter]
    mbo = np.asarray(levels, dtype=np.int64) >= _MBO1
    vo_name = grade.astype(object) + codes + letters
    mbo_name = codes + "-" + grade.astype(object) + letters
    return np.where(mbo, mbo_name, vo_name).astype(object)


_CATS = ("unauthorised", "authorised", "late")
_CAT = {c: i for i, c in enumerate(_CATS)}
_REASONS = ("diploma", "switch", "moved", "work", "dropout", "other")
_REASON = {r: i for i, r in enumerate(_REASONS)}
#: crebo-like programme codes: a base per level (5 digits)
_CREBO_BASE = np.array([0, 0, 0, 0, 0, 0, 0, 25_000, 25_200, 25_400, 25_600], dtype=np.int64)


def _dn(day: dt.date) -> int:
    """Days since 1970-01-01."""
    return (day - dt.date(1970, 1, 1)).days


def _year_start_days(years: np.ndarray) -> np.ndarray:
    """Day number of 1 August of each school year's first calendar year."""
    y = np.asarray(years, dtype=np.int64)
    months = (y - 1970).astype("datetime64[Y]").astype("datetime64[M]") + 7
    return months.astype("datetime64[D]").astype(np.int64)


def _ramp(lengths: np.ndarray) -> np.ndarray:
    """0, 1, …, L-1 for each run length L, concatenated (offsets within an episode)."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total) - starts


def _to_ts(days: np.ndarray) -> pd.Series:
    """Day numbers (-1 = missing) → datetime64[ns] with NaT."""
    days = np.asarray(days, dtype=np.int64)
    out = days.astype("datetime64[D]").astype("datetime64[ns]")
    out[days < 0] = np.datetime64("NaT")
    return pd.Series(out)


# --- calibration ---------------------------------------------------------------------------------
def level_group(levels: pd.Series) -> pd.Series:
    """vo (vmbo/havo/vwo), mbo-1 … mbo-4; pro/vso → None (their leavers are not VSV'ers)."""
    out = levels.astype(object).where(levels.isin(MBO_LEVELS), None)
    return out.where(~levels.isin(_VO_SCORED), "vo")


def calibration_table(tables: dict[str, pd.DataFrame], *, sigmas: float = 3.0) -> pd.DataFrame:
    """Generated vs public VSV rate per level group.

    A VSV'er counts in the level of their last students row (the year they left). Tolerance = the
    public figures' spread between years + `sigmas` binomial standard errors of this sample's size,
    so a small sample is not flagged for chance alone.
    """
    st = tables["students"]
    out = tables["outcomes"]
    group = level_group(st["level"])
    last = st.assign(group=group).sort_values("school_year").drop_duplicates("student_id", keep="last")
    vsv_groups = last.set_index("student_id")["group"].reindex(out["student_id"].unique())
    counts = group.value_counts()
    vsv_counts = vsv_groups.value_counts()
    mbo = [g for g in MBO_LEVELS]
    rows: list[dict[str, Any]] = []
    for name in GROUP_ORDER:
        members = mbo if name == "mbo" else [name]
        n = int(sum(counts.get(m, 0) for m in members))
        v = int(sum(vsv_counts.get(m, 0) for m in members))
        target, spread, source = PUBLIC_VSV_RATES[name]
        se = math.sqrt(target * (1 - target) / n) if n else float("nan")
        tol = spread + sigmas * se if n else float("nan")
        rate = v / n if n else float("nan")
        rows.append({"level_group": name, "students": n, "vsv": v, "generated_rate": rate, "public_rate": target,
                     "tolerance": tol, "within_tolerance": bool(n and abs(rate - target) <= tol), "source": source})
    return pd.DataFrame(rows)


#: written next to generated tables: the model card of a model trained on them says "synthetic data"
MARKER_FILE = "synthetic.json"


def write_marker(directory: Path | str, *, students: int, years: int, seed: int) -> Path:
    """Mark a folder of raw tables as generated by this module (not real pupils)."""
    import json

    path = Path(directory) / MARKER_FILE
    path.write_text(json.dumps({"generator": "riskscore.synthetic", "students_per_year": students, "years": years,
                                "seed": seed}, indent=2))
    return path


def is_synthetic(directory: Path | str) -> bool:
    """True when the folder carries the generator's marker."""
    return (Path(directory) / MARKER_FILE).is_file()
