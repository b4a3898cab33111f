"""Faults the service must survive without a restart: the database unreachable (PostgreSQL behind a
TCP proxy we cut, refuse and black-hole) or read-only (SQLite), a missing or corrupt model at start,
a corrupt model offered while requests are in flight. Every refusal is a 503 with a clear message
and Retry-After; recovery needs nothing but the fault going away.

Not here: a full disk for reports (monitoring's tests) and kill -9 of the batch job (batch's tests).
The simpler cases live in test_api.py (database gone, broken reload, polling) and are not repeated.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from conftest import postgres_schema
from riskscore.api import create_app
from riskscore.model.bundle import ModelBundle
from riskscore.settings import Settings
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key
from riskscore.testing import register_pupils
from test_api import build_bundle, student


class TcpProxy:
    """A loopback TCP proxy we can cut ('down': connections refused, open ones reset), restore ('up')
    or black-hole ('silent': connections accepted, nothing answered)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.mode = "down"
        self._listener: socket.socket | None = None
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    def _track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._socks.append(sock)
        return sock

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for attempt in range(50):  # the previous listener's accept() may hold the port for a moment
            try:
                listener.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if attempt == 49:
                    raise
                time.sleep(0.05)
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._track(client)
            if self.mode == "silent":
                continue  # hold it open, answer nothing
            try:
                upstream = self._track(socket.create_connection(self.target, timeout=5))
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def _close_all(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def up(self) -> None:
        self._close_all()
        self.mode = "up"
        self._listen()

    def down(self) -> None:
        self.mode = "down"
        self._close_all()

    def silent(self) -> None:
        self._close_all()
        self.mode = "silent"
        self._listen()


def _wait_for(check: Callable[[], bool], seconds: float = 15.0) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"condition not reached within {seconds} s")
        time.sleep(0.1)
    return time.monotonic() - started


def _assert_503(r: Any) -> None:
    assert r.status_code == 503, (r.status_code, r.text)
    assert int(r.headers["retry-after"]) >= 1
    assert r.json()["error"].startswith("the database is unavailable") and r.json()["request_id"]


#: every pupil these tests score, registered at 01AB as an import would
PUPILS = ["S-1", "F-1", "RO-1", "RO-2", "RO-3", *(f"T{i}-{k}" for i in range(4) for k in range(5))]


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bundle(tmp_path_factory.mktemp("faults") / "b1")


@pytest.fixture()
def pg(postgres_url: str) -> Iterator[dict[str, Any]]:
    """A fresh schema on the test server, reached directly and through a proxy we control."""
    with postgres_schema(postgres_url, prefix="f") as direct:
        base = sa.make_url(direct)
        proxy = TcpProxy((base.host or "127.0.0.1", base.port or 5432))
        via = base.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        migrate(direct)
        engine = make_engine(direct)
        with session_factory(engine)() as s:
            key = create_key(s, "school", "school", ["01AB"], "faults")[1]
            register_pupils(s, [student(sid) for sid in PUPILS])  # the import's registrations
        try:
            yield {"direct": direct, "via": via, "proxy": proxy, "key": key}
        finally:
            proxy.down()
            engine.dispose()


@pytest.mark.postgres
def test_postgres_unreachable_at_start_then_cut_and_restored(pg: dict[str, Any], bundle_dir: Path, tmp_path: Path) -> None:
    proxy: TcpProxy = pg["proxy"]
    app = create_app(Settings(home=tmp_path, database_url=pg["via"], bundle_path=bundle_dir, log_level="ERROR"))
    headers = {"X-API-Key": pg["key"]}
    with TestClient(app, raise_server_exceptions=False) as c:
        # down from the start: up, not ready, every data call 503 with Retry-After
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["database"] is False and "database" in r.json()["reason"]
        assert r.json()["model_loaded"] is True
        _assert_503(c.post("/v1/scores", json={"students": [student("F-1")]}, headers=headers))
        _assert_503(c.get("/v1/students/F-1/score", headers=headers))
        # the database comes back: served again, no restart
        proxy.up()
        _wait_for(lambda: c.get("/readyz").status_code == 200)
        assert c.post("/v1/scores", json={"students": [student("F-1")]}, headers=headers).status_code == 200
        # cut while pooled connections are open: 503, then back
        proxy.down()
        _assert_503(c.get("/v1/students/F-1/score", headers=headers))
        assert c.get("/readyz").status_code == 503
        proxy.up()
        _wait_for(lambda: c.get("/v1/students/F-1/score", headers=headers).status_code == 200)
        assert c.get("/readyz").status_code == 200
    assert 'riskscore_http_requests_total{method="GET",route="/v1/students/{student_id}/score",status="503"}' \
        in app.state.riskscore.metrics.render().decode()


