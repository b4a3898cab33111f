"""The light reader the service uses for monitoring results: published report folders as JSON.

api and web import only this module of the monitoring package, so serving never pulls in scipy,
evidently or matplotlib (which `report` and `drift` need to *write* reports)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SUMMARY = "summary.json"
REPORT = "report.html"
EVIDENTLY = "evidently_drift.html"


def latest_status(reports_dir: str | Path) -> dict[str, Any]:
    """The newest complete report's status for GET /v1/monitoring/status (no report → status 'unknown').

    Reads only published folders (hidden temp folders are skipped), so it never sees half a run."""
    reports_dir = Path(reports_dir)
    runs = sorted((p for p in reports_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  reverse=True) if reports_dir.is_dir() else []
    for run in runs:
        summary = run / SUMMARY
        if not summary.is_file():
            continue
        try:
            data = json.loads(summary.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return {
            "status": data.get("status", "unknown"),
            "created_at": data.get("created_at"),
            "model_version": data.get("model_version"),
            "n_breaches": len(data.get("breaches", [])),
            "breaches": data.get("breaches", []),
            "psi": (data.get("score_drift") or {}).get("psi"),
            "flag_rate_current": data.get("flag_rate_current"),
            "report": str(run / REPORT),
            "run": run.name,
            "actions": data.get("actions", []),
            "as_of": data.get("as_of_current"),
            "summary": str(run / SUMMARY),
        }
    return {"status": "unknown", "created_at": None, "model_version": None, "n_breaches": 0, "breaches": [],
            "psi": None, "flag_rate_current": None, "report": None, "run": None, "actions": [], "as_of": None,
            "summary": None}


def default_reports_dir(reports_root: str | Path) -> Path:
    """Where monitoring reports go by default: <settings.resolved_reports_dir()>/monitoring (CLI and API agree)."""
    return Path(reports_root) / "monitoring"


#: files of a published run that may be served (GET /v1/monitoring/reports/{run}/{name})
SERVABLE = (REPORT, EVIDENTLY, SUMMARY)


def report_file(reports_dir: str | Path, run: str, name: str) -> Path | None:
    """A published run's file, or None — never a path outside reports_dir (run and name are checked)."""
    if name not in SERVABLE or not re.fullmatch(r"\d{8}T\d{12}Z", run):
        return None
    path = Path(reports_dir) / run / name
    return path if path.is_file() else None
