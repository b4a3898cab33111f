"""Inline SVG charts for the monitoring page, drawn on the server (no JavaScript, no CDN, no matplotlib).

Each builder returns markup that is safe to put in a page (every text is escaped) and readable
without the picture: an SVG with role="img", a title and a description, and the page shows the same
numbers in a table beside it. Colours are presentation attributes, so the page's CSP (no inline
styles) holds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

REF, CUR, ALERT, AXIS, GRID, OK, WARN = "#6b6b6b", "#0b4f8a", "#a4161a", "#1b1b1b", "#d9d9d9", "#2b6a2b", "#8a5a00"
WIDTH, HEIGHT, LEFT, BOTTOM, TOP, RIGHT = 640, 240, 48, 36, 12, 12


def _fmt(x: float, lang: str, digits: int = 2) -> str:
    text = f"{x:.{digits}f}"
    return text.replace(".", ",") if lang == "nl" else text


def _pct(x: float, lang: str, digits: int = 0) -> str:
    return _fmt(100 * x, lang, digits) + "%"


def _svg(title: str, desc: str, body: list[str], *, width: int = WIDTH, height: int = HEIGHT) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="{{id}}-t {{id}}-d" '
        f'preserveAspectRatio="xMinYMin meet"><title id="{{id}}-t">{escape(title)}</title>'
        f'<desc id="{{id}}-d">{escape(desc)}</desc>' + "".join(body) + "</svg>")


def _named(svg: Markup, ident: str) -> Markup:
    return Markup(str(svg).replace("{id}", ident))


def _y_axis(top: float, lang: str, *, as_percent: bool, height: int = HEIGHT) -> list[str]:
    parts = []
    plot = height - TOP - BOTTOM
    for i in range(5):
        value = top * i / 4
        y = height - BOTTOM - plot * i / 4
        label = _pct(value, lang) if as_percent else _fmt(value, lang, 0 if top >= 8 else 2)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
                     f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{escape(label)}</text>')
    parts.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{height - BOTTOM}" stroke="{AXIS}"/>'
                 f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{height - BOTTOM}" y2="{height - BOTTOM}" stroke="{AXIS}"/>')
    return parts


def _legend(items: Sequence[tuple[str, str]], y: float) -> list[str]:
    parts, x = [], LEFT
    for colour, label in items:
        parts.append(f'<rect x="{x}" y="{y - 9}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{x + 16}" y="{y + 1}" font-size="12">{escape(label)}</text>')
        x += 24 + 7 * len(label)
    return parts


def histogram(rows: Sequence[dict[str, Any]], *, lang: str, title: str, ref_label: str, cur_label: str) -> Markup | None:
    """Reference and current share of pupils per probability bin, side by side."""
    if not rows:
        return None
    top = max(max(r.get("share_ref") or 0, r.get("share_cur") or 0) for r in rows) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / len(rows)
    body = _y_axis(top, lang, as_percent=True)
    for i, r in enumerate(rows):
        for j, (key, colour) in enumerate((("share_ref", REF), ("share_cur", CUR))):
            h = plot_h * (r.get(key) or 0) / top
            x = LEFT + i * step + j * step / 2 + 0.5
            body.append(f'<rect x="{x:.1f}" y="{HEIGHT - BOTTOM - h:.1f}" width="{max(step / 2 - 1, 0.5):.1f}" '
                        f'height="{h:.1f}" fill="{colour}"/>')
    last = len(rows) - 1
    for i, anchor in ((0, "start"), (len(rows) // 2, "middle"), (last, "end")):
        x = LEFT + i * step if i < last else WIDTH - RIGHT
        value = rows[i]["left"] if i < last else rows[i]["right"]
        body.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="11" text-anchor="{anchor}">'
                    f'{escape(_pct(value, lang, 1))}</text>')
    body += _legend([(REF, ref_label), (CUR, cur_label)], HEIGHT - 6)
    desc = f"{ref_label} / {cur_label}: " + "; ".join(
        f"{_pct(r['left'], lang, 1)}–{_pct(r['right'], lang, 1)}: {_pct(r.get('share_ref') or 0, lang, 1)} / "
        f"{_pct(r.get('share_cur') or 0, lang, 1)}" for r in rows if (r.get("share_ref") or r.get("share_cur")))
    return _named(_svg(title, desc, body), "hist")


def line(points: Sequence[tuple[str, float | None]], *, lang: str, title: str, ident: str,
         thresholds: Sequence[tuple[float, str]] = (), as_percent: bool = False) -> Markup | None:
    """A value per report (oldest first) as a line with dots; dashed lines at the thresholds."""
    values = [(label, v) for label, v in points if v is not None]
    if not values:
        return None
    top = max([v for _, v in values] + [t for t, _ in thresholds]) * 1.15 or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(values) - 1, 1)
    body = _y_axis(top, lang, as_percent=as_percent)
    for t, colour in thresholds:
        y = HEIGHT - BOTTOM - plot_h * t / top
        body.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" '
                    f'stroke-dasharray="6 4" stroke-width="1.5"/>')
    coords = [(LEFT + (i * step if len(values) > 1 else plot_w / 2), HEIGHT - BOTTOM - plot_h * v / top)
              for i, (_, v) in enumerate(values)]
    if len(coords) > 1:
        body.append('<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>'.format(
            CUR, " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)))
    for (x, y), (label, v) in zip(coords, values, strict=True):
        shown = _pct(v, lang, 1) if as_percent else _fmt(v, lang, 3)
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{CUR}"><title>{escape(label)}: '
                    f'{escape(shown)}</title></circle>')
    for i in sorted({0, len(values) - 1}):
        anchor = "start" if i == 0 else "end"
        body.append(f'<text x="{coords[i][0]:.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="11" '
                    f'text-anchor="{anchor}">{escape(values[i][0])}</text>')
    desc = "; ".join(f"{label}: {_pct(v, lang, 1) if as_percent else _fmt(v, lang, 3)}" for label, v in values)
    return _named(_svg(title, desc, body), ident)


def intervals(rows: Sequence[dict[str, Any]], *, lang: str, title: str, ident: str, value: str, lo: str, hi: str,
              ref: str | None = None, ref_label: str = "", cur_label: str = "") -> Markup | None:
    """One row per group: the estimate as a dot with its interval as a line (and, if given, the
    reference value as a grey tick), on a shared 0–max percent axis. Alerted groups are red."""
    rows = [r for r in rows if r.get(value) is not None]
    if not rows:
        return None
    row_h, label_w = 22, 250
    height = TOP + BOTTOM + row_h * len(rows)
    top = max(max((r.get(hi) or r.get(value) or 0) for r in rows), max((r.get(ref) or 0) for r in rows) if ref else 0)
    top = min(1.0, top * 1.1) or 1.0
    plot_w = WIDTH - label_w - RIGHT
    body = []
    for i in range(5):
        x = label_w + plot_w * i / 4
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{height - BOTTOM}" stroke="{GRID}"/>'
                    f'<text x="{x:.1f}" y="{height - BOTTOM + 14}" font-size="11" text-anchor="middle">'
                    f'{escape(_pct(top * i / 4, lang))}</text>')
    desc = []
    for i, r in enumerate(rows):
        y = TOP + row_h * i + row_h / 2
        colour = ALERT if r.get("alert") else CUR
        name = f"{r.get('column')}={r.get('group')}"
        short = name if len(name) <= 36 else name[:35] + "…"
        body.append(f'<text x="{label_w - 8}" y="{y + 4:.1f}" font-size="12" text-anchor="end">{escape(short)}'
                    f'<title>{escape(name)}</title></text>')
        if r.get(lo) is not None and r.get(hi) is not None:
            x1, x2 = label_w + plot_w * r[lo] / top, label_w + plot_w * r[hi] / top
            body.append(f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" stroke-width="2"/>')
        if ref and r.get(ref) is not None:
            xr = label_w + plot_w * r[ref] / top
            body.append(f'<line x1="{xr:.1f}" x2="{xr:.1f}" y1="{y - 7:.1f}" y2="{y + 7:.1f}" stroke="{REF}" '
                        f'stroke-width="3"/>')
        xv = label_w + plot_w * r[value] / top
        body.append(f'<circle cx="{xv:.1f}" cy="{y:.1f}" r="5" fill="{colour}"/>')
        interval = (f" ({_pct(r[lo], lang, 1)}–{_pct(r[hi], lang, 1)})"
                    if r.get(lo) is not None and r.get(hi) is not None else "")
        desc.append(f"{name}: {_pct(r[value], lang, 1)}{interval}")
    if ref:
        body += _legend([(REF, ref_label), (CUR, cur_label), (ALERT, "alert")], height - 4)
    return _named(_svg(title, "; ".join(desc), body, height=height + (6 if ref else 0)), ident)


def bars(rows: Sequence[dict[str, Any]], *, lang: str, title: str, ident: str, n_label: str,
         share_label: str) -> Markup | None:
    """Reviews per month as bars, the share worth a conversation written on each."""
    if not rows:
        return None
    top = max(r["n"] for r in rows) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / len(rows)
    body = _y_axis(float(top), lang, as_percent=False)
    for i, r in enumerate(rows):
        h = plot_h * r["n"] / top
        x = LEFT + i * step + step * 0.15
        share = r["worth"] / r["n"] if r["n"] else 0.0
        body.append(f'<rect x="{x:.1f}" y="{HEIGHT - BOTTOM - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
                    f'fill="{CUR}"/>'
                    f'<text x="{x + step * 0.35:.1f}" y="{HEIGHT - BOTTOM - h - 4:.1f}" font-size="11" '
                    f'text-anchor="middle">{escape(_pct(share, lang))}</text>'
                    f'<text x="{x + step * 0.35:.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="11" '
                    f'text-anchor="middle">{escape(r["month"])}</text>')
    desc = "; ".join(f"{r['month']}: {r['n']} {n_label}, {_pct(r['worth'] / r['n'] if r['n'] else 0, lang)} "
                     f"{share_label}" for r in rows)
    return _named(_svg(title, desc, body), ident)
