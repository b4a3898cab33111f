"""Load driver: a real `riskscore serve` (uvicorn, several workers, SQLite in WAL mode) on loopback,
driven at a fixed request rate (open loop: requests start on schedule whether or not earlier ones
finished) with a mix of reads, scores and review writes, then checked by direct SQL.

    .venv/bin/python scripts/soak.py --rate 40 --seconds 60 --workers 2

Prints a latency table (p50/p99 per request kind) and exits 1 on any 5xx, timeout or transport
error, or when an acknowledged write is missing from the database. tests/test_load.py calls run().
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

STUDENT_ROLES = ("school", "jeugdarts", "leerplicht", "rmc")
#: request mix (weights): reads of one student, worklists, scoring, and review writes
MIX = {"read_score": 35, "worklist": 15, "score": 20, "note": 20, "outcome": 10}
#: pupils first scored during the run (each score request takes the next): imported, never scored before
FRESH = [f"LOADNEW-{i:05d}" for i in range(4000)]


@dataclass
class Result:
    """What the run measured."""

    rate: float
    seconds: float
    workers: int
    sent: int = 0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    errors: list[str] = field(default_factory=list)  # 5xx, timeouts, transport errors, unexpected 4xx
    acked_notes: list[str] = field(default_factory=list)
    acked_outcomes: list[str] = field(default_factory=list)
    acked_scores: list[str] = field(default_factory=list)
    missing_writes: list[str] = field(default_factory=list)
    audit_ok: bool | None = None
    audit_entries: int = 0
    lag_p99_ms: float = 0.0  # how late requests started against the schedule (driver health)

    def table(self) -> str:
        rows = [f"{'kind':<12} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  statuses"]
        for kind in [*MIX, "all"]:
            values = sorted(v for k, vs in self.latencies.items() for v in vs) if kind == "all" \
                else sorted(self.latencies.get(kind, []))
            if not values:
                continue
            st = self.statuses_all() if kind == "all" else dict(self.statuses[kind])
            rows.append(f"{kind:<12} {len(values):>6} {pct(values, 50):>8.1f} {pct(values, 99):>8.1f} "
                        f"{values[-1]:>8.1f}  {dict(sorted(st.items()))}")
        achieved = self.sent / self.seconds if self.seconds else 0
        rows.append(f"rate {self.rate:g}/s for {self.seconds:g} s on {self.workers} workers: {self.sent} requests "
                    f"({achieved:.1f}/s), errors {len(self.errors)}, acknowledged writes "
                    f"{len(self.acked_notes)} notes + {len(self.acked_outcomes)} outcomes + {len(self.acked_scores)} "
                    f"scores, missing {len(self.missing_writes)}, audit chain "
                    f"{'ok' if self.audit_ok else 'BROKEN'} ({self.audit_entries} entries), schedule lag p99 "
                    f"{self.lag_p99_ms:.0f} ms")
        return "\n".join(rows)

    def statuses_all(self) -> dict[int, int]:
        out: dict[int, int] = defaultdict(int)
        for st in self.statuses.values():
            for code, n in st.items():
                out[code] += n
        return dict(out)

    def p(self, kind: str, q: float) -> float:
        values = sorted(v for k, vs in self.latencies.items() for v in vs) if kind == "all" \
            else sorted(self.latencies.get(kind, []))
        return pct(values, q) if values else float("nan")


def pct(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    k = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tiny_bundle(directory: Path, *, version: str = "soak-1") -> Path:
    """A small additive model (riskscore.testing.tiny_bundle, as the tests use)."""
    from riskscore.testing import tiny_bundle as build

    return build(directory, version=version, card=False)


def student_body(sid: str, rng: random.Random) -> dict[str, Any]:
    """One pupil's raw events: random unauthorised hours in the last 4 lesson weeks and a sick spell."""
    from riskscore.testing import student_events

    return student_events(sid, absence_hours=round(rng.uniform(0, 40) * 4) / 4, sick_days=rng.randint(0, 20))


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str
    log: Path
    url: str
    keys: dict[str, str]
    cases: list[int]
    students: list[str]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start(home: Path, *, workers: int = 2, n_students: int = 60, bundle: Path | None = None,
          extra_env: dict[str, str] | None = None) -> Server:
    """Keys, seeded scores and review cases, then `riskscore serve --workers N`; returns once /readyz is 200."""
    from riskscore.store.cases import open_or_update_case
    from riskscore.store.db import make_engine, migrate, session_factory
    from riskscore.store.keys import create_key
    from riskscore.testing import register_pupils

    home.mkdir(parents=True, exist_ok=True)
    bundle = bundle or tiny_bundle(home / "bundle")
    url = f"sqlite:///{home / 'riskscore.db'}"
    migrate(url)  # once, before the workers start (they would race to create the tables)
    engine = make_engine(url)
    rng = random.Random(5)
    students = [f"LOAD-{i:04d}" for i in range(n_students)]
    with session_factory(engine)() as s:
        # the import's registrations: every load pupil at 01AB (scope comes from these, never from a body)
        register_pupils(s, [student_body(sid, random.Random(0)) for sid in students])
        # pupils the school system pushes for the first time during the run: registered by the import too
        register_pupils(s, [student_body(sid, random.Random(0)) for sid in FRESH])
        keys = {role: create_key(s, role, *({"school": ("school", ["01AB"]), "jeugdarts": ("municipality", ["GM0363"]),
                                              "leerplicht": ("municipality", ["GM0363"]),
                                              "rmc": ("rmc_region", ["RMC27"])}[role]), f"load {role}")[1]
                for role in STUDENT_ROLES}
        cases = [open_or_update_case(s, student_id=sid, role="school", reason="capacity",
                                     as_of=__import__("datetime").date(2025, 3, 1), school_id="01AB",
                                     municipality="GM0363", rmc_region="RMC27", probability=rng.random(),
                                     band="high")[0].id for sid in students]
    engine.dispose()
    port = free_port()
    log = home / "server.log"
    env = {**os.environ, "RISKSCORE_HOME": str(home), **(extra_env or {})}
    env.setdefault("RISKSCORE_SESSION_SECRET", secrets.token_urlsafe(32))  # `serve` stops without one
    env.pop("RISKSCORE_BUNDLE_PATH", None)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "riskscore.cli", "serve", "--port", str(port), "--workers",
                                 str(workers), "--bundle", str(bundle), "--database-url", url, "--log-level", "info"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    server = Server(proc, f"http://127.0.0.1:{port}", log, url, keys, cases, students)
    try:
        deadline = time.monotonic() + 120
        ready = 0
        while ready < workers * 3:  # several answers in a row: every worker is up (best effort)
            try:
                ready = ready + 1 if httpx.get(f"{server.base}/readyz", timeout=2).status_code == 200 else 0
            except httpx.TransportError:
                ready = 0
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not become ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        with httpx.Client(base_url=server.base, timeout=30) as c:  # every student has a stored score
            for i in range(0, len(students), 20):
                r = c.post("/v1/scores", headers={"X-API-Key": keys["school"]},
                           json={"students": [student_body(sid, rng) for sid in students[i:i + 20]]})
                r.raise_for_status()
    except BaseException:
        server.stop()
        raise
    return server


