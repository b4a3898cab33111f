"""Routing sends each signal to the reviewer the law or protocol names, by age and sk."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskscore.contracts import RULE_IDS
from riskscore.errors import ConfigError
from riskscore.model.explain import Reason
from riskscore.routing import DEFAULT_TABLE, RoutingTable, route


def reason(category: str, code: str = "X") -> Reason:
    return Reason(code, "f", category, 1.0, 0.5, "nl", "en")


ABSENCE = reason("absence", "ABS_UNAUTH_4W")


@pytest.mark.parametrize(
    ("age", "has_sk", "expected"),
    [
        (4.0, False, []),  # not leerplichtig yet
        (5.0, False, ["leerplicht"]),
        (15.9, True, ["leerplicht"]),  # under 16: leerplichtig even with an sk
        (16.0, True, []),  # 16-17 with sk: no kwalificatieplicht
        (17.99, False, ["leerplicht"]),  # kwalificatieplicht until 18
        (18.0, False, ["rmc"]),
        (18.0, True, []),
        (22.99, False, ["rmc"]),
        (23.0, False, []),
    ],
)
def test_absence_goes_to_attendance_authority_by_age(age: float, has_sk: bool, expected: list[str]) -> None:
    assert route([ABSENCE], [], age=age, has_sk=has_sk, band="medium") == expected
    # the 16-hour rule also goes to the school, whatever the age: it holds the legal duty to report to DUO
    assert route([], ["leerplicht_16h_4w"], age=age, has_sk=has_sk, band="low") == sorted({"school", *expected})
    assert route([], [{"id": "lrv_4w"}], age=age, has_sk=has_sk, band="low") == expected


def test_sick_goes_to_jeugdarts_only() -> None:
    assert route([reason("sick", "SICK_LONG")], [], age=14, has_sk=False, band="medium") == ["jeugdarts"]
    assert route([], ["mazl_long"], age=14, has_sk=False, band="low") == ["jeugdarts"]
    assert route([], ["mazl_frequent"], age=20, has_sk=True, band="low") == ["jeugdarts"]


def test_rmc_rules() -> None:
    assert route([], ["rmc_verzuim"], age=19, has_sk=False, band="low") == ["rmc"]
    assert route([], ["deregistered_no_sk"], age=21, has_sk=False, band="low") == ["rmc"]


def test_transition_and_vva() -> None:
    assert route([reason("transition", "APPL_LATE")], [], age=16, has_sk=False, band="medium") == ["school"]
    # VVA: municipality/Doorstroompunt (rmc) for under-23s without sk
    assert route([], ["vva_not_applied"], age=16, has_sk=False, band="low") == ["rmc", "school"]
    assert route([], ["vva_not_applied"], age=23, has_sk=False, band="low") == ["school"]
    assert route([], ["vva_not_applied"], age=17, has_sk=True, band="low") == ["school"]
    assert route([], ["vva_no_enrolment"], age=17, has_sk=True, band="low") == ["rmc", "school"]


def test_high_band_always_reaches_school_and_low_band_reasons_do_not_route() -> None:
    assert route([], [], age=14, has_sk=False, band="high") == ["school"]
    assert route([ABSENCE], [], age=14, has_sk=False, band="low") == []
    assert route([ABSENCE, reason("sick")], [], age=14, has_sk=False, band="high") == ["jeugdarts", "leerplicht", "school"]


def test_lateness_reason_goes_to_school_not_leerplicht() -> None:
    assert route([reason("absence", "LATE_12W")], [], age=14, has_sk=False, band="medium") == ["school"]
    assert route([reason("context", "LEVEL")], [], age=14, has_sk=False, band="medium") == []


def test_sorted_unique() -> None:
    roles = route([ABSENCE, ABSENCE, reason("school_career")], ["leerplicht_16h_4w", "lateness"],
                  age=15, has_sk=False, band="high")
    assert roles == ["leerplicht", "school"]


def test_every_rule_routes_somewhere_by_default() -> None:
    table = RoutingTable.default()
    assert set(table.rules) == set(RULE_IDS)
    for rule_id in RULE_IDS:
        assert route([], [rule_id], age=15, has_sk=False, band="low"), rule_id


def test_override_from_yaml(tmp_path: Path) -> None:
    # a region where RMC also takes 16-17-year-olds: route transition reasons to rmc too
    path = tmp_path / "routing.yaml"
    path.write_text("categories:\n  transition: [school, transition_authority]\nkwalificatieplicht_age: 16\n")
    table = RoutingTable.from_yaml(path)
    assert table.categories["sick"] == ("jeugdarts",)  # untouched keys keep defaults
    assert route([reason("transition")], [], age=16, has_sk=False, band="medium", table=table) == ["rmc", "school"]
    assert route([ABSENCE], [], age=16.5, has_sk=False, band="medium", table=table) == ["rmc"]


@pytest.mark.parametrize(
    "bad",
    [{"rules": {"leerplicht_16h_4w": ["police"]}}, {"rules": {"no_such_rule": ["school"]}}, {"typo_key": 1}],
)
def test_invalid_tables_fail_loudly(bad: dict) -> None:
    with pytest.raises(ConfigError):
        RoutingTable.from_mapping({**DEFAULT_TABLE, **bad})
