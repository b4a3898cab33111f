"""Request and response models. Every field has a type, bounds and a description, so /docs is the manual.

Inputs are strict (``extra='forbid'``): a misspelt feature must fail with 422 naming the field, not
silently score a pupil as if the value were unknown. Every model feature must be *present*; ``null``
means unknown or not applicable (the model handles missing values explicitly).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from riskscore.contracts import LEVELS, RULE_IDS

NOTICE_NL = "Dit is een signaal voor een gesprek, geen besluit."
NOTICE_EN = "This is a signal for review, not a decision."
#: a client's clock may run a day ahead of the server's (time zones): allow as_of up to tomorrow
FUTURE_SLACK = dt.timedelta(days=1)

RuleId = Literal[RULE_IDS]  # type: ignore[valid-type]
Band = Literal["low", "medium", "high"]
MSG_LOOKS_LIKE_BSN = "looks like a BSN (9 digits passing the eleven-test); send the pseudonymous id instead"


def is_bsn_like(value: str) -> bool:
    """9 digits (8 with a leading zero dropped) that pass the BSN eleven-test."""
    digits = value.zfill(9) if value.isdigit() and len(value) == 8 else value
    if len(digits) != 9 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - int(digits[8])
    return total % 11 == 0 and digits != "000000000"


def _not_bsn(value: str) -> str:
    if is_bsn_like(value):
        raise ValueError(MSG_LOOKS_LIKE_BSN)
    return value


StudentId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                                 description="Pseudonymous student id (never a BSN or name; a BSN-like id is refused)."),
                      AfterValidator(_not_bsn)]

_strict = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands stored timestamps back naive; the store writes UTC only, so naive means UTC.
    Without an offset the JSON would not be an RFC 3339 date-time, as the schema promises."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


UtcDateTime = Annotated[dt.datetime, AfterValidator(_as_utc)]


def _not_future(value: dt.date | None, name: str) -> dt.date | None:
    if value is not None and value > dt.date.today() + FUTURE_SLACK:
        raise ValueError(f"{name} lies in the future")
    return value


def age_on(birth_date: dt.date, on: dt.date) -> float:
    """Whole years on a date (riskscore.calendar.age_on): legal limits turn on the birthday itself."""
    from riskscore.calendar import age_on as whole_years

    return float(whole_years(birth_date, on))


class TriggerIn(BaseModel):
    """A rule trigger computed by the caller (e.g. by `riskscore` batch rules)."""

    model_config = _strict

    id: RuleId = Field(description="Rule id from the rule layer.")
    fired_on: dt.date | None = Field(None, description="When the rule fired (default: as_of).")
    due_date: dt.date | None = Field(None, description="Legal deadline, e.g. the DUO report for leerplicht_16h_4w.")
    detail: str | None = Field(None, max_length=300, description="Short factual detail, e.g. '18 h in 4 lesson weeks'.")


class StudentFeatures(BaseModel):
    """One student at one reference date: context, the model's features and optional rule triggers."""

    model_config = _strict

    student_id: StudentId
    school_id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$", description="School (BRIN) id.")
    municipality: str = Field(pattern=r"^GM\d{4}$", description="Municipality (GM code) of residence, e.g. GM0363.")
    rmc_region: str = Field(pattern=r"^RMC\d{1,2}$", description="RMC region, e.g. RMC27.")
    birth_date: dt.date | None = Field(None, description="Birth date; gives the exact age at as_of. Or give age.")
    age: float | None = Field(None, ge=4, le=30, description="Age in years at as_of, if birth_date is not given.")
    has_sk: bool = Field(description="Holds a startkwalificatie (havo, vwo or mbo-2+ diploma).")
    as_of: dt.date = Field(description="Reference date of the features (not in the future).")
    triggers: list[RuleId | TriggerIn] = Field(
        default_factory=list, max_length=len(RULE_IDS) * 4,
        description="Active rule triggers: rule ids, or objects with id, fired_on, due_date, detail.")
    # --- the model's features (contracts.FEATURES); null = unknown / not applicable ------------------
    unauthorised_hours_4w: float | None = Field(ge=0, le=200, description="Hours of unauthorised absence, last 4 lesson weeks.")
    unauthorised_hours_12w: float | None = Field(ge=0, le=600, description="Hours of unauthorised absence, last 12 lesson weeks.")
    unauthorised_hours_year: float | None = Field(ge=0, le=2000, description="Hours of unauthorised absence this school year.")
    unauthorised_trend: float | None = Field(ge=-50, le=50, description="Hours/lesson week, last 4 minus the 12 before.")
    late_count_12w: float | None = Field(ge=0, le=500, description="Late arrivals, last 12 lesson weeks.")
    sick_reports_12w: float | None = Field(ge=0, le=60, description="Sick reports, last 12 school weeks (health data).")
    longest_sick_spell_days: float | None = Field(ge=0, le=366, description="Longest sick spell in school days (health data).")
    sick_days_year: float | None = Field(ge=0, le=366, description="Sick days this school year (health data).")
    application_days_late: float | None = Field(ge=0, le=500, description="Days after 1 April without/before an mbo application.")
    vva_status_code: float | None = Field(ge=0, le=4, description="VVA status: 0 enrolled, 1 offered, 2 applied, 3 no enrolment/withdrawn, 4 none.")
    switches: float | None = Field(ge=0, le=30, description="Switches of programme or school.")
    retentions: float | None = Field(ge=0, le=12, description="Times held back a grade.")
    over_age: float | None = Field(ge=0, le=15, description="Years older than usual for the grade.")
    level_code: float | None = Field(ge=0, le=len(LEVELS) - 1, description=f"Education level code: index in {list(LEVELS)}.")

    @field_validator("as_of")
    @classmethod
    def _as_of_not_future(cls, v: dt.date) -> dt.date:
        return _not_future(v, "as_of")  # type: ignore[return-value]

    @field_validator("birth_date")
    @classmethod
    def _birth_not_future(cls, v: dt.date | None) -> dt.date | None:
        return _not_future(v, "birth_date")

    @model_validator(mode="after")
    def _age_known(self) -> StudentFeatures:
        if self.birth_date is None and self.age is None:
            raise ValueError("give birth_date or age")
        if self.birth_date is not None:
            derived = age_on(self.birth_date, self.as_of)
            if not 4 <= derived <= 30:
                raise ValueError(f"age at as_of must be 4-30, got {derived:.0f} from birth_date")
            if self.age is not None and abs(self.age - derived) >= 1:
                raise ValueError("age does not match birth_date at as_of")
        return self

    def age_at_as_of(self) -> float:
        return age_on(self.birth_date, self.as_of) if self.birth_date is not None else float(self.age)  # type: ignore[arg-type]


