"""Request and response models. Every field has a type, bounds and a description, so /docs is the manual.

Inputs are strict (``extra='forbid'``): a misspelt field must fail with 422 naming it, not silently
score a pupil as if the value were unknown. POST /v1/scores takes a pupil's raw events (the import
contract's tables); the service computes features and legal triggers itself (riskscore.scoring).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from riskscore.clock import today as school_today
from riskscore.contracts import CALENDAR_REGIONS, LEVELS, MBO_LEVELS, SCHOOL_TYPES

NOTICE_NL = "Dit is een signaal voor een gesprek, geen besluit."
NOTICE_EN = "This is a signal for review, not a decision."
#: a client's clock may run a day ahead of the server's (time zones): allow as_of up to tomorrow
FUTURE_SLACK = dt.timedelta(days=1)

Band = Literal["low", "medium", "high", "unknown"]
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
    if value is not None and value > school_today() + FUTURE_SLACK:
        raise ValueError(f"{name} lies in the future")
    return value


def age_on(birth_date: dt.date, on: dt.date) -> float:
    """Whole years on a date (riskscore.calendar.age_on): legal limits turn on the birthday itself."""
    from riskscore.calendar import age_on as whole_years

    return float(whole_years(birth_date, on))


# --- POST /v1/scores: a pupil's raw events (the import contract's tables, contracts.RAW_SCHEMAS) -----
#: the most rows per table and pupil; a school year of daily absence records fits with room to spare
MAX_ABSENCES = 5000
MAX_SICK_REPORTS = 500
MAX_SMALL = 50
MSG_NO_TRIGGERS = ("not accepted: the service evaluates the legal rules itself from the events; "
                   "send absences, sick_reports, applications, enrolments and diplomas instead")
MSG_END_BEFORE_START = "end_date lies before start_date"
SchoolId = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$",
                                description="School (BRIN, optionally with its 2-digit location) id.")]
EventId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$"), AfterValidator(_not_bsn)]
Level = Literal[LEVELS]  # type: ignore[valid-type]
MboLevel = Literal[MBO_LEVELS]  # type: ignore[valid-type]
SchoolType = Literal[SCHOOL_TYPES]  # type: ignore[valid-type]
CalendarRegion = Literal[CALENDAR_REGIONS]  # type: ignore[valid-type]
SchoolYear = Annotated[str, Field(pattern=r"^\d{4}-\d{2}$", description="School year, e.g. 2024-25.")]


class StudentRecord(BaseModel):
    """The pupil's row of the students table for the school year of as_of (import contract)."""

    model_config = _strict

    school_id: SchoolId
    municipality: str = Field(pattern=r"^GM\d{4}$", description="Municipality (GM code) of residence, e.g. GM0363.")
    rmc_region: str = Field(pattern=r"^RMC\d{1,2}$", description="RMC region, e.g. RMC27.")
    calendar_region: CalendarRegion = Field(description="School-holiday region: noord, midden or zuid.")
    birth_date: dt.date = Field(description="Birth date: legal ages (16, 18, 23) turn on the birthday.")
    school_type: SchoolType = Field(description="vo, mbo, pro or vso.")
    level: Level = Field(description="Education level, e.g. vmbo-b, havo, mbo-2.")
    pathway: Literal["BOL", "BBL"] | None = Field(None, description="mbo pathway; null for vo.")
    grade: int = Field(ge=1, le=8, description="Grade (leerjaar).")
    final_year: bool = Field(False, description="In the final year of the programme.")
    expects_mbo: bool = Field(False, description="Final-year vo pupil expected to go on to mbo (VVA).")
    has_sk: bool = Field(False, description="Held a startkwalificatie at the start of the school year.")

    @field_validator("birth_date")
    @classmethod
    def _birth_not_future(cls, v: dt.date) -> dt.date:
        return _not_future(v, "birth_date")  # type: ignore[return-value]


