"""The printable dossier (inzage, AVG art. 15) for a pupil and parent: what is stored, why, what a signal
means and does not mean, who looked, who to contact and how to object — in plain Dutch (B1) and English.

One standalone HTML page (its style inline, no scripts, no external files), so the same bytes work as a
file written by `riskscore privacy export` and as a page served by the web app. The page's CSP allows
exactly this style block by its hash."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from riskscore.review import duties
from riskscore.web import i18n

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
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #bbb;padding:.3rem .5rem;text-align:left;vertical-align:top;overflow-wrap:break-word}
@media (max-width:40rem){body{margin:.5rem auto;padding:0 .5rem}table,tbody,tr,td{display:block;width:auto}
thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}tr{border:1px solid #bbb;margin:.5rem 0;padding:.25rem}
td{border:0;padding:.1rem .25rem}td::before{content:attr(data-label) ": ";font-weight:bold}}
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
        "no_chance": "geen kans berekend",
        "date": "Datum", "chance": "Kans", "band": "Niveau", "reasons": "Waarom", "model": "Model",
        "triggers_h": "Regels uit de wet of vaste afspraken die bij jou van toepassing waren",
        "triggers_none": "Er was geen regel uit de wet of vaste afspraak bij jou van toepassing.",
        "rule": "Regel", "source": "Wet of afspraak", "detail": "Toelichting", "due": "Uiterlijk",
        "cases_h": "Gesprekken en opvolging",
        "cases_none": "Er is geen gesprek of opvolging vastgelegd.",
        "who": "Wie", "status": "Stand", "history": "Wat er gebeurde", "outcome": "Uitkomst",
        "case_h": "{who}, geopend op {date}", "case_why": "Waarom", "duty_h": "Wettelijke plicht", "steps_h": "Plan",
        "model_signal": "signaal van het rekenmodel: de kans is hoog vergeleken met andere leerlingen",
        "fired_on": "afgegaan op {date}",
        "duty_report": "De school moet dit melden bij DUO (het verzuimloket), uiterlijk {date}.",
        "duty_expect": "De leerplichtambtenaar wacht op de melding van de school, uiterlijk {date}.",
        "duty_done": "De melding bij DUO is gedaan op {date}.",
        "duty_done_late": "De melding bij DUO is gedaan op {date}, na de termijn.",
        "duty_late": "De melding is nog niet gedaan en de termijn is voorbij.",
        "duty_open": "De melding is nog niet gedaan.",
        "step_due": "gepland uiterlijk {date}", "step_done": "gedaan op {date}",
        "step_follow_up": "nacontrole {date}", "step_follow_up_result": "nacontrole: {result}",
        "worth": "gesprek waard: {answer}",
        "steps_none": "Er is geen plan vastgelegd.",
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
        "no_chance": "no chance calculated",
        "date": "Date", "chance": "Chance", "band": "Level", "reasons": "Why", "model": "Model",
        "triggers_h": "Rules from the law or fixed agreements that applied to you",
        "triggers_none": "No rule from the law or fixed agreement applied to you.",
        "rule": "Rule", "source": "Law or protocol", "detail": "Details", "due": "Due",
        "cases_h": "Conversations and follow-up",
        "cases_none": "No conversation or follow-up was recorded.",
        "who": "Who", "status": "Status", "history": "What happened", "outcome": "Outcome",
        "case_h": "{who}, opened on {date}", "case_why": "Why", "duty_h": "Legal duty", "steps_h": "Plan",
        "model_signal": "signal from the model: the chance is high compared with other pupils",
        "fired_on": "fired on {date}",
        "duty_report": "The school must report this to DUO (the absence desk) by {date}.",
        "duty_expect": "The attendance officer expects the school's report by {date}.",
        "duty_done": "The report to DUO was made on {date}.",
        "duty_done_late": "The report to DUO was made on {date}, after the deadline.",
        "duty_late": "The report has not been made yet and the deadline has passed.",
        "duty_open": "The report has not been made yet.",
        "step_due": "planned by {date}", "step_done": "done on {date}",
        "step_follow_up": "follow-up check {date}", "step_follow_up_result": "follow-up check: {result}",
        "worth": "worth a conversation: {answer}",
        "steps_none": "No plan was recorded.",
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

#: what an access-log entry's action means, in plain words (the audit log's own vocabulary; the words for a
#: case's status, its history, outcomes, plan steps, bands and rules come from web/i18n.py, as on every page)
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
#: why someone looked (the audit log's purpose codes)
PURPOSE_WORDS = {
    "nl": {"inzage": "inzage in het dossier", "signalering": "signalering", "werklijst": "werklijst",
           "beoordeling": "beoordeling", "avg-15": "inzage (AVG art. 15)", "avg-17": "verwijderen (AVG art. 17)",
           "avg-21": "bezwaar (AVG art. 21)", "batch scoring": "periodieke berekening"},
    "en": {"inzage": "access to the file", "signalering": "early warning", "werklijst": "worklist",
           "beoordeling": "review", "avg-15": "access (GDPR art. 15)", "avg-17": "erasure (GDPR art. 17)",
           "avg-21": "objection (GDPR art. 21)", "batch scoring": "periodic calculation"},
}
#: history lines whose note a person wrote (the others' notes are codes, said by the plan and the outcomes)
PERSON_NOTES = frozenset({"note", "status"})


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


def _date(value: Any) -> dt.date | None:
    """A stored date or timestamp (ISO text, date or datetime) as a date; None when there is none."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return duties.local_day(value)
    if isinstance(value, dt.date):
        return value
    try:
        text = str(value)
        return dt.date.fromisoformat(text) if len(text) <= 10 else duties.local_day(dt.datetime.fromisoformat(text))
    except ValueError:
        return None


