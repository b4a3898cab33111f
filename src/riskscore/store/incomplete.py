"""Which pupils of the latest scoring run were left unscored because their school's data is incomplete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from riskscore.access import Place, in_scope
from riskscore.store.db import translate_errors
from riskscore.store.models import Score
from riskscore.store.runs import latest_run

MSG_NL = "Gegevens onvolledig: de laatste verzuimimport van deze school was onvolledig; deze leerlingen zijn niet gescoord."
MSG_EN = "Data incomplete: this school's latest absence import was incomplete; these pupils were not scored."
#: why, per reason code of the import ledger (ingest.ledger.REASONS), in plain words
REASON_TEXT: dict[str, tuple[str, str]] = {
    "volume": ("de laatste verzuimimport bevatte veel minder meldingen dan gewoonlijk",
               "the latest absence import held far fewer records than usual"),
    "join": ("te veel verzuimmeldingen horen bij geen bekende leerling (leerlingnummers sluiten niet aan)",
             "too many absence records belong to no known pupil (the pupil numbers do not match)"),
    "stale": ("er is te lang geen nieuwe import binnengekomen",
              "no new import arrived in time"),
}
MSG_WHY_NL = "Gegevens onvolledig: {why}; deze leerlingen zijn niet gescoord."
MSG_WHY_EN = "Data incomplete: {why}; these pupils were not scored."


def data_incomplete_schools(session: Session, principal: Any,
                            reasons: Mapping[str, Mapping[str, str]] | None = None) -> list[dict[str, Any]]:
    """Per school in the caller's scope: how many pupils the latest run marked 'data incomplete', and —
    given the import ledger's ``reasons`` (ingest.ledger.incomplete_reasons) — why, as reason codes."""
    run = latest_run(session)
    if run is None:
        return []
    stmt = (select(Score.school_id, Score.municipality, Score.rmc_region, func.count())
            .where(Score.run_id == run.id, Score.data_incomplete.is_(True))
            .group_by(Score.school_id, Score.municipality, Score.rmc_region))
    counts: dict[str, int] = {}
    with translate_errors():
        for school, municipality, region, n in session.execute(stmt):
            if in_scope(principal, Place(school, municipality, region), check_groups=False):
                counts[str(school)] = counts.get(str(school), 0) + int(n)
    out = []
    for s, n in sorted(counts.items()):
        codes = [c for c in REASON_TEXT if c in (reasons or {}).get(s, {})]
        nl = MSG_WHY_NL.format(why="; ".join(REASON_TEXT[c][0] for c in codes)) if codes else MSG_NL
        en = MSG_WHY_EN.format(why="; ".join(REASON_TEXT[c][1] for c in codes)) if codes else MSG_EN
        out.append({"school_id": s, "pupils": n, "as_of": run.as_of, "reasons": codes, "text_nl": nl, "text_en": en})
    return out