async def _drive(server: Server, result: Result, *, seed: int = 1, timeout: float = 10.0) -> None:
    rng = random.Random(seed)
    fresh = list(FRESH)
    kinds = [k for k, w in MIX.items() for _ in range(w)]
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    lags: list[float] = []

    async def one(client: httpx.AsyncClient, kind: str) -> None:
        role = rng.choice(STUDENT_ROLES)
        headers = {"X-API-Key": server.keys["school" if kind in ("score", "note", "outcome", "worklist") else role]}
        sid = rng.choice(server.students)
        case_id = rng.choice(server.cases)
        tag = uuid.uuid4().hex
        new: str | None = None
        if kind == "read_score":
            req = client.build_request("GET", f"/v1/students/{sid}/score", headers=headers)
        elif kind == "worklist":
            req = client.build_request("GET", "/v1/worklists", params={"limit": 50}, headers=headers)
        elif kind == "score":
            new = fresh.pop()
            req = client.build_request("POST", "/v1/scores", headers=headers, json={"students": [
                student_body(new, rng), student_body(rng.choice(server.students), rng)]})
        elif kind == "note":
            req = client.build_request("POST", f"/v1/cases/{case_id}/notes", headers=headers,
                                       json={"note": f"load-note-{tag}"})
        else:
            req = client.build_request("POST", f"/v1/cases/{case_id}/outcome", headers=headers,
                                       json={"outcome": "no_concern", "worth_conversation": True,
                                             "note": f"load-outcome-{tag}"})
        started = time.perf_counter()
        try:
            r = await client.send(req)
        except httpx.TimeoutException:
            result.errors.append(f"{kind}: timeout")
            return
        except httpx.TransportError as exc:
            result.errors.append(f"{kind}: {type(exc).__name__}")
            return
        ms = (time.perf_counter() - started) * 1000
        result.latencies[kind].append(ms)
        result.statuses[kind][r.status_code] += 1
        if r.status_code >= 500 or r.status_code not in (200,):
            result.errors.append(f"{kind}: {r.status_code} {r.text[:200]}")
            return
        if kind == "note":
            result.acked_notes.append(f"load-note-{tag}")
        elif kind == "outcome":
            result.acked_outcomes.append(f"load-outcome-{tag}")
        elif kind == "score":
            result.acked_scores.append(str(new))

    async with httpx.AsyncClient(base_url=server.base, timeout=timeout, limits=limits) as client:
        tasks = []
        t0 = time.perf_counter()
        n = int(result.rate * result.seconds)
        for i in range(n):
            due = t0 + i / result.rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            lags.append(max(0.0, time.perf_counter() - due) * 1000)
            tasks.append(asyncio.create_task(one(client, rng.choice(kinds))))
            result.sent += 1
        await asyncio.gather(*tasks)
    lags.sort()
    result.lag_p99_ms = pct(lags, 99) if lags else 0.0


