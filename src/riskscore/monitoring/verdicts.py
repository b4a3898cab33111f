"""What a monitoring report and an impact report conclude, in plain Dutch and English — one place for
the words, so the report that is written and the page that reads it back never say different things.

- Monitoring: every finding (``checks.Breach``) carries its sentence in both languages, written here
  from the numbers that crossed the threshold (``finding``); ``headline`` turns a published summary into
  the verdict and the findings that caused it, in the reader's language, for the top of the page.
- Impact: ``impact_conclusion`` decides what an estimate at a capacity cut-off allows one to say. An
  effect is claimed only when its own diagnostics allow it: enough pupils, a first stage (the cases
  above the cut-off were worked on more than those below), and a density test that ran and did not
  reject. Otherwise the answer is "no conclusion possible", with the reason.

Light on purpose (standard library only): the service reads reports through this module and
``status``, never through ``checks`` or ``report`` (which pull in scipy, evidently and matplotlib)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

LANGS = ("nl", "en")


# --- numbers in words ------------------------------------------------------------------------------
def _dec(text: str, lang: str) -> str:
    return text.replace(".", ",") if lang == "nl" else text


def pct(x: float | None, lang: str, digits: int = 1) -> str:
    """0.123 → '12,3%' (nl) / '12.3%' (en)."""
    return "–" if x is None or not math.isfinite(x) else _dec(f"{100 * x:.{digits}f}%", lang)


def points(x: float | None, lang: str, digits: int = 1) -> str:
    """A change of a share in percentage points, with its sign: '+4,0 procentpunt'."""
    if x is None or not math.isfinite(x):
        return "–"
    unit = "procentpunt" if lang == "nl" else "percentage points"
    return f"{_dec(f'{100 * x:+.{digits}f}', lang)} {unit}"


def num(x: float | None, lang: str, digits: int = 3) -> str:
    return "–" if x is None or not math.isfinite(x) else _dec(f"{x:.{digits}f}", lang)


def pvalue(p: float | None, lang: str) -> str:
    return "–" if p is None or not math.isfinite(p) else _dec(f"{p:.1e}" if p < 0.001 else f"{p:.3f}", lang)


class _Pct(float):
    """Marks a parameter as a share (shown as a percentage)."""


class _Points(float):
    """Marks a parameter as a change of a share (percentage points)."""


class _P(float):
    """Marks a parameter as a p-value."""


class _Num(float):
    """A number with a chosen number of decimals (None: as short as it is written, like 0.1)."""

    digits: int | None = None


def dec(x: float, digits: int | None = None) -> _Num:
    """A parameter shown with ``digits`` decimals (None: as short as possible), in the reader's notation."""
    out = _Num(x)
    out.digits = digits
    return out


def _fill(template: str, lang: str, params: Mapping[str, Any]) -> str:
    shown: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, _Pct):
            shown[key] = pct(float(value), lang)
        elif isinstance(value, _Points):
            shown[key] = points(float(value), lang)
        elif isinstance(value, _P):
            shown[key] = pvalue(float(value), lang)
        elif isinstance(value, _Num):
            shown[key] = (_dec(f"{float(value):g}", lang) if value.digits is None
                          else num(float(value), lang, value.digits))
        elif isinstance(value, float):
            shown[key] = num(value, lang)
        else:
            shown[key] = str(value)
    return template.format(**shown)


# --- monitoring findings ---------------------------------------------------------------------------
#: what each check watches, in words (the findings table's first column)
CHECK_WORDS: dict[str, tuple[str, str]] = {
    "feature_drift": ("verschuiving van een kenmerk", "feature drift"),
    "score_drift": ("verschuiving van de scores", "score drift"),
    "band_shift": ("verschuiving tussen de risiconiveaus", "band shift"),
    "fairness": ("gelijke behandeling van groepen", "fairness between groups"),
    "breakdown": ("school of regio", "school or region"),
    "performance": ("voorspelkwaliteit", "predictive performance"),
    "calibration": ("kalibratie", "calibration"),
    "review": ("oordeel van de beoordelaars", "reviewers' judgement"),
}

