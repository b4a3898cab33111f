"""Run every benchmark, each in its own process (so peak memory is per benchmark), and rewrite
benchmarks/RESULTS.md: machine, versions, commands, tables, ratios and whether each target is met.

Run:  .venv/bin/python benchmarks/run_all.py                  # the real thing (~10 min on 2 cores)
      .venv/bin/python benchmarks/run_all.py --quick --out /tmp/R.md   # smoke run: tiny sizes, parallel

--quick runs the benchmarks at tiny sizes and in parallel: its numbers say nothing about speed; it
checks that every benchmark runs and that the report is complete (tests/test_benchmarks_smoke.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PY = sys.executable
PACKAGES = ("numpy", "pandas", "lightgbm", "scikit-learn", "fastapi", "uvicorn", "uvloop", "httptools", "pydantic",
            "sqlalchemy", "mlflow", "shap")


@dataclass
class Bench:
    name: str
    title: str
    script: str
    full: list[str]
    quick: list[str]
    json_out: bool = True
    #: the benchmark prints aligned plain text (kept in a code block), not markdown
    plain: bool = False
    timeout: float = 900.0
    # filled by run()
    argv: list[str] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = None
    seconds: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)


def benches(bundle: str | None) -> list[Bench]:
    # --profile: py-spy attached under load, where the time goes (in the report)
    service_full = ["--rounds", "3", "--duration", "8", "--latency-rounds", "2", "--latency-duration", "8", "--profile", "8"]
    service_quick = ["--rounds", "1", "--duration", "1", "--latency-rounds", "1", "--latency-duration", "0.5",
                     "--latency-warmup", "0.2", "--warmup", "0", "--stage-calls", "20", "--bulk", "3", "--postgres-url", "",
                     "--bulk-requests", "1"]
    if bundle:
        service_full += ["--bundle", bundle]
        service_quick += ["--bundle", bundle]
    return [
        Bench("batch", "Batch scoring: 1,000,000 students", "bench_batch.py", [],
              ["--rows", "20000", "--rounds", "1", "--reps", "1", "--students", "300", "--years", "3",
               "--contrib-rows", "2000", "--shap-rows", "100"]),
        Bench("service", "Service: one student per request over HTTP", "bench_service.py", service_full, service_quick),
        Bench("features", "Feature table: 1,000,000 students, one as-of date", "bench_features.py",
              ["--students", "1000000"], ["--students", "5000", "--builds", "1"], plain=True),
        Bench("training", "Training: 500,000 student-years", "bench_training.py",
              ["--students", "100000", "--years", "5"], ["--students", "1000", "--years", "3"]),
        Bench("import", "Import: one school year of absence exports, 20,000-pupil mbo college", "bench_import.py",
              ["--pupils", "20000", "--rounds", "2"], ["--pupils", "300", "--rounds", "1"]),
    ]


# --- machine and versions ------------------------------------------------------------------------------
def machine() -> list[tuple[str, str]]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kib = next(int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal"))
        mem = f"{kib / 2**20:.1f} GiB"
    except (OSError, StopIteration):
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return [("cores", f"{os.cpu_count()} (usable by this process: {affinity})"), ("CPU model (/proc/cpuinfo)", cpu),
            ("memory", mem), ("kernel", f"{platform.system()} {platform.release()}"),
            ("load average at start (1/5/15 min)", load)]


def versions() -> list[tuple[str, str]]:
    out = [("python", platform.python_version())]
    for pkg in PACKAGES:
        try:
            out.append((pkg, metadata.version(pkg)))
        except metadata.PackageNotFoundError:
            out.append((pkg, "not installed"))
    wrk = shutil.which("wrk")
    if wrk:
        text = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False).stdout.splitlines()
        out.append(("wrk", text[0].strip() if text else wrk))
    else:
        out.append(("wrk", "not installed"))
    out.append(("wrk2", shutil.which("wrk2") or "not installed"))
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(PY).parent))
    out.append(("py-spy", subprocess.run([spy, "--version"], capture_output=True, text=True, check=False).stdout.strip()
                if spy else "not installed"))
    return out


# --- running ---------------------------------------------------------------------------------------------
def start(b: Bench, quick: bool, tmp: Path) -> subprocess.Popen[str]:
    b.argv = [PY, str(HERE / b.script), *(b.quick if quick else b.full)]
    if b.json_out:
        b.argv += ["--json", str(tmp / f"{b.name}.json")]
    return subprocess.Popen(b.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=HERE.parent)


def finish(b: Bench, proc: subprocess.Popen[str], started: float, tmp: Path) -> None:
    try:
        b.stdout, b.stderr = proc.communicate(timeout=max(1.0, b.timeout - (time.perf_counter() - started)))
    except subprocess.TimeoutExpired:
        proc.terminate()  # SIGTERM: bench_service turns it into SystemExit and stops its servers in `finally`
        try:
            b.stdout, b.stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            b.stdout, b.stderr = proc.communicate()
        b.stderr += f"\n[run_all] killed after {b.timeout:.0f} s"
    b.returncode = proc.returncode
    b.seconds = time.perf_counter() - started
    path = tmp / f"{b.name}.json"
    if b.json_out and path.exists():
        b.result = json.loads(path.read_text())


def run(selected: list[Bench], quick: bool, tmp: Path) -> None:
    if quick:  # smoke run: all at once, the sizes are tiny and the numbers mean nothing
        def one(b: Bench) -> None:
            started = time.perf_counter()
            finish(b, start(b, quick, tmp), started, tmp)

        with ThreadPoolExecutor(max_workers=len(selected) or 1) as pool:
            list(pool.map(one, selected))
        return
    for b in selected:  # one at a time: each benchmark has the machine (and its memory) to itself
        print(f"[run_all] {b.name}: {' '.join(shlex.quote(a) for a in (PY, b.script, *b.full))}", flush=True)
        started = time.perf_counter()
        finish(b, start(b, quick, tmp), started, tmp)
        print(f"[run_all] {b.name}: exit {b.returncode} after {b.seconds:.0f} s", flush=True)


# --- the report ------------------------------------------------------------------------------------------
def kv_table(rows: list[tuple[str, str]]) -> str:
    return "\n".join(["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])


def section_body(b: Bench) -> str:
    if b.returncode != 0:
        tail = (b.stderr or b.stdout)[-2500:]
        return (f"**FAILED** (exit {b.returncode}) — command: `{shlex.join(b.argv)}`\n\n```\n{tail}\n```\n")
    text = b.stdout.strip()
    if not b.plain:
        return text + "\n"
    first, _, rest = text.partition("\n")  # plain-text output: keep its columns
    cmd = first.removeprefix("command: ").strip()
    return f"command: `{cmd}`\n\n```\n{rest.strip()}\n```\n"


def report(selected: list[Bench], *, quick: bool, total: float, command: str, machine_rows: list[tuple[str, str]],
           version_rows: list[tuple[str, str]]) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# Benchmark results", ""]
    if quick:
        lines += ["> **Smoke run (`--quick`)**: tiny sizes, benchmarks run in parallel. These numbers say nothing "
                  "about speed; run `make bench` for real ones.", ""]
    lines += [f"Written by `{command}` on {now}; all benchmarks ran on this machine in this one run, "
              f"{'in parallel' if quick else 'one after another, each in its own process'}, "
              f"in {total / 60:.1f} min. Every table below starts with the command that produced it. The machine "
              "is shared and noisy (PITFALLS.md: speed drifts up to 2×), so paths are interleaved round by round "
              "and medians and paired ratios are reported.", ""]
    lines += ["## Machine", "", kv_table(machine_rows), "", "## Versions", "", kv_table(version_rows), ""]
    lines += ["## Targets", "", "| benchmark | target | goal | measured | met | detail |", "|---|---|---|---|---|---|"]
    for b in selected:
        targets = b.result.get("targets") if b.returncode == 0 else None
        if b.returncode != 0:
            lines.append(f"| {b.name} | (benchmark failed) | | | **NO** | see its section |")
        for t in targets or []:
            lines.append(f"| {b.name} | {t['name']} | {t['goal']} | {t['measured']} | "
                         f"{'yes' if t['met'] else '**NO**'} | {t['detail']} |")
    lines += ["", "Training has no target; its times and peak memory are in its section.", ""]
    lines += ["## Commands", "", "```"]
    lines += [f"{shlex.join(b.argv)}    # {b.seconds:.0f} s, exit {b.returncode}" for b in selected]
    lines += ["```", ""]
    for b in selected:
        lines += [f"## {b.title}", "", section_body(b)]
    return "\n".join(lines).rstrip() + "\n"


#: sections run_all does not write, carried over as they are: bench_scale.py runs (too long for make bench) and
#: the history of a round of work (profiles and A/B runs before the recorded run, what changed and why)
KEPT_PREFIXES = ("## Scale", "## History")


def kept_sections(path: Path) -> str:
    """The sections of the old report that run_all does not produce (their title starts with a KEPT_PREFIXES)."""
    if not path.exists():
        return ""
    text, out, keep = path.read_text(), [], False
    for line in text.splitlines():
        if line.startswith("## "):
            keep = line.startswith(KEPT_PREFIXES)
        if keep:
            out.append(line)
    return ("\n" + "\n".join(out).rstrip() + "\n") if out else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, in parallel")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--bundle", default=os.environ.get("RISKSCORE_BUNDLE_PATH") or None,
                        help="champion bundle for the service benchmark (default: RISKSCORE_BUNDLE_PATH, else one is trained)")
    parser.add_argument("--only", nargs="*", help="run only these benchmarks (batch service features training)")
    args = parser.parse_args()
    selected = [b for b in benches(args.bundle) if not args.only or b.name in args.only]
    command = shlex.join([Path(PY).as_posix(), *sys.argv])
    machine_rows, version_rows = machine(), versions()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="riskscore-bench-") as tmp:
        run(selected, args.quick, Path(tmp))
    total = time.perf_counter() - t0
    text = report(selected, quick=args.quick, total=total, command=command, machine_rows=machine_rows,
                  version_rows=version_rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + kept_sections(out))
    failed = [b.name for b in selected if b.returncode != 0]
    print(f"[run_all] wrote {out} ({total:.0f} s){'; FAILED: ' + ', '.join(failed) if failed else ''}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