def verify(server: Server, result: Result) -> None:
    """Every acknowledged write is in the database (direct SQL), and the audit chain verifies."""
    import sqlalchemy as sa

    from riskscore.store.audit import verify_chain
    from riskscore.store.db import make_engine, session_factory

    engine = make_engine(server.url)
    try:
        with engine.connect() as conn:
            notes = {r[0] for r in conn.execute(sa.text("SELECT note FROM case_events WHERE action = 'note' "
                                                        "AND note LIKE 'load-note-%'"))}
            outcomes = {r[0] for r in conn.execute(sa.text("SELECT note FROM review_outcomes "
                                                           "WHERE note LIKE 'load-outcome-%'"))}
            scored = {r[0] for r in conn.execute(sa.text("SELECT student_id FROM scores "
                                                         "WHERE student_id LIKE 'LOADNEW-%'"))}
        result.missing_writes = ([n for n in result.acked_notes if n not in notes]
                                 + [o for o in result.acked_outcomes if o not in outcomes]
                                 + [s for s in result.acked_scores if s not in scored])
        with session_factory(engine)() as session:
            check = verify_chain(session)
        result.audit_ok, result.audit_entries = check.ok, check.checked
    finally:
        engine.dispose()


def run(*, rate: float, seconds: float, workers: int = 2, home: Path | None = None) -> Result:
    """Start a server, drive it, stop it, verify; never leaves the server running."""
    home = home or Path(tempfile.mkdtemp(prefix="riskscore-soak-"))
    result = Result(rate=rate, seconds=seconds, workers=workers)
    server = start(home, workers=workers)
    try:
        asyncio.run(_drive(server, result))
    finally:
        server.stop()
    verify(server, result)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second (fixed, open loop)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    result = run(rate=args.rate, seconds=args.seconds, workers=args.workers)
    print(result.table())
    for e in result.errors[:20]:
        print("error:", e)
    return 0 if not result.errors and not result.missing_writes and result.audit_ok else 1


if __name__ == "__main__":
    sys.exit(main())