#: (Dutch, English) sentences of each kind of finding: what was found, and what to do
FINDINGS: dict[str, tuple[str, str]] = {
    "feature_missing": ("Kenmerk {feature} ontbreekt in de huidige gegevens.",
                        "Feature {feature} is missing from the current data."),
    "feature_drifted": ("Kenmerk {feature} is verschoven: {method} {score} (grens {threshold}).",
                        "Feature {feature} drifted: {method} {score} (threshold {threshold})."),
    "dataset_drift": ("{share} van de kenmerken is verschoven (grens {limit}).",
                      "{share} of the features drifted (limit {limit})."),
    "psi_alert": ("De scores zijn sterk verschoven: PSI {psi} (alarm vanaf {limit}).",
                  "The scores shifted strongly: PSI {psi} (alert from {limit})."),
    "psi_warn": ("De scores zijn verschoven: PSI {psi} (waarschuwing vanaf {limit}).",
                 "The scores shifted: PSI {psi} (warning from {limit})."),
    "band_shift": ("Het aandeel leerlingen met risico {band} veranderde van {ref} naar {cur} ({change}; p = {p}).",
                   "The share of pupils with {band} risk changed from {ref} to {cur} ({change}; p = {p})."),
    "fairness": ("Het aandeel gesignaleerde leerlingen in groep {group} {moved} van {ref} naar {cur} ({change}): "
                 "{compared} dan bij de andere leerlingen (×{relative} ten opzichte van de rest; p = {p}; n = {n}).",
                 "The share of flagged pupils in group {group} {moved} from {ref} to {cur} ({change}): it {compared} "
                 "than among the other pupils (×{relative} relative to the rest; p = {p}; n = {n})."),
    "breakdown": ("Het aandeel gesignaleerde leerlingen bij {group} {moved} van {ref} naar {cur} ({change}; p = {p}; "
                  "n = {n}).",
                  "The share of flagged pupils at {group} {moved} from {ref} to {cur} ({change}; p = {p}; n = {n})."),
    "precision": ("Van de gesignaleerde leerlingen werd maar {value} later voortijdig schoolverlater (interval tot "
                  "{hi}; minimaal {limit} verwacht).",
                  "Only {value} of the flagged pupils later left school early (interval up to {hi}; at least "
                  "{limit} expected)."),
    "recall": ("De signalen vonden maar {value} van de latere voortijdig schoolverlaters (interval tot {hi}; "
               "minimaal {limit} verwacht).",
               "The flags found only {value} of the pupils who later left school early (interval up to {hi}; "
               "at least {limit} expected)."),
    "calibration": ("Werkelijk werd {observed} voortijdig schoolverlater, voorspeld was {expected}.",
                    "{observed} actually left school early; {expected} was predicted."),
    "outcome_gap": ("De {metric} van groep {group} wijkt af van de rest: {lo} tot {hi} (grens ±{limit}).",
                    "The {metric} of group {group} differs from the rest: {lo} to {hi} (limit ±{limit})."),
    "review_overall": ("Maar {value} van de beoordeelde signalen was een gesprek waard (interval tot {hi}).",
                       "Only {value} of the reviewed flags were worth a conversation (interval up to {hi})."),
    "review_group": ("Maar {value} van de beoordeelde signalen voor groep {group} was een gesprek waard (interval "
                     "tot {hi}; n = {n}).",
                     "Only {value} of the reviewed flags for group {group} were worth a conversation (interval up "
                     "to {hi}; n = {n})."),
}
ACTIONS: dict[str, tuple[str, str]] = {
    "feature_missing": ("controleer de aanlevering van kenmerk {feature}", "check the data feed for feature {feature}"),
    "feature_drifted": ("controleer de aanlevering van kenmerk {feature} (registratiepraktijk, export, definities); "
                        "is de verandering echt, hertrain dan",
                        "check the data feed for feature {feature} (registration practice, export, definitions); "
                        "if the change is real, retrain"),
    "dataset_drift": ("hertrain op recente gegevens zodra de aanleveringen kloppen",
                      "retrain on recent data once the feeds are confirmed correct"),
    "psi_alert": ("hertrain: de verdeling van de scores is verschoven; zoek de oorzaak in de tabel met kenmerken",
                  "retrain: the score distribution moved; look at the feature drift table for the cause"),
    "psi_warn": ("volg de volgende rapporten; hertrain als het blijft stijgen",
                 "watch the next runs; retrain if it keeps rising"),
    "band_shift": ("hertrain of controleer de grenzen van de risiconiveaus: de werklast van de beoordelaars "
                   "verandert mee",
                   "retrain or re-check the band thresholds: reviewers' caseload changes with it"),
    "fairness": ("onderzoek groep {group}: wordt het verzuim anders geregistreerd (registratiepraktijk, een "
                      "school of regio)? Vertrouw de scores van deze groep pas daarna; geef de signalen extra "
                      "controle",
                      "investigate group {group}: check whether its absence is recorded differently (registration "
                      "practice, a school or region) before trusting its scores; hold its flags for extra review"),
    "breakdown": ("controleer de aanlevering van {group} (verzuimregistratie, exports) met die school of regio",
                  "check the data feed of {group} (absence registration, exports) with that school/region"),
    "precision": ("hertrain: de meeste signalen sturen beoordelaars naar leerlingen die op school blijven",
                  "retrain: most flags send reviewers to pupils who stay in school"),
    "recall": ("hertrain: de signalen missen de meeste leerlingen die van school gingen",
               "retrain: the flags miss most pupils who left school"),
    "calibration": ("herkalibreer op recente uitkomsten (of hertrain)", "recalibrate on recent outcomes (or retrain)"),
    "outcome_gap": ("onderzoek groep {group}: de {metric} wijkt af; bekijk de signalen en hertrain met zorg",
                    "investigate group {group}: its {metric} is out of line; review its flags and retrain with care"),
    "review_overall": ("hertrain, of verhoog de grens van het risiconiveau; vraag beoordelaars welke redenen niet "
                       "klopten",
                       "retrain, or raise the band threshold; ask reviewers which reasons were wrong"),
    "review_group": ("onderzoek groep {group}: vraag de beoordelaars welke redenen niet klopten; hertrain als het "
                     "model daar misleidt",
                     "investigate group {group}: ask its reviewers which reasons were wrong; retrain if the model "
                     "misleads there"),
}
MOVED = {"up": ("steeg", "rose"), "down": ("daalde", "fell"), "same": ("bleef", "stayed")}
METRIC_WORDS = {"tpr": ("terecht-positieve ratio (TPR)", "true positive rate (TPR)"),
                "fpr": ("fout-positieve ratio (FPR)", "false positive rate (FPR)"),
                "precision": ("precisie", "precision")}