@pytest.mark.postgres
def test_postgres_black_hole_answers_503_in_bounded_time(pg: dict[str, Any], bundle_dir: Path, tmp_path: Path) -> None:
    """A database that accepts connections and never answers (a hung server, a dropped route) must
    not hang requests: the connect timeout turns it into a 503."""
    proxy: TcpProxy = pg["proxy"]
    proxy.up()
    app = create_app(Settings(home=tmp_path, database_url=pg["via"], bundle_path=bundle_dir, log_level="ERROR"))
    headers = {"X-API-Key": pg["key"]}
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.get("/v1/models/current", headers=headers).status_code == 200
        proxy.silent()
        started = time.monotonic()
        _assert_503(c.get("/v1/students/F-2/score", headers=headers))
        assert time.monotonic() - started < 20
        proxy.up()
        _wait_for(lambda: c.get("/v1/models/current", headers=headers).status_code == 200, 30)


@contextlib.contextmanager
def read_only(engine: sa.Engine) -> Iterator[None]:
    """Emulate a read-only mount: every connection refuses writes as SQLite does on a read-only file
    ('attempt to write a readonly database'). chmod 0444 cannot do it here: tests run as root, and
    root writes through file modes."""

    def on_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        dbapi_conn.execute("PRAGMA query_only = ON")

    sa.event.listen(engine, "checkout", on_checkout)
    try:
        yield
    finally:
        sa.event.remove(engine, "checkout", on_checkout)
        engine.dispose()  # connections go back writable (PRAGMA query_only is per connection)