def _day(value: Any, lang: str) -> str:
    day = _date(value)
    return i18n.day(day, lang) if day is not None else "–"


def rule_words(rule_id: str | None, lang: str) -> str:
    """A rule in plain words ('16 uur verzuim in 4 lesweken'), the pages' own words for it."""
    return i18n.label("rule_short", rule_id, lang) if rule_id else "–"


def _signal_line(g: Mapping[str, Any], t: Mapping[str, str], lang: str) -> str:
    if g.get("kind") == "model" or not g.get("id"):
        return t["model_signal"]
    parts = [rule_words(g.get("id"), lang)]
    if g.get("fired_on"):
        parts.append(t["fired_on"].format(date=_day(g.get("fired_on"), lang)))
    if g.get("withheld"):
        parts.append(t["withheld"])
    elif g.get("detail"):
        parts.append(str(g["detail"]))
    return " – ".join(parts)


def _duty(case: Mapping[str, Any], t: Mapping[str, str], lang: str, today: dt.date) -> list[str]:
    """The legal duty the case's team holds (review.duties), its deadline and whether it was met."""
    kinds = {duties.duty(str(case.get("role")), g.get("id")) for g in case.get("signals") or []} - {None}
    deadline, done = _date(case.get("legal_deadline")), _date(case.get("legal_done_on"))
    if not kinds or deadline is None:
        return []
    lines = [t["duty_report" if duties.REPORT_DUO in kinds else "duty_expect"].format(date=i18n.day(deadline, lang))]
    if done is not None:
        lines.append(t["duty_done_late" if done > deadline else "duty_done"].format(date=i18n.day(done, lang)))
    else:
        lines.append(t["duty_late" if duties.is_overdue(deadline, done, today) else "duty_open"])
    return lines


def _step_line(a: Mapping[str, Any], t: Mapping[str, str], lang: str) -> str:
    parts = [i18n.label("step", a.get("kind"), lang)]
    if a.get("due_on"):
        parts.append(t["step_due"].format(date=_day(a.get("due_on"), lang)))
    if a.get("done_on"):
        parts.append(t["step_done"].format(date=_day(a.get("done_on"), lang))
                     + (f" ({a['result']})" if a.get("result") else ""))
    if a.get("follow_up_result"):
        parts.append(t["step_follow_up_result"].format(result=i18n.label("follow_up", a.get("follow_up_result"), lang)))
    elif a.get("follow_up_on"):
        parts.append(t["step_follow_up"].format(date=_day(a.get("follow_up_on"), lang)))
    return " – ".join(parts)


def _history_line(e: Mapping[str, Any], lang: str) -> str:
    line = f"{_day(e.get('at'), lang)}: {i18n.label('action', e.get('action'), lang)}"
    if e.get("action") == "status" and e.get("to") and e.get("to") != e.get("from"):
        line += f": {i18n.label('status', e.get('from'), lang)} → {i18n.label('status', e.get('to'), lang)}"
    if e.get("action") in PERSON_NOTES and e.get("note"):
        line += f" – {e['note']}"
    return line


def _outcome_line(o: Mapping[str, Any], t: Mapping[str, str], lang: str) -> str:
    answer = i18n.translate("yes" if o.get("worth_conversation") else "no", lang)
    line = (f"{_day(o.get('at'), lang)}: {i18n.label('outcome', o.get('outcome'), lang)} "
            f"({t['worth'].format(answer=answer)})")
    return line + (f" – {o['note']}" if o.get("note") else "")


