"""Teams: a reviewing role plus the unit of the pupil's place it works for. A school's care team works
per school, the attendance officers (leerplicht) per municipality, RMC and the youth doctors (GGD/JGZ,
organised regionally) per RMC region. A pupil has at most one open case per team; capacities are per team."""

from __future__ import annotations

from dataclasses import dataclass

from riskscore.access import Place

#: the roles that review single pupils, in display order
CASE_ROLES: tuple[str, ...] = ("school", "jeugdarts", "leerplicht", "rmc")
#: the place column a role's team is organised by
TEAM_UNITS: dict[str, str] = {"school": "school_id", "leerplicht": "municipality", "rmc": "rmc_region",
                              "jeugdarts": "rmc_region"}


@dataclass(frozen=True)
class Team:
    """One team: a role and the value of its unit (a BRIN, a GM code, an RMC region)."""

    role: str
    unit: str


def team_of(role: str, place: Place) -> Team | None:
    """The team of this role that a pupil at this place belongs to (None when the place lacks the unit)."""
    value = getattr(place, TEAM_UNITS[role])
    return None if value is None else Team(role, str(value))
