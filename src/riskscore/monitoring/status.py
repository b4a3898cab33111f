"""The light reader the service uses for monitoring results: published report folders as JSON.

api and web import only this module of the monitoring package, so serving never pulls in scipy,
evidently or matplotlib (which `report` and `drift` need to *write* reports)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

SUMMARY = "summary.json"
REPORT = "report.html"
EVIDENTLY = "evidently_drift.html"
CHARTS = "charts.json"
#: at most this many earlier reports feed the PSI-over-time chart
HISTORY = 24


def latest_status(reports_dir: str | Path) -> dict[str, Any]:
    """The newest complete report's status for GET /v1/monitoring/status (no report → status 'unknown').

    Reads only published folders (hidden temp folders are skipped), so it never sees half a run."""
    runs = _published(Path(reports_dir))
    for run in runs:
        summary = run / SUMMARY
        if not summary.is_file():
            continue
        try:
            data = json.loads(summary.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        drift = data.get("score_drift") or {}
        return {
            "status": data.get("status", "unknown"),
            "created_at": data.get("created_at"),
            "model_version": data.get("model_version"),
            "n_breaches": len(data.get("breaches", [])),
            "breaches": data.get("breaches", []),
            "psi": drift.get("psi"),
            "psi_warn": drift.get("psi_warn"),
            "psi_alert": drift.get("psi_alert"),
            "flag_rate_current": data.get("flag_rate_current"),
            "flag_rate_reference": data.get("flag_rate_reference"),
            "as_of_reference": data.get("as_of_reference"),
            "report": str(run / REPORT),
            "run": run.name,
            "actions": data.get("actions", []),
            "as_of": data.get("as_of_current"),
            "summary": str(run / SUMMARY),
        }
    return {"status": "unknown", "created_at": None, "model_version": None, "n_breaches": 0, "breaches": [],
            "psi": None, "psi_warn": None, "psi_alert": None, "flag_rate_current": None,
            "flag_rate_reference": None, "as_of_reference": None, "report": None, "run": None, "actions": [],
            "as_of": None, "summary": None}


def default_reports_dir(reports_root: str | Path) -> Path:
    """Where monitoring reports go by default: <settings.resolved_reports_dir()>/monitoring (CLI and API agree)."""
    return Path(reports_root) / "monitoring"


def _published(reports_dir: Path) -> list[Path]:
    return sorted((p for p in reports_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  reverse=True) if reports_dir.is_dir() else []


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def wilson(rate: float | None, n: float | None, z: float = 1.959964) -> tuple[float, float] | None:
    """95% Wilson interval for a share (plain arithmetic: the service imports no scipy)."""
    if rate is None or not n or n <= 0:
        return None
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def chart_data(reports_dir: str | Path) -> dict[str, Any]:
    """What the monitoring page draws: the newest report's score histogram, flag rates per group (with
    95% intervals) and TPR per group, and PSI and flag rate over the last HISTORY reports (oldest
    first). Reports written before charts.json existed still give the history."""
    runs = _published(Path(reports_dir))
    history = []
    for run in runs[:HISTORY]:
        data = _read_json(run / SUMMARY)
        if isinstance(data, dict):
            history.append({"run": run.name, "created_at": data.get("created_at"), "status": data.get("status"),
                            "psi": (data.get("score_drift") or {}).get("psi"),
                            "flag_rate": data.get("flag_rate_current"), "as_of": data.get("as_of_current")})
    history.reverse()
    latest = next((r for r in runs if (r / SUMMARY).is_file()), None)
    tables = _read_json(latest / CHARTS) if latest is not None else None
    tables = tables if isinstance(tables, dict) else {}
    selection = []
    for row in tables.get("selection", []):
        ci = wilson(row.get("rate_cur"), row.get("n_cur"))
        selection.append({**row, "rate_lo": ci[0] if ci else None, "rate_hi": ci[1] if ci else None})
    return {"hist": tables.get("probability_hist", []), "selection": selection,
            "tpr": tables.get("outcomes_by_group", []), "history": history,
            "has_evidently": latest is not None and (latest / EVIDENTLY).is_file(),
            "run": latest.name if latest is not None else None}


#: files of a published run that may be served (GET /v1/monitoring/reports/{run}/{name})
SERVABLE = (REPORT, EVIDENTLY, SUMMARY)


def report_file(reports_dir: str | Path, run: str, name: str) -> Path | None:
    """A published run's file, or None — never a path outside reports_dir (run and name are checked)."""
    if name not in SERVABLE or not re.fullmatch(r"\d{8}T\d{12}Z", run):
        return None
    path = Path(reports_dir) / run / name
    return path if path.is_file() else None