BAND_WORDS = {"low": ("laag", "low"), "medium": ("middel", "medium"), "high": ("hoog", "high")}


@dataclass(frozen=True)
class Finding:
    """One finding's sentence and action in both languages."""

    message_nl: str
    message_en: str
    action_nl: str
    action_en: str


def share(x: float) -> _Pct:
    return _Pct(x)


def change(x: float) -> _Points:
    return _Points(x)


def p_value(x: float) -> _P:
    return _P(x)


def moved(delta: float) -> tuple[str, str]:
    """The verb for a change of a share ('steeg' / 'rose')."""
    return MOVED["up" if delta > 0 else "down" if delta < 0 else "same"]


#: how a group's change compares with the other pupils': (its rate rose, it moved more than the rest's
#: rate did relative to the reference) → words
COMPARED = {(True, True): ("sterker gestegen", "rose more"), (True, False): ("minder gestegen", "rose less"),
            (False, True): ("minder gedaald", "fell less"), (False, False): ("sterker gedaald", "fell more")}


def compared(delta: float, relative_to_rest: float) -> tuple[str, str]:
    """'sterker gestegen' / 'rose more' … : the group's change set against the other pupils'."""
    return COMPARED[(delta >= 0, relative_to_rest > 1)]


def finding(kind: str, **params: Any) -> Finding:
    """The sentences of a finding; parameters made with share(), change() and p_value() are shown as
    percentages, percentage points and p-values, other floats with three decimals. A tuple parameter
    (Dutch, English) is a word that differs per language."""

    def fill(template: str, i: int, lang: str) -> str:
        return _fill(template, lang, {k: (v[i] if isinstance(v, tuple) else v) for k, v in params.items()})

    msg, act = FINDINGS[kind], ACTIONS[kind]
    return Finding(fill(msg[0], 0, "nl"), fill(msg[1], 1, "en"), fill(act[0], 0, "nl"), fill(act[1], 1, "en"))


