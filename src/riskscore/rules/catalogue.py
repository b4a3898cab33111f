"""The rule catalogue: thresholds (RuleConfig), legal sources, who acts, texts from the thresholds."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from riskscore.contracts import RULE_IDS
from riskscore.errors import MSG_CONFIG_INVALID, ConfigError

OUTPUT_COLUMNS = ("student_id", "rule_id", "fired_on", "due_date", "role", "source", "detail")
MSG_MISSING_COLUMNS = "table '{table}' lacks columns {columns} needed by the rules"
MSG_NO_STUDENTS = "the rules need a 'students' table"
MSG_TOO_MANY_HOURS = (
    "pupil {student} has {hours:g} hours of unauthorised absence registered on {date}, more than a school day's "
    "{limit:g} lesson hours (max_hours_per_day): correct the registration"
)
MSG_NO_BIRTH_DATE = "pupil {student} has no birth date: the rules need it to know who is leerplichtig"
MSG_NOT_DATES = "a date column holds values that are not dates: {details}"
MSG_BAD_HOURS = "pupil {student} has an absence of {hours!r} hours on {date}: hours must be a number from 0 upwards"
_EPS = 1e-9  # float hours: 16 h summed from quarters must still reach 16
_NAT = np.iinfo(np.int64).max  # day number standing for "no date"
_NS_PER_DAY = 86_400 * 10**9


class RuleConfig(BaseModel):
    """Thresholds of every rule; defaults are DOMAIN.md's. Regions differ, so all are configurable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: dict[str, bool] = Field(
        default_factory=lambda: {r: r != "lateness" for r in RULE_IDS},
        description="rule id -> on/off; lateness is regional policy and off by default",
    )
    lookback_days: int = Field(28, ge=0, le=366, description="a fired trigger stays active this many days; at least the interval between runs")
    unauthorised_categories: tuple[str, ...] = Field(("unauthorised",), min_length=1)
    late_category: str = "late"
    max_hours_per_day: float = Field(10.0, gt=0, le=24, description="most lesson (or practical) hours of one school day; more is a registration error")
    # Leerplichtwet: 16 h in 4 consecutive lesson weeks, report within 5 working days
    leerplicht_hours: float = Field(16.0, gt=0)
    leerplicht_weeks: int = Field(4, ge=1, le=52)
    leerplicht_report_working_days: int = Field(5, ge=0, le=60)
    leerplicht_age: int = Field(16, description="under this age: leerplichtig")
    kwalificatieplicht_age: int = Field(18, description="under this age without sk: kwalificatieplichtig")
    # langdurig relatief verzuim: absent on (a share of) every lesson day for more than N lesson weeks
    lrv_weeks: int = Field(4, ge=1, le=52, description="fires when the run is LONGER than this")
    lrv_min_day_share: float = Field(1.0, gt=0, le=1, description="share of a week's lesson days with unauthorised absence")
    # RMC: not leerplichtig any more, under 23, no sk
    rmc_min_age: int = Field(18, ge=12, le=23)
    rmc_max_age: int = Field(23, ge=12, le=30, description="under this age")
    rmc_hours: float = Field(16.0, gt=0)
    rmc_weeks: int = Field(4, ge=1, le=52)
    # MAZL
    mazl_frequent_count: int = Field(4, ge=2, le=20)
    mazl_frequent_window: int = Field(12, ge=1, le=52)
    mazl_frequent_unit: str = Field("lesson_weeks", pattern="^(lesson_weeks|months)$", description="'4 in 3 months' is months")
    mazl_long_days: int = Field(6, ge=1, le=60, description="fires when sick MORE than this many consecutive school days")
    # VVA (vo -> mbo)
    vva_apply_by: tuple[int, int] = Field((4, 1), description="(month, day): apply at the latest ON this day; the breach is from the next day")
    vva_enrolled_by: tuple[int, int] = Field((8, 1), description="(month, day) in the next school year")
    # lateness
    lateness_max: int = Field(9, ge=0, description="fires on MORE than this many late arrivals in a school year")

    @classmethod
    def from_yaml(cls, path: str | Path) -> RuleConfig:
        """Load and validate; a bad file fails before anything runs."""
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            if not isinstance(raw, dict):
                raise ValueError("top level must be a mapping")
            enabled = {**cls().enabled, **raw.pop("enabled", {})}
            cfg = cls(enabled=enabled, **raw)
            for field in ("vva_apply_by", "vva_enrolled_by"):
                month, day = getattr(cfg, field)
                dt.date(2024, month, day)  # a leap year: 29 February is a valid deadline
            return cfg
        except (OSError, yaml.YAMLError, ValueError, TypeError, ValidationError) as exc:
            raise ConfigError(MSG_CONFIG_INVALID.format(path=path, details=exc)) from None

    @classmethod
    def default(cls) -> RuleConfig:
        """The packaged defaults (data/rules.yaml)."""
        from importlib import resources

        return cls.from_yaml(Path(str(resources.files("riskscore").joinpath("data", "rules.yaml"))))