class ScoreRequest(BaseModel):
    """A batch of students to score (at most RISKSCORE_MAX_BATCH)."""

    model_config = _strict

    students: list[StudentFeatures] = Field(min_length=1, max_length=100_000, description="Students to score.")


class ReasonOut(BaseModel):
    """A factor that raised the score, with the value that caused it. Health detail only for jeugdarts."""

    code: str = Field(description="Reason code, e.g. ABS_UNAUTH_4W; HEALTH_SIGNAL when withheld.")
    category: str = Field(description="absence | sick | transition | school_career | context")
    feature: str | None = Field(None, description="Model feature; null when withheld.")
    value: float | None = Field(None, description="The value that caused it; null when unknown or withheld.")
    contribution: float | None = Field(None, description="Exact contribution to the log-odds; null when withheld.")
    text_nl: str
    text_en: str
    withheld: bool = Field(False, description="True when health detail is withheld from this role.")


class TriggerOut(BaseModel):
    """A rule trigger: deterministic, with its legal or protocol source, shown apart from the score."""

    id: str
    source: str = Field(description="Law or protocol the rule comes from.")
    role: str = Field(description="Role that acts on it.")
    fired_on: dt.date | None = None
    due_date: dt.date | None = Field(None, description="Deadline, where the law sets one.")
    detail: str | None = Field(None, description="Detail; withheld (health) for roles other than jeugdarts.")
    withheld: bool = False