class EarlierYear(BaseModel):
    """An earlier school year of the same pupil: grade retention is read from these, and the VVA
    enrolment check from last year's final_year/expects_mbo."""

    model_config = _strict

    school_year: SchoolYear
    school_id: SchoolId | None = Field(None, description="School that year (default: the current one).")
    school_type: SchoolType
    level: Level
    grade: int = Field(ge=1, le=8)
    final_year: bool = False
    expects_mbo: bool = False
    has_sk: bool = False


class AbsenceIn(BaseModel):
    """One absence record: a day's hours in one category (open list; 'late' = one late arrival)."""

    model_config = _strict

    date: dt.date
    hours: float = Field(ge=0, le=24, description="Hours missed (a late arrival: minutes lost / 60).")
    category: str = Field(min_length=1, max_length=64, pattern=r"^[a-z_]+$",
                          description="unauthorised, authorised, late, sent_out, suspended, other, …")


class SickReportIn(BaseModel):
    """One sick report (health data: shown in full only to the jeugdarts)."""

    model_config = _strict

    start_date: dt.date
    end_date: dt.date | None = Field(None, description="Last sick day; null = still sick.")

    @model_validator(mode="after")
    def _ordered(self) -> SickReportIn:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(MSG_END_BEFORE_START)
        return self


class ApplicationIn(BaseModel):
    """An mbo application with the date each VVA status was reached (null = not reached)."""

    model_config = _strict

    application_id: EventId
    programme: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$", description="crebo code.")
    level: MboLevel
    submitted_on: dt.date
    applied_on: dt.date | None = None
    agreement_offered_on: dt.date | None = None
    no_enrolment_on: dt.date | None = None
    withdrawn_on: dt.date | None = None
    enrolled_on: dt.date | None = None


class EnrolmentIn(BaseModel):
    """An enrolment at a school (end_date null = still enrolled)."""

    model_config = _strict

    school_id: SchoolId
    level: Level
    start_date: dt.date
    end_date: dt.date | None = None
    dereg_reason: str | None = Field(None, max_length=32, pattern=r"^[a-z_]+$",
                                     description="diploma, switch, moved, work, dropout, other")

    @model_validator(mode="after")
    def _ordered(self) -> EnrolmentIn:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(MSG_END_BEFORE_START)
        return self


class DiplomaIn(BaseModel):
    model_config = _strict

    date: dt.date
    level: Level
    is_sk: bool = Field(description="A startkwalificatie (havo, vwo, mbo-2 or higher).")


class StudentEvents(BaseModel):
    """One pupil's raw events. The service computes the features and the legal triggers itself
    (the same code as the batch job); a caller never asserts a trigger. Scope (school, municipality,
    region) of a pupil the service already knows comes from the store, not from this body."""

    model_config = _strict

    student_id: StudentId
    as_of: dt.date | None = Field(None, description="Reference date (default today; not in the future). "
                                                    "Events dated after it are ignored.")
    student: StudentRecord
    earlier_years: list[EarlierYear] = Field(default_factory=list, max_length=20)
    absences: list[AbsenceIn] = Field(default_factory=list, max_length=MAX_ABSENCES)
    sick_reports: list[SickReportIn] = Field(default_factory=list, max_length=MAX_SICK_REPORTS)
    applications: list[ApplicationIn] = Field(default_factory=list, max_length=MAX_SMALL)
    enrolments: list[EnrolmentIn] = Field(default_factory=list, max_length=MAX_SMALL)
    diplomas: list[DiplomaIn] = Field(default_factory=list, max_length=MAX_SMALL)
    triggers: SkipJsonSchema[Any] = Field(None, exclude=True)

    @field_validator("as_of")
    @classmethod
    def _as_of_not_future(cls, v: dt.date | None) -> dt.date | None:
        return _not_future(v, "as_of")

    @field_validator("triggers")
    @classmethod
    def _no_triggers(cls, v: Any) -> None:
        raise ValueError(MSG_NO_TRIGGERS)

    @model_validator(mode="after")
    def _age_plausible(self) -> StudentEvents:
        on = self.reference_date()
        age = age_on(self.student.birth_date, on)
        if not 4 <= age <= 30:
            raise ValueError(f"age at as_of must be 4-30, got {age:.0f} from student.birth_date")
        return self

    def reference_date(self) -> dt.date:
        return self.as_of or school_today()