# --- the catalogue: identity, source, who acts, and texts built from the configured thresholds -----
_MONTHS_NL = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober", "november", "december")
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")


def _num(value: float, lang: str) -> str:
    text = f"{value:g}"
    return text.replace(".", ",") if lang == "nl" else text


def _ordinal_en(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _text_values(cfg: RuleConfig, lang: str) -> dict[str, str]:
    """The thresholds as words of one language, for the rule texts' placeholders."""
    months = _MONTHS_EN if lang == "en" else _MONTHS_NL
    apply_m, apply_d = cfg.vva_apply_by
    enrol_m, enrol_d = cfg.vva_enrolled_by
    nth = _ordinal_en if lang == "en" else (lambda n: f"{n}e")
    unit_nl = "schoolweken" if cfg.mazl_frequent_unit == "lesson_weeks" else "maanden"
    unit_en = "school weeks" if cfg.mazl_frequent_unit == "lesson_weeks" else "months"
    return {
        "leerplicht_hours": _num(cfg.leerplicht_hours, lang),
        "leerplicht_weeks": str(cfg.leerplicht_weeks),
        "report_days": str(cfg.leerplicht_report_working_days),
        "lrv_weeks": str(cfg.lrv_weeks),
        "lrv_share": f"{cfg.lrv_min_day_share:.0%}",
        "rmc_min_age": str(cfg.rmc_min_age),
        "rmc_max_age": str(cfg.rmc_max_age),
        "rmc_hours": _num(cfg.rmc_hours, lang),
        "rmc_weeks": str(cfg.rmc_weeks),
        "mazl_nth": nth(cfg.mazl_frequent_count),
        "mazl_window": str(cfg.mazl_frequent_window),
        "mazl_unit": unit_en if lang == "en" else unit_nl,
        "mazl_long_days": str(cfg.mazl_long_days),
        "mazl_long_nth": nth(cfg.mazl_long_days + 1),
        "apply_by": f"{apply_d} {months[apply_m - 1]}",
        "enrolled_by": f"{enrol_d} {months[enrol_m - 1]}",
        "lateness_max": str(cfg.lateness_max),
    }


class Rule(BaseModel):
    """A trigger's identity, legal source and who acts; shown next to every firing.

    The texts are templates: ``text(lang, config)`` fills in the configured thresholds, so a region
    that reports at 12 hours never reads "16 uur".
    """

    model_config = ConfigDict(frozen=True)

    id: str
    source: str
    role: str
    also_roles: tuple[str, ...] = ()
    template_nl: str
    template_en: str
    thresholds: tuple[str, ...] = Field(description="RuleConfig fields this rule reads")

    def text(self, lang: str = "nl", config: RuleConfig | None = None) -> str:
        """The rule in plain words of ``lang`` ('nl' or 'en') with the thresholds of ``config``."""
        values = _text_values(config or RuleConfig(), "en" if lang == "en" else "nl")
        return (self.template_en if lang == "en" else self.template_nl).format(**values)

    @property
    def description_nl(self) -> str:
        """The Dutch text with the default thresholds."""
        return self.text("nl")

    @property
    def description_en(self) -> str:
        """The English text with the default thresholds."""
        return self.text("en")


def rule_text(rule_id: str, lang: str = "nl", config: RuleConfig | None = None) -> str:
    """A rule's text for display, with the configured thresholds; an unknown id is shown as itself."""
    rule = RULES.get(rule_id)
    return rule.text(lang, config) if rule is not None else rule_id


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            id="leerplicht_16h_4w",
            source="Leerplichtwet 1969 art. 21a; onderwijsinspectie.nl 'registreren en melden van ongeoorloofd verzuim'; DUO verzuimloket",
            role="leerplicht",
            also_roles=("school",),
            template_nl="{leerplicht_hours} uur of meer ongeoorloofd verzuim binnen {leerplicht_weeks} opeenvolgende lesweken; "
            "school meldt binnen {report_days} werkdagen bij DUO.",
            template_en="{leerplicht_hours} or more hours of unauthorised absence within {leerplicht_weeks} consecutive lesson weeks; "
            "school reports to DUO within {report_days} working days.",
            thresholds=("leerplicht_hours", "leerplicht_weeks", "leerplicht_report_working_days"),
        ),
        Rule(
            id="lrv_4w",
            source="Leerplichtwet 1969; duo.nl langdurig relatief verzuim",
            role="leerplicht",
            template_nl="Langdurig relatief verzuim: ongeoorloofd afwezig op {lrv_share} van de lesdagen van meer dan {lrv_weeks} opeenvolgende lesweken.",
            template_en="Long-term relative absence: unauthorised absence on {lrv_share} of the lesson days for more than {lrv_weeks} consecutive lesson weeks.",
            thresholds=("lrv_weeks", "lrv_min_day_share"),
        ),
        Rule(
            id="rmc_verzuim",
            source="WEB / RMC-wetgeving; duo.nl 'Soorten verzuim', 18+",
            role="rmc",
            template_nl="{rmc_hours} uur of meer ongeoorloofd verzuim binnen {rmc_weeks} lesweken van een jongere van {rmc_min_age} tot "
            "{rmc_max_age} jaar zonder startkwalificatie.",
            template_en="{rmc_hours} or more hours of unauthorised absence within {rmc_weeks} lesson weeks of a young person aged "
            "{rmc_min_age} to {rmc_max_age} without a basic qualification (startkwalificatie).",
            thresholds=("rmc_min_age", "rmc_max_age", "rmc_hours", "rmc_weeks"),
        ),
        Rule(
            id="mazl_frequent",
            source="MAZL (Meer Aandacht voor Ziekgemelde Leerlingen), NCJ",
            role="jeugdarts",
            also_roles=("school",),
            template_nl="{mazl_nth} ziekmelding binnen {mazl_window} {mazl_unit}.",
            template_en="{mazl_nth} sick report within {mazl_window} {mazl_unit}.",
            thresholds=("mazl_frequent_count", "mazl_frequent_window", "mazl_frequent_unit"),
        ),
        Rule(
            id="mazl_long",
            source="MAZL (Meer Aandacht voor Ziekgemelde Leerlingen), NCJ",
            role="jeugdarts",
            template_nl="Langer dan {mazl_long_days} aaneengesloten schooldagen ziek (vanaf de {mazl_long_nth} schooldag).",
            template_en="Sick for more than {mazl_long_days} consecutive school days (from the {mazl_long_nth} school day).",
            thresholds=("mazl_long_days",),
        ),
        Rule(
            id="vva_not_applied",
            source="Toelatingsrecht art. 8.0.1 WEB; Regeling gegevensverstrekking bij overstap naar het mbo (VVA, 2020)",
            role="school",
            template_nl="Examenleerling vo met mbo-verwachting heeft zich niet uiterlijk op {apply_by} aangemeld bij een mbo.",
            template_en="Final-year vo pupil expected to go to mbo did not apply to an mbo programme on or before {apply_by}.",
            thresholds=("vva_apply_by",),
        ),
        Rule(
            id="vva_no_enrolment",
            source="Regeling gegevensverstrekking bij overstap naar het mbo (VVA, 2020)",
            role="school",
            also_roles=("rmc",),
            template_nl="Op {enrolled_by}, de start van het schooljaar, heeft geen mbo-aanmelding de status 'ingeschreven'.",
            template_en="On {enrolled_by}, the start of the school year, no mbo application has reached the status 'enrolled'.",
            thresholds=("vva_enrolled_by",),
        ),
        Rule(
            id="deregistered_no_sk",
            source="WEB art. 8.1.8 / RMC-meldplicht uitschrijving zonder startkwalificatie",
            role="rmc",
            template_nl="Uitschrijving van een jongere van {rmc_min_age} tot {rmc_max_age} jaar zonder startkwalificatie.",
            template_en="Deregistration of a young person aged {rmc_min_age} to {rmc_max_age} without a basic qualification "
            "(startkwalificatie).",
            thresholds=("rmc_min_age", "rmc_max_age"),
        ),
        Rule(
            id="lateness",
            source="Regional lateness policy (configurable)",
            role="school",
            template_nl="Dit schooljaar vaker dan {lateness_max} keer te laat.",
            template_en="Late more than {lateness_max} times this school year.",
            thresholds=("lateness_max", "late_category"),
        ),
    )
}


#: the detail the absence rules write (rules.engine: leerplicht_16h_4w, rmc_verzuim): "18 uur ongeoorloofd
#: verzuim binnen 4 lesweken", hours with a decimal comma
ABSENCE_DETAIL = re.compile(r"^(\d+(?:,\d+)?) uur ongeoorloofd verzuim binnen (\d+) lesweken$")


def parse_absence_detail(detail: str | None) -> tuple[float, int] | None:
    """(hours, lesson weeks) from an absence rule's detail, or None when it is not one."""
    m = ABSENCE_DETAIL.match(detail or "")
    return (float(m[1].replace(",", ".")), int(m[2])) if m else None
