"""A short letter to the parents that a mentor prints or copies: plain Dutch (B1) with an English
version, filled from the case, under 150 words. Nothing is sent automatically; making one is recorded in
the case history (who, when, which facts), never the text with a name in it — riskscore holds no names,
so the mentor writes the pupil's name on the printed page.

Why a short, plain letter: a simplified truancy notice worked about 40 % better than the standard
legal letter (Lasky-Fink, Robinson, Chang & Rogers, 2019, "Using behavioral insights to improve school
administrative communications: the case of truancy notifications"), and mailing parents accurate
information about their child's absences cut chronic absence by 10 % or more (Rogers & Feller, 2018,
"Reducing student absences at scale by targeting parents' misbeliefs", Nature Human Behaviour 2, 335–342).
So the letter says how much was missed in hours and weeks, why it matters in one sentence, and offers
one concrete date to talk; the legal sentence is short and comes last."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from riskscore.errors import DataError
from riskscore.rules import parse_absence_detail

MAX_WORDS = 150
MONTHS = {"nl": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
                 "oktober", "november", "december"),
          "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                 "November", "December")}
DAYS = {"nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
        "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")}
MSG_NO_MEETING = "the letter needs a date and time to talk (meeting_on, meeting_at)"
MSG_BAD_TIME = "meeting_at must be a time of day as hh:mm"


@dataclass(frozen=True)
class LetterFacts:
    """What the letter says, all from the case: unauthorised hours in how many lesson weeks (None: the
    case is not about absence), whether the school must report it (the 16-hour rule), and the
    conversation offered."""

    hours: float | None
    weeks: int | None
    reported: bool
    meeting_on: dt.date
    meeting_at: str  # hh:mm
    contact: str  # how to reach the mentor (a phone number or e-mail the mentor types; not stored)


@dataclass(frozen=True)
class Letter:
    lang: str
    subject: str
    body: str

    @property
    def words(self) -> int:
        return len(self.body.split())


def _date(day: dt.date, lang: str) -> str:
    return f"{DAYS[lang][day.weekday()]} {day.day} {MONTHS[lang][day.month - 1]}"


def _hours(value: float, lang: str) -> str:
    text = f"{value:g}"
    return text.replace(".", ",") if lang == "nl" else text


#: the absence rules whose hours a letter may name (never a sick-report rule: that is health data)
ABSENCE_RULES = ("leerplicht_16h_4w", "rmc_verzuim")
REPORTED_RULES = ("leerplicht_16h_4w",)


def facts_from_signals(signals: Iterable[object], *, meeting_on: dt.date, meeting_at: str,
                       contact: str) -> LetterFacts:
    """The letter's facts from a case's signals (newest first): the hours and lesson weeks of its newest
    absence signal, and whether the school must report it (the 16-hour rule)."""
    hours: float | None = None
    weeks: int | None = None
    reported = False
    for s in signals:
        rule = getattr(s, "rule_id", None)
        if rule in ABSENCE_RULES and hours is None:
            parsed = parse_absence_detail(getattr(s, "detail", None))
            if parsed is not None:
                hours, weeks = parsed
        reported = reported or rule in REPORTED_RULES
    return LetterFacts(hours=hours, weeks=weeks, reported=reported, meeting_on=meeting_on, meeting_at=meeting_at,
                       contact=contact)


def summary(facts: LetterFacts) -> str:
    """The history line of a letter: what it said and the date offered (never the contact or a name)."""
    said = f"{facts.hours:g} h in {facts.weeks} lesson weeks" if facts.hours is not None else "a general invitation"
    return f"letter to the parents (nl, en): {said}; conversation offered {facts.meeting_on.isoformat()} {facts.meeting_at}"


def check(facts: LetterFacts) -> None:
    if facts.meeting_on is None or not facts.meeting_at:
        raise DataError(MSG_NO_MEETING)
    hh, _, mm = facts.meeting_at.partition(":")
    if not (hh.isdigit() and mm.isdigit() and 0 <= int(hh) < 24 and 0 <= int(mm) < 60 and len(mm) == 2):
        raise DataError(MSG_BAD_TIME)


def write(facts: LetterFacts, lang: str = "nl") -> Letter:
    """The letter in Dutch or English. Always under MAX_WORDS words (a test holds every variant to it)."""
    check(facts)
    when = f"{_date(facts.meeting_on, lang)} {'om' if lang == 'nl' else 'at'} {facts.meeting_at}"
    contact = facts.contact.strip() or ("de mentor" if lang == "nl" else "the mentor")
    if lang == "nl":
        subject = "Uitnodiging voor een gesprek over de lessen van uw kind"
        lines = ["Beste ouder of verzorger,", ""]
        if facts.hours is not None and facts.weeks:
            lines.append(f"Uw kind ____________________ heeft in de laatste {facts.weeks} lesweken "
                         f"{_hours(facts.hours, lang)} uur les gemist zonder geldige reden.")
            lines.append("Dat is veel. Wie veel lessen mist, raakt achter en haalt minder snel een diploma.")
        else:
            lines.append("Wij maken ons zorgen over hoe het gaat met uw kind ____________________ op school.")
        lines += ["", "Wij willen graag met u en uw kind praten. Samen kijken we wat er speelt en hoe we kunnen helpen.",
                  "", f"Kunt u komen op {when}? Past dat niet? Neem dan contact op met {contact}."]
        if facts.reported:
            lines += ["", "Bij veel verzuim moet de school dit melden bij de leerplichtambtenaar. Dat staat in de wet. "
                          "Het gesprek is bedoeld om samen een oplossing te vinden."]
        lines += ["", "Met vriendelijke groet,", "", "De mentor"]
    else:
        subject = "An invitation to talk about your child's lessons"
        lines = ["Dear parent or carer,", ""]
        if facts.hours is not None and facts.weeks:
            lines.append(f"Your child ____________________ has missed {_hours(facts.hours, lang)} hours of lessons "
                         f"without a valid reason in the last {facts.weeks} school weeks.")
            lines.append("That is a lot. Pupils who miss many lessons fall behind and are less likely to get a diploma.")
        else:
            lines.append("We are worried about how your child ____________________ is doing at school.")
        lines += ["", "We would like to talk with you and your child, to see together what is going on and how we "
                      "can help.", "", f"Can you come on {when}? If that does not suit you, please contact {contact}."]
        if facts.reported:
            lines += ["", "When a pupil misses many lessons, the law says the school must tell the attendance officer. "
                          "The conversation is meant to find a solution together."]
        lines += ["", "Kind regards,", "", "The mentor"]
    letter = Letter(lang=lang, subject=subject, body="\n".join(lines))
    assert letter.words < MAX_WORDS, letter.words  # the templates are fixed: a longer one is a code error
    return letter
