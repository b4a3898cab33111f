"""Every text the web pages show, in Dutch (the default) and English.

One flat catalogue keyed by a short English id; ``translate`` falls back to the Dutch text and then
to the id, so a missing translation shows up as a visible id in review instead of a crash."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from riskscore.clock import AMSTERDAM

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
    "nav_impact": ("Effect", "Impact"),
    "nav_erasure": ("Gegevens wissen", "Erase data"),
    "nav_admin": ("Beheer", "Administration"),
    "privacy_link": ("Inzage en bezwaar voor deze leerling", "This pupil's file and objection"),
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
    "login_intro": ("Meld u aan met het account van uw school of organisatie. riskscore krijgt uw wachtwoord "
                    "nooit te zien.",
                    "Sign in with the account of your school or organisation. riskscore never sees your password."),
    "login_oidc_button": ("Aanmelden via {provider}", "Sign in with {provider}"),
    "login_provider_default": ("uw instelling", "your institution"),
    "login_button": ("Aanmelden", "Sign in"),
    "login_not_configured": ("Aanmelden is op deze installatie nog niet ingesteld. Vraag uw beheerder om hulp.",
                             "Signing in has not been set up on this installation. Ask your administrator."),
    "login_not_authorised": ("U bent aangemeld bij uw instelling, maar u heeft (nog) geen toegang tot riskscore. "
                             "Vraag uw beheerder om u toe te voegen.",
                             "Your institution knows you, but you have no access to riskscore (yet). Ask your "
                             "administrator to add you."),
    "login_failed": ("Aanmelden is mislukt: het antwoord van uw instelling kon niet worden gecontroleerd. Probeer "
                     "het opnieuw.",
                     "Signing in failed: the answer from your institution could not be verified. Please try "
                     "again."),
    "login_provider_down": ("Uw instelling is nu niet bereikbaar. Probeer het over een paar minuten opnieuw.",
                            "Your institution cannot be reached right now. Try again in a few minutes."),
    "login_demo_title": ("Demo: aanmelden zonder instelling", "Demo: sign in without an institution"),
    "login_demo_intro": ("Alleen in de demomodus, met verzonnen leerlingen. Kies een demo-persoon.",
                         "Only in demo mode, with made-up pupils. Choose a demo person."),
    "login_demo_as": ("Aanmelden als {label} ({role})", "Sign in as {label} ({role})"),
    "login_demo_none": ("Er zijn geen demo-personen. Maak ze met `riskscore users add --demo`.",
                        "There are no demo people. Create them with `riskscore users add --demo`."),
    "logged_out": ("U bent afgemeld.", "You have signed out."),
    "session_ended": ("Uw sessie is beëindigd (afgemeld, verlopen of ingetrokken). Meld u opnieuw aan.",
                      "Your session has ended (signed out, expired or revoked). Please sign in again."),
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
    "worklist_intro": ("Casussen van uw team, het dringendst eerst: verlopen wettelijke termijnen bovenaan, dan de "
                       "wettelijke termijnen op datum, dan op kans. De wettelijke plicht en uw volgende stap staan "
                       "apart. Klik op een kolomkop om anders te sorteren.",
                       "Your team's cases, most urgent first: overdue legal deadlines on top, then legal deadlines by "
                       "date, then by probability. The legal duty and your next step are shown apart. Click a "
                       "column heading to sort differently."),
    "filters": ("Filters", "Filters"),
    "filter_role": ("Rol", "Role"),
    "filter_school": ("School", "School"),
    "filter_band": ("Risico", "Risk"),
    "filter_status": ("Status", "Status"),
    "filter_all": ("alle", "all"),
    "filter_active": ("actief (nog te doen)", "active (still to do)"),
    "filter_apply": ("Filter toepassen", "Apply filter"),
    "filter_reset": ("Filters wissen", "Clear filters"),
    "expected_cases": ("Verwachte echte gevallen in deze lijst: {n}", "Expected true cases in this list: {n}"),
    "expected_help": ("De som van de kansen van de {k} leerlingen in deze lijst (alle pagina's): zoveel van hen "
                      "worden naar verwachting binnen 12 maanden voortijdig schoolverlater als er niets gebeurt – "
                      "niet wie.",
                      "The sum of the probabilities of the {k} students in this list (all pages): how many of them "
                      "are expected to leave school early within 12 months if nothing happens – not which ones."),
    "expected_unscored_one": ("1 leerling in deze lijst heeft geen score (bijvoorbeeld omdat die van school is) en "
                              "telt hier niet mee.",
                              "1 student in this list has no score (for example because they left school) and is "
                              "not counted here."),
    "expected_unscored_many": ("{n} leerlingen in deze lijst hebben geen score (bijvoorbeeld omdat ze van school zijn) "
                               "en tellen hier niet mee.",
                               "{n} students in this list have no score (for example because they left school) and "
                               "are not counted here."),
    "worklist_caption": ("Casussen, {n} getoond", "Cases, {n} shown"),
    "worklist_truncated": ("Alleen de eerste {n} casussen worden getoond; verfijn de filters.",
                           "Only the first {n} cases are shown; narrow the filters."),
    "worklist_empty": ("Geen casussen met deze filters.", "No cases match these filters."),
    "col_student": ("Leerling (pseudoniem)", "Student (pseudonym)"),
    "col_school": ("School", "School"),
    "col_age": ("Leeftijd", "Age"),
    "col_probability": ("Kans", "Probability"),
    "col_band": ("Risico", "Risk"),
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
    "score_meta": ("model {version} · berekend {at}", "model {version} · computed {at}"),
    "probability_sentence": ("Kans op voortijdig schoolverlaten binnen 12 maanden: {p} (risico {band}).",
                             "Probability of leaving school early within 12 months: {p} ({band} risk)."),
    "no_score": ("Er is nog geen score voor deze leerling.", "There is no score for this student yet."),
    "no_score_short": ("geen score", "no score"),
    "actor_system": ("riskscore (automatisch)", "riskscore (automatic)"),
    "reasons_title": ("Redenen: bijdrage aan de score", "Reasons: contribution to the score"),
    "reasons_help": ("Een balk naar rechts verhoogt de kans, een balk naar links verlaagt die. Hoe langer de balk, "
                     "hoe meer deze reden meetelt.",
                     "A bar to the right raises the probability, a bar to the left lowers it. The longer the bar, "
                     "the more this reason counts."),
    "col_reason": ("Reden", "Reason"),
    "col_contribution": ("Bijdrage", "Contribution"),
    "col_effect": ("Effect", "Effect"),
    "effect_up_strong": ("verhoogt de kans sterk", "raises the probability strongly"),
    "effect_up": ("verhoogt de kans", "raises the probability"),
    "effect_up_little": ("verhoogt de kans een beetje", "raises the probability a little"),
    "effect_down_strong": ("verlaagt de kans sterk", "lowers the probability strongly"),
    "effect_down": ("verlaagt de kans", "lowers the probability"),
    "effect_down_little": ("verlaagt de kans een beetje", "lowers the probability a little"),
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
    "note_help_jeugdarts": ("Alleen jeugdartsen van uw team lezen deze notitie; school, leerplicht en RMC zien hem niet.",
                            "Only youth doctors of your team read this note; the school, attendance officer and RMC "
                            "do not see it."),
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
    "monitoring_because_one": ("Oorzaak:", "Cause:"),
    "monitoring_because_many": ("Oorzaken:", "Causes:"),
    "monitoring_more_causes": ("En nog {n} bevinding(en) van deze ernst: zie de tabel hieronder.",
                               "And {n} more finding(s) of this severity: see the table below."),
    "monitoring_todo": ("Wat te doen", "What to do"),
    "monitoring_figures": ("Kerncijfers van dit rapport", "Key figures of this report"),
    "monitoring_figures_help": ("Een cijfer is alleen een oorzaak van het oordeel als het hierboven bij het oordeel "
                                "staat; bij elk cijfer staat de grens waaraan het is getoetst.",
                                "A figure is a cause of the verdict only when it is listed with the verdict above; "
                                "each figure is shown beside the threshold it is judged by."),
    "monitoring_flag_rates": ("Aandeel gesignaleerd: {ref} bij de referentie, nu {cur}",
                              "Share flagged: {ref} in the reference, now {cur}"),
    "mon_psi_help_limits": ("Vanaf {warn} volgt een waarschuwing, vanaf {alert} een alarm.",
                            "From {warn} there is a warning, from {alert} an alert."),
    "verdict_ok": ("in orde", "ok"),
    "verdict_warn": ("waarschuwing", "warning"),
    "verdict_alert": ("alarm", "alert"),
    "verdict_unknown": ("onbekend", "unknown"),
    # next steps per role (review.duties.FIRST_ACTIONS)
    "act_school_report_duo": ("Verzuim melden bij DUO (verzuimloket)", "Report the absence to DUO (verzuimloket)"),
    "act_school_vva_apply": ("Gesprek over aanmelding bij het mbo", "Talk about applying to an mbo programme"),
    "act_school_vva_enrol": ("Nagaan waarom de inschrijving bij het mbo ontbreekt",
                             "Find out why there is no mbo enrolment"),
    "act_school_lateness": ("Gesprek over te laat komen", "Talk about arriving late"),
    "act_school_talk": ("Gesprek met de leerling (mentor)", "Talk with the student (mentor)"),
    "act_leerplicht_invite": ("Leerling en ouders uitnodigen voor een verzuimgesprek",
                              "Invite the student and parents to an absence meeting"),
    "act_leerplicht_lrv": ("Langdurig verzuim: huisbezoek of gesprek plannen",
                           "Long-term absence: plan a home visit or meeting"),
    "act_leerplicht_school": ("Met de school afstemmen over het verzuim", "Consult the school about the absence"),
    "act_jeugdarts_invite": ("Leerling uitnodigen voor het spreekuur (MAZL)",
                             "Invite the student to the consultation hour (MAZL)"),
    "act_jeugdarts_consult": ("Met de school overleggen in het zorgteam", "Consult the school in the care team"),
    "act_rmc_contact": ("Contact opnemen met de jongere", "Contact the young person"),
    "act_rmc_deregistered": ("Jongere benaderen over een opleiding of werk met scholing",
                             "Approach the young person about education or work with training"),
    "act_rmc_vva": ("Jongere zonder mbo-inschrijving benaderen", "Approach the young person without mbo enrolment"),
    "due_legal": ("wettelijke termijn", "legal deadline"),
    "due_target": ("streefdatum", "target date"),
    "overdue_days": ("verlopen ({n} {unit} geleden)", "overdue ({n} {unit} ago)"),
    "due_today": ("vandaag", "today"),
    "days_left": ("nog {n} {unit}", "{n} {unit} left"),
    "day_one": ("dag", "day"),
    "day_many": ("dagen", "days"),
    "col_next_step": ("Volgende stap", "Next step"),
    "col_why": ("Waarom op de lijst", "Why on the list"),
    "more_signals": ("en nog {n} ander signaal", "and {n} other signal"),
    "more_signals_many": ("en nog {n} andere signalen", "and {n} other signals"),
    "health_signal": ("Signaal voor de jeugdarts (details alleen voor de jeugdarts)",
                      "Signal for the youth doctor (details for the youth doctor only)"),
    # the legal duty, apart from the next step (review.duties)
    "col_duty": ("Wettelijke plicht", "Legal duty"),
    "col_class": ("Klas", "Class"),
    "no_duty": ("geen wettelijke termijn", "no legal deadline"),
    "overdue_word": ("Verlopen", "Overdue"),
    "duty_report_duo": ("Melden bij DUO vóór {date}", "Report to DUO before {date}"),
    "duty_expect_report": ("Melding van school verwacht vóór {date}", "School's report expected before {date}"),
    "duty_reported_on": ("gemeld op {date}", "reported on {date}"),
    "duty_received_on": ("ontvangen op {date}", "received on {date}"),
    "duty_after_deadline": ("(na de termijn)", "(after the deadline)"),
    "duty_late_school": ("({n} {unit} geleden)", "({n} {unit} ago)"),
    "duty_late_leerplicht": ("niet ontvangen (te laat, {n} {unit})", "not received (late, {n} {unit})"),
    "duty_not_yet_received": ("nog niet ontvangen ({left})", "not received yet ({left})"),
    "overdue_school_one": ("1 melding bij DUO is te laat. Die staat bovenaan de lijst.",
                           "1 report to DUO is late. It is at the top of the list."),
    "overdue_school_many": ("{n} meldingen bij DUO zijn te laat. Ze staan bovenaan de lijst.",
                            "{n} reports to DUO are late. They are at the top of the list."),
    "overdue_leerplicht_one": ("Van 1 leerling kwam de melding van school niet op tijd. Die staat bovenaan de "
                               "lijst.",
                               "For 1 pupil the school's report did not come in time. It is at the top of the "
                               "list."),
    "overdue_leerplicht_many": ("Van {n} leerlingen kwam de melding van school niet op tijd. Ze staan bovenaan de "
                                "lijst.",
                                "For {n} pupils the school's report did not come in time. They are at the top of "
                                "the list."),
    "overdue_none": ("Geen verlopen wettelijke termijnen in deze lijst.", "No overdue legal deadlines in this list."),
    "step_from_plan": ("uit het plan", "from the plan"),
    "signal_fired": ("afgegaan {date}", "fired {date}"),
    "filter_group": ("Mijn leerlingen", "My pupils"),
    "filter_group_all": ("al mijn groepen ({groups})", "all my groups ({groups})"),
    "groups_note": ("U ziet alleen de leerlingen van uw mentorgroep(en): {groups}.",
                    "You see only the pupils of your mentor group(s): {groups}."),
    # history in words (review.plans, the report, the letter)
    "hist_plan": ("stap gepland: {step}, vóór {date}", "step planned: {step}, by {date}"),
    "hist_plan_done": ("stap gedaan: {step} ({date})", "step done: {step} ({date})"),
    "hist_follow_up": ("nacontrole van {step}: {result}", "follow-up check of {step}: {result}"),
    "hist_duo_report": ("melding bij DUO vastgelegd: gemeld op {date}", "report to DUO recorded: reported on {date}"),
    "hist_duo_reference": ("kenmerk van DUO: {ref}", "DUO's reference: {ref}"),
    "hist_letter": ("brief aan de ouders gemaakt ({about}); gesprek aangeboden op {date} om {time}",
                    "letter to the parents made ({about}); conversation offered on {date} at {time}"),
    "hist_letter_hours": ("{hours} uur in {weeks} lesweken", "{hours} hours in {weeks} lesson weeks"),
    "hist_letter_general": ("algemene uitnodiging", "a general invitation"),
    # the timeline (review.timeline)
    "tl_title": ("Tijdlijn", "Timeline"),
    "tl_intro": ("Per lesweek het ongeoorloofde verzuim en het te laat komen, naast wat er is gesignaleerd en gedaan. "
                 "De nieuwste week staat bovenaan.",
                 "Per lesson week the unauthorised absence and late arrivals, beside what was signalled and done. "
                 "The newest week is on top."),
    "tl_intro_health": ("Als jeugdarts ziet u ook de ziekmeldingen, met hun data.",
                        "As youth doctor you also see the sick reports, with their dates."),
    "tl_caption": ("Tijdlijn tot en met {date}: {hours} uur ongeoorloofd verzuim en {lates} keer te laat in deze weken",
                   "Timeline up to {date}: in these weeks {hours} hours of unauthorised absence; late arrivals: "
                   "{lates}"),
    "tl_col_week": ("Week van", "Week of"),
    "tl_col_hours": ("Ongeoorloofd verzuim (uur)", "Unauthorised absence (hours)"),
    "tl_col_lates": ("Te laat (keer)", "Late (times)"),
    "tl_col_sick": ("Ziek (schooldagen)", "Sick (school days)"),
    "tl_col_what": ("Signalen en acties", "Signals and actions"),
    "tl_holiday": ("geen lesweek (vakantie)", "no lesson week (holiday)"),
    "tl_no_figures": ("nog geen gegevens", "no data yet"),
    "tl_hours_label": ("{hours} uur ongeoorloofd verzuim", "{hours} hours of unauthorised absence"),
    "tl_no_data": ("Er zijn geen verzuimgegevens beschikbaar: de gegevensmap van deze installatie ontbreekt of is "
                   "onvolledig. Daarom is er geen tijdlijn.",
                   "No absence data is available: this installation's data folder is missing or incomplete. So "
                   "there is no timeline."),
    "tl_no_rows": ("In de gegevensmap staan geen gegevens van deze leerling. Daarom is er geen tijdlijn.",
                   "The data folder holds no data of this pupil. So there is no timeline."),
    "tl_out_of_calendar": ("De datum valt buiten de schoolkalender. Daarom is er geen tijdlijn.",
                           "The date lies outside the school calendar. So there is no timeline."),
    "tl_signal": ("signaal: {what}", "signal: {what}"),
    "tl_case": ("casus geopend: {what}", "case opened: {what}"),
    "tl_step_due": ("stap gepland: {step}", "step planned: {step}"),
    "tl_step_done": ("stap gedaan: {step}", "step done: {step}"),
    "tl_follow_up": ("nacontrole gepland: {step}", "follow-up check planned: {step}"),
    "tl_follow_up_result": ("nacontrole van {step}: {result}", "follow-up check of {step}: {result}"),
    "tl_report": ("gemeld bij DUO", "reported to DUO"),
    "tl_letter_made": ("brief aan de ouders gemaakt", "letter to the parents made"),
    "tl_meeting": ("gesprek met ouders en leerling (uitnodiging), {time}",
                   "conversation with parents and pupil (invitation), {time}"),
    "tl_spells": ("Ziekteperiodes (alleen voor de jeugdarts)", "Sick spells (youth doctor only)"),
    "tl_spell": ("{start} tot en met {end}: {n} schooldagen", "{start} to {end}: {n} school days"),
    "tl_spell_open": ("sinds {start}, loopt nog: {n} schooldagen", "since {start}, still sick: {n} school days"),
    # the pupil page: owner, plan, report, letter
    "owner_title": ("Eigenaar", "Owner"),
    "owner_none": ("Nog niemand heeft deze casus genomen.", "Nobody has taken this case yet."),
    "owner_is": ("Eigenaar: {name}", "Owner: {name}"),
    "owner_you": ("(u)", "(you)"),
    "take_button": ("Neem deze casus", "Take this case"),
    "hand_over_title": ("Overdragen aan een collega", "Hand over to a colleague"),
    "field_colleague": ("Collega", "Colleague"),
    "hand_over_button": ("Overdragen", "Hand over"),
    "no_colleagues": ("Er is geen collega van uw team om de casus aan over te dragen.",
                      "There is no colleague in your team to hand the case over to."),
    "plan_title": ("Plan: wie doet wat wanneer", "Plan: who does what by when"),
    "plan_empty": ("Nog geen stappen gepland.", "No steps planned yet."),
    "plan_col_step": ("Stap", "Step"),
    "plan_col_owner": ("Wie", "Who"),
    "plan_col_date": ("Datum", "Date"),
    "plan_col_state": ("Stand", "State"),
    "plan_done_on": ("gedaan op {date}", "done on {date}"),
    "plan_due_on": ("vóór {date}", "by {date}"),
    "plan_open": ("nog te doen", "still to do"),
    "plan_check_on": ("nacontrole op {date}", "follow-up check on {date}"),
    "plan_check_result": ("nacontrole: {result}", "follow-up check: {result}"),
    "plan_check_due": ("nacontrole nu nodig", "follow-up check due now"),
    "add_step_title": ("Stap toevoegen", "Add a step"),
    "field_step_kind": ("Wat", "What"),
    "field_step_owner": ("Wie", "Who"),
    "field_step_due": ("Datum (streefdatum)", "Date (target)"),
    "field_step_note": ("Toelichting (optioneel)", "Note (optional)"),
    "add_step_button": ("Stap toevoegen", "Add step"),
    "me_option": ("ikzelf", "me"),
    "done_title": ("Gedaan: {step}", "Done: {step}"),
    "field_done_on": ("Gedaan op", "Done on"),
    "field_result": ("Wat kwam eruit? (optioneel)", "What came of it? (optional)"),
    "field_follow_up_on": ("Nacontrole op (standaard zes weken later)", "Follow-up check on (default six weeks later)"),
    "done_button": ("Opslaan als gedaan", "Save as done"),
    "check_title": ("Nacontrole: {step}", "Follow-up check: {step}"),
    "field_check_result": ("Hoe gaat het nu?", "How is it going now?"),
    "field_check_note": ("Toelichting (optioneel)", "Note (optional)"),
    "check_button": ("Nacontrole opslaan", "Save the follow-up check"),
    "report_title": ("Melding bij DUO (verzuimloket)", "Report to DUO (verzuimloket)"),
    "report_help": ("Leg vast wanneer de school het verzuim bij DUO heeft gemeld. De leerplichtambtenaar ziet dan "
                    "dat de melding binnen is.",
                    "Record when the school reported the absence to DUO. The attendance officer then sees that the "
                    "report came."),
    "field_reported_on": ("Gemeld op", "Reported on"),
    "field_reference": ("Kenmerk van DUO (optioneel)", "DUO's reference (optional)"),
    "report_button": ("Melding vastleggen", "Record the report"),
    "reports_title": ("Meldingen bij DUO", "Reports to DUO"),
    "reports_school_title": ("Melding van de school bij DUO", "The school's report to DUO"),
    "report_line": ("gemeld op {date}", "reported on {date}"),
    "report_ref": ("kenmerk {ref}", "reference {ref}"),
    "reports_none": ("De school heeft (nog) geen melding bij DUO vastgelegd.",
                     "The school has not recorded a report to DUO (yet)."),
    "letter_title": ("Brief aan de ouders", "Letter to the parents"),
    "letter_help": ("Een korte brief (minder dan 150 woorden, in eenvoudig Nederlands en in het Engels) met de uren "
                    "verzuim en een datum voor een gesprek. Er wordt niets verstuurd: u print of kopieert de brief. "
                    "Dat u een brief maakte, komt in de geschiedenis.",
                    "A short letter (under 150 words, in plain Dutch and in English) with the hours of absence and "
                    "a date to talk. Nothing is sent: you print or copy the letter. That you made one goes into the "
                    "history."),
    "field_meeting_on": ("Datum voor het gesprek", "Date for the conversation"),
    "field_meeting_at": ("Tijd (uu:mm)", "Time (hh:mm)"),
    "field_contact": ("Hoe bereiken de ouders de mentor? (telefoon of e-mail, optioneel)",
                      "How do the parents reach the mentor? (phone or e-mail, optional)"),
    "letter_button": ("Brief maken", "Make the letter"),
    "letter_page_intro": ("Er is niets verstuurd. Print deze pagina of kopieer de tekst. Schrijf de naam van de "
                          "leerling op de lijn: riskscore kent geen namen.",
                          "Nothing has been sent. Print this page or copy the text. Write the pupil's name on the "
                          "line: riskscore holds no names."),
    "letter_made": ("Gemaakt op {at}; vastgelegd in de geschiedenis van de casus.",
                    "Made on {at}; recorded in the case's history."),
    "letter_words": ("{n} woorden", "{n} words"),
    "letter_in_nl": ("In het Nederlands", "In Dutch"),
    "letter_in_en": ("In het Engels", "In English"),
    "letter_subject": ("Onderwerp", "Subject"),
    "back_pupil": ("Terug naar de leerling", "Back to the pupil"),
    "saved_take": ("U bent nu eigenaar van deze casus.", "You now own this case."),
    "saved_assign": ("De casus is overgedragen.", "The case was handed over."),
    "saved_plan": ("De stap staat in het plan.", "The step is in the plan."),
    "saved_done": ("De stap is gedaan; de nacontrole staat gepland.", "The step is done; the follow-up check is planned."),
    "saved_follow_up": ("De nacontrole is vastgelegd.", "The follow-up check is recorded."),
    "saved_report": ("De melding bij DUO is vastgelegd.", "The report to DUO is recorded."),
    "err_date_missing": ("Vul een datum in bij '{field}'.", "Fill in a date for '{field}'."),
    "err_date": ("'{field}' is geen geldige datum.", "'{field}' is not a valid date."),
    "err_future": ("'{field}' ligt in de toekomst.", "'{field}' lies in the future."),
    "err_follow_up_before": ("De nacontrole moet na de datum liggen waarop de stap gedaan is.",
                             "The follow-up check must come after the day the step was done."),
    "err_step_kind": ("Kies een stap uit de lijst.", "Choose a step from the list."),
    "err_pick_colleague": ("Kies een collega uit de lijst.", "Choose a colleague from the list."),
    "err_follow_up_result": ("Kies beter, hetzelfde of slechter.", "Choose better, the same or worse."),
    "err_report_future": ("De meldingsdatum ligt na vandaag.", "The report date lies after today."),
    "err_reference_long": ("Het kenmerk is te lang (maximaal {n} tekens).", "The reference is too long (at most {n} "
                                                                             "characters)."),
    "err_not_reportable": ("Deze casus heeft geen signaal dat de school bij DUO meldt.",
                           "This case holds no signal the school reports to DUO."),
    "err_not_active": ("De casus is afgerond. Zet de status eerst terug op 'in behandeling'.",
                       "The case is finished. Set its status back to 'in review' first."),
    "err_meeting_past": ("De datum voor het gesprek ligt in het verleden.", "The date for the conversation lies in "
                                                                            "the past."),
    "err_time": ("Vul een tijd in als uu:mm, bijvoorbeeld 15:30.", "Enter a time as hh:mm, for example 15:30."),
    "err_contact_long": ("De contactgegevens zijn te lang (maximaal {n} tekens).",
                         "The contact details are too long (at most {n} characters)."),
    # search, sort, pages
    "search_label": ("Zoek op leerlingnummer", "Search by student id"),
    "more_filters": ("Meer filters: risico, status, school", "More filters: risk, status, school"),
    "search_help": ("Het pseudoniem, of een deel ervan.", "The pseudonym, or part of it."),
    "sort_by": ("Sorteer op {col}", "Sort by {col}"),
    "sorted_asc": ("oplopend gesorteerd", "sorted ascending"),
    "sorted_desc": ("aflopend gesorteerd", "sorted descending"),
    "pages_label": ("Pagina's", "Pages"),
    "page_of": ("Pagina {page} van {pages} · {n} casussen", "Page {page} of {pages} · {n} cases"),
    "page_prev": ("Vorige pagina", "Previous page"),
    "page_next": ("Volgende pagina", "Next page"),
    "worklist_caption_page": ("Casussen {first}–{last} van {n}", "Cases {first}–{last} of {n}"),
    # the pupil page: why, score source
    "why_title": ("Waarom staat deze leerling op uw lijst?", "Why is this student on your list?"),
    "why_rule": ("Wettelijk of protocolsignaal", "Legal or protocol signal"),
    "why_capacity": ("Het model schat de kans hoog in vergeleken met de andere leerlingen van uw team.",
                     "The model rates the probability high compared with your team's other students."),
    "fired_on": ("afgegaan op {date}", "fired on {date}"),
    "duo_deadline": ("melding door de school bij DUO uiterlijk {date}", "school's report to DUO due {date}"),
    "source_label": ("Bron", "Source"),
    "acts_label": ("Wie handelt", "Who acts"),
    "other_triggers_title": ("Andere signalen", "Other signals"),
    "score_from": ("Peildatum {date} ({source})", "Reference date {date} ({source})"),
    "score_date_short": ("peildatum {date}", "as of {date}"),
    "source_batch": ("berekend in de periodieke berekening", "computed in the periodic run"),
    "source_api": ("berekend op verzoek", "computed on request"),
    "source_case": ("stand bij het openen van de casus", "as when the case was opened"),
    "absence_title": ("Verzuim", "Absence"),
    "one_save_help": ("Kies de nieuwe status én de uitkomst en sla één keer op.",
                      "Choose the new status and the outcome, and save once."),
    # history in words
    "hist_opened": ("casus geopend: {reason}", "case opened: {reason}"),
    "hist_outcome": ("uitkomst: {outcome} (gesprek waard: {worth})", "outcome: {outcome} (worth a conversation: {worth})"),
    "hist_owner": ("eigenaar: {old} → {new}", "owner: {old} → {new}"),
    # model page
    "metric_roc_auc": ("Onderscheidend vermogen (AUC, 0,5 = gokken, 1 = perfect)",
                       "Discrimination (AUC, 0.5 = chance, 1 = perfect)"),
    "metric_pr_auc": ("Precisie-recall (PR-AUC)", "Precision-recall (PR-AUC)"),
    "metric_brier": ("Brier-score (lager is beter)", "Brier score (lower is better)"),
    "metric_log_loss": ("Log-loss (lager is beter)", "Log loss (lower is better)"),
    "metric_ece": ("Kalibratiefout (lager is beter)", "Calibration error (lower is better)"),
    "col_feature": ("Kenmerk", "Feature"),
    "feature_unauthorised_hours_4w": ("Ongeoorloofd verzuim, laatste 4 lesweken (uren)",
                                      "Unauthorised absence, last 4 lesson weeks (hours)"),
    "feature_unauthorised_hours_12w": ("Ongeoorloofd verzuim, laatste 12 lesweken (uren)",
                                       "Unauthorised absence, last 12 lesson weeks (hours)"),
    "feature_unauthorised_hours_year": ("Ongeoorloofd verzuim dit schooljaar (uren)",
                                        "Unauthorised absence this school year (hours)"),
    "feature_unauthorised_trend": ("Verzuimtrend (uren per lesweek)", "Absence trend (hours per lesson week)"),
    "feature_late_count_12w": ("Te laat gekomen, laatste 12 lesweken", "Late arrivals, last 12 lesson weeks"),
    "feature_sick_reports_12w": ("Ziekmeldingen, laatste 12 lesweken", "Sick reports, last 12 lesson weeks"),
    "feature_longest_sick_spell_days": ("Langste ziekteperiode (schooldagen)", "Longest sick spell (school days)"),
    "feature_sick_days_year": ("Ziektedagen dit schooljaar", "Sick days this school year"),
    "feature_application_days_late": ("Aanmelding mbo: dagen na 1 april", "mbo application: days after 1 April"),
    "feature_vva_status_code": ("Status aanmelding mbo", "mbo application status"),
    "feature_switches": ("Wisselingen van opleiding", "Programme switches"),
    "feature_retentions": ("Keren blijven zitten", "Times held back"),
    "feature_over_age": ("Jaren ouder dan gebruikelijk voor het leerjaar", "Years older than usual for the grade"),
    "feature_level_code": ("Onderwijsniveau", "Education level"),
    # monitoring
    "mon_score_dist": ("Verdeling van de scores", "Distribution of the scores"),
    "mon_score_dist_help": ("Aandeel leerlingen per kansklasse: referentie (bij de training) naast nu.",
                            "Share of students per probability bin: reference (at training) beside now."),
    "mon_reference": ("referentie", "reference"),
    "mon_current": ("nu", "now"),
    "mon_psi_over_time": ("Verschuiving van de scores (PSI) per rapport", "Score shift (PSI) per report"),
    "mon_psi_help": ("Boven 0,1 verdient aandacht, boven 0,25 is de verschuiving groot.",
                     "Above 0.1 deserves attention, above 0.25 the shift is large."),
    "mon_groups": ("Per groep: aandeel gesignaleerd en terecht gesignaleerd (TPR)",
                   "Per group: share flagged and true positive rate (TPR)"),
    "mon_groups_help": ("Punten met een lijn: schatting met 95%-interval. Groepskenmerken zijn alleen voor deze "
                        "controle; het model gebruikt ze nooit.",
                        "Dots with a line: estimate with 95% interval. Group attributes are for this check only; "
                        "the model never uses them."),
    "mon_flag_rate": ("gesignaleerd", "flagged"),
    "mon_flag_over_time": ("Aandeel gesignaleerd per rapport", "Share flagged per report"),
    "mon_tpr": ("TPR", "TPR"),
    "mon_outcomes": ("Uitkomsten en beoordelingen per maand", "Outcomes and reviews per month"),
    "mon_outcomes_help": ("Aantal vastgelegde uitkomsten, en het deel dat een gesprek waard was.",
                          "Number of recorded outcomes, and the share that was worth a conversation."),
    "mon_reviews": ("beoordelingen", "reviews"),
    "mon_worth": ("gesprek waard", "worth a conversation"),
    "mon_evidently": ("Open het driftrapport (evidently)", "Open the drift report (evidently)"),
    "mon_report": ("Open het volledige monitoringrapport", "Open the full monitoring report"),
    "mon_no_data": ("Nog geen gegevens.", "No data yet."),
    "col_group": ("Groep", "Group"),
    "col_n": ("Aantal", "Count"),
    "col_month": ("Maand", "Month"),
    # vocabularies
    "band_low": ("laag", "low"),
    "band_medium": ("middel", "medium"),
    "band_high": ("hoog", "high"),
    "band_unknown": ("onbekend (geen modelscore: bezwaar of onvolledige gegevens)",
                     "unknown (no model score: objection or incomplete data)"),
    "data_incomplete_title": ("Gegevens onvolledig", "Data incomplete"),
    "data_incomplete_student": ("Niet gescoord door het model: de gegevens van de school zijn onvolledig, of er is bezwaar "
                                "gemaakt. Dit is geen laag risico. De wettelijke signalen gelden wel.",
                                "Not scored by the model: the school's data is incomplete, or an objection was made. "
                                "This is not a low risk. The legal signals still apply."),
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
    "role_rmc": ("RMC", "regional office for early school leavers (RMC)"),
    "role_data_team": ("datateam", "data team"),
    "role_admin": ("beheerder", "administrator"),
    # the roles as a pupil or parent reads them (the dossier, the access log)
    "role_long_school": ("school (mentor, zorgcoördinator, decaan)", "school (mentor, care coordinator, careers adviser)"),
    "role_long_jeugdarts": ("jeugdarts", "youth doctor"),
    "role_long_leerplicht": ("leerplichtambtenaar", "attendance officer"),
    "role_long_rmc": ("RMC-medewerker", "RMC adviser"),
    "role_long_admin": ("beheerder", "administrator"),
    "role_long_data_team": ("datateam", "data team"),
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
    "outcome_warning_given": ("waarschuwing gegeven", "warning given"),
    "outcome_halt_referral": ("verwezen naar HALT", "referred to HALT"),
    "outcome_official_report": ("proces-verbaal opgemaakt", "official report made (proces-verbaal)"),
    "outcome_consultation_held": ("consult gehouden", "consultation held"),
    "outcome_advice_to_school": ("advies aan school (met toestemming)", "advice to the school (with consent)"),
    "outcome_back_to_education": ("terug naar een opleiding", "back in education"),
    "outcome_back_to_work": ("aan het werk", "in work"),
    "outcome_not_reached": ("niet bereikt", "not reached"),
    "action_plan": ("stap gepland", "step planned"),
    "action_plan_done": ("stap gedaan", "step done"),
    "action_follow_up": ("nacontrole", "follow-up check"),
    "action_duo_report": ("melding bij DUO vastgelegd", "report to DUO recorded"),
    "action_letter": ("brief aan ouders gemaakt", "letter to the parents made"),
    "step_talk_pupil": ("gesprek met de leerling", "talk with the pupil"),
    "step_talk_parents": ("gesprek met de ouders", "talk with the parents"),
    "step_letter_parents": ("brief aan de ouders", "letter to the parents"),
    "step_report_duo": ("melden bij DUO (verzuimloket)", "report to DUO (verzuimloket)"),
    "step_care_team": ("bespreken in het zorgteam", "discuss in the care team"),
    "step_study_choice": ("studiekeuzegesprek (decaan)", "study choice talk (careers adviser)"),
    "step_refer_jeugdarts": ("aanmelden bij de jeugdarts", "refer to the youth doctor"),
    "step_conversation": ("gesprek (leerplicht)", "conversation (attendance officer)"),
    "step_warning": ("waarschuwing", "warning"),
    "step_halt": ("HALT-verwijzing", "HALT referral"),
    "step_official_report": ("proces-verbaal", "official report (proces-verbaal)"),
    "step_care": ("zorg inschakelen", "arrange care"),
    "step_invite": ("uitnodigen voor het spreekuur", "invite to the consultation hour"),
    "step_consult": ("consult", "consultation"),
    "step_advice_school": ("advies aan school (met toestemming)", "advice to the school (with consent)"),
    "step_refer": ("verwijzen", "refer"),
    "step_contact": ("contact leggen", "make contact"),
    "step_back_to_education": ("terug naar een opleiding", "back to education"),
    "step_work": ("naar werk", "into work"),
    "step_not_reached": ("niet bereikt", "not reached"),
    "act_follow_up": ("nacontrole: gaat het beter?", "follow-up check: is it better?"),
    "follow_up_improved": ("beter", "better"),
    "follow_up_unchanged": ("hetzelfde", "the same"),
    "follow_up_worse": ("slechter", "worse"),
    "rule_short_leerplicht_16h_4w": ("16 uur verzuim in 4 lesweken", "16 hours absent in 4 lesson weeks"),
    "rule_short_lrv_4w": ("Langdurig relatief verzuim", "Long-term unauthorised absence"),
    "rule_short_rmc_verzuim": ("Verzuim na de leerplicht (RMC)", "Absence past compulsory school age (RMC)"),
    "rule_short_mazl_frequent": ("Vaak ziek gemeld (MAZL)", "Often reported sick (MAZL)"),
    "rule_short_mazl_long": ("Lang ziek gemeld (MAZL)", "Reported sick for long (MAZL)"),
    "rule_short_vva_not_applied": ("Niet aangemeld bij het mbo", "No mbo application"),
    "rule_short_vva_no_enrolment": ("Geen inschrijving bij het mbo", "No mbo enrolment"),
    "rule_short_deregistered_no_sk": ("Uitgeschreven zonder startkwalificatie",
                                      "Deregistered without a basic qualification"),
    "rule_short_lateness": ("Vaak te laat", "Often late"),
}



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


def hours(x: float | None, lang: str) -> str:
    """Hours as people write them: '6', '2,5' (Dutch) / '2.5' (English); at most one decimal."""
    if x is None:
        return "–"
    text = f"{round(float(x), 1):g}"
    return text.replace(".", ",") if lang == "nl" else text


def number(x: float | None, lang: str, digits: int = 2, *, signed: bool = False) -> str:
    if x is None:
        return "–"
    text = f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"
    return text.replace(".", ",") if lang == "nl" else text


MONTHS_NL = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
             "november", "december")
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December")


def day(value: date, lang: str = DEFAULT_LANG) -> str:
    """'3 december 2026' / '3 December 2026'."""
    months = MONTHS_EN if lang == "en" else MONTHS_NL
    return f"{value.day} {months[value.month - 1]} {value.year}"


def when(value: date | datetime | str | None, lang: str = DEFAULT_LANG) -> str:
    """Dates in words ('3 december 2026'); times to the minute in Europe/Amsterdam, as the schools read them.

    Stored datetimes are UTC (SQLite hands them back naive, PostgreSQL aware)."""
    if value is None:
        return "–"
    if isinstance(value, str):
        try:
            parsed: date = date.fromisoformat(value) if len(value) <= 10 else datetime.fromisoformat(value)
        except ValueError:
            return value
        value = parsed
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        local = aware.astimezone(AMSTERDAM)
        return f"{day(local.date(), lang)}, {local:%H:%M}"
    return day(value, lang)


def days_left(n: int, lang: str = DEFAULT_LANG) -> str:
    """'verlopen (3 dagen)', 'vandaag', 'nog 1 dag', 'nog 5 dagen' — plain words, right plural."""
    if n < 0:
        k = -n
        return translate("overdue_days", lang, n=k, unit=translate("day_one" if k == 1 else "day_many", lang))
    if n == 0:
        return translate("due_today", lang)
    return translate("days_left", lang, n=n, unit=translate("day_one" if n == 1 else "day_many", lang))
