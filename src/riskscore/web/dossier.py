"""The printable dossier (inzage, AVG art. 15) for a pupil and parent: what is stored, why, what a signal
means and does not mean, who looked, who to contact and how to object — in plain Dutch (B1) and English.

One standalone HTML page (its style inline, no scripts, no external files), so the same bytes work as a
file written by `riskscore privacy export` and as a page served by the web app. The page's CSP allows
exactly this style block by its hash."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

LANGS = ("nl", "en")
#: the privacy config the service and CLI read for the contact texts (relative to the working directory)
PRIVACY_CONFIG = Path("serving/privacy.yaml")
DEFAULT_CONTACT = {
    "nl": "Heb je vragen, of wil je bezwaar maken? Praat met je mentor of neem contact op met de "
          "functionaris gegevensbescherming (FG) van je school.",
    "en": "Do you have questions, or do you want to object? Talk to your mentor or contact your school's "
          "data protection officer (FG).",
}

STYLE = """body{font-family:system-ui,sans-serif;max-width:48rem;margin:1.5rem auto;padding:0 1rem;line-height:1.5;color:#111}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #999}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #bbb;padding:.3rem .5rem;text-align:left;vertical-align:top}
.box{border:2px solid #333;padding:.75rem 1rem;margin:1rem 0}.muted{color:#444;font-size:.9rem}
@media print{body{margin:0;max-width:none}a{color:#000}h2{break-after:avoid}table{break-inside:auto}}"""

TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "title": "Wat riskscore over jou bewaart",
        "intro": "Dit overzicht laat zien welke gegevens over jou zijn opgeslagen in riskscore. Je hebt het recht "
                 "dit te zien (AVG artikel 15). Je nummer hieronder is een schuilnaam: je naam en BSN staan er niet in.",
        "pupil": "Leerling (schuilnaam)",
        "made": "Gemaakt op",
        "what_h": "Wat is riskscore?",
        "what": "Scholen en gemeenten willen op tijd zien als een leerling dreigt te stoppen met school zonder "
                "diploma. riskscore kijkt daarvoor naar verzuim, ziekmeldingen, aanmeldingen voor een nieuwe "
                "opleiding en inschrijvingen. Het doet twee dingen: het controleert regels uit de wet (bijvoorbeeld "
                "de Leerplichtwet) en het berekent een kans met een rekenmodel.",
        "why_h": "Waarom?",
        "why": "Zodat een mentor, leerplichtambtenaar, RMC-medewerker of jeugdarts op tijd een gesprek met je kan "
               "voeren. Het doel is je te helpen je diploma te halen.",
        "means_h": "Wat een signaal betekent – en wat niet",
        "means": "Een signaal betekent: iemand kijkt of een gesprek nodig is. Het is geen besluit. Het zegt niet dat "
                 "je iets fout hebt gedaan en het komt niet in je rapport. Een mens beslist altijd wat er gebeurt. "
                 "Het rekenmodel kan zich vergissen: veel leerlingen met een signaal stoppen niet met school.",
        "data_h": "Welke gegevens",
        "data": "Verzuim (uren en soort), ziekmeldingen (alleen de jeugdarts ziet details), aanmeldingen en "
                "inschrijvingen, leeftijd, school en opleiding. Geen geslacht, afkomst, nationaliteit, postcode, "
                "taal of inkomen: die gebruikt het model niet.",
        "objection_h": "Bezwaar",
        "objection_on": "Je hebt bezwaar gemaakt. Het rekenmodel berekent voor jou geen kans meer. De regels uit de "
                        "wet gelden wel voor iedereen, dus die worden nog wel gecontroleerd.",
        "objection_off": "Je hebt geen bezwaar gemaakt.",
        "objection_how": "Wil je niet dat het rekenmodel een kans over jou berekent? Dan kun je bezwaar maken "
                         "(AVG artikel 21). Vertel het je mentor of de FG van je school. De regels uit de wet blijven "
                         "gelden: die moet de school altijd controleren.",
        "scores_h": "Berekende kansen",
        "scores_none": "Er is geen kans over jou berekend.",
        "date": "Datum", "chance": "Kans", "band": "Niveau", "reasons": "Waarom", "model": "Model",
        "triggers_h": "Regels uit de wet die van toepassing waren",
        "triggers_none": "Er was geen regel uit de wet van toepassing.",
        "rule": "Regel", "source": "Wet of afspraak", "detail": "Toelichting",
        "cases_h": "Gesprekken en opvolging",
        "cases_none": "Er is geen gesprek of opvolging vastgelegd.",
        "who": "Wie", "status": "Stand", "history": "Wat er gebeurde", "outcome": "Uitkomst",
        "log_h": "Wie heeft je gegevens bekeken",
        "log_none": "Niemand heeft je gegevens bekeken.",
        "when": "Wanneer", "role": "Functie", "action": "Wat", "purpose": "Doel", "result": "Gelukt?",
        "via": "Via (pagina of koppeling)", "health_access": "met gezondheidsgegevens",
        "contact_h": "Vragen of bezwaar?",
        "rights": "Je kunt ook vragen om je gegevens te laten verwijderen (AVG artikel 17). Gegevens worden "
                  "automatisch verwijderd na twee schooljaren.",
        "notice": "Dit is een signaal voor een gesprek, geen besluit.",
        "withheld": "gezondheidssignaal – alleen de jeugdarts ziet details",
    },
    "en": {
        "title": "What riskscore stores about you",
        "intro": "This overview shows which data about you is stored in riskscore. You have the right to see it "
                 "(GDPR article 15). The number below is a pseudonym: your name and citizen number are not in it.",
        "pupil": "Pupil (pseudonym)",
        "made": "Made on",
        "what_h": "What is riskscore?",
        "what": "Schools and municipalities want to see in time when a pupil might leave school without a diploma. "
                "riskscore looks at absence, sick reports, applications for a new programme and enrolments. It does "
                "two things: it checks rules from the law (for example the Compulsory Education Act) and it "
                "calculates a chance with a statistical model.",
        "why_h": "Why?",
        "why": "So that a mentor, attendance officer, RMC adviser or youth doctor can talk with you in time. The aim "
               "is to help you get your diploma.",
        "means_h": "What a signal means – and what it does not mean",
        "means": "A signal means: someone checks whether a conversation is needed. It is not a decision. It does not "
                 "say you did something wrong and it does not go on your report. A person always decides what "
                 "happens. The model can be wrong: many pupils with a signal do not leave school.",
        "data_h": "Which data",
        "data": "Absence (hours and kind), sick reports (only the youth doctor sees details), applications and "
                "enrolments, age, school and programme. No gender, background, nationality, postcode, language or "
                "income: the model does not use them.",
        "objection_h": "Objection",
        "objection_on": "You have objected. The model no longer calculates a chance for you. The rules from the law "
                        "apply to everyone, so they are still checked.",
        "objection_off": "You have not objected.",
        "objection_how": "Do you not want the model to calculate a chance about you? Then you can object (GDPR "
                         "article 21). Tell your mentor or your school's data protection officer. The rules from the "
                         "law still apply: the school must always check them.",
        "scores_h": "Calculated chances",
        "scores_none": "No chance was calculated about you.",
        "date": "Date", "chance": "Chance", "band": "Level", "reasons": "Why", "model": "Model",
        "triggers_h": "Rules from the law that applied",
        "triggers_none": "No rule from the law applied.",
        "rule": "Rule", "source": "Law or protocol", "detail": "Details",
        "cases_h": "Conversations and follow-up",
        "cases_none": "No conversation or follow-up was recorded.",
        "who": "Who", "status": "Status", "history": "What happened", "outcome": "Outcome",
        "log_h": "Who looked at your data",
        "log_none": "Nobody looked at your data.",
        "when": "When", "role": "Role", "action": "What", "purpose": "Purpose", "result": "Allowed?",
        "via": "Via (page or interface)", "health_access": "including health data",
        "contact_h": "Questions or objection?",
        "rights": "You can also ask for your data to be erased (GDPR article 17). Data is erased automatically after "
                  "two school years.",
        "notice": "This is a signal for a conversation, not a decision.",
        "withheld": "health-related signal – only the youth doctor sees details",
    },
}

ROLE_WORDS = {
    "nl": {"school": "school (mentor, zorgcoördinator, decaan)", "jeugdarts": "jeugdarts",
           "leerplicht": "leerplichtambtenaar", "rmc": "RMC-medewerker", "admin": "beheerder",
           "data_team": "datateam"},
    "en": {"school": "school (mentor, care coordinator, careers adviser)", "jeugdarts": "youth doctor",
           "leerplicht": "attendance officer", "rmc": "RMC adviser", "admin": "administrator", "data_team": "data team"},
}
STATUS_WORDS = {
    "nl": {"open": "open", "in_review": "wordt bekeken", "contacted": "contact gehad", "referred": "doorverwezen",
           "no_action_needed": "geen actie nodig", "false_alarm": "onterecht signaal", "closed": "afgesloten",
           "note": "notitie", "outcome": "uitkomst", "transition": "stap", "assign": "toegewezen"},
    "en": {"open": "open", "in_review": "being looked at", "contacted": "contact made", "referred": "referred",
           "no_action_needed": "no action needed", "false_alarm": "false alarm", "closed": "closed",
           "note": "note", "outcome": "outcome", "transition": "step", "assign": "assigned"},
}
#: what an access-log entry's action means, in plain words
ACTION_WORDS = {
    "nl": {"score.read": "kans bekeken", "score.write": "kans berekend", "worklist.read": "op de werklijst gezien",
           "student.view": "leerlingpagina bekeken", "dossier.read": "dit overzicht bekeken",
           "case.read": "casus bekeken", "case.review": "casus bijgewerkt", "case.note": "notitie gemaakt",
           "case.transition": "stap in de casus", "case.assign": "casus toegewezen", "case.outcome": "uitkomst vastgelegd",
           "privacy.view": "privacypagina bekeken", "privacy.objection.set": "bezwaar vastgelegd",
           "privacy.objection.withdraw": "bezwaar ingetrokken", "privacy.export": "overzicht gemaakt"},
    "en": {"score.read": "looked at the chance", "score.write": "calculated the chance",
           "worklist.read": "seen on the worklist", "student.view": "looked at the pupil page",
           "dossier.read": "looked at this overview", "case.read": "looked at the case", "case.review": "updated the case",
           "case.note": "wrote a note", "case.transition": "a step in the case", "case.assign": "assigned the case",
           "case.outcome": "recorded an outcome", "privacy.view": "looked at the privacy page",
           "privacy.objection.set": "recorded an objection", "privacy.objection.withdraw": "withdrew the objection",
           "privacy.export": "made the overview"},
}
OUTCOME_WORDS = {"nl": {"allowed": "ja", "denied": "geweigerd", "not_found": "niet gevonden"},
                 "en": {"allowed": "yes", "denied": "refused", "not_found": "not found"}}
REASON_WORDS = {"nl": {"capacity": "signaal van het rekenmodel", "rule": "regel uit de wet"},
                "en": {"capacity": "signal from the model", "rule": "rule from the law"}}
BAND_WORDS = {"nl": {"low": "laag", "medium": "midden", "high": "hoog"},
              "en": {"low": "low", "medium": "medium", "high": "high"}}


def load_contact(path: str | Path | None) -> dict[str, str]:
    """The `contact:` texts (nl, en) of the privacy config; empty when the file or section is absent."""
    import yaml

    if path is None or not Path(path).is_file():
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    contact = data.get("contact") if isinstance(data, dict) else None
    return {k: str(v) for k, v in (contact or {}).items() if k in LANGS} if isinstance(contact, dict) else {}


def style_hash() -> str:
    """CSP source for the inline style block ('sha256-…')."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(STYLE.encode("utf-8")).digest()).decode() + "'"


def content_security_policy() -> str:
    return (f"default-src 'none'; style-src {style_hash()}; img-src 'none'; form-action 'none'; "
            "frame-ancestors 'none'; base-uri 'none'")


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("riskscore.web", "templates"),
                              autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def render(data: Mapping[str, Any], *, lang: str = "nl", contact: Mapping[str, str] | None = None) -> str:
    """The printable page; lang 'nl' or 'en' (the other language's essentials follow in a short box)."""
    lang = lang if lang in LANGS else "nl"
    other = "en" if lang == "nl" else "nl"
    contact = {**DEFAULT_CONTACT, **(contact or {})}
    return _env().get_template("dossier.html").render(
        d=data, lang=lang, t=TEXTS[lang], o=TEXTS[other], other=other, style=STYLE, contact=contact[lang],
        other_contact=contact[other], roles=ROLE_WORDS[lang], bands=BAND_WORDS[lang], words=STATUS_WORDS[lang],
        why=REASON_WORDS[lang], actions=ACTION_WORDS[lang], outcomes=OUTCOME_WORDS[lang])
