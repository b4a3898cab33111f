"""The import ledger: one JSON line per imported file, and the volume checks behind "data incomplete".

Each entry: when, file name, sha256 of the bytes, kind/profile, school, rows read / added / replaced /
duplicate / rejected / blank, the columns dropped at the door, and — for school absence exports —
the records per pupil compared with that school's own history. An export whose records per pupil
fall below ``volume_min_ratio`` (default half) of the median of the school's earlier imports, or that
lost a category the school always had, is flagged ``incomplete``; :func:`incomplete_schools` returns
the schools whose latest import is flagged, and ``riskscore score`` marks their pupils
"data incomplete" instead of scoring them as low risk.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from riskscore.errors import DataError

LEDGER = "ingest/ledger.jsonl"
#: a category is "usual" for a school when it held at least this share of its records before
USUAL_CATEGORY_SHARE = 0.05
MIN_HISTORY = 1


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ledger_path(out: Path) -> Path:
    return out / LEDGER


def read_ledger(out: str | Path) -> list[dict[str, Any]]:
    path = ledger_path(Path(out))
    if not path.exists():
        return []
    entries = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            raise DataError(f"{path}, line {n}: the ledger is damaged (not JSON)") from None
    return entries


def append(out: Path, entries: list[dict[str, Any]]) -> None:
    """Append entries (fsync'd): written last, after the data, so a listed import is a stored one."""
    import os

    path = ledger_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for e in entries:
            f.write(json.dumps(e, ensure_ascii=False, sort_keys=True, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def already_imported(entries: list[dict[str, Any]], sha: str, kind: str) -> bool:
    return any(e.get("sha256") == sha and e.get("kind") == kind and e.get("status") == "imported" for e in entries)


def volume_check(entries: list[dict[str, Any]], *, school_id: str, profile: str, records: int, pupils: int,
                 categories: dict[str, int], min_ratio: float) -> dict[str, Any]:
    """Compare this export's records per pupil (and categories) with the school's earlier imports."""
    history = [e for e in entries if e.get("school_id") == school_id and e.get("kind") == "absences"
               and e.get("profile") == profile and e.get("status") == "imported" and not e.get("incomplete")
               and e.get("volume")]
    rpp = records / pupils if pupils else 0.0
    result: dict[str, Any] = {"school_id": school_id, "records": records, "pupils": pupils,
                              "records_per_pupil": round(rpp, 3),
                              "history": len(history), "incomplete": False, "reasons": []}
    if records == 0:
        result["incomplete"] = True
        result["reasons"].append("0 records")
    if len(history) >= MIN_HISTORY:
        past = sorted(float(e["volume"]["records_per_pupil"]) for e in history)
        median = past[len(past) // 2] if len(past) % 2 else (past[len(past) // 2 - 1] + past[len(past) // 2]) / 2
        result["usual_records_per_pupil"] = round(median, 3)
        if median > 0 and rpp < min_ratio * median:
            result["incomplete"] = True
            result["reasons"].append(f"{rpp:.2f} records per pupil, usually {median:.2f}")
        totals: dict[str, int] = {}
        for e in history:
            for c, n in e["volume"].get("categories", {}).items():
                totals[c] = totals.get(c, 0) + int(n)
        all_n = sum(totals.values())
        lost = sorted(c for c, n in totals.items() if all_n and n / all_n >= USUAL_CATEGORY_SHARE and not categories.get(c))
        if lost and records:
            result["incomplete"] = True
            result["reasons"].append(f"no {', '.join(lost)} records, usually present")
    result["categories"] = categories
    return result


def incomplete_schools(out: str | Path) -> frozenset[str]:
    """Schools whose latest absence import is flagged incomplete (their pupils: "data incomplete")."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for e in read_ledger(out):
        if e.get("kind") == "absences" and e.get("status") == "imported" and e.get("school_id"):
            latest[(str(e["school_id"]), str(e.get("profile")))] = e
    return frozenset(s for (s, _p), e in latest.items() if e.get("incomplete"))