def test_sqlite_read_only_then_writable(bundle_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    with session_factory(engine)() as s:
        key = create_key(s, "school", "school", ["01AB"], "ro")[1]
        register_pupils(s, [student(sid) for sid in PUPILS])  # the import's registrations
    engine.dispose()
    app = create_app(Settings(home=tmp_path, database_url=url, bundle_path=bundle_dir, log_level="ERROR"))
    headers = {"X-API-Key": key}
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.post("/v1/scores", json={"students": [student("RO-1")]}, headers=headers).status_code == 200
        with read_only(app.state.riskscore.engine):
            _assert_503(c.post("/v1/scores", json={"students": [student("RO-2")]}, headers=headers))
            # a read needs its audit entry first: no entry, no data
            _assert_503(c.get("/v1/students/RO-1/score", headers=headers))
            # a wrong key is still a plain 401 (the failure cannot be recorded, the answer stays honest)
            assert c.get("/v1/models/current", headers={"X-API-Key": "rsk_x_y"}).status_code == 401
            assert c.get("/v1/models/current", headers=headers).status_code == 200  # no write needed
        assert c.post("/v1/scores", json={"students": [student("RO-2")]}, headers=headers).status_code == 200
        assert c.get("/v1/students/RO-2/score", headers=headers).status_code == 200
    engine = make_engine(url)
    with engine.connect() as conn:  # nothing half-written by the refused calls
        rows = conn.execute(sa.text("SELECT student_id, COUNT(*) FROM scores GROUP BY student_id")).all()
    engine.dispose()
    assert dict(rows) == {"RO-1": 1, "RO-2": 1}


def test_sqlite_chmod_read_only_file(bundle_dir: Path, tmp_path: Path) -> None:
    """The real thing where it can be had: a 0444 file in a 0555 folder (only effective without root)."""
    import os

    if os.geteuid() == 0:
        pytest.skip("running as root: file modes do not stop root (see test_sqlite_read_only_then_writable)")
    folder = tmp_path / "db"
    url = f"sqlite:///{folder / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    with session_factory(engine)() as s:
        key = create_key(s, "school", "school", ["01AB"], "ro")[1]
        register_pupils(s, [student(sid) for sid in PUPILS])  # the import's registrations
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    app = create_app(Settings(home=tmp_path, database_url=url, bundle_path=bundle_dir, log_level="ERROR"))
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            for p in folder.iterdir():
                p.chmod(0o444)
            folder.chmod(0o555)
            app.state.riskscore.engine.dispose()
            _assert_503(c.post("/v1/scores", json={"students": [student("RO-3")]}, headers={"X-API-Key": key}))
            folder.chmod(0o755)
            for p in folder.iterdir():
                p.chmod(0o644)
            app.state.riskscore.engine.dispose()
            _wait_for(lambda: c.post("/v1/scores", json={"students": [student("RO-3")]},
                                     headers={"X-API-Key": key}).status_code == 200)
    finally:
        folder.chmod(0o755)


# --- the model -------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["missing", "corrupt_tables", "corrupt_manifest"])
def test_bad_model_at_start_then_reload_serves(fault: str, bundle_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    if fault != "missing":
        shutil.copytree(bundle_dir, target)
        victim = next(p for p in sorted(target.iterdir())
                      if (p.suffix == ".npz") == (fault == "corrupt_tables") and p.suffix in (".npz", ".json"))
        victim.write_bytes(b"\x00garbage{")
    url = f"sqlite:///{tmp_path / 'rs.db'}"
    app = create_app(Settings(home=tmp_path, database_url=url, log_level="ERROR"),
                     bundle_loader=lambda: (ModelBundle.load(target), target))
    with TestClient(app, raise_server_exceptions=False) as c:
        engine = make_engine(url)
        with session_factory(engine)() as s:
            admin = create_key(s, "admin", "all", [], "ops")[1]
            school = create_key(s, "school", "school", ["01AB"], "s")[1]
            register_pupils(s, [student(sid) for sid in PUPILS])  # the import's registrations
        engine.dispose()
        r = c.get("/readyz")
        assert r.status_code == 503 and r.headers["retry-after"]
        body = r.json()
        assert body["model_loaded"] is False and body["database"] is True
        assert body["reason"].startswith("no model loaded (") and "not loaded yet" not in body["reason"]
        r = c.post("/v1/scores", json={"students": [student()]}, headers={"X-API-Key": school})
        assert r.status_code == 503 and "no model" in r.json()["error"] and r.headers["retry-after"]
        # the operator puts a good bundle in place and asks for a reload: served, no restart
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(bundle_dir, target)
        r = c.post("/v1/admin/reload", headers={"X-API-Key": admin})
        assert r.status_code == 200 and r.json()["version"] == "test-1"
        ready = c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["reason"] is None
        assert c.post("/v1/scores", json={"students": [student()]}, headers={"X-API-Key": school}).status_code == 200


def test_corrupt_reload_under_traffic_never_fails_a_request(bundle_dir: Path, tmp_path: Path) -> None:
    """While 4 threads score without pause, a corrupt candidate is refused (409) and a good new one
    swapped in: no request fails, and every answer comes whole from one of the two models."""
    newer = build_bundle(tmp_path / "newer", version="test-2", card=False)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(newer, corrupt)
    next(p for p in corrupt.iterdir() if p.suffix == ".npz").write_bytes(b"PK\x03\x04 truncated")
    source = {"dir": bundle_dir}
    url = f"sqlite:///{tmp_path / 'rs.db'}"
    app = create_app(Settings(home=tmp_path, database_url=url, log_level="ERROR"),
                     bundle_loader=lambda: (ModelBundle.load(source["dir"]), source["dir"]))
    stop = threading.Event()
    seen: list[tuple[int, str | None]] = []

    with TestClient(app, raise_server_exceptions=False) as c:
        engine = make_engine(url)
        with session_factory(engine)() as s:
            admin = create_key(s, "admin", "all", [], "ops")[1]
            school = create_key(s, "school", "school", ["01AB"], "s")[1]
            register_pupils(s, [student(sid) for sid in PUPILS])  # the import's registrations
        engine.dispose()

        def hammer(i: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                r = c.post("/v1/scores", json={"students": [student(f"T{i}-{n % 5}")]}, headers={"X-API-Key": school})
                body = r.json() if r.status_code == 200 else {}
                versions = {x["model_version"] for x in body.get("results", [])} | {body.get("model_version")}
                seen.append((r.status_code, versions.pop() if len(versions) == 1 else "MIXED"))

        def served(more: int) -> None:  # traffic keeps flowing between the reloads (scoring from events takes ms)
            target, deadline = len(seen) + more, time.monotonic() + 60
            while len(seen) < target and time.monotonic() < deadline:
                time.sleep(0.05)

        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(hammer, i) for i in range(4)]
            served(8)
            source["dir"] = corrupt
            r = c.post("/v1/admin/reload", headers={"X-API-Key": admin})
            assert r.status_code == 409 and "still serving test-1" in r.json()["error"]
            served(8)
            source["dir"] = newer
            r = c.post("/v1/admin/reload", headers={"X-API-Key": admin})
            assert r.status_code == 200 and r.json()["version"] == "test-2"
            served(8)
            stop.set()
            for f in futures:
                f.result()
    assert len(seen) > 20
    assert {code for code, _ in seen} == {200}, sorted({code for code, _ in seen})
    versions = [v for _, v in seen]
    assert set(versions) == {"test-1", "test-2"}  # both served, never a mix within one answer
    assert versions.index("test-2") > 0 and "test-1" not in versions[len(versions) - versions[::-1].index("test-1"):]
