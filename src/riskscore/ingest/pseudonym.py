"""Privacy at the door: the pseudonym key, keyed pseudonyms, and identifiers dropped by name and by value.

There is no built-in key. The CLI reads ``RISKSCORE_PSEUDONYM_KEY``; without it an import stops
(exit 2) unless the loudly named demo mode (``RISKSCORE_DEMO_MODE_NOT_FOR_REAL_PUPILS=1``, set by
``scripts/demo.sh``) is on, in which case the public :data:`DEMO_KEY` is used and every summary says so.
Anyone holding the repository knows the demo key, so demo-mode pseudonyms protect nobody.

What a pseudonym looks like (:func:`is_pseudonym`): the importer's keyed HMAC-SHA256 in hex (64
characters 0-9a-f, whatever the key or namespace), or the synthetic generator's ``S`` followed by at
least six digits (``riskscore synth``, the demo and the tests). Erasure refuses anything else before it
touches a store: ``0``, ``1`` or ``S0`` is a typing slip, a leerlingnummer or a BSN, never a pupil's id.

Identifiers are recognised by column name in Dutch and English (:data:`IDENTIFIER_WORDS`) and by
value (:func:`identifier_kind`): a BSN (nine digits passing the eleven-test), an e-mail address, a
phone number, a postcode with a house number, or a word of the file's own name columns. Every column
an import keeps is scanned; the pupil-number column is always pseudonymised, and a system's record id
(:func:`pseudonymise_record_ids`) too, whatever column a profile maps it to.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from riskscore.errors import ConfigError, DataError

KEY_ENV = "RISKSCORE_PSEUDONYM_KEY"
DEMO_ENV = "RISKSCORE_DEMO_MODE_NOT_FOR_REAL_PUPILS"
#: public, so worthless as protection: used only in demo mode, on synthetic pupils
DEMO_KEY = b"DEMO-MODE-public-key-synthetic-pupils-only"
MSG_NO_KEY = (
    "no pseudonym key: set " + KEY_ENV + " to a long random secret (e.g. `export " + KEY_ENV
    + "=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')`) and keep it apart from the data; "
    "the same key must be used for every import, or pupils will not join"
)
MSG_SHORT_KEY = KEY_ENV + " is shorter than 16 characters: use a long random secret"
MSG_EMPTY_KEY = "the pseudonym key is empty"
DEMO_WARNING = "DEMO MODE: pseudonyms use the public demo key; never import real pupils this way"
#: the shapes of a pupil's id in the stores: an import's pseudonym (HMAC-SHA256 hex, see pseudonymise) and a
#: synthetic pupil's id (riskscore.synthetic: "S" + the pupil's number zero-padded to at least six digits)
PSEUDONYM_SHAPES: dict[str, re.Pattern[str]] = {
    "import": re.compile(r"[0-9a-f]{64}"),
    "synthetic": re.compile(r"S[0-9]{6,63}"),
}
MSG_NOT_A_PSEUDONYM = (
    "{field}: this does not look like a pupil's pseudonym (64 characters 0-9/a-f from an import, or S followed by "
    "at least 6 digits for a synthetic pupil); nothing was changed"
)

#: words that make a column an identifier (matched on the normalised column name)
IDENTIFIER_WORDS = (
    "naam", "voornaam", "voornamen", "roepnaam", "achternaam", "tussenvoegsel", "voorvoegsel", "voorletters",
    "email", "e-mail", "e-mailadres", "emailadres", "mail", "telefoon", "telefoonnummer", "mobiel", "phone",
    "adres", "straat", "straatnaam", "huisnummer", "huisletter", "postcode", "woonplaats", "plaats",
    "bsn", "burgerservicenummer", "onderwijsnummer", "persoonsgebondennummer", "leerlingnummer",
    "deelnemernummer", "studentnummer", "name", "first_name", "last_name", "surname", "firstname", "lastname",
    "address", "street", "house_number", "city", "zipcode", "zip", "email_address", "mobile", "telephone",
    "bsn_onderwijsnr", "uuid",
)
_WORDS = frozenset(w.replace("-", "").replace("_", "").replace(" ", "") for w in IDENTIFIER_WORDS)
_PARTS = ("naam", "name", "adres", "address", "email", "mail", "telefoon", "phone", "postcode", "straat",
          "huisnummer", "woonplaats", "burgerservicenummer", "onderwijsnummer", "persoonsgebonden", "bsn")
#: columns containing these parts are *not* identifiers (institution, programme, place of school)
_NOT_PERSON = ("onderwijslocatie", "instelling", "inst", "onderwijsaanbieder", "onderwijs", "vestiging", "crebo",
               "opleiding", "school", "brin", "regio", "gemeente", "aanbieder")


def resolve_key(secret: str | None, *, demo_mode: bool) -> tuple[bytes, bool]:
    """The key to use and whether it is the demo key; no key outside demo mode is a ConfigError (exit 2)."""
    if secret:
        if len(secret) < 16 and not demo_mode:
            raise ConfigError(MSG_SHORT_KEY)
        return secret.encode("utf-8"), False
    if demo_mode:
        return DEMO_KEY, True
    raise ConfigError(MSG_NO_KEY)


def is_pseudonym(value: object) -> bool:
    """True for an id of one of the :data:`PSEUDONYM_SHAPES` (exact match, case-sensitive: the stores hold
    lower-case hex, so an upper-case copy would find nothing)."""
    return isinstance(value, str) and any(p.fullmatch(value) for p in PSEUDONYM_SHAPES.values())


def check_pseudonym(value: object, *, field: str = "student_id") -> str:
    """The id itself, or DataError (exit 3 / HTTP 422) naming the field — the value is not echoed, as a
    mistyped id may be a BSN or a name."""
    if not is_pseudonym(value):
        raise DataError(MSG_NOT_A_PSEUDONYM.format(field=field))
    return str(value)


def normalise_numbers(series: pd.Series) -> pd.Series:
    """Strip, drop a trailing ``.0`` (Excel), zero-pad digit-only numbers to 9 (Excel drops leading zeros)."""
    text = series.astype("string").str.strip()
    text = text.str.replace(r"^(\d+)\.0$", r"\1", regex=True)
    text = text.mask(text == "")
    digits = text.str.fullmatch(r"\d{1,9}").fillna(False).astype(bool)
    text = text.where(~digits, text.str.zfill(9))
    return text.astype(object).where(text.notna(), None)


def pseudonymise(values: pd.Series | Iterable[object], key: bytes, *, namespace: str = "") -> pd.Series:
    """Keyed HMAC-SHA256 of each (normalised) number, hex; empty stays missing.

    Keyed, not a plain hash: BSNs are 9 digits, so an unkeyed hash is reversed by trying them all.
    ``namespace`` separates local numbers (a school's leerlingnummer) from national ones (BSN,
    onderwijsnummer), which must join across DUO and schools and therefore use none.
    """
    if not key:
        raise DataError(MSG_EMPTY_KEY)
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    codes, raw = pd.factorize(series.astype(object), use_na_sentinel=True)  # each distinct number once
    normalised = normalise_numbers(pd.Series(raw, dtype=object))
    prefix = f"{namespace}:" if namespace else ""
    hashed = np.array([None if v is None else hmac.new(key, (prefix + str(v)).encode("utf-8"), hashlib.sha256).hexdigest()
                       for v in normalised], dtype=object)
    out = np.full(len(series), None, dtype=object)
    known = codes >= 0
    out[known] = hashed[codes[known]] if len(hashed) else None
    return pd.Series(out, index=series.index, dtype=object, name="student_id")


def passes_eleven_test(number: str) -> bool:
    """The BSN eleven-test (elfproef): 9 digits, weights 9..2 and -1, sum divisible by 11, not all zero."""
    if len(number) != 9 or not number.isdigit() or number == "000000000":
        return False
    total = sum(int(d) * w for d, w in zip(number[:8], range(9, 1, -1), strict=True)) - int(number[8])
    return total % 11 == 0


def bsn_mask(values: pd.Series) -> np.ndarray:
    """True where a value is, or contains as a separate token, nine digits passing the eleven-test
    (eight digits too: Excel drops a leading zero)."""
    text = values.astype("string").str.strip().str.replace(r"^(\d+)\.0$", r"\1", regex=True)
    maybe = text.str.contains(r"(?<!\d)\d{8,9}(?!\d)", regex=True).fillna(False).to_numpy(dtype=bool)
    out = np.zeros(len(values), dtype=bool)
    if maybe.any():
        idx = np.flatnonzero(maybe)
        candidates = text.to_numpy()[idx]
        verdict: dict[str, bool] = {}
        for v in set(map(str, candidates)):
            verdict[v] = any(passes_eleven_test(t.zfill(9)) for t in _TOKENS.findall(v))
        out[idx] = np.array([verdict[str(v)] for v in candidates], dtype=bool)
    return out


_TOKENS = re.compile(r"(?<!\d)\d{8,9}(?!\d)")


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-#./]", "", str(name).strip().lower())


def is_identifier_name(name: str) -> bool:
    n = _norm(name)
    if n in _WORDS:
        return True
    if any(p in n for p in _NOT_PERSON) and not n.startswith(("bsn", "burger", "persoonsgebonden")):
        return False
    return any(p in n for p in _PARTS)


def identifier_columns(df: pd.DataFrame, *, keep: Iterable[str] = (), by_value: Iterable[str] | None = None,
                       names: frozenset[str] = frozenset()) -> list[str]:
    """Columns to drop: identifiers by name, and any text column (of ``by_value``: default all) holding a
    BSN, an e-mail address, a phone number, a postcode + house number or a name of the file's name columns."""
    keep_set = set(keep)
    scan = None if by_value is None else set(by_value)
    out = []
    for column in df.columns:
        if column in keep_set:
            continue
        if is_identifier_name(str(column)):
            out.append(column)
            continue
        values = df[column]
        if (scan is None or column in scan) and (values.dtype == object or str(values.dtype) == "string") \
                and identifier_kind(values, names=names) is not None:
            out.append(column)
    return out


