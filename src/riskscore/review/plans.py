"""What a team can do after a signal, and what a review can find — per role, in the domain's own steps.

A plan step is an action a person takes by a date (a conversation, a warning, a referral), done or not,
with a follow-up check (default six weeks later, duties.FOLLOW_UP_WEEKS) and its result. The kinds of
action are also what monitoring counts, so a team can see which follow-up preceded less absence — an
association, never an effect (the impact report is the only place that estimates one, at the capacity
cut-off)."""

from __future__ import annotations

from riskscore.errors import DataError

#: plan steps per role (stored as codes, shown in words by the pages: web/i18n.py "action_kind")
ACTION_KINDS: dict[str, tuple[str, ...]] = {
    "school": ("talk_pupil", "talk_parents", "letter_parents", "report_duo", "care_team", "study_choice",
               "refer_jeugdarts"),
    "leerplicht": ("conversation", "warning", "halt", "official_report", "care"),
    "jeugdarts": ("invite", "consult", "advice_school", "refer"),
    "rmc": ("contact", "back_to_education", "work", "care", "not_reached"),
}
#: outcomes of a review per role (review_outcomes.outcome)
OUTCOMES_BY_ROLE: dict[str, tuple[str, ...]] = {
    "school": ("conversation_held", "support_arranged", "referred_care", "reported_leerplicht", "no_concern",
               "unreachable", "other"),
    "leerplicht": ("conversation_held", "warning_given", "halt_referral", "official_report", "referred_care",
                   "no_concern", "unreachable", "other"),
    "jeugdarts": ("consultation_held", "advice_to_school", "referred_care", "no_concern", "unreachable", "other"),
    "rmc": ("back_to_education", "back_to_work", "referred_care", "not_reached", "no_concern", "other"),
}
#: every outcome code any role can record (the API's enum)
OUTCOMES: tuple[str, ...] = tuple(dict.fromkeys(o for codes in OUTCOMES_BY_ROLE.values() for o in codes))
#: the result of a follow-up check
FOLLOW_UP_RESULTS: tuple[str, ...] = ("improved", "unchanged", "worse")

MSG_OUTCOME_NOT_FOR_ROLE = "outcome '{outcome}' is not available for a '{role}' case; choose one of: {allowed}"
MSG_ACTION_NOT_FOR_ROLE = "action '{kind}' is not a step of a '{role}' case; choose one of: {allowed}"
MSG_BAD_FOLLOW_UP = "follow-up result '{result}' is not one of: {allowed}"


def outcomes_for(role: str) -> tuple[str, ...]:
    """The outcomes offered to a reviewer of this role, in display order."""
    return OUTCOMES_BY_ROLE.get(role, ())


def check_outcome(role: str, outcome: str) -> None:
    """DataError (422) unless the outcome is one this role's cases can have."""
    allowed = outcomes_for(role)
    if outcome not in allowed:
        raise DataError(MSG_OUTCOME_NOT_FOR_ROLE.format(outcome=outcome, role=role, allowed=", ".join(allowed)))


def check_action(role: str, kind: str) -> None:
    """DataError (422) unless the action is a step this role takes."""
    allowed = ACTION_KINDS.get(role, ())
    if kind not in allowed:
        raise DataError(MSG_ACTION_NOT_FOR_ROLE.format(kind=kind, role=role, allowed=", ".join(allowed)))


def check_follow_up(result: str) -> None:
    if result not in FOLLOW_UP_RESULTS:
        raise DataError(MSG_BAD_FOLLOW_UP.format(result=result, allowed=", ".join(FOLLOW_UP_RESULTS)))