class ScoreResult(BaseModel):
    """One student's signal. Never a decision: it asks a human to look."""

    student_id: str
    as_of: dt.date
    probability: float = Field(ge=0, le=1, description="Calibrated probability of VSV within 12 months.")
    band: Band
    reasons: list[ReasonOut] = Field(description="Top reasons (at most 3), largest first.")
    triggers: list[TriggerOut]
    reviewer_roles: list[str] = Field(description="Who should review this signal (routing).")
    model_version: str
    notice_nl: str = NOTICE_NL
    notice_en: str = NOTICE_EN


class ScoreResponse(BaseModel):
    results: list[ScoreResult]
    model_version: str
    notice_nl: str = NOTICE_NL
    notice_en: str = NOTICE_EN


class StoredScore(ScoreResult):
    """The latest stored score of a student."""

    scored_at: UtcDateTime


class ModelInfo(BaseModel):
    version: str
    features: list[str]
    band_thresholds: dict[str, float]
    metrics: dict[str, Any] = Field(description="Headline evaluation metrics from the bundle metadata.")
    metadata: dict[str, Any] = Field(description="Training metadata (seed, data fingerprint, folds, …).")
    loaded_at: UtcDateTime
    card_url: str | None = Field(description="Link to the model card, if the bundle carries one.")


class ReloadResult(BaseModel):
    reloaded: bool = Field(description="True if a new version now serves.")
    version: str = Field(description="The version serving after the call.")
    previous_version: str | None


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    model_loaded: bool
    database: bool
    model_version: str | None = None
    reason: str | None = Field(None, description="Why the service is not ready (model, database); null when ready.")


class ErrorBody(BaseModel):
    error: str
    request_id: str | None = None


# --- worklists and review cases (routes/worklists.py, routes/cases.py) -------------------------------
CaseStatus = Literal["open", "in_review", "contacted", "referred", "no_action_needed", "false_alarm", "closed"]
ReviewerRole = Literal["school", "jeugdarts", "leerplicht", "rmc"]
EXPECTED_TRUE_CASES_NL = (
    "Som van de gekalibreerde kansen over de getoonde regels: het aantal leerlingen op deze lijst dat naar "
    "verwachting binnen 12 maanden voortijdig schoolverlater wordt als er niets gebeurt. Regels zonder "
    "modelscore (bv. niet meer ingeschreven) tellen niet mee.")
EXPECTED_TRUE_CASES_EN = (
    "Sum of the calibrated probabilities over the rows shown: how many pupils on this list are expected to "
    "become early school leavers within 12 months if nothing is done. Rows without a model score (e.g. no "
    "longer enrolled) are not counted.")


class CaseRow(BaseModel):
    """One review case as a reviewer sees it. Health detail only for the jeugdarts."""

    case_id: int = Field(description="Review case id (use it with /v1/cases/{case_id}).")
    student_id: str = Field(description="Pseudonymous student id (never a BSN or name).")
    school_id: str | None = Field(None, description="School (BRIN) id.")
    municipality: str | None = Field(None, description="Municipality (GM code).")
    rmc_region: str | None = Field(None, description="RMC region.")
    role: str = Field(description="Reviewing role the case belongs to.")
    case_reason: str = Field(description="Why the case exists: 'rule:<rule id>' (legal/protocol trigger) or "
                                         "'capacity' (among the team's highest calibrated risks).")
    as_of: dt.date = Field(description="Reference date of the scoring run that opened the case.")
    age: float | None = Field(None, description="Age in whole years at the latest score; null when unknown.")
    probability: float | None = Field(None, ge=0, le=1, description="Calibrated probability of VSV within 12 "
                                      "months (latest run); null without a model score.")
    band: str | None = Field(None, description="low | medium | high (laag | middel | hoog).")
    reasons: list[ReasonOut] = Field(default_factory=list, description="Top reasons of the latest score, largest first.")
    triggers: list[TriggerOut] = Field(default_factory=list, description="Active rule triggers with their due dates.")
    due_date: dt.date | None = Field(None, description="Legal deadline of the case, if any (earliest first in lists).")
    status: CaseStatus = Field(description="Case status.")
    owner: str | None = Field(None, description="Reviewer who owns the case.")
    priority: int = Field(description="1 for legal/protocol triggers, 0 for capacity cases.")
    opened_at: UtcDateTime
    updated_at: UtcDateTime


