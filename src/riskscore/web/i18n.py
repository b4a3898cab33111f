"""Every text the web pages show, in Dutch (the default) and English.

One flat catalogue keyed by a short English id; ``translate`` falls back to the Dutch text and then
to the id, so a missing translation shows up as a visible id in review instead of a crash."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

LANGS = ("nl", "en")
DEFAULT_LANG = "nl"

TEXTS: dict[str, tuple[str, str]] = {
    # layout
    "app_name": ("riskscore – vroegsignalering voortijdig schoolverlaten",
                 "riskscore – early warning for early school leaving"),
    "skip_link": ("Naar de inhoud", "Skip to content"),
    "nav_label": ("Hoofdmenu", "Main menu"),
    "nav_worklist": ("Werklijst", "Worklist"),
    "nav_model": ("Model", "Model"),
    "nav_monitoring": ("Monitoring", "Monitoring"),
    "nav_logout": ("Afmelden", "Sign out"),
    "nav_login": ("Aanmelden", "Sign in"),
    "signed_in_as": ("Aangemeld als {label} (rol: {role})", "Signed in as {label} (role: {role})"),
    "switch_lang": ("English", "Nederlands"),
    "switch_lang_label": ("Switch to English", "Schakel naar het Nederlands"),
    "notice": ("Dit is een signaal voor een gesprek, geen besluit.",
               "This is a signal for a conversation, not a decision."),
    "footer": ("Het model geeft alleen aanleiding tot een gesprek; een mens beslist. Elke inzage wordt gelogd.",
               "The model only prompts a conversation; a person decides. Every view is logged."),
    # sign in / out
    "login_title": ("Aanmelden", "Sign in"),
    "login_intro": ("Meld u aan met de API-sleutel die u van de beheerder kreeg. De sleutel zelf wordt niet in "
                    "uw browser bewaard.",
                    "Sign in with the API key you received from the administrator. The key itself is not kept "
                    "in your browser."),
    "login_key_label": ("API-sleutel", "API key"),
    "login_key_help": ("Begint met rsk_", "Starts with rsk_"),
    "login_button": ("Aanmelden", "Sign in"),
    "login_failed": ("Aanmelden mislukt: de sleutel is onbekend, ingetrokken of onjuist overgenomen.",
                     "Sign-in failed: the key is unknown, revoked or was copied incorrectly."),
    "login_empty": ("Vul een API-sleutel in.", "Enter an API key."),
    "login_throttled": ("Te veel mislukte pogingen vanaf dit adres. Probeer het over 15 minuten opnieuw.",
                        "Too many failed attempts from this address. Try again in 15 minutes."),
    "logged_out": ("U bent afgemeld.", "You have signed out."),
    "session_ended": ("Uw sessie is verlopen of de sleutel is ingetrokken. Meld u opnieuw aan.",
                      "Your session has expired or the key was revoked. Please sign in again."),
    "logout_title": ("Afmelden", "Sign out"),
    "logout_question": ("Wilt u zich afmelden?", "Do you want to sign out?"),
    "logout_button": ("Afmelden", "Sign out"),
    # errors
    "error_title": ("Er ging iets mis", "Something went wrong"),
    "error_404_title": ("Niet gevonden", "Not found"),
    "error_404": ("Deze leerling of pagina bestaat niet, of valt buiten uw bevoegdheid.",
                  "This student or page does not exist, or lies outside your scope."),
    "error_403_title": ("Geen toegang", "No access"),
    "error_403": ("Uw rol ({role}) mag deze pagina niet bekijken.", "Your role ({role}) may not view this page."),
    "error_403_student": ("Uw rol ({role}) werkt met totalen en bekijkt geen individuele leerlingen.",
                          "Your role ({role}) works with aggregates and does not view individual students."),
    "error_csrf_title": ("Formulier verlopen", "Form expired"),
    "error_csrf": ("Het formulier is verlopen of niet vanaf deze site verstuurd (beveiligingscontrole). "
                   "Ga terug, laad de pagina opnieuw en probeer het nog eens.",
                   "The form has expired or was not sent from this site (security check). "
                   "Go back, reload the page and try again."),
    "error_503": ("De database of het model is tijdelijk niet beschikbaar. Probeer het later opnieuw.",
                  "The database or the model is temporarily unavailable. Please try again later."),
    "error_500": ("Er ging onverwacht iets mis. Noem bij een melding deze code: {rid}",
                  "Something went wrong unexpectedly. Please quote this code when reporting it: {rid}"),
    "error_400": ("Ongeldige invoer: {message}", "Invalid input: {message}"),
    "error_400_detail": ("de gegevens in het adres of het formulier kloppen niet",
                         "the data in the address or the form is not valid"),
    "back_home": ("Terug naar de startpagina", "Back to the start page"),
    "back_worklist": ("Terug naar de werklijst", "Back to the worklist"),
    # worklist
    "worklist_title": ("Werklijst", "Worklist"),
    "worklist_intro": ("Casussen voor uw rol en bevoegdheid: eerst die met een wettelijke termijn (vroegste eerst), "
                       "daarna op kans.",
                       "Cases for your role and scope: those with a legal due date first (soonest first), "
                       "then by probability."),
    "filters": ("Filters", "Filters"),
    "filter_role": ("Rol", "Role"),
    "filter_school": ("School", "School"),
    "filter_band": ("Risiconiveau", "Risk band"),
    "filter_status": ("Status", "Status"),
    "filter_all": ("alle", "all"),
    "filter_active": ("actief (nog te doen)", "active (still to do)"),
    "filter_apply": ("Filter toepassen", "Apply filter"),
    "filter_reset": ("Filters wissen", "Clear filters"),
    "expected_cases": ("Verwachte echte gevallen in deze lijst: {n}", "Expected true cases in this list: {n}"),
    "expected_help": ("De som van de kansen van de {k} leerlingen hierboven: zoveel van hen worden naar verwachting "
                      "binnen 12 maanden voortijdig schoolverlater als er niets gebeurt – niet wie.",
                      "The sum of the probabilities of the {k} students above: how many of them are expected to "
                      "leave school early within 12 months if nothing happens – not which ones."),
    "worklist_caption": ("Casussen, {n} getoond", "Cases, {n} shown"),
    "worklist_truncated": ("Alleen de eerste {n} casussen worden getoond; verfijn de filters.",
                           "Only the first {n} cases are shown; narrow the filters."),
    "worklist_empty": ("Geen casussen met deze filters.", "No cases match these filters."),
    "col_student": ("Leerling (pseudoniem)", "Student (pseudonym)"),
    "col_school": ("School", "School"),
    "col_age": ("Leeftijd", "Age"),
    "col_probability": ("Kans", "Probability"),
    "col_band": ("Niveau", "Band"),
    "col_reasons": ("Belangrijkste redenen", "Top reasons"),
    "col_triggers": ("Wettelijke signalen (uiterlijk)", "Legal triggers (due)"),
    "col_case_reason": ("Aanleiding", "Reason for case"),
    "col_status": ("Status", "Status"),
    "col_owner": ("Eigenaar", "Owner"),
    "due_on": ("uiterlijk {date}", "due {date}"),
    "nobody": ("–", "–"),
    "open_student": ("Open leerling {sid}", "Open student {sid}"),
    # student page
    "student_title": ("Leerling {sid}", "Student {sid}"),
    "latest_score": ("Laatste score", "Latest score"),
    "score_meta": ("Peildatum {as_of} · model {version} · berekend {at}",
                   "Reference date {as_of} · model {version} · computed {at}"),
    "probability_sentence": ("Kans op voortijdig schoolverlaten binnen 12 maanden: {p} (niveau {band}).",
                             "Probability of leaving school early within 12 months: {p} (band {band})."),
    "no_score": ("Er is nog geen score voor deze leerling.", "There is no score for this student yet."),
    "reasons_title": ("Redenen: bijdrage aan de score", "Reasons: contribution to the score"),
    "reasons_help": ("Een balk naar rechts verhoogt de kans, naar links verlaagt hij die. De getallen zijn de exacte "
                     "bijdragen van het model (in log-odds).",
                     "A bar to the right raises the probability, to the left lowers it. The numbers are the "
                     "model's exact contributions (in log-odds)."),
    "col_reason": ("Reden", "Reason"),
    "col_contribution": ("Bijdrage", "Contribution"),
    "col_logodds": ("log-odds", "log-odds"),
    "contribution_label": ("bijdrage {c}", "contribution {c}"),
    "withheld": ("details alleen voor de jeugdarts", "details for the youth doctor only"),
    "no_reasons": ("Geen redenen opgeslagen.", "No reasons stored."),
    "triggers_title": ("Wettelijke en protocolsignalen", "Legal and protocol triggers"),
    "no_triggers": ("Geen wettelijke of protocolsignalen.", "No legal or protocol triggers."),
    "col_rule": ("Signaal", "Trigger"),
    "col_fired": ("Afgegaan op", "Fired on"),
    "col_due": ("Uiterlijk", "Due"),
    "col_acts": ("Wie handelt", "Who acts"),
    "col_source": ("Bron", "Source"),
    "col_detail": ("Toelichting", "Detail"),
    "cases_title": ("Casussen", "Cases"),
    "no_cases": ("Geen casus voor uw rol.", "No case for your role."),
    "case_heading": ("Casus {id}: {reason}", "Case {id}: {reason}"),
    "case_meta": ("Geopend {opened} · status: {status} · eigenaar: {owner}",
                  "Opened {opened} · status: {status} · owner: {owner}"),
    "history_title": ("Geschiedenis", "History"),
    "col_when": ("Wanneer", "When"),
    "col_who": ("Wie", "Who"),
    "col_what": ("Wat", "What"),
    "col_note": ("Toelichting", "Note"),
    "outcomes_title": ("Vastgelegde uitkomsten", "Recorded outcomes"),
    "col_outcome": ("Uitkomst", "Outcome"),
    "col_worth": ("Gesprek waard?", "Worth a conversation?"),
    "yes": ("ja", "yes"),
    "no": ("nee", "no"),
    "review_title": ("Uitkomst van de beoordeling vastleggen", "Record the review outcome"),
    "field_status": ("Nieuwe status", "New status"),
    "keep_status": ("status niet wijzigen ({status})", "keep status ({status})"),
    "field_outcome": ("Uitkomst", "Outcome"),
    "no_outcome": ("geen uitkomst vastleggen", "record no outcome"),
    "field_worth": ("Was dit signaal een gesprek waard?", "Was this signal worth a conversation?"),
    "worth_unknown": ("nog niet te zeggen", "cannot say yet"),
    "field_note": ("Notitie", "Note"),
    "note_help": ("Zet hier geen medische details in; die horen bij de jeugdarts.",
                  "Do not put medical details here; they belong with the youth doctor."),
    "save": ("Opslaan", "Save"),
    "saved": ("Opgeslagen.", "Saved."),
    "err_nothing": ("Kies een nieuwe status of een uitkomst, of schrijf een notitie.",
                    "Choose a new status or an outcome, or write a note."),
    "err_worth_required": ("Geef bij een uitkomst aan of het signaal een gesprek waard was.",
                           "With an outcome, say whether the signal was worth a conversation."),
    "err_note_long": ("De notitie is te lang (maximaal {n} tekens).", "The note is too long (at most {n} characters)."),
    "err_bad_outcome": ("Kies een uitkomst uit de lijst.", "Choose an outcome from the list."),
    "err_bad_status": ("Deze statuswijziging is niet toegestaan vanuit '{status}'.",
                       "This status change is not allowed from '{status}'."),
    "err_concurrent": ("De casus is intussen door iemand anders gewijzigd. Laad de pagina opnieuw en probeer het nog eens.",
                       "The case was changed by someone else meanwhile. Reload the page and try again."),
    "form_errors": ("Er is niets opgeslagen:", "Nothing was saved:"),
    # model
    "model_title": ("Het model", "The model"),
    "model_version": ("Versie", "Version"),
    "model_loaded": ("Geladen op", "Loaded at"),
    "model_metrics": ("Kwaliteitsmaten", "Metrics"),
    "model_thresholds": ("Grenzen van de risiconiveaus (kans vanaf)", "Band thresholds (probability from)"),
    "model_features": ("Kenmerken die het model gebruikt", "Features the model uses"),
    "model_card": ("Modelkaart", "Model card"),
    "model_card_open": ("Open de volledige modelkaart", "Open the full model card"),
    "model_no_card": ("Dit model heeft geen modelkaart.", "This model carries no model card."),
    "model_none": ("Er is nog geen model geladen. Probeer het later opnieuw.",
                   "No model is loaded yet. Please try again later."),
    "col_metric": ("Maat", "Metric"),
    "col_value": ("Waarde", "Value"),
    # monitoring
    "monitoring_title": ("Monitoring", "Monitoring"),
    "monitoring_none": ("Er is nog geen monitoringrapport. Zodra het datateam de monitoring heeft gedraaid, "
                        "staat het oordeel hier.",
                        "There is no monitoring report yet. Once the data team has run the monitoring, the "
                        "verdict appears here."),
    "monitoring_verdict": ("Oordeel: {status}", "Verdict: {status}"),
    "monitoring_meta": ("Rapport van {created} · model {version}", "Report of {created} · model {version}"),
    "monitoring_psi": ("Verschuiving van de scores (PSI): {psi}", "Score shift (PSI): {psi}"),
    "monitoring_flag_rate": ("Aandeel gesignaleerd: {rate}", "Share flagged: {rate}"),
    "monitoring_breaches": ("Overschreden grenzen", "Thresholds crossed"),
    "monitoring_no_breaches": ("Geen grens overschreden.", "No threshold crossed."),
    "col_check": ("Controle", "Check"),
    "col_subject": ("Onderwerp", "Subject"),
    "col_severity": ("Ernst", "Severity"),
    "col_finding": ("Bevinding", "Finding"),
    "col_action": ("Actie", "Action"),
    "verdict_ok": ("in orde", "ok"),
    "verdict_warn": ("waarschuwing", "warning"),
    "verdict_alert": ("alarm", "alert"),
    "verdict_unknown": ("onbekend", "unknown"),
    # vocabularies
    "band_low": ("laag", "low"),
    "band_medium": ("middel", "medium"),
    "band_high": ("hoog", "high"),
    "band_unknown": ("gegevens onvolledig", "data incomplete"),
    "data_incomplete_title": ("Gegevens onvolledig", "Data incomplete"),
    "data_incomplete_student": ("Niet gescoord: de laatste verzuimimport van de school was onvolledig. Dit is geen laag risico.",
                                "Not scored: the school's latest absence import was incomplete. This is not a low risk."),
    "data_incomplete_row": ("School {school}: {n} leerlingen niet gescoord — de laatste verzuimimport was onvolledig.",
                            "School {school}: {n} pupils not scored — the latest absence import was incomplete."),
    "status_open": ("open", "open"),
    "status_in_review": ("in behandeling", "in review"),
    "status_contacted": ("contact gelegd", "contacted"),
    "status_referred": ("doorverwezen", "referred"),
    "status_no_action_needed": ("geen actie nodig", "no action needed"),
    "status_false_alarm": ("vals alarm", "false alarm"),
    "status_closed": ("gesloten", "closed"),
    "role_school": ("school", "school"),
    "role_jeugdarts": ("jeugdarts", "youth doctor (jeugdarts)"),
    "role_leerplicht": ("leerplicht", "attendance officer (leerplicht)"),
    "role_rmc": ("RMC", "RMC"),
    "role_data_team": ("datateam", "data team"),
    "role_admin": ("beheerder", "administrator"),
    "action_open": ("casus geopend", "case opened"),
    "action_status": ("status gewijzigd", "status changed"),
    "action_assign": ("eigenaar gewijzigd", "owner changed"),
    "action_note": ("notitie", "note"),
    "action_outcome": ("uitkomst vastgelegd", "outcome recorded"),
    "reason_capacity": ("hoge kans (binnen de capaciteit)", "high probability (within capacity)"),
    "outcome_conversation_held": ("gesprek gevoerd", "conversation held"),
    "outcome_support_arranged": ("ondersteuning geregeld", "support arranged"),
    "outcome_referred_care": ("doorverwezen naar zorg", "referred to care"),
    "outcome_reported_leerplicht": ("gemeld bij leerplicht", "reported to the attendance officer"),
    "outcome_no_concern": ("geen zorgen", "no concern"),
    "outcome_unreachable": ("niet bereikt", "could not be reached"),
    "outcome_other": ("anders (zie notitie)", "other (see note)"),
}

#: outcome codes offered in the review form (stored as the code; shown translated)
OUTCOMES = ("conversation_held", "support_arranged", "referred_care", "reported_leerplicht", "no_concern",
            "unreachable", "other")


def pick_lang(value: str | None) -> str | None:
    """The language if it is one we speak, else None."""
    value = (value or "").strip().lower()
    return value if value in LANGS else None


def translate(key: str, lang: str, /, **params: Any) -> str:
    """The text for key in lang, with {params} filled in; the key itself if unknown."""
    pair = TEXTS.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "en" else pair[0]
    return text.format(**params) if params else text


def label(prefix: str, value: str | None, lang: str) -> str:
    """A vocabulary word (band, status, role, action, outcome) in words; the raw value if unknown."""
    if value is None:
        return translate("nobody", lang)
    key = f"{prefix}_{value}"
    return translate(key, lang) if key in TEXTS else value


def percent(p: float | None, lang: str, digits: int = 1) -> str:
    """12.3 % as '12,3%' in Dutch and '12.3%' in English."""
    if p is None:
        return "–"
    text = f"{100 * p:.{digits}f}%"
    return text.replace(".", ",") if lang == "nl" else text


def number(x: float | None, lang: str, digits: int = 2, *, signed: bool = False) -> str:
    if x is None:
        return "–"
    text = f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"
    return text.replace(".", ",") if lang == "nl" else text


def when(value: date | datetime | str | None) -> str:
    """Dates as ISO; datetimes to the minute, in UTC."""
    if value is None:
        return "–"
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # PostgreSQL gives aware datetimes, SQLite naive UTC
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M") + " UTC"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
