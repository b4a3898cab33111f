"""Helpers shared by the benchmarks: memory, medians, markdown tables and the JSON summary.

Each benchmark prints a markdown section (the command that produced it first) and, with
``--json PATH``, writes its measurements and targets so run_all.py can build the summary.
"""

from __future__ import annotations

import json
import resource
import shlex
import statistics
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any


def peak_rss_mib() -> float:
    """This process's maximum resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib(pid: int | str = "self") -> float:
    """Current resident set of a process from /proc/<pid>/status (VmRSS)."""
    return _status_kib(pid, "VmRSS") / 1024


def hwm_mib(pid: int | str = "self") -> float:
    """Peak resident set of a process from /proc/<pid>/status (VmHWM)."""
    return _status_kib(pid, "VmHWM") / 1024


def _status_kib(pid: int | str, field: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def tree_rss_mib(pid: int) -> float:
    """VmRSS of a process plus its descendants (mlflow serve runs uvicorn as a child)."""
    total = rss_mib(pid)
    for child in _children(pid):
        total += tree_rss_mib(child)
    return total


def _children(pid: int) -> list[int]:
    out: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    try:
        for task in task_dir.iterdir():
            text = (task / "children").read_text().split()
            out.extend(int(c) for c in text)
    except OSError:
        pass
    return out


def median(values: Iterable[float]) -> float:
    vals = [v for v in values if v == v]  # drop NaN
    return statistics.median(vals) if vals else float("nan")


def command_line() -> str:
    """The command that produced this output, as it can be pasted into a shell."""
    return " ".join(shlex.quote(a) for a in [Path(sys.executable).as_posix(), *sys.argv])


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A markdown table; floats keep what the caller formatted."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def target(name: str, goal: str, measured: str, met: bool, detail: str = "") -> dict[str, Any]:
    return {"name": name, "goal": goal, "measured": measured, "met": bool(met), "detail": detail}


def write_json(path: str | None, payload: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(payload, indent=2, default=str))


def fmt_s(seconds: float) -> str:
    if seconds != seconds:
        return "n/a"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"