def breach_text(breach: Mapping[str, Any], lang: str) -> tuple[str, str, bool]:
    """A published finding's sentence and action in the reader's language; the last value says whether
    they are in that language (a report written before findings carried Dutch has English only)."""
    if lang == "nl" and breach.get("message_nl"):
        return str(breach["message_nl"]), str(breach.get("action_nl") or breach.get("action") or ""), True
    return str(breach.get("message", "")), str(breach.get("action", "")), lang == "en"


def check_word(check: str | None, lang: str) -> str:
    words = CHECK_WORDS.get(str(check))
    return (words[0] if lang == "nl" else words[1]) if words else str(check or "–")


#: the order in which findings explain a verdict: how groups are treated and whether flags are right
#: first, then the scores as a whole, then single features, schools and regions
CAUSE_ORDER = ("fairness", "review", "performance", "calibration", "score_drift", "band_shift", "feature_drift",
               "breakdown")


@dataclass(frozen=True)
class Headline:
    """The top of the monitoring page: the verdict and the findings that caused it."""

    status: str
    causes: list[tuple[str, bool]] = field(default_factory=list)  # (sentence, in the reader's language)
    more: int = 0


def headline(status: Mapping[str, Any], lang: str, *, limit: int = 3) -> Headline:
    """The verdict of a published report and the findings of its severity that caused it (alerts for an
    alarm, warnings for a warning), most telling first; ``more`` counts the causes not listed."""
    verdict = str(status.get("status") or "unknown")
    if verdict not in ("alert", "warn"):
        return Headline(verdict)
    mine = [b for b in status.get("breaches") or [] if isinstance(b, Mapping) and b.get("severity") == verdict]
    order = {c: i for i, c in enumerate(CAUSE_ORDER)}
    # a dataset-wide drift says more than each drifted feature; the features follow it
    mine.sort(key=lambda b: (order.get(str(b.get("check")), len(order)),
                             0 if b.get("subject") == "dataset" else 1))
    causes = [breach_text(b, lang)[0::2] for b in mine[:limit]]
    return Headline(verdict, [(c[0], bool(c[1])) for c in causes], max(0, len(mine) - limit))


@dataclass(frozen=True)
class Figure:
    """A headline number of the report beside the threshold it is judged by."""

    label: str
    value: str
    judged: str  # e.g. 'onder de waarschuwingsgrens 0,1'


def psi_judgement(psi: float | None, warn: float | None, alert: float | None, lang: str) -> str:
    """Where a PSI stands against its thresholds, in words ('' when they are not in the report)."""
    if psi is None or warn is None or alert is None:
        return ""
    if psi >= alert:
        return f"{'op of boven de alarmgrens' if lang == 'nl' else 'at or above the alert threshold'} {num(alert, lang, 2)}"
    if psi >= warn:
        return f"{'op of boven de waarschuwingsgrens' if lang == 'nl' else 'at or above the warning threshold'} {num(warn, lang, 2)}"
    return f"{'onder de waarschuwingsgrens' if lang == 'nl' else 'below the warning threshold'} {num(warn, lang, 2)}"


