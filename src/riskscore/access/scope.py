"""Scope: which pupils a principal may see and act for. The one test of a place against a scope lives
here; where a pupil *is* comes from the imported registrations only (store/registrations.py turns them
into ``Span``s), never from a request body or from whoever wrote a score first.

- A record stored about a pupil (a score, a case, an objection mark) carries the place the pupil had
  when it was written, taken from the registrations; a principal sees the record when that place lies
  in its scope (``in_scope``).
- Acting for a pupil on a date (scoring them, marking an objection) needs a registration active on that
  date inside the principal's scope (``place_for``); the record is stamped with that registration's place.
- A principal narrowed to mentor groups sees only pupils whose registration names one of its groups.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from riskscore.access.principal import Principal

#: roles that review single pupils; data_team and admin work with aggregates and never see one pupil
PUPIL_ROLES = frozenset({"school", "jeugdarts", "leerplicht", "rmc"})


@dataclass(frozen=True)
class Place:
    """Where a pupil belongs: school (BRIN), municipality (GM code), RMC region, optional mentor group."""

    school_id: str | None
    municipality: str | None
    rmc_region: str | None
    mentor_group: str | None = None


@dataclass(frozen=True)
class Span:
    """One registration: a place between two dates (ends_on None: still registered)."""

    place: Place
    starts_on: dt.date
    ends_on: dt.date | None = None

    def active_on(self, day: dt.date) -> bool:
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)


def in_scope(principal: Principal, place: Place, *, check_groups: bool = True) -> bool:
    """True when the place lies inside the principal's scope. Unknown (None) parts never match, so
    missing data fails closed; data_team and admin see no single pupil whatever their scope says.
    A principal narrowed to mentor groups needs the place's group to be one of them (check_groups)."""
    if principal.role not in PUPIL_ROLES:
        return False
    if principal.scope_kind == "all":
        matched = True
    else:
        value = {"school": place.school_id, "municipality": place.municipality,
                 "rmc_region": place.rmc_region}.get(principal.scope_kind)
        matched = value is not None and value in principal.scope_values
    if matched and check_groups and principal.groups:
        return place.mentor_group is not None and place.mentor_group in principal.groups
    return matched


def place_for(principal: Principal, spans: Iterable[Span], day: dt.date) -> Place | None:
    """The place to act for a pupil on ``day``: the newest registration active that day inside the
    principal's scope, or None (then the write is refused: 403, audited as denied)."""
    active = [s for s in spans if s.active_on(day) and in_scope(principal, s.place)]
    if not active:
        return None
    return max(active, key=lambda s: (s.starts_on, s.ends_on or dt.date.max)).place


def pupil_in_scope(principal: Principal, spans: Iterable[Span]) -> bool:
    """Whether any registration of the pupil lies in the principal's scope (the gate before a pupil's
    page, dossier or objection mark; the records shown are then cut by their own stamped place)."""
    return any(in_scope(principal, s.place) for s in spans)
