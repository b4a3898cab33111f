"""Monitoring reports: an HTML page (our sections and plots, with evidently's drift report beside it),
a JSON summary, and the status the service shows at GET /v1/monitoring/status.

Each run is written into a hidden temporary folder and renamed into place in one step, so a reader —
or `latest_status` — never sees half a report; a full disk raises StorageFullError and leaves nothing."""

from __future__ import annotations

import base64
import errno
import io
import json
import math
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from riskscore.errors import DataError, StorageFullError
from riskscore.monitoring.checks import Verdict
from riskscore.monitoring.status import CHARTS, EVIDENTLY, REPORT, SUMMARY
from riskscore.monitoring.verdicts import headline

_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>riskscore monitoring — {{ status }}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.status{display:inline-block;padding:.2em .8em;border-radius:4px;color:#fff;font-weight:bold}
.ok{background:#2a7d2a}.warn{background:#b07800}.alert{background:#b3261e}
.note{color:#555;font-size:.9em}
</style></head><body>
<h1>riskscore monitoring <span class="status {{ status }}">{{ status|upper }}</span></h1>
{% if causes %}<h2>Why this status · Waarom dit oordeel</h2><ul>
{% for en, nl in causes %}<li>{{ en }}<br><span lang="nl" class="note">{{ nl }}</span></li>{% endfor %}
</ul>{% if more %}<p class="note">And {{ more }} more finding(s) below · en nog {{ more }} bevinding(en) hieronder.</p>{% endif %}
{% else %}<p>No threshold crossed · geen grens overschreden.</p>{% endif %}
<p>Created {{ s.created_at }} · model version {{ s.model_version or "unknown" }} ·
reference {{ s.n_reference }} pupils{% if s.as_of_reference %} (as of {{ s.as_of_reference }}){% endif %},
current {{ s.n_current }} pupils{% if s.as_of_current %} (as of {{ s.as_of_current }}){% endif %} ·
flag rate {{ "%.1f%%"|format(100*s.flag_rate_reference) }} → {{ "%.1f%%"|format(100*s.flag_rate_current) }}</p>
<p class="note">The model only triggers a human review; these checks watch whether its inputs, scores and
treatment of groups have moved since the reference (the champion's validation snapshot).</p>
{% if s.actions %}<h2>What to do · Wat te doen</h2><ol>
{% for a in s.actions %}<li><strong>{{ a.kind|replace("_", " ") }}</strong>: {{ a.text_en }}<br><span lang="nl" class="note">{{ a.text_nl }}</span></li>{% endfor %}
</ol>{% endif %}
{% if s.sources %}<p class="note">Reference: {{ s.sources.reference }} · current: {{ s.sources.current }}
{% if s.sources.outcomes %} · outcomes: {{ s.sources.outcomes }}{% endif %}
{% if s.sources.reviews %} · review outcomes: {{ s.sources.reviews }}{% endif %}</p>{% endif %}
<h2>Breaches and what to do</h2>
{% if breaches %}<table><tr><th>check</th><th>subject</th><th>severity</th><th>finding</th><th>action</th></tr>
{% for b in breaches %}<tr><td>{{ b.check }}</td><td>{{ b.subject }}</td><td>{{ b.severity }}</td>
<td style="text-align:left">{{ b.message }}{% if b.message_nl %}<br><span lang="nl" class="note">{{ b.message_nl }}</span>{% endif %}</td>
<td style="text-align:left">{{ b.action }}{% if b.action_nl %}<br><span lang="nl" class="note">{{ b.action_nl }}</span>{% endif %}</td></tr>{% endfor %}</table>
{% else %}<p>No threshold crossed.</p>{% endif %}
{% for title, img, table, note in sections %}<h2>{{ title }}</h2>{% if note %}<p class="note">{{ note }}</p>{% endif %}
{% if img %}<img alt="{{ title }}" src="data:image/png;base64,{{ img }}" style="max-width:100%">{% endif %}
{{ table|safe }}{% endfor %}
{% if evidently %}<h2>Feature drift detail (evidently)</h2>
<p><a href="{{ evidently }}">Open evidently's interactive report</a></p>{% endif %}
</body></html>
"""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(verdict: Verdict) -> dict[str, str]:
    """Matplotlib figures as base64 PNG (Figure without pyplot: no global state, no GUI backend)."""
    from matplotlib.figure import Figure

    out: dict[str, str] = {}
    hist = verdict.tables.get("probability_hist")
    if hist is not None and len(hist):
        fig = Figure(figsize=(7, 3))
        ax = fig.subplots()
        width = float(hist["right"].iloc[0] - hist["left"].iloc[0])
        ax.bar(hist["left"], hist["share_ref"], width=width, align="edge", alpha=0.5, label="reference")
        ax.bar(hist["left"], hist["share_cur"], width=width, align="edge", alpha=0.5, label="current")
        ax.set_xlabel("calibrated probability")
        ax.set_ylabel("share of pupils")
        ax.legend()
        out["scores"] = _png(fig)
    sel = verdict.tables.get("selection")
    if sel is not None and len(sel):
        t = sel[sel["tested"]]
        if len(t):
            fig = Figure(figsize=(7, max(2.5, 0.28 * len(t))))
            ax = fig.subplots()
            labels = (t["column"] + "=" + t["group"]).tolist()
            y = range(len(t))
            ax.scatter(t["rate_ref"], y, marker="|", s=200, color="grey", label="reference")
            err = [(t["change"] - t["change_lo"]).clip(lower=0), (t["change_hi"] - t["change"]).clip(lower=0)]
            colors = ["#b3261e" if a else "#1f5fa8" for a in t["alert"]]
            ax.errorbar(t["rate_cur"], y, xerr=err, fmt="none", ecolor="#999")
            ax.scatter(t["rate_cur"], y, color=colors, label="current (CI of change)")
            ax.set_yticks(list(y), labels)
            ax.set_xlabel("flag rate")
            ax.legend(loc="lower right")
            out["selection"] = _png(fig)
    fd = verdict.tables.get("feature_drift")
    if fd is not None and len(fd):
        fig = Figure(figsize=(7, max(2.5, 0.28 * len(fd))))
        ax = fig.subplots()
        ax.barh(fd["column"], fd["score"], color=["#b3261e" if d else "#1f5fa8" for d in fd["drifted"]])
        ax.scatter(fd["threshold"], fd["column"], marker="|", s=200, color="black", label="threshold")
        ax.set_xlabel("drift score (normed Wasserstein / PSI)")
        ax.legend(loc="lower right")
        out["features"] = _png(fig)
    return out


def _html_table(df: pd.DataFrame | None, columns: list[str] | None = None) -> str:
    if df is None or df.empty:
        return "<p>No data.</p>"
    view = df[[c for c in (columns or list(df.columns)) if c in df]]
    return view.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, na_rep="–")


def render_html(verdict: Verdict, *, evidently_href: str | None = None) -> str:
    """The project's own report page (Jinja2, autoescaped; tables are pandas' escaped HTML)."""
    from jinja2 import Environment

    plots = _plots(verdict)
    t = verdict.tables
    sections = [
        ("Score drift", plots.get("scores"), _html_table(t.get("bands")),
         f"PSI of the calibrated probability: {verdict.summary['score_drift']['psi']:.3f}"),
        ("Fairness without labels: flag rate by group", plots.get("selection"),
         _html_table(t.get("selection")), "A group alerts only when the change is significant (Bonferroni), large, "
         "and out of proportion with the overall change; groups below the minimum size are shown but not tested, "
         "and so are groups too small in the reference (their counts there are suppressed)."),
        ("Feature drift", plots.get("features"), _html_table(t.get("feature_drift")), None),
        ("Per school and RMC region", None, _html_table(t.get("breakdowns")), None),
    ]
    if "reviews_by_group" in t:
        sections.append(("Review outcomes: flags worth a conversation, by group", None,
                         _html_table(t.get("reviews_by_group")),
                         "Share of reviewed cases a reviewer marked worth a conversation; groups below the minimum "
                         "size are shown but not tested."))
    if "outcomes_by_group" in t:
        sections.append(("With outcomes: precision, recall, calibration by group", None,
                         _html_table(t.get("outcomes_by_group")), None))
    env = Environment(autoescape=True)
    published = verdict.to_dict()
    en, nl = headline(published, "en"), headline(published, "nl")
    return env.from_string(_TEMPLATE).render(
        status=verdict.status, s=verdict.summary, breaches=[b.to_dict() for b in verdict.breaches],
        sections=sections, evidently=evidently_href,
        causes=[(e[0], n[0]) for e, n in zip(en.causes, nl.causes, strict=True)], more=en.more,
    )


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _run_name() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def write_reports(verdict: Verdict, out_dir: str | Path) -> dict[str, Path]:
    """Write report.html, summary.json (and evidently's drift HTML) into out_dir/<timestamp>/.

    All files go to a temporary folder first, then one rename publishes the run: a crash or full disk
    leaves either the whole report or nothing."""
    out_dir = Path(out_dir)
    name = _run_name()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=out_dir))
    except OSError as exc:
        raise _translate(exc, out_dir) from None
    try:
        href = None
        if verdict.drift is not None:
            from riskscore.monitoring import drift

            drift.save_html(verdict.drift, work / EVIDENTLY)
            href = EVIDENTLY
        _write_text(work / REPORT, render_html(verdict, evidently_href=href))
        _write_text(work / SUMMARY, json.dumps(verdict.to_dict(), indent=2, allow_nan=False))
        _write_text(work / CHARTS, json.dumps(chart_tables(verdict), allow_nan=False))
        final = out_dir / name
        os.replace(work, final)
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise _translate(exc, out_dir) from None
    except StorageFullError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    paths = {"dir": final, "report": final / REPORT, "summary": final / SUMMARY}
    if href:
        paths["evidently"] = final / EVIDENTLY
    return paths


#: the tables the web's monitoring page draws (read back by monitoring.status.chart_data)
CHART_TABLES = {"probability_hist": ("left", "right", "share_ref", "share_cur"),
                "selection": ("column", "group", "n_ref", "n_cur", "rate_ref", "rate_cur", "tested", "alert"),
                "outcomes_by_group": ("column", "group", "n", "tpr", "tpr_lo", "tpr_hi", "flagged", "tested")}


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def chart_tables(verdict: Verdict) -> dict[str, list[dict[str, Any]]]:
    """The few tables behind the monitoring page's charts, as JSON-safe records (NaN → null)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, columns in CHART_TABLES.items():
        table = verdict.tables.get(name)
        if table is None or len(table) == 0:
            continue
        keep = [c for c in columns if c in table.columns]
        records = table[keep].astype(object).where(table[keep].notna(), None).to_dict("records")
        out[name] = [{k: _finite(v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in records]
    return out


def _translate(exc: OSError, where: Path) -> Exception:
    if exc.errno in _FULL:
        return StorageFullError(f"could not write the monitoring report in {where}: {exc.strerror or exc}")
    return DataError(f"could not write the monitoring report in {where}: {exc.strerror or exc}")


def headline_metrics(verdict: Verdict) -> dict[str, float]:
    """The numbers worth a time series in MLflow."""
    s = verdict.summary
    m: dict[str, Any] = {
        "psi_probability": s["score_drift"]["psi"],
        "feature_drift_share": s["feature_drift"].get("share_drifted"),
        "flag_rate_current": s["flag_rate_current"],
        "flag_rate_reference": s["flag_rate_reference"],
        "n_breaches": len(verdict.breaches),
        "n_alerts": len(verdict.alerts),
        "fairness_alerts": s["fairness"]["alerts"],
    }
    for key in ("precision", "tpr", "calibration_ratio"):
        if "outcomes" in s:
            m[f"outcome_{key}"] = s["outcomes"].get(key)
    return {k: float(v) for k, v in m.items() if v is not None}


def log_to_mlflow(verdict: Verdict, paths: dict[str, Path], *, tracking_uri: str,
                  artifact_root: str | None = None) -> str:
    """One MLflow run per report, through registry.py (the only module that imports mlflow)."""
    from riskscore import registry

    registry.configure(tracking_uri, artifact_root)
    artifacts: dict[str, Path | str] = {p.name: p for key, p in paths.items() if key != "dir"}
    return registry.log_monitoring(verdict.summary.get("model_version") or "unknown", artifacts,
                                   headline_metrics(verdict), tags={"status": verdict.status})