class ScoreRequest(BaseModel):
    """A batch of pupils to score (at most RISKSCORE_MAX_BATCH)."""

    model_config = _strict

    students: list[StudentEvents] = Field(min_length=1, max_length=100_000, description="Pupils to score.")


class ReasonOut(BaseModel):
    """A factor that raised the score, with the value that caused it. Health detail only for jeugdarts."""

    code: str = Field(description="Reason code, e.g. ABS_UNAUTH_4W; HEALTH_SIGNAL when withheld.")
    category: str = Field(description="absence | sick | transition | school_career | context")
    feature: str | None = Field(None, description="Model feature; null when withheld.")
    value: float | None = Field(None, description="The value that caused it; null when unknown or withheld.")
    contribution: float | None = Field(
        None, description="The feature's exact share of the score on base.scale: with base.scale 'log_odds' a share of the "
                          "calibrated log-odds, so base.value + the reasons' contributions + base.other = logit(probability); "
                          "with 'score' (isotonic calibration) a share of the uncalibrated score. Null when withheld.")
    text_nl: str
    text_en: str
    withheld: bool = Field(False, description="True when health detail is withheld from this role.")


class BaseOut(BaseModel):
    """What is usual for pupils of this context (school level, age for the grade), and how the score adds up."""

    scale: Literal["log_odds", "score"] = Field(
        description="log_odds: value, the contributions and other are shares of the calibrated log-odds (Platt "
                    "calibration); score: of the uncalibrated score (isotonic calibration has no log-odds form).")
    value: float = Field(description="The model's intercept plus the context features' contributions.")
    probability: float = Field(ge=0, le=1, description="The usual probability for this context: the model's probability "
                                                       "averaged over the usual spread of signals.")
    excess: float = Field(description="The signals' sum: how far the pupil's own signals lift the score above the base.")
    other: float | None = Field(description="Signal contributions not listed among the reasons; null when a reason is "
                                            "withheld from this role.")
    text_nl: str = Field(description="e.g. 'bij onderwijsniveau mbo-1 is de gebruikelijke kans 24 %'.")
    text_en: str


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
    probability: float | None = Field(ge=0, le=1, description="Calibrated probability of VSV within 12 months; "
                                      "null when the pupil objected or the school's data is incomplete.")
    band: Band = Field(description="low | medium | high; unknown without a model score.")
    reasons: list[ReasonOut] = Field(description="Top reasons (at most 3), largest first.")
    triggers: list[TriggerOut]
    reviewer_roles: list[str] = Field(description="Who should review this signal (routing).")
    model_version: str
    objected: bool = Field(False, description="The pupil objected (AVG art. 21): no model score, rules still run.")
    data_incomplete: bool = Field(False, description="The school's data is incomplete: not scored, not 'low risk'.")
    base: BaseOut | None = Field(None, description="The pupil's context as a base and the rest of the sum; null "
                                                   "without a model score (and for scores stored before it existed).")
    notice_nl: str = NOTICE_NL
    notice_en: str = NOTICE_EN

    @classmethod
    def from_result(cls, result: Any) -> Self:
        """From scoring.ScoredStudent.to_dict() (or a stored score): scope attributes stay inside."""
        data = dict(result)
        data["reviewer_roles"] = list(data.pop("roles", None) or [])
        for key in ("school_id", "municipality", "rmc_region", "age"):
            data.pop(key, None)
        return cls.model_validate(data)


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


