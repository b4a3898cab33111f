"""Which pupils of the latest scoring run were left unscored because their school's data is incomplete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from riskscore.store.db import translate_errors
from riskscore.store.models import Score
from riskscore.store.runs import latest_run

MSG_NL = "Gegevens onvolledig: de laatste verzuimimport van deze school was onvolledig; deze leerlingen zijn niet gescoord."
MSG_EN = "Data incomplete: this school's latest absence import was incomplete; these pupils were not scored."


def data_incomplete_schools(session: Session, principal: Any) -> list[dict[str, Any]]:
    """Per school in the caller's scope: how many pupils the latest run marked 'data incomplete'."""
    run = latest_run(session)
    if run is None:
        return []
    stmt = (select(Score.school_id, Score.municipality, Score.rmc_region, func.count())
            .where(Score.run_id == run.id, Score.data_incomplete.is_(True))
            .group_by(Score.school_id, Score.municipality, Score.rmc_region))
    counts: dict[str, int] = {}
    with translate_errors():
        for school, municipality, region, n in session.execute(stmt):
            if principal.can_see(school, municipality, region):
                counts[str(school)] = counts.get(str(school), 0) + int(n)
    return [{"school_id": s, "pupils": n, "as_of": run.as_of, "text_nl": MSG_NL, "text_en": MSG_EN}
            for s, n in sorted(counts.items())]
