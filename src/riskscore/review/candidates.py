"""Case candidates from the scoring core's results — routing once, one case per pupil per team.

Each ScoredStudent carries ``routes``: which signal (the model, or a rule) goes to which role, as routing
decided it in the scoring core. From those this module makes at most one candidate per pupil per team
(a role and its unit: review.teams), holding every signal that brought the pupil there:

* every rule trigger routed to the role is a signal with legal force: it always opens (or joins) a case,
  never capped, for the enrolled and for young people who left school (deregistration, VVA);
* on top of that, each team gets its highest-ranked pupils whose *model* signal is routed to it, up to
  its capacity (``capacity_per_10k`` × the team's scored pupils / 10,000, at least 1 when not 0). A pupil
  who already has a rule signal for the team takes no capacity slot (legal triggers are never capped,
  and the impact evaluation compares pupils just above and below each team's cut-off).

Ranking within capacity is by calibrated probability, or — when the bundle says so — by the risk above
what is usual for the pupil's context (``excess``), so a list is not filled by context alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from riskscore.access import Place
from riskscore.review.duties import duty
from riskscore.review.teams import CASE_ROLES, Team, team_of
from riskscore.scoring import capacity_priority

CAPACITY, MODEL = "capacity", "model"
#: the order of a case's reasons when one names the case: the law first, then the model
RULE_PRIORITY = ("leerplicht_16h_4w", "lrv_4w", "rmc_verzuim", "deregistered_no_sk", "vva_not_applied",
                 "vva_no_enrolment", "mazl_long", "mazl_frequent", "lateness")


@dataclass(frozen=True)
class SignalIn:
    """One signal a run brings to a case: a rule (with the date it fired, its legal deadline when the
    team holds a duty for it, and its detail) or the model's flag within capacity."""

    kind: str  # "rule" | "model"
    rule_id: str | None = None
    fired_on: dt.date | None = None
    deadline: dt.date | None = None
    detail: str | None = None

    @property
    def key(self) -> tuple[str, str | None, dt.date | None]:
        return (self.kind, self.rule_id, self.fired_on)


@dataclass(frozen=True)
class CaseCandidate:
    """What one run says a team should review about one pupil."""

    student_id: str
    team: Team
    place: Place
    signals: tuple[SignalIn, ...]
    probability: float | None
    band: str | None

    @property
    def role(self) -> str:
        return self.team.role

    @property
    def reason(self) -> str:
        """The case's main signal: the most urgent rule, else the model ('capacity')."""
        return main_reason(s.rule_id for s in self.signals if s.kind == "rule")

    @property
    def legal_deadline(self) -> dt.date | None:
        dates = [s.deadline for s in self.signals if s.deadline is not None]
        return min(dates) if dates else None


def main_reason(rule_ids: Iterable[str | None]) -> str:
    """A case's main reason from the rules among its signals: the most urgent, else 'capacity'."""
    rules = [r for r in rule_ids if r]
    if rules:
        return "rule:" + min(rules, key=lambda r: (RULE_PRIORITY.index(r) if r in RULE_PRIORITY else 99, r))
    return CAPACITY


def capacity_of(n_scored: int, per_10k: float) -> int:
    """A team's capacity: per_10k cases per 10,000 scored pupils, rounded, at least 1 unless per_10k is 0."""
    if per_10k <= 0:
        return 0
    return max(1, round(n_scored * per_10k / 10_000))


def candidates(scored: Sequence[object], leavers: Sequence[object] = (), *,
               capacity_per_10k: Mapping[str, float], rank: str = "probability") -> tuple[list[CaseCandidate],
                                                                                         dict[str, int]]:
    """The run's case candidates and each role's summed capacity. ``scored`` and ``leavers`` are
    scoring.ScoredStudent (read through their attributes: this layer sits beside scoring)."""
    signals: dict[tuple[str, Team], list[SignalIn]] = {}
    facts: dict[tuple[str, Team], tuple[Place, float | None, str | None]] = {}
    for s in [*scored, *leavers]:
        place = Place(s.school_id, s.municipality, s.rmc_region)  # type: ignore[attr-defined]
        triggers = {f"rule:{t.id}": t for t in s.triggers}  # type: ignore[attr-defined]
        for signal, role in s.routes:  # type: ignore[attr-defined]
            if role not in CASE_ROLES or signal == MODEL:
                continue
            team = team_of(role, place)
            t = triggers.get(signal)
            if team is None or t is None:
                continue
            key = (s.student_id, team)  # type: ignore[attr-defined]
            deadline = t.due_date if duty(role, t.id) is not None else None
            signals.setdefault(key, []).append(SignalIn("rule", t.id, t.fired_on, deadline, t.detail))
            facts[key] = (place, s.probability, s.band if s.probability is not None else None)  # type: ignore[attr-defined]

    # capacity: per team, its highest-ranked pupils whose model signal is routed to it
    pools: dict[Team, list[object]] = {}
    sizes: dict[Team, int] = {}
    for s in scored:
        if s.probability is None:  # type: ignore[attr-defined]
            continue
        place = Place(s.school_id, s.municipality, s.rmc_region)  # type: ignore[attr-defined]
        model_roles = {role for signal, role in s.routes if signal == MODEL}  # type: ignore[attr-defined]
        for role in CASE_ROLES:
            team = team_of(role, place)
            if team is None:
                continue
            sizes[team] = sizes.get(team, 0) + 1
            if role in model_roles:
                pools.setdefault(team, []).append(s)
    capacities: dict[str, int] = dict.fromkeys(capacity_per_10k, 0)
    for team, n in sizes.items():
        if team.role in capacity_per_10k:
            capacities[team.role] += capacity_of(n, capacity_per_10k[team.role])
    for team, pool in pools.items():
        cap = capacity_of(sizes[team], capacity_per_10k.get(team.role, 0))
        free = [s for s in pool if (s.student_id, team) not in signals]  # type: ignore[attr-defined]
        free.sort(key=lambda s: (-_rank(s, rank), s.student_id))  # type: ignore[attr-defined]
        for s in free[:cap]:
            key = (s.student_id, team)  # type: ignore[attr-defined]
            place = Place(s.school_id, s.municipality, s.rmc_region)  # type: ignore[attr-defined]
            signals.setdefault(key, []).append(SignalIn(MODEL))
            facts[key] = (place, s.probability, s.band)  # type: ignore[attr-defined]
    out = [CaseCandidate(student_id=sid, team=team, place=facts[(sid, team)][0], signals=tuple(sigs),
                         probability=facts[(sid, team)][1], band=facts[(sid, team)][2])
           for (sid, team), sigs in sorted(signals.items(), key=lambda kv: (kv[0][1].role, kv[0][1].unit, kv[0][0]))]
    return out, capacities


def _rank(s: object, rank: str) -> float:
    """The capacity ranking value (scoring.capacity_priority): the calibrated probability, or the risk
    above what is usual for the pupil's context."""
    value = capacity_priority(s, rank)  # type: ignore[arg-type]
    return float(value) if value is not None else float("-inf")


def signal_keys(cands: Iterable[CaseCandidate]) -> list[tuple[str, str, str]]:
    """(pupil, role, reason) per candidate and signal kind: what the run put on which list (run_signals,
    the impact evaluation's treatment record; 'capacity' for the model's flag, 'rule:<id>' per rule)."""
    out = []
    for c in cands:
        for s in c.signals:
            out.append((c.student_id, c.role, CAPACITY if s.kind == MODEL else f"rule:{s.rule_id}"))
    return sorted(set(out))