class SignalOut(BaseModel):
    """A signal the case holds: a legal or protocol rule that fired, or the model's flag within capacity."""

    kind: Literal["rule", "model"] = Field(description="rule: a legal/protocol trigger; model: among the team's "
                                                       "highest calibrated risks (within capacity).")
    rule_id: str | None = Field(None, description="The rule, for kind 'rule'.")
    fired_on: dt.date | None = Field(None, description="When the rule fired (a new period is a new signal).")
    deadline: dt.date | None = Field(None, description="The team's legal deadline for this signal, if it holds one.")
    detail: str | None = Field(None, description="What caused it (hours, weeks); withheld health detail is null.")
    withheld: bool = Field(False, description="Health detail withheld from this role.")


class DutyOut(BaseModel):
    """The team's legal duty on the case, apart from its next step."""

    kind: Literal["report_duo", "expect_report"] = Field(
        description="report_duo: the school reports the 16-hour signal to DUO's verzuimloket (Leerplichtwet art. "
                    "21a); expect_report: the attendance officer awaits that report.")
    deadline: dt.date = Field(description="The legal deadline (5 school days after the signal, by the configured rule).")
    done_on: dt.date | None = Field(None, description="When the report was made (recorded by the school); null: not yet.")
    overdue: bool = Field(description="The deadline has passed and the report is not recorded.")
    days_left: int = Field(description="Days from today to the deadline (negative: past it).")


class NextStepOut(BaseModel):
    """What the team does next, by a target date (never a legal deadline)."""

    action: str = Field(description="The step, as a text key (act_*: the role's first step; step_<kind>: a planned "
                                    "step; act_follow_up: a follow-up check).")
    due: dt.date = Field(description="Target date.")
    from_plan: bool = Field(description="The date comes from the case's plan (else: the role's default target).")
    is_duty: bool = Field(False, description="The step is the open legal duty itself (the school's report to DUO): "
                                            "its date is the legal deadline, not a target date.")
    days_left: int = Field(description="Days from today (negative: past the target date).")


class CaseRow(BaseModel):
    """One review case as its team sees it, cut by the role view (health detail only for the jeugdarts)."""

    case_id: int = Field(description="Review case id (use it with /v1/cases/{case_id}).")
    student_id: str = Field(description="Pseudonymous student id (never a BSN or name).")
    school_id: str | None = Field(None, description="School (BRIN) id.")
    municipality: str | None = Field(None, description="Municipality (GM code).")
    rmc_region: str | None = Field(None, description="RMC region.")
    role: str = Field(description="Reviewing role the case belongs to.")
    team: str = Field(description="The team's unit: school id (school), GM code (leerplicht), RMC region (rmc, "
                                  "jeugdarts). One open case per pupil per team.")
    case_reason: str = Field(description="The case's main signal: 'rule:<rule id>' (the most urgent legal/protocol "
                                         "trigger) or 'capacity' (among the team's highest calibrated risks).")
    signals: list[SignalOut] = Field(default_factory=list, description="Every signal the case holds, newest first.")
    as_of: dt.date = Field(description="Reference date of the scoring run that opened the case.")
    age: float | None = Field(None, description="Age in whole years at the latest score; null when unknown.")
    probability: float | None = Field(None, ge=0, le=1, description="Calibrated probability of VSV within 12 "
                                      "months (latest run); null without a model score.")
    band: str | None = Field(None, description="low | medium | high (laag | middel | hoog).")
    reasons: list[ReasonOut] = Field(default_factory=list, description="Top reasons of the latest score, largest first.")
    triggers: list[TriggerOut] = Field(default_factory=list, description="Active rule triggers with their due dates.")
    duty: DutyOut | None = Field(None, description="The team's legal duty, if any: overdue ones come first in lists.")
    next_step: NextStepOut = Field(description="The next step and its target date, apart from the legal deadline.")
    status: CaseStatus = Field(description="Case status.")
    owner: str | None = Field(None, description="The person who owns the case (take it or hand it over).")
    priority: int = Field(description="1 for legal/protocol triggers, 0 for capacity cases.")
    opened_at: UtcDateTime
    updated_at: UtcDateTime
    score_as_of: dt.date | None = Field(None, description="Reference date of the score shown (probability, band, "
                                        "reasons): the case's own score, never one stored from outside its scope.")
    score_source: str | None = Field(None, description="Where that score came from: 'batch' (a scoring run) or "
                                     "'api'; null: no score, probability and band are the case's own.")

    @classmethod
    def from_row(cls, row: Any) -> Self:
        """From review.worklist.WorklistRow."""
        return cls.model_validate({
            "case_id": row.case_id, "student_id": row.student_id, "school_id": row.school_id,
            "municipality": row.municipality, "rmc_region": row.rmc_region, "role": row.role, "team": row.team,
            "case_reason": row.reason, "signals": [vars(s) for s in row.signals], "as_of": row.as_of, "age": row.age,
            "probability": row.probability, "band": row.band, "reasons": row.reasons, "triggers": row.triggers,
            "duty": vars(row.duty) if row.duty is not None else None,
            "next_step": {"action": row.next_step.action_key, "due": row.next_step.due,
                          "from_plan": row.next_step.from_plan, "days_left": row.next_step.days_left,
                          "is_duty": row.next_step.is_duty},
            "status": row.status, "owner": row.owner, "priority": row.priority, "opened_at": row.opened_at,
            "updated_at": row.updated_at, "score_as_of": row.score_as_of, "score_source": row.score_source})


