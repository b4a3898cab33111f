"""Monitoring status: the latest verdict of `riskscore monitor` (drift, fairness, outcomes) and its report.

Aggregates only — no pupil's data — and for the roles that act on it: data_team and admin. The reports
are read from <settings.resolved_reports_dir()>/monitoring, where the CLI writes them by default; a run
is published by one rename, so a half-written report is never shown."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from riskscore.api.schemas import ErrorBody
from riskscore.errors import NotFoundError
from riskscore.service.deps import ADMIN_ROLES, PrincipalDep, StateDep, require_role

router = APIRouter(prefix="/v1/monitoring", tags=["monitoring"])

MSG_NO_REPORT = ("no monitoring report yet: run `riskscore monitor` (geen monitoringrapport: "
                 "draai eerst `riskscore monitor`)")
MSG_NO_FILE = "monitoring report file not found"
_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}}


class Alert(BaseModel):
    check: str = Field(description="feature_drift, score_drift, band_shift, fairness, breakdown, performance, calibration or review.")
    subject: str = Field(description="The feature, group (column=value) or unit concerned.")
    severity: Literal["alert", "warn"] = Field(description="'alert' fails the monitoring run (exit 10); 'warn' is shown only.")
    message: str = Field(description="What was measured, with the threshold (English).")
    action: str = Field(description="What a person should do about it (English).")
    message_nl: str = Field("", description="Wat er gemeten is, met de grens (Nederlands; leeg in oudere rapporten).")
    action_nl: str = Field("", description="Wat iemand eraan moet doen (Nederlands; leeg in oudere rapporten).")


class Action(BaseModel):
    kind: Literal["check_data_feed", "investigate_group", "retrain", "recalibrate"] = Field(
        description="The to-do kind, in the order to work through them.")
    subjects: list[str] = Field(description="Features, groups or checks it concerns.")
    text_en: str = Field(description="Recommended action (English).")
    text_nl: str = Field(description="Aanbevolen actie (Nederlands).")


class MonitoringStatus(BaseModel):
    status: Literal["ok", "warn", "alert"] = Field(description="ok: nothing crossed; warn: watch; alert: act.")
    created_at: datetime | None = Field(description="When the monitoring run was made (UTC).")
    model_version: str | None = Field(description="The model version whose scores were monitored.")
    as_of: str | None = Field(description="As-of date of the monitored scoring run.")
    n_breaches: int = Field(ge=0, description="Alerts and warnings.")
    alerts: list[Alert] = Field(description="Every threshold crossed, with the action for each.")
    actions: list[Action] = Field(description="The alerts folded into a short to-do list (nl/en).")
    psi: float | None = Field(description="PSI of the calibrated probability against the reference.")
    flag_rate_current: float | None = Field(ge=0, le=1, description="Share of pupils flagged for review now.")
    run: str = Field(description="The report's run name (a UTC timestamp).")
    report_path: str = Field(description="The HTML report on the server's disk.")
    report_url: str = Field(description="The HTML report through this API (same roles).")
    summary_url: str = Field(description="The JSON summary through this API.")


def _reports_dir(state: StateDep) -> Path:
    from riskscore.monitoring.status import default_reports_dir

    return default_reports_dir(state.settings.resolved_reports_dir())


@router.get("/status", response_model=MonitoringStatus, responses=_ERRORS,
            summary="The latest monitoring verdict: status, alerts with recommended actions, report link.")
def status(request: Request, state: StateDep, principal: PrincipalDep) -> MonitoringStatus:
    require_role(principal, ADMIN_ROLES, "read the monitoring status")
    from riskscore.monitoring.status import latest_status

    latest = latest_status(_reports_dir(state))
    if latest["run"] is None or latest["status"] not in ("ok", "warn", "alert"):
        raise NotFoundError(MSG_NO_REPORT)
    run = latest["run"]
    return MonitoringStatus(
        status=latest["status"], created_at=latest["created_at"], model_version=latest["model_version"],
        as_of=latest.get("as_of"), n_breaches=latest["n_breaches"],
        alerts=[Alert(**{k: b.get(k) or "" for k in Alert.model_fields}) for b in latest["breaches"]],
        actions=[Action(**a) for a in latest.get("actions", [])],
        psi=latest["psi"], flag_rate_current=latest["flag_rate_current"], run=run, report_path=latest["report"],
        report_url=str(request.url_for("monitoring_report_file", run=run, name="report.html").path),
        summary_url=str(request.url_for("monitoring_report_file", run=run, name="summary.json").path),
    )


@router.get("/reports/{run}/{name}", name="monitoring_report_file", response_class=FileResponse, responses=_ERRORS,
            summary="A published report's file: report.html, evidently_drift.html or summary.json.")
def report_file(run: str, name: str, state: StateDep, principal: PrincipalDep) -> FileResponse:
    require_role(principal, ADMIN_ROLES, "read monitoring reports")
    from riskscore.monitoring.status import report_file as find

    path = find(_reports_dir(state), run, name)
    if path is None:
        raise NotFoundError(MSG_NO_FILE)
    media = "application/json" if name.endswith(".json") else "text/html; charset=utf-8"
    return FileResponse(path, media_type=media)