# --- impact: what an estimate at a cut-off allows one to say ----------------------------------------------
#: the reviewed share above the cut-off must exceed the share below by this much for a flag to have
#: changed anything a reviewer did (the same bar as the fuzzy estimate's in monitoring.impact)
MIN_FIRST_STAGE = 0.05
#: the density test rejects at this level (pupils bunch on one side of the cut-off)
DENSITY_ALPHA = 0.05
#: conclusions that claim something about the outcome (the others say why no claim is possible)
CLAIMS = ("lower", "higher", "none")

IMPACT_TEXTS: dict[str, tuple[str, str]] = {
    "lower": ("Na een signaal minder {what} bij leerlingen rond de grens: het hele 95%-interval ligt onder 0. "
              "Dit is een schatting op de grens, niet voor alle leerlingen.",
              "Less {what} after a flag for pupils near the cut-off: the whole 95% interval is below 0. This is an "
              "estimate at the cut-off, not for all pupils."),
    "higher": ("Na een signaal méér {what} bij leerlingen rond de grens: het hele 95%-interval ligt boven 0. Zoek "
               "uit waarom.",
               "More {what} after a flag for pupils near the cut-off: the whole 95% interval is above 0. Find out "
               "why."),
    "none": ("Geen meetbaar effect op {what} bij leerlingen rond de grens: het 95%-interval bevat 0. Dat bewijst niet "
             "dat er geen effect is.",
             "No measurable effect on {what} for pupils near the cut-off: the 95% interval contains 0. That does "
             "not prove there is no effect."),
    "too_small": ("Geen conclusie mogelijk. Te weinig leerlingen rond de grens om iets te zeggen ({left} links, "
                  "{right} rechts).",
                  "No conclusion possible. Too few pupils near the cut-off to say anything ({left} left, {right} "
                  "right)."),
    "no_follow_up": ("Geen conclusie mogelijk: de nameting van deze uitkomst valt nog buiten de gegevens.",
                     "No conclusion possible: the follow-up window of this outcome is not in the data yet."),
    "not_worked_on": ("Geen conclusie mogelijk: de casussen boven de grens zijn niet vaker opgepakt dan de "
                      "leerlingen eronder (beoordeeld: {left} links, {right} rechts). Een signaal veranderde dus "
                      "niets aan wat er gebeurde.",
                      "No conclusion possible: the cases above the cut-off were not worked on more often than the "
                      "pupils below it (reviewed: {left} left, {right} right). So a flag changed nothing about what "
                      "happened."),
    "density": ("Geen conclusie mogelijk: het aantal leerlingen verspringt bij de grens (dichtheidstest p = {p}), "
                "dus de leerlingen aan beide kanten zijn niet goed te vergelijken.",
                "No conclusion possible: the number of pupils jumps at the cut-off (density test p = {p}), so the "
                "pupils on both sides cannot be compared fairly."),
    "no_density": ("Geen conclusie mogelijk: de dichtheidstest kon niet worden uitgevoerd, dus het is niet na te "
                   "gaan of de leerlingen aan beide kanten vergelijkbaar zijn.",
                   "No conclusion possible: the density test could not be run, so there is no check that the pupils "
                   "on both sides are comparable."),
    "failed": ("Geen conclusie mogelijk: de berekening lukte niet met deze gegevens.",
               "No conclusion possible: the calculation did not work with these data."),
}
WHAT = {"absence_8w": ("ongeoorloofd verzuim", "unauthorised absence"),
        "vsv_12m": ("voortijdig schoolverlaten", "early school leaving")}


