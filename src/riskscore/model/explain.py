"""Exact contributions → reason codes and texts (Dutch and English) that name the value.

A reviewer must see *what* raised the score ("18 uur ongeoorloofd verzuim in de laatste 4
lesweken"), not a feature name. The category routes the reason to a reviewer role (routing.py);
``sick`` reasons are health data, shown in full only to the jeugdarts. Numpy and stdlib only: the
service builds reasons without lightgbm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from riskscore.contracts import FEATURES, LEVELS
from riskscore.errors import DataError

CATEGORIES = ("absence", "sick", "transition", "school_career", "context")

#: VVA status code (contracts.VVA_STATUS_CODE) → words
VVA_WORDS_NL = {0: "ingeschreven", 1: "onderwijsovereenkomst aangeboden", 2: "aangemeld",
                3: "leidt niet tot inschrijving of ingetrokken", 4: "geen aanmelding"}
VVA_WORDS_EN = {0: "enrolled", 1: "agreement offered", 2: "applied",
                3: "will not lead to enrolment or withdrawn", 4: "no application"}


@dataclass(frozen=True)
class ReasonTemplate:
    """One feature's reason code, category and texts; ``{v}`` is the rendered value."""

    code: str
    category: str
    nl: str
    en: str
    fmt: str = "int"  # int | float1 | signed1 | vva | level | category
    categories: tuple[str, ...] = ()  # fmt category: the value is a code, this names it

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not self.categories:
            out.pop("categories")  # older readers know five keys
        else:
            out["categories"] = list(self.categories)
        return out


DEFAULT_CATALOGUE: dict[str, ReasonTemplate] = {
    "unauthorised_hours_4w": ReasonTemplate(
        "ABS_UNAUTH_4W", "absence", "{v} uur ongeoorloofd verzuim in de laatste 4 lesweken",
        "{v} hours of unauthorised absence in the last 4 lesson weeks", "float1"),
    "unauthorised_hours_12w": ReasonTemplate(
        "ABS_UNAUTH_12W", "absence", "{v} uur ongeoorloofd verzuim in de laatste 12 lesweken",
        "{v} hours of unauthorised absence in the last 12 lesson weeks", "float1"),
    "unauthorised_hours_year": ReasonTemplate(
        "ABS_UNAUTH_YEAR", "absence", "{v} uur ongeoorloofd verzuim dit schooljaar",
        "{v} hours of unauthorised absence this school year", "float1"),
    "unauthorised_trend": ReasonTemplate(
        "ABS_TREND", "absence", "verzuimtrend {v} uur per lesweek (laatste 4 lesweken t.o.v. de 12 ervoor)",
        "absence trend {v} hours per lesson week (last 4 lesson weeks vs the 12 before)", "signed1"),
    "late_count_12w": ReasonTemplate(
        "LATE_12W", "absence", "{v} keer te laat in de laatste 12 lesweken",
        "late {v} times in the last 12 lesson weeks"),
    "sick_reports_12w": ReasonTemplate(
        "SICK_FREQ_12W", "sick", "{v} ziekmeldingen in de laatste 12 schoolweken",
        "{v} sick reports in the last 12 school weeks"),
    "longest_sick_spell_days": ReasonTemplate(
        "SICK_LONG", "sick", "langste ziekteperiode {v} schooldagen",
        "longest sick spell {v} school days"),
    "sick_days_year": ReasonTemplate(
        "SICK_DAYS", "sick", "{v} ziektedagen dit schooljaar", "{v} sick days this school year"),
    "application_days_late": ReasonTemplate(
        "APPL_LATE", "transition", "aanmelding mbo {v} dagen na 1 april (of nog geen aanmelding)",
        "mbo application {v} days after 1 April (or none yet)"),
    "vva_status_code": ReasonTemplate(
        "VVA_STATUS", "transition", "status aanmelding mbo: {v}", "mbo application status: {v}", "vva"),
    "switches": ReasonTemplate(
        "SWITCHES", "school_career", "{v} keer van opleiding of school gewisseld",
        "switched programme or school {v} times"),
    "retentions": ReasonTemplate(
        "RETENTION", "school_career", "{v} keer blijven zitten", "held back {v} times"),
    "over_age": ReasonTemplate(
        "OVER_AGE", "school_career", "{v} jaar ouder dan gebruikelijk voor het leerjaar",
        "{v} years older than usual for the grade", "float1"),
    "level_code": ReasonTemplate(
        "LEVEL", "context", "onderwijsniveau {v}", "education level {v}", "level"),
}

UNKNOWN = {"nl": "onbekend", "en": "unknown"}


