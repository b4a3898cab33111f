"""Smoke run of the benchmarks: `benchmarks/run_all.py --quick` runs every benchmark at tiny sizes and
writes a complete RESULTS report (machine, versions, targets, commands, one section per benchmark)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("## Machine", "## Versions", "## Targets", "## Commands", "## Batch scoring", "## Service",
            "## Feature table", "## Training")


@pytest.mark.skipif(shutil.which("wrk") is None or shutil.which("taskset") is None,
                    reason="the service benchmark needs wrk and taskset (make system-deps)")
def test_run_all_quick_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=240, cwd=ROOT)
    elapsed = time.monotonic() - started
    text = out.read_text() if out.exists() else ""
    assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}\n{text[-3000:]}"
    assert elapsed < 120, f"the smoke run took {elapsed:.0f} s (designed for < 60 s on an idle 2-core machine)"
    for heading in SECTIONS:
        assert heading in text, heading
    assert "FAILED" not in text
    assert "Smoke run (`--quick`)" in text  # never mistaken for real numbers
    # every benchmark states its command, and each target row says yes or NO
    assert text.count("command: `") >= 4
    targets = [line for line in text.splitlines() if line.startswith(("| batch |", "| service |", "| features |"))]
    # batch 3; service (SQLite) 4: the rate vs MLflow, the half-rate p99, server time, one bulk size; features 2
    assert len(targets) == 9 and all(re.search(r"\| (yes|\*\*NO\*\*) \|", t) for t in targets), targets
    # the tables carry numbers, not placeholders
    assert re.search(r"\| compiled tables: bundle\.score.* \| \d+ ms \|", text)
    assert re.search(r"\| riskscore on SQLite \(POST /v1/scores.* \| [\d,]+ \|", text)
    assert re.search(r"\| 3 \| [\d,]+ ms \(0\.0 MB body\) \| [\d,]+ \|", text)  # the bulk push's row
    assert "| python | 3.11" in text and "| lightgbm |" in text and "CPU model" in text