class DataIncompleteSchool(BaseModel):
    """A school whose pupils the latest run left unscored: its latest absence import was flagged incomplete."""

    school_id: str = Field(description="School (BRIN) id.")
    pupils: int = Field(ge=0, description="Pupils marked 'data incomplete' (band unknown, no probability).")
    as_of: dt.date = Field(description="As-of date of the scoring run.")
    reasons: list[Literal["volume", "join", "stale"]] = Field(
        default_factory=list, description="Why, by the import ledger now: volume (the latest absence import was far "
        "smaller than usual), join (too few absence records belong to a known pupil), stale (no import in time); "
        "empty when the ledger no longer flags the school.")
    text_nl: str = Field(description="Explanation in Dutch.")
    text_en: str = Field(description="Explanation in English.")


class WorklistResponse(BaseModel):
    """A team's prioritised worklist: overdue legal duties first, then legal duties by deadline, then
    calibrated probability within the team's capacity."""

    role: str = Field(description="Role whose cases are listed (the caller's own).")
    team: str | None = Field(None, description="Team filter (school id, GM code or RMC region) if given.")
    count: int = Field(ge=0, description="Rows returned.")
    total: int = Field(ge=0, description="Cases in the list (all pages).")
    overdue: int = Field(ge=0, description="Cases in the list whose legal duty is overdue.")
    expected_true_cases: float = Field(ge=0, description="Sum of the calibrated probabilities over the rows.")
    expected_true_cases_nl: str = EXPECTED_TRUE_CASES_NL
    expected_true_cases_en: str = EXPECTED_TRUE_CASES_EN
    rows: list[CaseRow]
    data_incomplete: list[DataIncompleteSchool] = Field(
        default_factory=list, description="Schools in scope whose pupils were not scored: data incomplete (gegevens onvolledig).")
    notice_nl: str = NOTICE_NL
    notice_en: str = NOTICE_EN


class CaseEventOut(BaseModel):
    """One change of a case: who (key label and id) and when."""

    id: int
    at: UtcDateTime = Field(description="When (UTC).")
    actor: str = Field(description="Who: the person's name or the machine key's label, with its id; or the batch job.")
    action: str = Field(description="open | status | assign | note | outcome | plan | plan_done | follow_up | "
                                    "duo_report | letter")
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
    """A case with its plan, its history and recorded outcomes."""

    allowed_transitions: list[str] = Field(description="Statuses the case may move to next.")
    plan: list[ActionOut] = Field(default_factory=list, description="The plan's steps, oldest first.")
    reports: list[ReportOut] = Field(default_factory=list, description="The school's reports to DUO of this pupil's "
                                     "16-hour signals (school and leerplicht cases).")
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


