"""Benchmark: single-student scoring with reasons over real HTTP — riskscore vs `mlflow models serve`.

Run:  .venv/bin/python benchmarks/bench_service.py --bundle /path/to/champion/bundle --rounds 3
      .venv/bin/python benchmarks/bench_service.py --stages-only --stage-calls 50   (in-process steps only)

Servers (all pinned to core 0 with `taskset -c 0`, one uvicorn worker each, started once and idle
while another is measured) and their request:
  riskscore        `riskscore serve --log-level warning` (uvicorn, 1 worker, no access log, uvloop +
                   httptools): POST /v1/scores with an API key, one pupil with a school year of raw
                   events (riskscore.testing.year_of_events: ~190 absence records, sick reports, an
                   enrolment, an mbo application); the service computes features and legal triggers
                   itself, and the response has the probability, band, top-3 reasons, triggers and
                   reviewer roles; the score and an audit entry are written to SQLite (WAL) before it
                   is sent. (MLflow's servers get the finished feature row: they compute nothing else.)
  mlflow-default   `mlflow models serve --env-manager local` as shipped (its uvicorn, access log on) of
                   the same bundle logged as a pyfunc WITH a signature (as registry.py logs it):
                   POST /invocations {"dataframe_split": …}; the response has probability, band and
                   top-3 reasons.
  mlflow-fastest   the same bundle logged WITHOUT a signature, `inputs` payload, and MLflow's scoring
                   app run by the same uvicorn command `mlflow models serve` builds, with our flags
                   (no access log, log level warning).
  empty-post       a minimal FastAPI app whose POST returns {} (same uvicorn flags): the ceiling.

Load: `wrk` (pinned to core 1, 1 thread, fixed connections, Lua script for the POST body and the
Authorization header), interleaved rounds, each server in rotating order; the max rate is the
median over rounds. Latency at half load: wrk 4.1 cannot fix a rate and wrk2 is not installed, so
benchmarks/_openloop.py (pinned to core 1) sends at half of each server's median max rate,
open-loop, latency measured from each request's scheduled time (no coordinated omission).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, hwm_mib, median, rss_mib, table, target, tree_rss_mib, write_json

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
SERVERS = ("riskscore", "mlflow-default", "mlflow-fastest", "empty-post")
UVICORN_FLAGS = ["--workers", "1", "--no-access-log", "--log-level", "warning", "--loop", "uvloop", "--http", "httptools"]
SCHOOL = "01AB"

EMPTY_APP = '''from fastapi import FastAPI

app = FastAPI()


@app.post("/v1/scores")
async def score() -> dict:
    return {}
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the model ---------------------------------------------------------------------------------------
def resolve_bundle(arg: str | None, work: Path) -> tuple[Path, str]:
    """--bundle, else RISKSCORE_BUNDLE_PATH, else the champion in $RISKSCORE_HOME's registry (`make demo`),
    else a small additive model trained here (the output says which)."""
    if arg:
        return Path(arg).resolve(), f"bundle {arg}"
    if os.environ.get("RISKSCORE_BUNDLE_PATH"):
        return Path(os.environ["RISKSCORE_BUNDLE_PATH"]).resolve(), "bundle $RISKSCORE_BUNDLE_PATH"
    home = Path(os.environ.get("RISKSCORE_HOME", ".riskscore"))
    if (home / "mlflow.db").exists():  # `make demo` was run: its registry's champion
        from riskscore import registry
        from riskscore.errors import RiskscoreError

        registry.configure(f"sqlite:///{(home / 'mlflow.db').resolve()}", str((home / "mlartifacts").resolve()))
        try:
            return registry.download_bundle(registry.CHAMPION, dst=work / "champion"), f"the champion of {home}/mlflow.db"
        except RiskscoreError:
            pass
    import numpy as np

    from riskscore import features, synthetic
    from riskscore.model import additive as model
    from riskscore.model.bundle import ModelBundle
    from riskscore.training import splits

    tables = synthetic.generate(600, 3, 7, first_year="2021-22")
    years = sorted(tables["students"]["school_year"].unique())
    table_ = features.build(tables, splits.as_of_dates(years, ["10-01", "02-01", "05-01"]))
    y = features.label(table_, tables["outcomes"]).astype(int).to_numpy()
    cal = np.arange(len(y)) % 4 == 0
    additive = model.AdditiveLGBM(random_state=7).fit(table_[~cal], y[~cal])
    calibrator = model.Calibrator(random_state=7).fit(additive.raw_score(table_[cal]), y[cal])
    bundle = ModelBundle.from_model(additive, calibrator, version="bench-service", band_thresholds={"medium": 0.05, "high": 0.2})
    return bundle.save(work / "bundle"), "a 300-tree additive model trained on a small synthetic cohort (no --bundle given)"


def log_mlflow_models(bundle_dir: Path, work: Path, dst: dict[str, Path]) -> None:
    """Log the bundle twice as riskscore's pyfunc into a throw-away MLflow store and download each
    logged model to dst[variant] (a local folder `mlflow models serve -m` can read)."""
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    import logging

    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature

    from riskscore import registry
    from riskscore.model.bundle import ModelBundle

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    registry.configure(f"sqlite:///{work / 'mlflow.db'}", str(work / "mlartifacts"))
    bundle = ModelBundle.load(bundle_dir)
    staged = work / "staged" / registry.BUNDLE_ARTIFACT
    staged.parent.mkdir()
    shutil.copytree(bundle_dir, staged, ignore=shutil.ignore_patterns("*.parquet", "*.html"))
    example = registry._input_example(list(bundle.features))
    mlflow.set_experiment("bench-service")
    for variant, signature in (("signature", infer_signature(example, registry.predict_frame(bundle, example))),
                               ("nosignature", None)):
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(
                name="model", python_model=registry.RiskscoreModel(), artifacts={registry.BUNDLE_ARTIFACT: str(staged)},
                signature=signature, input_example=example if signature is not None else None,
                pip_requirements=[f"mlflow=={mlflow.__version__}", f"numpy=={np.__version__}", f"pandas=={pd.__version__}"],
            )
        staging = work / f"download-{variant}"
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=info.model_uri, dst_path=str(staging)))
        shutil.move(str(local), str(dst[variant]))


# --- servers -----------------------------------------------------------------------------------------
class Server:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], url: str, body: bytes, headers: dict[str, str],
                 log: Path) -> None:
        self.name, self.argv, self.env, self.url, self.body, self.headers, self.log = name, argv, env, url, body, headers, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(["taskset", "-c", "0", *self.argv], env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                break
            try:
                r = httpx.post(self.url, content=self.body, headers={"Content-Type": "application/json", **self.headers},
                               timeout=5)
                if r.status_code == 200:
                    return r.json()  # type: ignore[no-any-return]
                last = f"{r.status_code} {r.text[:500]}"
            except httpx.TransportError as exc:
                last = repr(exc)
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} not ready ({last}); log:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)  # our own session: the server and its children
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


# --- load --------------------------------------------------------------------------------------------
LUA = '''wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {{"requests":%d,"duration_us":%d,"socket_errors":%d,"non2xx":%d,' ..
    '"p50_us":%d,"p99_us":%d}}\\n', summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout,
    e.status, latency:percentile(50), latency:percentile(99)))
end
'''


def lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def write_lua(path: Path, server: Server) -> None:
    headers = "\n".join(f'wrk.headers["{k}"] = {lua_string(v)}' for k, v in server.headers.items())
    path.write_text(LUA.format(body=lua_string(server.body.decode()), headers=headers))


def wrk(server: Server, lua: Path, *, duration: float, connections: int) -> dict[str, float]:
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency",
                          "-s", str(lua), server.url], capture_output=True, text=True, check=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data  # type: ignore[no-any-return]


def openloop(server: Server, body_file: Path, *, rate: float, duration: float, warmup: float) -> dict[str, float]:
    argv = ["taskset", "-c", "1", sys.executable, str(HERE / "_openloop.py"), "--url", server.url, "--body", str(body_file),
            "--rate", f"{rate:.1f}", "--duration", f"{duration:g}", "--warmup", f"{warmup:g}"]
    for k, v in server.headers.items():
        argv += ["--header", f"{k}: {v}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# --- where the server's time goes under load: a sampling profile -------------------------------------
def py_spy() -> str | None:
    """The py-spy binary (PyPI `py-spy`, in the bench extras), or None."""
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(VENV_BIN))
    return found


def profile_under_load(server: Server, lua: Path, *, seconds: float, connections: int, out: Path) -> dict[str, Any]:
    """Sample the server with py-spy (100 Hz, every thread, idle samples dropped) while wrk drives it at
    its max rate; return the rate reached and the profile's top frames (self and inclusive, per thread)."""
    exe = py_spy()
    if exe is None or server.proc is None:
        return {"error": "py-spy not installed (pip install py-spy, or `make bench`)"}
    pid = _server_pid(server.proc.pid)
    spy = subprocess.Popen(["taskset", "-c", "1", exe, "record", "--pid", str(pid), "--rate", "100", "--duration",
                            f"{seconds + 1:g}", "--format", "raw", "--threads", "--nonblocking", "--output", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)
    load = wrk(server, lua, duration=seconds, connections=connections)
    _, err = spy.communicate(timeout=seconds + 30)
    if not out.exists():
        return {"error": f"py-spy wrote nothing: {err.decode(errors='replace')[-300:]}"}
    return {"rps": load["rps"], **summarise_profile(out.read_text())}


def lane_stats(server: Server) -> dict[str, float]:
    """Batches of the scoring lane so far, from the server's /metrics: count, mean pupils, mean ms."""
    base = server.url.split("/v1/", 1)[0]
    try:
        text = httpx.get(f"{base}/metrics", timeout=5).text
    except httpx.HTTPError:
        return {}
    values = {}
    for line in text.splitlines():
        for name in ("riskscore_score_batch_pupils_sum", "riskscore_score_batch_pupils_count",
                     "riskscore_score_batch_seconds_sum"):
            if line.startswith(name + " "):
                values[name] = float(line.split()[1])
    n = values.get("riskscore_score_batch_pupils_count", 0.0)
    if not n:
        return {}
    return {"batches": n, "pupils_per_batch": values.get("riskscore_score_batch_pupils_sum", 0.0) / n,
            "ms_per_batch": 1000 * values.get("riskscore_score_batch_seconds_sum", 0.0) / n}


def _server_pid(pid: int) -> int:
    """The Python process serving: `riskscore serve` runs uvicorn in-process (one worker), so it is pid."""
    return pid


def _frame_name(frame: str) -> str:
    """'score (riskscore/api/routes/scores.py:120)' -> 'score (riskscore/api/routes/scores.py)'."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})" if path else name


#: where a frame's code lives -> the group it is counted under (first match wins)
PROFILE_GROUPS = (("riskscore/", "riskscore"), ("pandas/", "pandas"), ("numpy/", "numpy"), ("pydantic", "pydantic"),
                  ("sqlalchemy/", "sqlalchemy"), ("sqlite3/", "sqlite3"), ("psycopg", "psycopg"),
                  ("fastapi/", "fastapi"), ("starlette/", "starlette"), ("uvicorn/", "uvicorn"),
                  ("asyncio/", "asyncio"), ("json/", "json"), ("threading.py", "threading"), ("queue.py", "threading"))


def _group_of(frame: str) -> str:
    where = frame.partition(" (")[2]
    return next((name for marker, name in PROFILE_GROUPS if marker in where), "other")


def summarise_profile(raw: str, *, top: int = 15) -> dict[str, Any]:
    """Collapsed stacks ('thread;frame;…;frame count' per line) -> shares of the samples: per thread,
    per package and per function as the innermost frame (self time), and riskscore's own functions
    anywhere on the stack (inclusive)."""
    from collections import Counter

    self_c: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        thread, calls = frames[0], [_frame_name(f) for f in frames[1:]]
        total += n
        threads[" ".join(w for w in thread.split(" ") if not w.startswith(("(", "0x")))[:50]] += n
        if calls:
            self_c[calls[-1]] += n
            groups[_group_of(calls[-1])] += n
        for name in set(calls):
            if "(riskscore/" in name and "(riskscore/cli.py" not in name and "(riskscore/commands/" not in name:
                incl[name] += n
    share = (lambda c, k=top: [(name, v / total) for name, v in c.most_common(k)]) if total else (lambda c, k=top: [])
    return {"samples": total, "threads": share(threads), "groups": share(groups, 20), "self": share(self_c),
            "inclusive": share(incl)}


def profile_table(prof: dict[str, Any]) -> str:
    if "error" in prof:
        return f"(no profile: {prof['error']})"
    parts = [f"{prof['samples']:,} samples at 100 Hz while wrk drove the server at {prof['rps']:,.0f} req/s "
             "(idle samples dropped; a share is of all samples of all threads).", "",
             table(["thread", "share"], [[k, f"{v:.0%}"] for k, v in prof["threads"]]), "",
             table(["package of the innermost frame", "share"], [[k, f"{v:.1%}"] for k, v in prof["groups"]]), "",
             table(["innermost frame (self time)", "share"], [[k, f"{v:.1%}"] for k, v in prof["self"]]), "",
             table(["riskscore function anywhere on the stack (inclusive)", "share"], [[k, f"{v:.1%}"] for k, v in prof["inclusive"]])]
    return "\n".join(parts)


# --- main --------------------------------------------------------------------------------------------
#: pupils registered for the bulk requests (BULK-0000 …), each with the same year of events as BENCH-1
BULK_SIZES = (100, 1000)


def bulk_ids(n: int) -> list[str]:
    return [f"BULK-{i:04d}" for i in range(n)]


def prepare_store(url: str, n_bulk: int) -> str:
    """Migrate the store, create a school key and register BENCH-1 and the bulk pupils (what an import of
    the schools' students rows does); returns the key."""
    from riskscore.store.db import make_engine, migrate, session_factory
    from riskscore.store.keys import create_key
    from riskscore.testing import register_pupils, year_of_events

    migrate(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        key = create_key(session, "school", "school", [SCHOOL], "bench")[1]
        register_pupils(session, [year_of_events(sid, school=SCHOOL) for sid in ["BENCH-1", *bulk_ids(n_bulk)]])
    engine.dispose()
    return key


def build_servers(work: Path, bundle_dir: Path, models: dict[str, Path], features: list[str], *,
                  postgres_url: str | None = None, n_bulk: int = 0) -> list[Server]:
    """The servers in SERVERS order; with ``postgres_url`` a second riskscore server on PostgreSQL
    ("riskscore-pg") right after the SQLite one."""
    from riskscore.testing import year_of_events

    home = work / "home"
    home.mkdir()
    db_url = f"sqlite:///{home / 'riskscore.db'}"
    key = prepare_store(db_url, n_bulk)
    pg_key = prepare_store(postgres_url, n_bulk) if postgres_url else None
    from riskscore import features as feature_code
    from riskscore.api.events import to_tables
    from riskscore.api.schemas import StudentEvents

    rs_body = {"students": [year_of_events("BENCH-1", school=SCHOOL)]}
    # MLflow gets the feature row the service computes from those events, so both must agree on p
    events = StudentEvents.model_validate(rs_body["students"][0])
    built = feature_code.build(to_tables([events]), events.reference_date())
    row = [None if math.isnan(float(built[f].iloc[0])) else float(built[f].iloc[0]) for f in features]
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("RISKSCORE_", "MLFLOW_"))}
    rs_env = {**base_env, "RISKSCORE_HOME": str(home), "RISKSCORE_DATABASE_URL": db_url,
              "RISKSCORE_SESSION_SECRET": secrets.token_urlsafe(32)}  # `serve` stops without one
    (work / "empty_app.py").write_text(EMPTY_APP)
    ports = {name: free_port() for name in (*SERVERS, "riskscore-pg")}
    json_h = lambda o: json.dumps(o).encode()  # noqa: E731
    mlflow_env = {**base_env, "MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT": "60"}

    def riskscore(name: str, url: str, api_key: str) -> Server:
        return Server(name, [str(VENV_BIN / "riskscore"), "serve", "--host", "127.0.0.1", "--port", str(ports[name]),
                             "--bundle", str(bundle_dir), "--database-url", url, "--log-level", "warning"],
                      {**rs_env, "RISKSCORE_DATABASE_URL": url}, f"http://127.0.0.1:{ports[name]}/v1/scores",
                      json_h(rs_body), {"Authorization": f"Bearer {api_key}"}, work / f"{name}.log")

    servers = [
        riskscore("riskscore", db_url, key),
        Server("mlflow-default", [str(VENV_BIN / "mlflow"), "models", "serve", "-m", str(models["signature"]),
                                  "--env-manager", "local", "-h", "127.0.0.1", "-p", str(ports["mlflow-default"]), "-w", "1"],
               {**mlflow_env, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"},
               f"http://127.0.0.1:{ports['mlflow-default']}/invocations",
               json_h({"dataframe_split": {"columns": features, "data": [row]}}), {}, work / "mlflow-default.log"),
        Server("mlflow-fastest", [str(VENV_BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(ports["mlflow-fastest"]),
                                  *UVICORN_FLAGS, "mlflow.pyfunc.scoring_server.app:app"],
               {**mlflow_env, "__pyfunc_model_path__": str(models["nosignature"])},
               f"http://127.0.0.1:{ports['mlflow-fastest']}/invocations",
               json_h({"inputs": [dict(zip(features, row, strict=True))]}), {}, work / "mlflow-fastest.log"),
        Server("empty-post", [str(VENV_BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(ports["empty-post"]),
                              *UVICORN_FLAGS, "--app-dir", str(work), "empty_app:app"],
               base_env, f"http://127.0.0.1:{ports['empty-post']}/v1/scores", b"{}", {}, work / "empty-post.log"),
    ]
    if postgres_url and pg_key:
        servers.insert(1, riskscore("riskscore-pg", postgres_url, pg_key))
    return servers


# --- bulk pushes: many pupils per request vs the batch job --------------------------------------------------
def bulk_body(n: int) -> bytes:
    from riskscore.testing import year_of_events

    return json.dumps({"students": [year_of_events(sid, school=SCHOOL) for sid in bulk_ids(n)]}).encode()


def bulk_rate(server: Server, body: bytes, n: int, *, requests: int) -> dict[str, float]:
    """Pupils per second for bulk requests sent one after another over one connection (after one warm-up
    request): the time the server needs for n pupils, parse to answer."""
    headers = {"Content-Type": "application/json", **server.headers}
    with httpx.Client(timeout=300) as client:
        r = client.post(server.url, content=body, headers=headers)
        if r.status_code != 200:
            raise RuntimeError(f"{server.name}: bulk request of {n} answered {r.status_code}: {r.text[:300]}")
        times = []
        for _ in range(requests):
            t0 = time.perf_counter()
            r = client.post(server.url, content=body, headers=headers)
            times.append(time.perf_counter() - t0)
            if r.status_code != 200 or len(r.json()["results"]) != n:
                raise RuntimeError(f"{server.name}: bulk request of {n} answered {r.status_code}")
    return {"pupils": n, "requests": requests, "median_s": median(times), "pupils_per_s": n / median(times),
            "bytes": len(body)}


def batch_rate(bundle_dir: Path, work: Path, n: int, *, runs: int = 3) -> dict[str, float]:
    """The batch command on the same n pupils' events: what `riskscore score` does after start-up — read the
    raw tables (Parquet, contract-checked) and batch.run (scoring core, review-case candidates,
    registrations, one transaction with the run, scores and cases) — on its own SQLite store; median of
    ``runs`` runs in this process (the interpreter's start and imports are left out: they would flatter
    the service)."""
    from riskscore import batch, datasets
    from riskscore.api.events import to_tables
    from riskscore.api.schemas import StudentEvents
    from riskscore.calendar import SchoolCalendar
    from riskscore.model.bundle import ModelBundle
    from riskscore.rules import RuleConfig
    from riskscore.store.db import make_engine, migrate, session_factory
    from riskscore.testing import year_of_events

    home = work / f"batch-{n}"
    home.mkdir()
    url = f"sqlite:///{home / 'riskscore.db'}"
    migrate(url)
    engine = make_engine(url)
    bundle = ModelBundle.load(bundle_dir)
    students = [StudentEvents.model_validate(year_of_events(sid, school=SCHOOL)) for sid in bulk_ids(n)]
    day = students[0].reference_date()
    datasets.write_tables(to_tables(students), home / "data")
    cal, cfg = SchoolCalendar.default(), RuleConfig.default()
    times = []
    with session_factory(engine)() as session:
        batch.prepare(datasets.read_tables(home / "data"), day, bundle, rule_config=cfg, calendar=cal)  # warm-up
        for _ in range(runs):
            t0 = time.perf_counter()
            result = batch.run(session, datasets.read_tables(home / "data"), day, bundle, home=home, rule_config=cfg)
            times.append(time.perf_counter() - t0)
            assert result.n_scored == n, result.n_scored
    engine.dispose()
    return {"pupils": n, "median_s": median(times), "pupils_per_s": n / median(times)}


def median_ms(fn: Any, n: int) -> float:
    """Median wall time of fn in milliseconds over n calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return median(times) * 1000


def stage_breakdown(bundle_dir: Path, work: Path, *, n: int) -> list[tuple[str, float]]:
    """Where a riskscore request's time goes: each step of POST /v1/scores called directly, in this
    process (no HTTP, no threadpool), median ms over n calls, on its own SQLite file. The pupil has a
    school year of raw events (riskscore.testing.year_of_events)."""
    from riskscore import scoring
    from riskscore.access import place_for, redact
    from riskscore.api.events import to_tables
    from riskscore.api.schemas import ScoreRequest, ScoreResponse, ScoreResult
    from riskscore.service.state import ServiceState, default_loader
    from riskscore.service.writer import GroupWriter
    from riskscore.settings import Settings
    from riskscore.store.db import make_engine, migrate, session_factory
    from riskscore.store.keys import authenticate, create_key
    from riskscore.store.registrations import spans_of
    from riskscore.testing import register_pupils, year_of_events

    home = work / "stages"
    home.mkdir()
    url = f"sqlite:///{home / 'riskscore.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as session:
        key = create_key(session, "school", "school", [SCHOOL], "stages")[1]
        register_pupils(session, [year_of_events("BENCH-1", school=SCHOOL)])
    settings = Settings(home=home, database_url=url, bundle_path=bundle_dir, log_level="WARNING")
    state = ServiceState(settings=settings, loader=default_loader(settings))
    state.open_database(engine)
    state.reload(reason="benchmark")
    loaded = state.require_loaded()
    raw = json.dumps({"students": [year_of_events("BENCH-1", school=SCHOOL)]}).encode()
    session = sessions()
    req = ScoreRequest.model_validate_json(raw)
    principal = authenticate(session, key)
    assert principal is not None
    as_of = req.students[0].reference_date()
    rules, cal = state.rule_config(), state.calendar()
    tables = to_tables(req.students)
    writer = GroupWriter(sessions)

    def core() -> list[scoring.ScoredStudent]:
        return scoring.score_events(tables, as_of, loaded.bundle, rule_config=rules, calendar=cal,
                                    routing=state.routing).students

    results = [s.to_dict() for s in core()]

    steps = [
        ("parse + validate the JSON body (ScoreRequest, 1 pupil, a year of events)", lambda: ScoreRequest.model_validate_json(raw)),
        ("authenticate the API key (one SELECT)", lambda: (authenticate(session, key), session.rollback())),
        ("place the pupil from its registrations (one SELECT)", lambda: (
            place_for(principal, spans_of(session, ["BENCH-1"]).get("BENCH-1", ()), as_of), session.rollback())),
        ("events -> raw tables (api.events.to_tables)", lambda: to_tables(req.students)),
        ("scoring core: features + rules + model + reasons + routing (scoring.score_events)", core),
        ("objection and incomplete-export lookups (two SELECTs)", lambda: (
            state.objecting(session, ["BENCH-1"]), state.incomplete_schools(session), session.rollback())),
        ("store the score and its audit entry (GroupWriter.write_here: one transaction, as the scoring lane does)",
         lambda: writer.write_here([(results, [{"actor": principal.actor_id, "role": principal.role,
                                                "action": "score.write", "resource": "student:BENCH-1",
                                                "outcome": "allowed", "purpose": "signalering",
                                                "request_id": "bench"}])])),
        ("redact + build + serialise the response", lambda: ScoreResponse(
            results=[ScoreResult.from_result(redact(r, principal.role)) for r in results],
            model_version=loaded.bundle.version).model_dump_json()),
    ]
    out = [(name, median_ms(fn, n)) for name, fn in steps]
    session.close()
    engine.dispose()
    return out


def core_breakdown(bundle_dir: Path, *, n: int) -> list[tuple[str, float]]:
    """Inside the scoring core for the same pupil: the one pass over the events (features, rules and
    the feature contract from one preparation), its parts, the context and the model + reasons +
    routing step (scoring.score_table)."""
    from riskscore import contracts, features, rules, scoring
    from riskscore.api.events import to_tables
    from riskscore.api.schemas import StudentEvents
    from riskscore.calendar import SchoolCalendar
    from riskscore.model.bundle import ModelBundle
    from riskscore.rules import RuleConfig
    from riskscore.testing import year_of_events

    bundle = ModelBundle.load(bundle_dir)
    events = StudentEvents.model_validate(year_of_events("BENCH-1", school=SCHOOL))
    tables, day = to_tables([events]), events.reference_date()
    cal, cfg = SchoolCalendar.default(), RuleConfig.default()
    table, fired = features.build_with_triggers(tables, day, calendar=cal, rule_config=cfg)
    ev = rules.Events.from_tables(tables, cfg, as_of=(day, day))
    ctx = scoring.context(tables, day)

    steps = [
        ("features.build_with_triggers (events prepared once: features, all rules, feature contract)",
         lambda: features.build_with_triggers(tables, day, calendar=cal, rule_config=cfg)),
        ("  of which rules.Events.from_tables (raw tables -> student codes, day numbers)",
         lambda: rules.Events.from_tables(tables, cfg, as_of=(day, day))),
        ("  of which rules.evaluate_arrays (all rules, before their frame)",
         lambda: rules.evaluate_arrays(ev, day, config=cfg, calendar=cal)),
        ("  of which contracts.validate('features', ...) (the feature contract)",
         lambda: contracts.validate("features", table)),
        ("context (birth date, sk on as_of)", lambda: scoring.context(tables, day)),
        ("model + reasons + routing (scoring.score_table)",
         lambda: scoring.score_table(table, bundle, fired=fired, ctx=ctx)),
    ]
    return [(name, median_ms(fn, n)) for name, fn in steps]


def stages_only(args: argparse.Namespace) -> None:
    """Only the in-process breakdown (seconds, no wrk/MLflow): the server time of one request."""
    with tempfile.TemporaryDirectory(prefix="bench-stages-") as tmp:
        work = Path(tmp)
        bundle_dir, note = resolve_bundle(args.bundle, work)
        stages = stage_breakdown(bundle_dir, work, n=args.stage_calls)
        inside = core_breakdown(bundle_dir, n=args.stage_calls)
    total = sum(ms for _, ms in stages)
    load = os.getloadavg()[0]
    print(f"command: `{command_line()}`\n\nModel: {note}. Median of {args.stage_calls} calls per step; "
          f"1-minute load average at the end {load:.1f} on {os.cpu_count()} cores:\n")
    print(table(["step of POST /v1/scores", "ms", "share"],
                [*[[name, f"{ms:.3f}", f"{ms / total:.0%}"] for name, ms in stages],
                 ["**sum of the steps (server time)**", f"**{total:.3f}**", "100%"]]))
    print("\nInside the scoring core (same pupil, measured separately):\n")
    print(table(["part", "ms"], [[name, f"{ms:.3f}"] for name, ms in inside]))
    met = total < 5.0
    print("\n" + table(["target", "goal", "measured", "met"], [[
        "one pupil with a year of events scored, stored and audited", "< 5 ms", f"{total:.1f} ms",
        "yes" if met else "**NO**"]]))
    write_json(args.json, {"benchmark": "service-stages", "command": command_line(), "stages_ms": dict(stages),
                           "total_ms": total, "targets": [target("score from events < 5 ms", "< 5 ms",
                                                                 f"{total:.1f} ms", met, "")]})


def check_answers(answers: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each model server must answer with a probability and reasons: else the comparison is void."""
    rs = answers["riskscore"]["results"][0]
    out = {"riskscore": f"p={rs['probability']:.4f} band={rs['band']} reasons={[r['code'] for r in rs['reasons']]}"}
    if "riskscore-pg" in answers:
        pg = answers["riskscore-pg"]["results"][0]
        if pg != rs:
            raise RuntimeError(f"riskscore on PostgreSQL answered differently: {pg} vs {rs}")
        out["riskscore-pg"] = out["riskscore"]
    for name in ("mlflow-default", "mlflow-fastest"):
        pred = answers[name]["predictions"][0]
        if not (0.0 <= pred["probability"] <= 1.0 and "reason_1_code" in pred):
            raise RuntimeError(f"{name} answered without probability/reasons: {pred}")
        if abs(pred["probability"] - rs["probability"]) > 1e-12:
            raise RuntimeError(f"{name} and riskscore disagree: {pred['probability']} vs {rs['probability']}")
        out[name] = f"p={pred['probability']:.4f} band={pred['band']} reasons={[pred[f'reason_{i}_code'] for i in (1, 2, 3)]}"
    return out


def profile_only(args: argparse.Namespace) -> None:
    """The riskscore server alone: a warm-up, its rate with wrk, and where its time goes (py-spy)."""
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        work = Path(tmp)
        bundle_dir, _ = resolve_bundle(args.bundle, work)
        from riskscore.model.bundle import ModelBundle

        features = list(ModelBundle.load(bundle_dir).features)
        models = {"signature": work / "model-signature", "nosignature": work / "model-nosignature"}
        server = next(s for s in build_servers(work, bundle_dir, models, features) if s.name == "riskscore")
        write_lua(work / "riskscore.lua", server)
        try:
            server.start()
            server.wait_ready(args.startup_timeout)
            wrk(server, work / "riskscore.lua", duration=max(args.warmup, 1.0), connections=args.connections)
            rate = wrk(server, work / "riskscore.lua", duration=args.duration, connections=args.connections)
            (work / "riskscore.json").write_bytes(server.body)
            half = openloop(server, work / "riskscore.json", rate=max(rate["rps"] / 2, 1.0),
                            duration=args.latency_duration, warmup=args.latency_warmup)
            prof = profile_under_load(server, work / "riskscore.lua", seconds=args.profile or args.duration,
                                      connections=args.connections, out=work / "profile.txt")
            lane = lane_stats(server)
        finally:
            server.stop()
    print(f"command: `{command_line()}`\n")
    print(f"riskscore alone: {rate['rps']:,.0f} req/s with wrk ({args.connections} connections, {args.duration:g} s), "
          f"p50 / p99 {rate['p50_us'] / 1000:.1f} / {rate['p99_us'] / 1000:.1f} ms, errors "
          f"{rate['non2xx'] + rate['socket_errors']:.0f}; at half that rate (open loop, {args.latency_duration:g} s): "
          f"{half['achieved_rate']:,.0f} req/s, p50 / p99 {half['p50_ms']:.1f} / {half['p99_ms']:.1f} ms; "
          f"scoring lane since start: {lane}\n")
    print(profile_table(prof))


def _exit_on_sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", help="the champion's bundle folder (default: RISKSCORE_BUNDLE_PATH, else train a small one)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--latency-rounds", type=int, default=2)
    parser.add_argument("--latency-duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of wrk per server before the rounds")
    parser.add_argument("--latency-warmup", type=float, default=1.0, help="seconds sent, not measured, per half-rate run")
    parser.add_argument("--startup-timeout", type=float, default=120.0)
    parser.add_argument("--stage-calls", type=int, default=300, help="calls per step in the in-process breakdown")
    parser.add_argument("--json", help="write measurements and targets here")
    parser.add_argument("--stages-only", action="store_true", help="only the in-process step breakdown")
    parser.add_argument("--profile", type=float, default=0.0,
                        help="seconds of py-spy sampling of the riskscore server under wrk load (0: none)")
    parser.add_argument("--profile-only", action="store_true",
                        help="only riskscore: its max rate with wrk and a py-spy profile (no MLflow)")
    parser.add_argument("--postgres-url", default=os.environ.get("RISKSCORE_BENCH_POSTGRES_URL") or None,
                        help="also run riskscore on this PostgreSQL database (default $RISKSCORE_BENCH_POSTGRES_URL)")
    parser.add_argument("--bulk", type=int, nargs="*", default=list(BULK_SIZES),
                        help="pupils per bulk request (none: skip the bulk pushes)")
    parser.add_argument("--bulk-requests", type=int, default=0,
                        help="timed bulk requests per size (default: 10 of 100 pupils, 3 of 1,000)")
    args = parser.parse_args()
    if args.stages_only:
        stages_only(args)
        return
    if args.profile_only:
        profile_only(args)
        return
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so `finally` stops the servers when run_all times out
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        raise SystemExit("needs wrk and taskset (make system-deps)")
    cmd = command_line()
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        work = Path(tmp)
        bundle_dir, bundle_note = resolve_bundle(args.bundle, work)
        from riskscore.model.bundle import ModelBundle

        bundle = ModelBundle.load(bundle_dir)
        features = list(bundle.features)
        models = {"signature": work / "model-signature", "nosignature": work / "model-nosignature"}
        servers = build_servers(work, bundle_dir, models, features, postgres_url=args.postgres_url,
                                n_bulk=max(args.bulk, default=0))
        by_name = {s.name: s for s in servers}
        names = [s.name for s in servers]
        for s in servers:
            write_lua(work / f"{s.name}.lua", s)
            (work / f"{s.name}.json").write_bytes(s.body)
        t0 = time.perf_counter()
        try:
            for s in servers:  # riskscore and the ceiling start while MLflow logs its two models
                if not s.name.startswith("mlflow"):
                    s.start()
            t1 = time.perf_counter()
            log_mlflow_models(bundle_dir, work, models)
            t_log = time.perf_counter() - t1
            for s in servers:
                if s.name.startswith("mlflow"):
                    s.start()
            answers = {s.name: s.wait_ready(args.startup_timeout) for s in servers}
            t_start = time.perf_counter() - t0
            seen = check_answers(answers)
            stages = stage_breakdown(bundle_dir, work, n=args.stage_calls)  # servers idle meanwhile
            for s in servers if args.warmup > 0 else ():  # warm-up: every server answers a burst first
                wrk(s, work / f"{s.name}.lua", duration=args.warmup, connections=args.connections)
            k = len(names)
            tput: dict[str, list[dict[str, float]]] = {n: [] for n in names}
            for r in range(args.rounds):
                for name in names[r % k:] + names[:r % k]:
                    tput[name].append(wrk(by_name[name], work / f"{name}.lua", duration=args.duration,
                                          connections=args.connections))
            max_rps = {n: median(x["rps"] for x in tput[n]) for n in names}
            lat: dict[str, list[dict[str, float]]] = {n: [] for n in names}
            for r in range(args.latency_rounds):
                for name in names[r % k:] + names[:r % k]:
                    lat[name].append(openloop(by_name[name], work / f"{name}.json", rate=max(max_rps[name] / 2, 1.0),
                                              duration=args.latency_duration, warmup=args.latency_warmup))
            lanes = {n: lane_stats(by_name[n]) for n in names if n.startswith("riskscore")}
            bulk: dict[str, list[dict[str, float]]] = {n: [] for n in names if n.startswith("riskscore")}
            batch: list[dict[str, float]] = []
            for size in args.bulk:
                body = bulk_body(size)
                requests = args.bulk_requests or (10 if size <= 100 else 3)
                with _on_core(1):  # the client on the load generator's core
                    for name in bulk:
                        bulk[name].append(bulk_rate(by_name[name], body, size, requests=requests))
                with _on_core(0):  # the batch job on the servers' core (they are idle now)
                    batch.append(batch_rate(bundle_dir, work, size))
            memory = {s.name: {"rss": rss_mib(s.proc.pid), "hwm": hwm_mib(s.proc.pid), "tree": tree_rss_mib(s.proc.pid)}
                      for s in servers if s.proc is not None}
            prof = (profile_under_load(by_name["riskscore"], work / "riskscore.lua", seconds=args.profile,
                                       connections=args.connections, out=work / "profile.txt")
                    if args.profile > 0 else None)
        finally:
            for s in servers:
                s.stop()
    report(cmd, args, bundle_note, bundle.version, t_log, t_start, seen, tput, max_rps, lat, memory, stages,
           lanes=lanes, bulk=bulk, batch=batch, prof=prof)


@contextlib.contextmanager
def _on_core(core: int) -> Any:
    """Run this process on one core for a while (the servers sit on core 0, the load generator on 1)."""
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {core})
    except OSError:
        before = set()
    try:
        yield
    finally:
        if before:
            os.sched_setaffinity(0, before)


def total_steps(stages: list[tuple[str, float]]) -> float:
    return sum(ms for _, ms in stages)


LABELS = {"riskscore": "riskscore on SQLite (POST /v1/scores, 1 pupil's year of events → features, rules, reasons; "
                        "stored + audited)",
          "riskscore-pg": "riskscore on PostgreSQL (the same request)",
          "mlflow-default": "mlflow models serve, default (signature, dataframe_split)",
          "mlflow-fastest": "mlflow scoring app, fastest (no signature, inputs, no access log)",
          "empty-post": "FastAPI empty POST (ceiling)"}
#: the targets of issue 24
P99_HALF_MS = 25.0
SERVER_MS = 5.0
BULK_WITHIN = 2.0


def report(cmd: str, args: argparse.Namespace, bundle_note: str, version: str, t_log: float, t_start: float,
           seen: dict[str, str], tput: dict[str, list[dict[str, float]]], max_rps: dict[str, float],
           lat: dict[str, list[dict[str, float]]], memory: dict[str, dict[str, float]],
           stages: list[tuple[str, float]], *, lanes: dict[str, dict[str, float]],
           bulk: dict[str, list[dict[str, float]]], batch: list[dict[str, float]],
           prof: dict[str, Any] | None) -> None:
    def paired(a: str, b: str) -> float:
        return median(x["rps"] / y["rps"] if y["rps"] > 0 else 0.0 for x, y in zip(tput[a], tput[b], strict=True))

    names = list(tput)
    ours = [n for n in names if n.startswith("riskscore")]
    store = {"riskscore": "SQLite", "riskscore-pg": "PostgreSQL"}
    rows = []
    for n in names:
        half = lat[n]
        errors = sum(x["non2xx"] + x["socket_errors"] for x in tput[n]) + sum(x["non200"] for x in half)
        rows.append([
            LABELS[n], f"{max_rps[n]:,.0f}", " / ".join(f"{x['rps']:,.0f}" for x in tput[n]),
            f"{median(x['p50_us'] for x in tput[n]) / 1000:.1f} / {median(x['p99_us'] for x in tput[n]) / 1000:.1f}",
            f"{median(x['achieved_rate'] for x in half):,.0f}",
            f"{median(x['p50_ms'] for x in half):.1f} / {median(x['p99_ms'] for x in half):.1f}",
            f"{memory[n]['rss']:.0f}" + (f" (tree {memory[n]['tree']:.0f})" if memory[n]["tree"] - memory[n]["rss"] > 1 else ""),
            errors,
        ])
    targets = []
    ratios: dict[str, dict[str, float]] = {}
    for n in ours:
        where = store[n]
        vs_fast, vs_default, vs_empty = paired(n, "mlflow-fastest"), paired(n, "mlflow-default"), paired(n, "empty-post")
        ratios[n] = {"vs_fastest": vs_fast, "vs_default": vs_default, "vs_empty": vs_empty}
        p99_half = median(x["p99_ms"] for x in lat[n])
        achieved_ok = median(x["achieved_rate"] for x in lat[n]) >= 0.95 * max_rps[n] / 2
        server_ms = 1000 / max_rps[n] if max_rps[n] > 0 else float("inf")
        targets += [
            target(f"service ({where}): one pupil's year of events scored, stored and audited ≥ 1.0× MLflow's fastest",
                   "≥ 1.0×", f"{vs_fast:.2f}×", vs_fast >= 1.0,
                   f"{max_rps[n]:,.0f} vs {max_rps['mlflow-fastest']:,.0f} req/s; vs MLflow default {vs_default:.2f}×"
                   + ("" if vs_fast >= 1.0 else f"; missed by {1.0 - vs_fast:.2f}×")),
            target(f"service ({where}): p99 < {P99_HALF_MS:g} ms at half the max rate", f"< {P99_HALF_MS:g} ms",
                   f"{p99_half:.1f} ms", p99_half < P99_HALF_MS and achieved_ok,
                   f"open-loop client at {max_rps[n] / 2:,.0f} req/s"
                   + ("" if achieved_ok else " — the client did not reach the rate")
                   + ("" if p99_half < P99_HALF_MS else f"; missed by {p99_half - P99_HALF_MS:.1f} ms")),
            target(f"service ({where}): server time < {SERVER_MS:g} ms per pupil", f"< {SERVER_MS:g} ms",
                   f"{server_ms:.1f} ms", server_ms < SERVER_MS,
                   "one core's time per request at the max rate (1 / max req/s, server alone on core 0)"),
        ]
        for got, base in zip(bulk.get(n, []), batch, strict=False):
            ratio = base["pupils_per_s"] / got["pupils_per_s"] if got["pupils_per_s"] > 0 else float("inf")
            targets.append(target(
                f"service ({where}): {got['pupils']:,} pupils per request within {BULK_WITHIN:g}× of the batch job's "
                "per-pupil rate", f"≤ {BULK_WITHIN:g}×", f"{ratio:.2f}×", ratio <= BULK_WITHIN,
                f"{got['pupils_per_s']:,.0f} vs {base['pupils_per_s']:,.0f} pupils/s"
                + ("" if ratio <= BULK_WITHIN else f"; missed by {ratio - BULK_WITHIN:.2f}×")))
    print(f"command: `{cmd}`\n")
    print(f"Model: {bundle_note} (version {version}). MLflow: both pyfunc variants logged into a temporary store "
          f"({t_log:.1f} s); all servers ready after {t_start:.1f} s. wrk: 1 thread, {args.connections} connections, "
          f"{args.duration:g} s per run, {args.rounds} interleaved rounds (rotating order) after a {args.warmup:g} s warm-up each; "
          f"half-rate latency: {args.latency_rounds} rounds × {args.latency_duration:g} s with benchmarks/_openloop.py. "
          f"Server on core 0, load generator on core 1. 1-minute load average at the end: {os.getloadavg()[0]:.2f}.\n")
    print(table(["server (1 uvicorn worker, core 0)", "max req/s (median)", "per round", "p50 / p99 ms at max (wrk)",
                 "half rate achieved req/s", "p50 / p99 ms at half rate", "RSS MiB", "errors"], rows))
    print("\nRatios (median over rounds of the paired per-round rates): "
          + "; ".join(f"{n} / mlflow-fastest = {r['vs_fastest']:.2f}×, / mlflow-default = {r['vs_default']:.2f}×, "
                      f"/ empty-POST = {r['vs_empty']:.0%}" for n, r in ratios.items())
          + ". RSS from /proc/<pid>/status after the runs (`tree`: with child processes, e.g. mlflow's CLI parent of "
          "its uvicorn). Scoring lane (requests scored together, service/lane.py), over the whole run: "
          + "; ".join(f"{n}: {x.get('batches', 0):,.0f} batches, {x.get('pupils_per_batch', 0):.1f} pupils and "
                      f"{x.get('ms_per_batch', 0):.1f} ms per batch" for n, x in lanes.items())
          + ". Answers checked before measuring (same probability everywhere):\n")
    for n, text in seen.items():
        print(f"- {n}: {text}")
    if batch:
        print("\nBulk pushes: POST /v1/scores with many pupils (each a year of events) per request, one request at a "
              "time over one connection (client on core 1), median of the timed requests after a warm-up; the batch "
              "command's work on the same pupils' events (read the Parquet tables with their contract check, then "
              "`batch.run`: scoring core, case candidates, registrations, one transaction with the run, scores and "
              "cases) in one process on core 0, median of 3 runs:\n")
        brows = []
        for i, base in enumerate(batch):
            cells = [f"{base['pupils']:,}"]
            for n in ours:
                got = bulk[n][i]
                cells += [f"{got['median_s'] * 1000:,.0f} ms ({got['bytes'] / 1e6:.1f} MB body)", f"{got['pupils_per_s']:,.0f}"]
            cells += [f"{base['median_s'] * 1000:,.0f} ms", f"{base['pupils_per_s']:,.0f}"]
            brows.append(cells)
        head = ["pupils"]
        for n in ours:
            head += [f"{store[n]}: per request", f"{store[n]}: pupils/s"]
        print(table([*head, "batch job: per run", "batch job: pupils/s"], brows))
    total = sum(ms for _, ms in stages)
    print(f"\nOne request alone, step by step — each step called directly in one process (no HTTP, no event loop, "
          f"no batching), median of {args.stage_calls} calls (SQLite):\n")
    print(table(["step of POST /v1/scores", "ms"], [*[[name, f"{ms:.3f}"] for name, ms in stages],
                                                    ["**sum of the steps**", f"**{total:.3f}**"]]))
    if prof is not None:
        print("\nWhere the SQLite server's time goes at its max rate (py-spy, a sampling profiler, attached while wrk "
              "drove it):\n")
        print(profile_table(prof))
    print()
    print(table(["target", "goal", "measured", "met", "detail"],
                [[t["name"], t["goal"], t["measured"], "yes" if t["met"] else "**NO**", t["detail"]] for t in targets]))
    write_json(args.json, {"benchmark": "service", "command": cmd, "throughput": tput, "max_rps": max_rps,
                           "latency_half": lat, "memory": memory, "ratios": ratios, "stages_ms": dict(stages),
                           "lanes": lanes, "bulk": bulk, "batch": batch, "profile": prof, "targets": targets})


if __name__ == "__main__":
    main()
