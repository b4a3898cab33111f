"""The one role view (access.view): health content put into random records — sick reasons, MAZL
triggers, sick dates, the jeugdarts' notes and outcomes, a health route — is found in no view but the
jeugdarts' own and the pupil's own export; the school learns only *that* a signal for the jeugdarts
exists; cases, notes and outcomes reach their own team only; data team and admin see no pupil."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from riskscore.access import (
    HEALTH_REDACTED_NL,
    SELF,
    Principal,
    sees_case,
    view_dossier,
    view_result,
)

MARK = "HEALTHMARK"  # every health field below carries it, so its absence proves nothing leaked
ROLES = ("school", "jeugdarts", "leerplicht", "rmc", "data_team", "admin")
PLACE = {"school_id": "01AB", "municipality": "GM0363", "rmc_region": "RMC27"}
ELSEWHERE = {"school_id": "02CD", "municipality": "GM0599", "rmc_region": "RMC05"}


def principal(role: str) -> Principal:
    kind, values = {"school": ("school", ("01AB",)), "rmc": ("rmc_region", ("RMC27",)),
                    "data_team": ("all", ()), "admin": ("all", ())}.get(role, ("municipality", ("GM0363",)))
    return Principal(actor_id=f"k-{role}", label=role, role=role, scope_kind=kind, scope_values=values)


def health_reason(i: int) -> dict[str, Any]:
    return {"code": f"SICK_{MARK}_{i}", "feature": f"sick_{MARK}", "category": "sick", "value": 12.0 + i,
            "contribution": 0.4, "text_nl": f"ziek {MARK} {i}", "text_en": f"sick {MARK} {i}"}


def other_reason(i: int) -> dict[str, Any]:
    return {"code": f"ABS_{i}", "feature": "unauthorised_hours_4w", "category": "absence", "value": float(i),
            "contribution": 0.2, "text_nl": f"verzuim {i}", "text_en": f"absence {i}"}


def health_trigger(rule: str, i: int) -> dict[str, Any]:
    return {"id": rule, "source": "MAZL (NCJ)", "role": "jeugdarts", "fired_on": f"2025-02-{10 + i:02d}",
            "due_date": None, "detail": f"{i + 7} schooldagen ziek {MARK}"}


LEGAL = {"id": "leerplicht_16h_4w", "source": "Leerplichtwet 1969", "role": "leerplicht", "fired_on": "2025-02-28",
         "due_date": "2025-03-07", "detail": "18 uur"}


@st.composite
def scores(draw: st.DrawFn) -> dict[str, Any]:
    n_health, n_other = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    reasons = [health_reason(i) for i in range(n_health)] + [other_reason(i) for i in range(n_other)]
    reasons = draw(st.permutations(reasons))
    rules = draw(st.lists(st.sampled_from(["mazl_frequent", "mazl_long"]), max_size=2, unique=True))
    triggers = [health_trigger(r, i) for i, r in enumerate(rules)] + ([LEGAL] if draw(st.booleans()) else [])
    roles = sorted({"school", *draw(st.lists(st.sampled_from(["jeugdarts", "leerplicht", "rmc"]), max_size=3))} |
                   ({"jeugdarts"} if n_health or rules else set()))
    place = draw(st.sampled_from([PLACE, ELSEWHERE]))
    return {"student_id": "P-1", **place, "probability": 0.4, "band": "medium", "reasons": list(reasons),
            "triggers": triggers, "roles": roles}


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    role = draw(st.sampled_from(["school", "jeugdarts", "leerplicht", "rmc"]))
    place = draw(st.sampled_from([PLACE, ELSEWHERE]))
    secret = f"{MARK} {role}" if role == "jeugdarts" else "gesprek gepland"
    reason = draw(st.sampled_from(["rule:mazl_long", "rule:mazl_frequent"])) if role == "jeugdarts" else "capacity"
    return {"id": draw(st.integers(1, 10_000)), "role": role, "reason": reason, **place, "status": "open",
            "history": [{"by": "x", "action": "note", "note": secret}],
            "outcomes": [{"by": "x", "outcome": "referred_care", "note": secret}]}


def text(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


@settings(max_examples=300, deadline=None)
@given(score=scores())
def test_health_content_of_a_score_reaches_the_jeugdarts_and_the_pupil_only(score: dict[str, Any]) -> None:
    has_health = MARK in text(score)
    for role in ROLES:
        seen = text(view_result(score, role))
        assert (MARK in seen) == (has_health and role == "jeugdarts"), role
        if role in ("leerplicht", "rmc"):  # not even that a sick-reporting signal exists
            assert HEALTH_REDACTED_NL not in seen and "mazl" not in seen and "jeugdarts" not in seen
        if role == "school" and has_health:
            assert HEALTH_REDACTED_NL in seen
    assert text(view_result(score, SELF)) == text(score)


@settings(max_examples=200, deadline=None)
@given(score_list=st.lists(scores(), max_size=3), case_list=st.lists(cases(), max_size=5),
       log_roles=st.lists(st.sampled_from(ROLES), max_size=6))
def test_the_dossier_shows_each_viewer_its_own_team_and_health_to_the_jeugdarts_only(
        score_list: list[dict[str, Any]], case_list: list[dict[str, Any]], log_roles: list[str]) -> None:
    data = {"student_id": "P-1", "scores": score_list, "cases": case_list, "objection": None,
            "access_log": [{"at": "2025-03-01", "who": f"k-{r}", "role": r, "action": "score.read"} for r in log_roles]}
    for role in ROLES:
        p = principal(role)
        view = view_dossier(data, p)
        seen = text(view)
        has_health = any(MARK in text(s) and s["school_id"] == "01AB" for s in score_list) or any(
            c["role"] == "jeugdarts" and c["school_id"] == "01AB" for c in case_list)
        if role != "jeugdarts":
            assert MARK not in seen, role
        elif has_health:
            assert MARK in seen
        assert all(c["role"] == role and c["school_id"] == "01AB" for c in view["cases"])
        assert all(s["school_id"] == "01AB" for s in view["scores"])
        assert {e["role"] for e in view["access_log"]} <= {role}
        if role in ("data_team", "admin"):
            assert view["cases"] == [] and view["scores"] == []
    assert view_dossier(data, SELF) == data  # the pupil's own export: everything


@settings(max_examples=200, deadline=None)
@given(case=cases(), role=st.sampled_from(ROLES))
def test_a_case_is_its_own_teams(case: dict[str, Any], role: str) -> None:
    assert sees_case(principal(role), case) == (case["role"] == role and case["school_id"] == "01AB"
                                                and role not in ("data_team", "admin"))