def page_view(data: Mapping[str, Any], lang: str, *, today: dt.date | None = None) -> dict[str, Any]:
    """What the page shows, in words: the same vocabulary as every other page (web/i18n.py), and sections
    that agree with each other — the rules that applied are those of the stored scores *and* those the
    cases hold, so a case opened by a rule never sits beside "no rule applied"."""
    t = TEXTS[lang]
    day = today or duties.today()
    scores = [{"date": _day(s.get("as_of"), lang),
               "chance": (f"{100 * s['probability']:.0f}%" if s.get("probability") is not None else t["no_chance"]),
               "band": i18n.label("band", s.get("band"), lang),
               "reasons": [t["withheld"] if r.get("withheld") else (r.get(f"text_{lang}") or r.get("code") or "")
                           for r in s.get("reasons") or []],
               "model": s.get("model_version") or "–"} for s in data.get("scores", [])]
    rules: dict[tuple[str, str], dict[str, Any]] = {}
    fired: list[tuple[Mapping[str, Any], Any]] = [(tr, s.get("as_of")) for s in data.get("scores", [])
                                                  for tr in s.get("triggers") or []]
    fired += [(g, c.get("as_of")) for c in data.get("cases", []) for g in c.get("signals") or []
              if g.get("kind") != "model" and g.get("id")]
    for tr, as_of in fired:
        when_fired = tr.get("fired_on") or as_of
        key = (str(tr.get("id")), str(when_fired))
        row = rules.setdefault(key, {"sort": str(_date(when_fired) or ""), "date": _day(when_fired, lang),
                                     "rule": rule_words(tr.get("id"), lang), "code": tr.get("id"),
                                     "source": tr.get("source") or "", "detail": "", "due": ""})
        if tr.get("withheld"):
            row["detail"] = t["withheld"]
        elif tr.get("detail") and not row["detail"]:
            row["detail"] = str(tr["detail"])
        row["source"] = row["source"] or tr.get("source") or ""
        if tr.get("due_date") and not row["due"]:
            row["due"] = _day(tr.get("due_date"), lang)
    cases = []
    for c in data.get("cases", []):
        signals = c.get("signals")
        if not signals:  # a case stored before cases held their signals: its main reason
            reason = str(c.get("reason") or "")
            signals = [{"kind": "rule", "id": reason[5:]}] if reason.startswith("rule:") else [{"kind": "model"}]
        cases.append({
            "heading": t["case_h"].format(who=i18n.label("role_long", c.get("role"), lang),
                                          date=_day(c.get("opened_at"), lang)),
            "status": i18n.label("status", c.get("status"), lang),
            "why": list(dict.fromkeys(_signal_line(g, t, lang) for g in signals)),
            "duty": _duty(c, t, lang, day),
            "steps": [_step_line(a, t, lang) for a in c.get("steps") or []],
            "history": [_history_line(e, lang) for e in c.get("history") or []],
            "outcomes": [_outcome_line(o, t, lang) for o in c.get("outcomes") or []],
        })
    log = [{"at": i18n.when(e.get("at"), lang) if e.get("at") else "–",
            "role": i18n.label("role_long", e.get("role"), lang) if e.get("role") else str(e.get("who") or "–"),
            "who": e.get("who_label"), "action": ACTION_WORDS[lang].get(str(e.get("action")), str(e.get("action"))),
            "health": bool(e.get("health")), "via": e.get("via") or "",
            "purpose": PURPOSE_WORDS[lang].get(str(e.get("purpose")), e.get("purpose") or ""),
            "result": OUTCOME_WORDS[lang].get(str(e.get("outcome")), str(e.get("outcome")))}
           for e in data.get("access_log", [])]
    objection = data.get("objection")
    return {"made": i18n.when(data.get("generated_at"), lang) if data.get("generated_at") else "–",
            "objection_on": _day(objection.get("recorded_at"), lang) if objection else None,
            "scores": scores, "rules": sorted(rules.values(), key=lambda r: r["sort"], reverse=True),
            "cases": cases, "log": log}


def render(data: Mapping[str, Any], *, lang: str = "nl", contact: Mapping[str, str] | None = None,
           today: dt.date | None = None) -> str:
    """The printable page; lang 'nl' or 'en' (the other language's essentials follow in a short box)."""
    lang = lang if lang in LANGS else "nl"
    other = "en" if lang == "nl" else "nl"
    contact = {**DEFAULT_CONTACT, **(contact or {})}
    return _env().get_template("dossier.html").render(
        d=data, v=page_view(data, lang, today=today), lang=lang, t=TEXTS[lang], o=TEXTS[other], other=other,
        style=STYLE, contact=contact[lang], other_contact=contact[other])