class WorklistResponse(BaseModel):
    """A prioritised worklist: legal deadlines first (earliest due date), then calibrated probability."""

    role: str | None = Field(description="Role whose cases are listed (null: all roles, admin only).")
    team: str | None = Field(None, description="Team filter (school id, GM code or RMC region) if given.")
    count: int = Field(ge=0, description="Rows returned.")
    expected_true_cases: float = Field(ge=0, description="Sum of the calibrated probabilities over the rows.")
    expected_true_cases_nl: str = EXPECTED_TRUE_CASES_NL
    expected_true_cases_en: str = EXPECTED_TRUE_CASES_EN
    rows: list[CaseRow]
    notice_nl: str = NOTICE_NL
    notice_en: str = NOTICE_EN


class CaseEventOut(BaseModel):
    """One change of a case: who (key label and id) and when."""

    id: int
    at: UtcDateTime = Field(description="When (UTC).")
    actor: str = Field(description="Who: the API key's label and id, or the batch job.")
    action: str = Field(description="open | status | assign | note | outcome")
    from_status: str | None = None
    to_status: str | None = None
    note: str | None = None


class OutcomeOut(BaseModel):
    """What a review found."""

    id: int
    outcome: str
    worth_conversation: bool = Field(description="Was the signal worth a conversation? (the reviewers' label)")
    note: str | None = None
    recorded_by: str
    recorded_at: UtcDateTime


class CaseDetail(CaseRow):
    """A case with its full history and recorded outcomes."""

    allowed_transitions: list[str] = Field(description="Statuses the case may move to next.")
    history: list[CaseEventOut] = Field(description="Every change, oldest first.")
    outcomes: list[OutcomeOut] = Field(description="Recorded review outcomes, oldest first.")
    notice_nl: str = NOTICE_NL
    notice_en: str = NOTICE_EN


class TransitionIn(BaseModel):
    """Move a case to another status (open → in_review → contacted / referred / no_action_needed /
    false_alarm / closed; see allowed_transitions)."""

    model_config = _strict

    to_status: CaseStatus = Field(description="The new status.")
    note: str | None = Field(None, min_length=1, max_length=2000, description="Why (optional).")


class AssignIn(BaseModel):
    """Set or clear the case owner."""

    model_config = _strict

    owner: str | None = Field(min_length=1, max_length=128, description="Reviewer's name or id; null clears it.")


class NoteIn(BaseModel):
    """Add a note to the case history (notes are never edited)."""

    model_config = _strict

    note: str = Field(min_length=1, max_length=4000, description="The note.")


class OutcomeIn(BaseModel):
    """Record what the review found; worth_conversation feeds monitoring."""

    model_config = _strict

    outcome: str = Field(min_length=1, max_length=64, pattern=r"^[\w .,:/()'-]+$",
                         description="Short outcome, e.g. 'conversation_held', 'referred_to_care', 'already_known'.")
    worth_conversation: bool = Field(description="Was the signal worth a conversation?")
    note: str | None = Field(None, min_length=1, max_length=4000, description="Optional note.")