# --- identifiers by value, in the columns an import keeps ---------------------------------------------
#: what an identifier found by value is called in messages (never the value itself)
IDENTIFIER_KINDS = ("BSN", "e-mail address", "phone number", "postcode + house number", "name")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\d+])(?:\+31|0031|0)[1-9]\d{8}(?!\d)")
_POSTCODE_NUMBER = re.compile(r"(?<![\w])[1-9]\d{3}\s?[A-Za-z]{2}[\s,]+\d{1,5}(?!\d)")
_WORD = re.compile(r"[^\W\d_]{3,}")
#: name particles and short words that are no evidence of a name on their own
_NOT_NAMES = frozenset({"van", "der", "den", "ter", "ten", "het", "des", "del", "von", "dos", "las", "les", "the",
                        "and", "mevr", "dhr", "heer"})
_NAME_COLUMN_PARTS = ("naam", "name", "voornam", "roepnaam", "voorletter")


def name_words(df: pd.DataFrame) -> frozenset[str]:
    """The words in a file's own name columns (Achternaam, Roepnaam, Naam leerling, …), lower case:
    a kept column that repeats one of them holds a name. Exports rarely mark names any other way."""
    words: set[str] = set()
    for column in df.columns:
        n = _norm(str(column))
        if not any(p in n for p in _NAME_COLUMN_PARTS) or any(p in n for p in _NOT_PERSON):
            continue
        for value in pd.unique(df[column].astype("string").dropna()):
            words.update(w.lower() for w in _WORD.findall(str(value)))
    return frozenset(words - _NOT_NAMES)