@dataclass(frozen=True)
class Conclusion:
    """What one impact estimate allows one to say: a code from IMPACT_TEXTS and its sentence per language."""

    code: str
    nl: str
    en: str

    @property
    def claims(self) -> bool:
        return self.code in CLAIMS

    def text(self, lang: str) -> str:
        return self.nl if lang == "nl" else self.en

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "nl": self.nl, "en": self.en}


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def impact_conclusion(estimate: Mapping[str, Any]) -> Conclusion:
    """What an estimate (monitoring.impact.Estimate as a dict, or as read back from impact.json) allows.

    In this order: the estimator ran on enough pupils; the first stage is there (the reviewed share above
    the cut-off exceeds the share below by at least MIN_FIRST_STAGE — otherwise a flag changed nothing a
    team did, and any jump is not a flag's doing); the density test ran and did not reject; only then the
    interval speaks: below 0, above 0, or containing 0."""
    status = str(estimate.get("status") or "")
    what = WHAT.get(str(estimate.get("outcome")), (str(estimate.get("outcome")),) * 2)
    lo, hi = _float(estimate.get("ci_low")), _float(estimate.get("ci_high"))
    first = estimate.get("first_stage") or {}
    params: dict[str, Any] = {}
    if status == "too_small":
        left = estimate.get("n_left_h") or estimate.get("n_left") or 0
        right = estimate.get("n_right_h") or estimate.get("n_right") or 0
        if not left and not right and estimate.get("n_without_follow_up"):
            code = "no_follow_up"
        else:
            code, params = "too_small", {"left": int(left), "right": int(right)}
    elif status != "ok" or lo is None or hi is None:
        code = "failed"
    else:
        reviewed_left, reviewed_right = _float(first.get("reviewed_left")), _float(first.get("reviewed_right"))
        density = _float(estimate.get("density_p"))
        if reviewed_left is None or reviewed_right is None or reviewed_right - reviewed_left < MIN_FIRST_STAGE:
            code = "not_worked_on"
            params = {"left": share(reviewed_left or 0.0), "right": share(reviewed_right or 0.0)}
        elif density is None:
            code = "no_density"
        elif density < DENSITY_ALPHA:
            code, params = "density", {"p": p_value(density)}
        else:
            code = "none" if lo <= 0 <= hi else ("lower" if hi < 0 else "higher")
    nl, en = IMPACT_TEXTS[code]
    return Conclusion(code, _fill(nl, "nl", {**params, "what": what[0]}), _fill(en, "en", {**params, "what": what[1]}))


# --- follow-up steps: an association, never an effect ------------------------------------------------
#: what the follow-up table is, and is not (nl, en)
FOLLOW_UP_NOTE = (
    "Samenhang, geen effect: welke vervolgstappen gingen vooraf aan minder verzuim volgens de nacontrole van het "
    "team ('beter'). Teams kiezen stappen naar de leerling, dus een stap die vaak 'beter' geeft hoeft dat niet te "
    "veroorzaken. Alleen aantallen; aandelen pas vanaf 10 nagecontroleerde stappen.",
    "Association, not effect: which follow-up steps preceded less absence according to the team's follow-up check "
    "('better'). Teams choose steps to fit the pupil, so a step that is often followed by 'better' need not cause "
    "it. Counts only; shares from 10 checked steps.")
#: a share of 'better' is shown only from this many checked steps (a share of 2 says nothing)
MIN_CHECKED = 10


def follow_up_rows(counts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """action_counts rows with the follow-up checks made and the share 'better' among them (None below
    MIN_CHECKED checks: a share of a handful says nothing)."""
    out = []
    for r in counts:
        checked = int(r.get("improved", 0)) + int(r.get("unchanged", 0)) + int(r.get("worse", 0))
        out.append({**r, "checked": checked,
                    "improved_share": (int(r.get("improved", 0)) / checked) if checked >= MIN_CHECKED else None})
    return out
