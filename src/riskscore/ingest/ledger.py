"""The import ledger: one JSON line per imported file, and the volume checks behind "data incomplete".

Each entry: when, file name, sha256 of the bytes, kind/profile, school, rows read / added / replaced /
duplicate / rejected / blank, the columns dropped at the door, and — for school absence exports —
the records per pupil compared with that school's own history. An export whose records per pupil
fall below ``volume_min_ratio`` (default half) of the median of the school's earlier imports, or that
lost a category the school always had, is flagged ``incomplete``; :func:`incomplete_schools` returns
the schools whose latest import is flagged, and ``riskscore score`` marks their pupils
"data incomplete" instead of scoring them as low risk.

Two more checks mark a school "data incomplete" (:func:`incomplete_reasons` says which and why):
the **join check** after every import (too few of the school's absence/sick records belong to a
pupil of the students table) and the **freshness check** (no import of a kind for the school within
``max_age_days``, measured on the ``today`` the caller passes: the as-of date of a scoring run).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd

from riskscore.clock import local_day
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


# --- the join check: do a school's absence and sick records belong to pupils of the students table? --
#: flag a school when fewer of its absence/sick records than this belong to a known pupil (per school:
#: the school file's ``join_min_share``)
JOIN_MIN_SHARE = 0.9


def join_thresholds(entries: list[dict[str, Any]]) -> dict[str, float]:
    """Per school, the latest ``join_min_share`` its school file gave (absence imports record it)."""
    out: dict[str, float] = {}
    for e in entries:
        if e.get("join_min_share") is not None:
            for school in e.get("schools") or ([e["school_id"]] if e.get("school_id") else []):
                out[str(school)] = float(e["join_min_share"])
    return out


def join_check(tables: dict[str, pd.DataFrame], *, min_share: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Per school with absence or sick records: how many there are, how many belong to a pupil of the
    students table, the share, and whether it is below the school's threshold (``low``).

    Why: a pupil number that does not join (a local number against a national one, a wrong column)
    leaves every pupil of the school with 0 hours of absence that look known; such a school must be
    marked "data incomplete", never scored as if nobody was absent."""
    students = tables.get("students")
    known = set(students["student_id"].astype(str)) if students is not None and len(students) else set()
    parts = []
    for name in ("absences", "sick_reports"):
        t = tables.get(name)
        if t is not None and len(t) and "school_id" in t.columns:
            parts.append(t[["student_id", "school_id"]])
    if not parts:
        return {}
    rec = pd.concat(parts, ignore_index=True)
    rec = rec[rec["school_id"].notna()]
    rec = rec.assign(joined=rec["student_id"].astype(str).isin(known), school_id=rec["school_id"].astype(str).str.upper())
    out: dict[str, dict[str, Any]] = {}
    for school, group in rec.groupby("school_id", sort=True):
        n, joined = len(group), int(group["joined"].sum())
        threshold = float(min_share.get(str(school), JOIN_MIN_SHARE))
        share = joined / n if n else 1.0
        out[str(school)] = {"records": n, "joined": joined, "share": round(share, 4), "min_share": threshold,
                            "low": bool(share < threshold)}
    return out


# --- freshness: an export that does not arrive --------------------------------------------------------
#: days after which a school's last import of a kind is stale (kinds not named: no check). Per school,
#: the school file's ``max_age_days`` overrides the absence default.
MAX_AGE_DAYS: dict[str, int] = {"absences": 8}


def _import_day(entry: dict[str, Any]) -> dt.date | None:
    try:
        return local_day(dt.datetime.fromisoformat(str(entry["at"])))  # the import's day in Amsterdam
    except (KeyError, ValueError):
        return None


def freshness(entries: list[dict[str, Any]], *, today: dt.date,
              max_age_days: dict[str, int] | None = None) -> dict[str, dict[str, Any]]:
    """Per (school, kind) the ledger has imported: the day of the last import and whether it is older
    than allowed on ``today`` (the as-of date of a scoring run, or today's date: the caller decides)."""
    limits = {**MAX_AGE_DAYS, **(max_age_days or {})}
    last: dict[tuple[str, str], dt.date] = {}
    own_limit: dict[str, int] = {}
    for e in entries:
        if e.get("status") != "imported":
            continue
        day = _import_day(e)
        kind = str(e.get("kind"))
        schools = e.get("schools") or ([e["school_id"]] if e.get("school_id") else [])
        for school in schools:
            k = (str(school), kind)
            if day is not None and (k not in last or day > last[k]):
                last[k] = day
            if kind == "absences" and e.get("max_age_days"):
                own_limit[str(school)] = int(e["max_age_days"])
    out: dict[str, dict[str, Any]] = {}
    for (school, kind), day in sorted(last.items()):
        limit = own_limit.get(school) if kind == "absences" and school in own_limit else limits.get(kind)
        if not limit:
            continue
        age = (today - day).days
        out[f"{school}|{kind}"] = {"school_id": school, "kind": kind, "last_import": day.isoformat(), "age_days": age,
                                   "max_age_days": limit, "stale": age > limit}
    return out


# --- what marks a school "data incomplete", and why -----------------------------------------------------
#: reason codes (the API's DataIncompleteSchool.reasons): the last export was too small, its pupils do
#: not join the students table, or no export arrived in time
REASONS = ("volume", "join", "stale")


def incomplete_reasons(out: str | Path, *, today: dt.date | None = None,
                       max_age_days: dict[str, int] | None = None) -> dict[str, dict[str, str]]:
    """Per school marked "data incomplete": reason code → one line saying why (English, for the ledger
    and the CLI; pages translate the codes). ``today`` None: no freshness check."""
    entries = read_ledger(out)
    found: dict[str, dict[str, str]] = {}
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for e in entries:
        if e.get("kind") == "absences" and e.get("status") == "imported" and e.get("school_id"):
            latest[(str(e["school_id"]), str(e.get("profile")))] = e
    for (school, profile), e in sorted(latest.items()):
        if e.get("incomplete"):
            why = "; ".join(e.get("volume", {}).get("reasons", [])) or "flagged"
            found.setdefault(school, {})["volume"] = f"{profile} import of {str(e.get('at', ''))[:10]}: {why}"
    join: dict[str, Any] = next((e["join"] for e in reversed(entries) if isinstance(e.get("join"), dict)), {})
    for school, j in sorted(join.items()):
        if j.get("low"):
            found.setdefault(school, {})["join"] = (
                f"{j['joined']} of {j['records']} absence days and sick reports belong to a pupil of the students table "
                f"({100 * j['share']:.0f} %, at least {100 * j['min_share']:.0f} % needed): check that the pupil "
                "numbers are of one kind (national or the school's local numbers) in every import")
    if today is not None:
        for f in freshness(entries, today=today, max_age_days=max_age_days).values():
            if f["stale"]:
                found.setdefault(f["school_id"], {})["stale"] = (
                    f"no {f['kind']} import for {f['age_days']} days (last {f['last_import']}, at most "
                    f"{f['max_age_days']} allowed)")
    return found


def incomplete_schools(out: str | Path, *, today: dt.date | None = None,
                       max_age_days: dict[str, int] | None = None) -> frozenset[str]:
    """Schools whose data is known to be incomplete (their pupils: "data incomplete", never low risk):
    the latest absence import too small (volume check), too few records joining the students table
    (join check), or — given ``today`` — no import within the allowed days (freshness check)."""
    return frozenset(incomplete_reasons(out, today=today, max_age_days=max_age_days))