def identifier_kind(values: pd.Series, *, names: frozenset[str] = frozenset()) -> tuple[str, int] | None:
    """The first kind of identifier a column holds by value (BSN by the eleven-test, e-mail address,
    phone number, postcode + house number, a name from the file's own name columns) and the position
    of the first such value; None when it holds none. The value itself is never returned."""
    text = values.astype("string")
    uniq = pd.Series(pd.unique(text.dropna()), dtype="string")
    if uniq.empty:
        return None
    compact = uniq.str.replace(r"[\s\-().]", "", regex=True)
    found: list[tuple[str, pd.Series]] = [
        ("BSN", pd.Series(bsn_mask(uniq), index=uniq.index)),
        ("e-mail address", uniq.str.contains(_EMAIL, regex=True)),
        ("phone number", compact.str.contains(_PHONE, regex=True)),
        ("postcode + house number", uniq.str.contains(_POSTCODE_NUMBER, regex=True)),
    ]
    if names:
        found.append(("name", uniq.map(lambda v: any(w.lower() in names for w in _WORD.findall(str(v)))).astype(bool)))
    for kind, mask in found:
        hit = mask.fillna(False).to_numpy(dtype=bool)
        if hit.any():
            bad = set(uniq[hit].tolist())
            pos = int(np.flatnonzero(text.isin(bad).fillna(False).to_numpy(dtype=bool))[0])
            return kind, pos
    return None


def scan_kept_columns(df: pd.DataFrame, *, skip: Iterable[str] = (), names: frozenset[str] = frozenset()
                      ) -> dict[str, tuple[str, int]]:
    """Every text column an import keeps (but those in ``skip``: pseudonyms, hashed keys) → the
    identifier it holds by value, with the row position of the first one."""
    skip_set = set(skip)
    out: dict[str, tuple[str, int]] = {}
    for column in df.columns:
        if column in skip_set:
            continue
        values = df[column]
        if not (values.dtype == object or str(values.dtype) == "string"):
            continue
        kind = identifier_kind(values, names=names)
        if kind is not None:
            out[str(column)] = kind
    return out


def pseudonymise_record_ids(values: pd.Series, key: bytes, *, namespace: str) -> pd.Series:
    """A system's record id as a keyed pseudonym: a profile may map ``record_id`` to any column (a BSN,
    a composite with a name), so the id is never stored in clear; a correction still finds its record."""
    text = values.astype("string").str.strip()
    codes, raw = pd.factorize(text, use_na_sentinel=True)
    hashed = np.array([hmac.new(key, f"record:{namespace}:{v}".encode(), hashlib.sha256).hexdigest()[:32]
                       for v in raw], dtype=object)
    out = np.full(len(text), "", dtype=object)
    known = codes >= 0
    out[known] = hashed[codes[known]] if len(hashed) else ""
    return pd.Series(out, index=values.index, dtype=object)


def shown(value: object, *, quote: bool = True) -> str:
    """A value as an error message may show it: quoted, unless it looks like an identifier (then only
    what kind it is), so that an error line in a log never carries a BSN or an e-mail address."""
    found = identifier_kind(pd.Series([value], dtype=object).astype("string"))
    if found:
        return f"<a {found[0]}>"
    return repr(value) if quote else str(value)