@dataclass(frozen=True)
class Reason:
    """One risk-raising (or protective) factor with the value that caused it."""

    code: str
    feature: str
    category: str
    value: float | None
    contribution: float
    text_nl: str
    text_en: str

    def to_dict(self) -> dict[str, Any]:
        # by hand: dataclasses.asdict deep-copies every field (a tenth of a busy service's scoring time)
        return {"code": self.code, "feature": self.feature, "category": self.category, "value": self.value,
                "contribution": self.contribution, "text_nl": self.text_nl, "text_en": self.text_en}


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def render_value(template: ReasonTemplate, value: Any, lang: str) -> str:
    """The value in words: numbers without noise, VVA status and level by name; unknown when missing."""
    if _is_missing(value):
        return UNKNOWN[lang]
    v = float(value)
    if template.fmt == "vva":
        words = VVA_WORDS_NL if lang == "nl" else VVA_WORDS_EN
        return words.get(round(v), UNKNOWN[lang])
    if template.fmt == "level":
        i = round(v)
        return LEVELS[i] if 0 <= i < len(LEVELS) else UNKNOWN[lang]
    if template.fmt == "category":
        i = round(v)
        return template.categories[i] if 0 <= i < len(template.categories) else UNKNOWN[lang]
    if template.fmt == "int" and v == round(v):
        text = str(round(v))
    elif template.fmt == "signed1":
        text = f"{v:+.1f}"
    else:
        text = f"{v:.1f}".removesuffix(".0")
    return text.replace(".", ",") if lang == "nl" else text


def render(template: ReasonTemplate, value: Any) -> tuple[str, str]:
    """(Dutch, English) text for one feature value."""
    return (template.nl.format(v=render_value(template, value, "nl")),
            template.en.format(v=render_value(template, value, "en")))


def catalogue_dict(catalogue: Mapping[str, ReasonTemplate] | None = None) -> dict[str, dict[str, Any]]:
    """JSON-ready catalogue (stored in the bundle so texts travel with the model version)."""
    return {f: t.to_dict() for f, t in (catalogue or DEFAULT_CATALOGUE).items()}


def catalogue_from_dict(data: Mapping[str, Mapping[str, Any]]) -> dict[str, ReasonTemplate]:
    out = {}
    for f, t in data.items():
        fields = dict(t)
        fields["categories"] = tuple(str(c) for c in fields.get("categories") or ())
        out[f] = ReasonTemplate(**fields)
    return out


def _resolve(source: Any) -> tuple[Sequence[str], Mapping[str, ReasonTemplate], frozenset[str]]:
    """Accept a ModelBundle (features + catalogue + its context features) or a catalogue mapping
    (features = its keys, no context)."""
    if hasattr(source, "catalogue") and hasattr(source, "features"):
        return tuple(source.features), source.catalogue, frozenset(getattr(source, "context_features", ()))
    if source is None:
        return FEATURES, DEFAULT_CATALOGUE, frozenset()
    return tuple(source), source, frozenset()


def _pick(source: Any, values: Any, contributions: Any, top_k: int, sign: int) -> list[Reason]:
    features, catalogue, context = _resolve(source)
    contrib = np.asarray(contributions, dtype=np.float64).ravel()
    if len(contrib) != len(features):
        raise DataError(f"expected {len(features)} contributions, got {len(contrib)}")
    if isinstance(values, Mapping) or (hasattr(values, "index") and hasattr(values, "get")):
        vals = [values.get(f) for f in features]
    else:
        vals = list(np.asarray(values, dtype=np.float64).ravel())
    order = np.argsort(-sign * contrib, kind="stable")
    out: list[Reason] = []
    for j in order:
        if len(out) >= top_k or not sign * contrib[j] > 0:
            break
        feat = features[j]
        if feat in context:  # context makes the base; reasons come from signals only
            continue
        tpl = catalogue.get(feat) or ReasonTemplate(feat.upper(), "context", f"{feat}: {{v}}", f"{feat}: {{v}}", "float1")
        nl, en = render(tpl, vals[j])
        value = None if _is_missing(vals[j]) else float(vals[j])
        out.append(Reason(tpl.code, feat, tpl.category, value, float(contrib[j]), nl, en))
    return out


def _percent(p: float, lang: str) -> str:
    text = f"{100 * p:.1f}" if 100 * p < 9.95 else f"{100 * p:.0f}"
    return (text.replace(".", ",") if lang == "nl" else text) + " %"


def base_text(templates: Sequence[ReasonTemplate], values: Sequence[Any], probability: float) -> tuple[str, str]:
    """The pupil's base in words: 'bij onderwijsniveau mbo-1 is de gebruikelijke kans 24 %' — what
    the model gives pupils of this context on average over the usual spread of signals; with no
    context features, all pupils' average."""
    if not templates:
        return (f"gemiddeld is de kans {_percent(probability, 'nl')}", f"on average the probability is {_percent(probability, 'en')}")
    nl = [render(t, v)[0] for t, v in zip(templates, values, strict=True)]
    en = [render(t, v)[1] for t, v in zip(templates, values, strict=True)]
    return (f"bij {_join(nl, 'en')} is de gebruikelijke kans {_percent(probability, 'nl')}",
            f"at {_join(en, 'and')} the usual probability is {_percent(probability, 'en')}")


def _join(parts: Sequence[str], word: str) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} {word} {parts[-1]}"


def reasons(source: Any, values: Any, contributions: Any, *, top_k: int = 3) -> list[Reason]:
    """The top_k risk-raising factors (positive contributions only), largest first."""
    return _pick(source, values, contributions, top_k, +1)


def protective(source: Any, values: Any, contributions: Any, *, top_k: int = 3) -> list[Reason]:
    """The top_k protective factors (negative contributions), most protective first."""
    return _pick(source, values, contributions, top_k, -1)


__all__ = [
    "CATEGORIES",
    "DEFAULT_CATALOGUE",
    "Reason",
    "ReasonTemplate",
    "base_text",
    "catalogue_dict",
    "catalogue_from_dict",
    "protective",
    "reasons",
    "render",
]