OutcomeCode = Literal["conversation_held", "support_arranged", "referred_care", "reported_leerplicht", "no_concern",
                      "unreachable", "other", "warning_given", "halt_referral", "official_report",
                      "consultation_held", "advice_to_school", "back_to_education", "back_to_work",
                      "not_reached"]  # = review.plans.OUTCOMES (a test keeps them equal)
ActionKind = Literal["talk_pupil", "talk_parents", "letter_parents", "report_duo", "care_team", "study_choice",
                     "refer_jeugdarts", "conversation", "warning", "halt", "official_report", "care", "invite",
                     "consult", "advice_school", "refer", "contact", "back_to_education", "work",
                     "not_reached"]  # = every kind of review.plans.ACTION_KINDS (a test keeps them equal)


class ActionIn(BaseModel):
    """A step of the case's plan: who does what by when (the kinds differ per role: review.plans)."""

    model_config = _strict

    kind: ActionKind = Field(description="The step; one of the case role's kinds (else 422).")
    owner: str | None = Field(None, min_length=1, max_length=200, description="Who does it (a person's name); "
                              "default: the caller.")
    due_on: dt.date = Field(description="By when.")
    note: str | None = Field(None, min_length=1, max_length=2000, description="What exactly (optional).")


class ActionDoneIn(BaseModel):
    """A plan step done: when, what came of it, and when to check again (default six weeks later)."""

    model_config = _strict

    done_on: dt.date = Field(description="When it was done.")
    result: str | None = Field(None, min_length=1, max_length=2000, description="What came of it (optional).")
    follow_up_on: dt.date | None = Field(None, description="The follow-up check; default six weeks after done_on.")


class FollowUpIn(BaseModel):
    """The result of a step's follow-up check."""

    model_config = _strict

    result: Literal["improved", "unchanged", "worse"] = Field(description="How things went since the step.")
    note: str | None = Field(None, min_length=1, max_length=2000, description="Optional note.")


class ActionOut(BaseModel):
    id: int
    kind: str
    owner: str | None = None
    due_on: dt.date | None = None
    done_on: dt.date | None = None
    result: str | None = None
    follow_up_on: dt.date | None = None
    follow_up_result: str | None = None
    created_by: str
    created_at: UtcDateTime


class ReportIn(BaseModel):
    """The school reported the 16-hour signal to DUO's verzuimloket: when, and DUO's reference."""

    model_config = _strict

    reported_on: dt.date = Field(description="The date of the report (not in the future).")
    reference: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[\w./ -]+$",
                                  description="DUO's reference (kenmerk) of the report.")


class ReportOut(BaseModel):
    """A report of a 16-hour signal to DUO, as recorded by the school."""

    rule_id: str
    fired_on: dt.date | None = None
    reported_on: dt.date
    reference: str | None = None
    recorded_at: UtcDateTime


class LetterIn(BaseModel):
    """Make the letter to the parents (nothing is sent: the mentor prints or copies it)."""

    model_config = _strict

    meeting_on: dt.date = Field(description="The date offered for a conversation.")
    meeting_at: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="The time, hh:mm.")
    contact: str = Field("", max_length=120, description="How to reach the mentor (printed in the letter, not stored).")


class LetterOut(BaseModel):
    """The letter in Dutch and English (under 150 words each), filled from the case."""

    subject_nl: str
    body_nl: str
    subject_en: str
    body_en: str
    words_nl: int
    words_en: int


class OutcomeIn(BaseModel):
    """Record what the review found; worth_conversation feeds monitoring."""

    model_config = _strict

    outcome: OutcomeCode = Field(description="What the review found; one of the case role's outcomes "
                                             "(review.plans.OUTCOMES_BY_ROLE), else 422.")
    worth_conversation: StrictBool = Field(description="Was the signal worth a conversation? true or false only.")
    note: str | None = Field(None, min_length=1, max_length=4000, description="Optional note.")
