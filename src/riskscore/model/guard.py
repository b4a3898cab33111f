"""The guard: protected attributes and their proxies never become model features.

Names are compared the way people actually write them — any case, spaces or punctuation, Dutch or
English, common misspellings (the UCI 697 file says ``Nacionality``), abbreviations of public
datasets (``Medu``/``Fedu`` for the parents' education, ``Mjob``/``Fjob``, ``Pstatus``) — against a
list of known aliases and stems: protected attributes, their proxies (neighbourhood, address,
parents' education and jobs, household), and special categories of personal data (health). A data
team's own audit columns and the config's ``protected_columns`` are refused as features too.

It recognises *names*, not content: a proxy under a name it does not know passes. It therefore never
claims completeness; training says so as a warning and the model card asks a person to check each
feature's justification. Numpy-free and stdlib only: the CLI can check a config before anything heavy
is imported.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

from riskscore import contracts
from riskscore.errors import ModelError

MSG_PROTECTED = "protected or proxy column(s) {cols} may never be model features (audit only)"

#: substrings (after normalising) that mark a protected attribute or a known proxy
STEMS = (
    "gender", "geslacht", "nationalit", "nacionalit", "nationaliteit", "migrat", "herkomst", "ethnic", "etnic",
    "postcode", "postalcode", "zipcode", "neighbourhood", "neighborhood", "language", "income", "inkomen",
    "religio", "geloof", "disabilit", "handicap", "displaced", "refugee", "vluchteling", "international",
    "scholarship", "studiefinanciering", "mother", "father", "parent", "moeder", "vader", "household",
    "huishouden", "sesband", "socioeconomic", "sociaaleconomisch", "specialneeds", "marital",
    "burgerlijkestaat",
    # parents and household (abbreviations of the UCI student-performance data included)
    "guardian", "voogd", "verzorger", "family", "famsize", "famsup", "famrel", "gezin", "cohabit", "samenwon",
    "sibling", "pstatus", "medu", "fedu", "mjob", "fjob", "parental",
    # where someone lives: address, urban/rural, place names
    "address", "adres", "woonplaats", "urban", "rural", "stedelijk",
    # special categories of personal data (AVG art. 9) and private life
    "health", "gezondheid", "alcohol", "drugs", "sexual", "seksue", "romantic", "pregnan", "zwanger",
)
#: whole words only (too short to match inside other words: 'taal' is in 'totaal')
TOKENS = frozenset({"sex", "race", "taal", "thuistaal", "wijk", "buurt", "ses", "zip", "ouders", "nation",
                    "country", "land", "beurs", "etniciteit", "gndr", "eth", "nat", "inc", "pc4", "pc6", "dalc",
                    "walc", "relatie"})


def normalise(name: str) -> str:
    """'Nacionality ', 'NACIONALITY' and 'nacionality' → 'nacionality'; accents dropped, separators → '_'."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    return "_".join("".join(ch if ch.isalnum() else " " for ch in text.casefold()).split())


def is_protected(name: str, *, extra: Iterable[str] = ()) -> bool:
    """True for a protected attribute, a known proxy, or one of the caller's own audit columns."""
    key = normalise(name)
    exact = {normalise(c) for c in (*contracts.PROTECTED_AND_PROXY, *extra)}
    if key in exact:
        return True
    squashed = key.replace("_", "")
    return any(stem in squashed for stem in STEMS) or any(tok in TOKENS for tok in key.split("_"))


def assert_no_protected(features: Sequence[str], *, audit_columns: Iterable[str] = ()) -> None:
    """Refuse protected attributes and their proxies as features (DEWS, DUO and Rotterdam lessons)."""
    extra = tuple(audit_columns)
    bad = sorted({f for f in features if is_protected(f, extra=extra)})
    if bad:
        raise ModelError(MSG_PROTECTED.format(cols=bad))


__all__ = ["MSG_PROTECTED", "STEMS", "TOKENS", "assert_no_protected", "is_protected", "normalise"]
