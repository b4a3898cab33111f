"""Shared fixtures. PostgreSQL tests run when RISKSCORE_TEST_POSTGRES_URL is set (CI sets it, and
RISKSCORE_REQUIRE_POSTGRES=1 turns a missing server into a failure instead of a skip)."""

from __future__ import annotations

import os
import secrets
import shutil

import pytest


def _require(flag: str) -> bool:
    return os.environ.get(flag, "") == "1"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("RISKSCORE_TEST_POSTGRES_URL", "")
    if not url:
        if _require("RISKSCORE_REQUIRE_POSTGRES"):
            pytest.fail("RISKSCORE_TEST_POSTGRES_URL is not set but RISKSCORE_REQUIRE_POSTGRES=1")
        pytest.skip("no PostgreSQL (set RISKSCORE_TEST_POSTGRES_URL; .ci/run does)")
    return url


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = "/usr/bin/chromium"
    if not shutil.which(path):
        if _require("RISKSCORE_REQUIRE_BROWSER"):
            pytest.fail("/usr/bin/chromium missing but RISKSCORE_REQUIRE_BROWSER=1")
        pytest.skip("Debian chromium not installed (make system-deps)")
    return path


# --- a small, real world: synthetic cohort → features → trained additive model → bundle ------------
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402


@dataclass(frozen=True)
class SmallWorld:
    """Synthetic raw tables on disk, their feature table, and a bundle trained on them (with the
    monitoring reference: anonymous rows and counts per audit group). Read-only: copy data_dir/bundle_dir before changing anything."""

    data_dir: Path
    bundle_dir: Path
    tables: dict[str, Any]
    features: Any  # the feature table over all as-of dates
    score_as_of: str  # an as-of date in the last school year, for batch scoring


def make_small_world(root: Path, *, n_students: int = 2500, seed: int = 11) -> SmallWorld:
    import pandas as pd

    from riskscore import datasets, features
    from riskscore.model import additive as model
    from riskscore.model.bundle import ModelBundle
    from riskscore.training import pipeline as training

    tables = __import__("riskscore.synthetic", fromlist=["generate"]).generate(
        n_students, 4, seed, first_year="2020-21")
    data_dir = root / "data"
    datasets.write_tables(tables, data_dir)
    years = sorted(tables["students"]["school_year"].unique())
    table = features.build(tables, features.default_as_of_dates(years))
    y = features.label(table, tables["outcomes"]).astype(int)
    sy = table["as_of"].map(lambda t: f"{t.year}-{str(t.year + 1)[2:]}" if t.month >= 8 else f"{t.year - 1}-{str(t.year)[2:]}")
    train, cal, test = sy.isin(years[:2]), sy == years[2], sy == years[3]
    additive = model.AdditiveLGBM(n_estimators=60, learning_rate=0.1, random_state=seed).fit(table[train], y[train])
    calibrator = model.Calibrator(method="platt").fit(additive.raw_score(table[cal]), y[cal])
    from sklearn.metrics import roc_auc_score

    test_auc = roc_auc_score(y[test], calibrator.transform(additive.raw_score(table[test])))  # measured, not made up
    bundle = ModelBundle.from_model(additive, calibrator, version="small-1", band_thresholds={"medium": 0.05, "high": 0.15},
                                    metadata={"seed": seed, "metrics": {"roc_auc": round(float(test_auc), 4)}})
    bundle_dir = bundle.save(root / "bundle")
    audit = training.audit_frame(table[test], tables["students"], tables.get("audit"))
    training.write_reference(bundle_dir, bundle, table[test], audit)  # as `riskscore train` writes it
    (bundle_dir / "model_card.md").write_text("# Modelkaart / model card\n\nSmall test model on synthetic data.\n")
    last = pd.Timestamp(table.loc[test, "as_of"].max()).date().isoformat()
    return SmallWorld(data_dir=data_dir, bundle_dir=bundle_dir, tables=tables, features=table, score_as_of=last)


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> SmallWorld:
    """Built once per test session (a few seconds)."""
    return make_small_world(tmp_path_factory.mktemp("small-world"))


# --- a real uvicorn process -----------------------------------------------------------------------
import contextlib  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(args: list[str], *, env: dict[str, str], log_path: Path, port: int | None = None,
                   ready_timeout: float = 90) -> Iterator[str]:
    """`riskscore serve --port P <args>` as a real process; yields its base URL once /readyz is 200,
    fails the test with the server's log if it never is, and always stops the process."""
    import httpx

    port = port or free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if not env.get("RISKSCORE_SESSION_SECRET") and env.get("RISKSCORE_DEMO_MODE_NOT_FOR_REAL_PUPILS") != "1":
        env = {**env, "RISKSCORE_SESSION_SECRET": secrets.token_urlsafe(32)}  # serve stops without one
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "riskscore.cli", "serve", "--port", str(port), *args],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not become ready:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# --- a served site: a copy of a bundle, a fresh store, keys, a real uvicorn process -----------------------
from collections.abc import Callable  # noqa: E402


@dataclass(frozen=True)
class SiteHome:
    """A fresh RISKSCORE_HOME: its own copy of the bundle, a migrated SQLite store, an open session on
    it, and the environment the CLI and the server run with."""

    home: Path
    bundle: Path
    url: str
    env: dict[str, str]
    session: Any

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """`riskscore <args>` as a real process in this home."""
        return subprocess.run([sys.executable, "-m", "riskscore.cli", *args], capture_output=True, text=True,
                              env=self.env, timeout=timeout)

    def score(self, world: SmallWorld, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """The batch job on the world's last as-of date with this home's bundle."""
        return self.cli("score", "--as-of", world.score_as_of, "--data", str(world.data_dir),
                        "--bundle", str(self.bundle), *extra, timeout=timeout)


@contextlib.contextmanager
def served_site(world: SmallWorld, home: Path, prepare: Callable[[SiteHome], dict[str, Any]], *,
                ready_timeout: float = 60) -> Iterator[dict[str, Any]]:
    """The world's bundle served from a fresh home by a real uvicorn process.

    `prepare` fills the store (the batch job, a monitoring run, ...) and makes the keys; what it
    returns (at least "keys") is yielded together with the server's "base" URL and its "log" path.
    The server is stopped and the session closed afterwards."""
    from riskscore.store.db import make_engine, migrate, session_factory

    bundle = Path(shutil.copytree(world.bundle_dir, home / "bundle"))
    url = f"sqlite:///{home / 'riskscore.db'}"
    env = {**os.environ, "RISKSCORE_HOME": str(home), "RISKSCORE_DATABASE_URL": url,
           "RISKSCORE_BUNDLE_PATH": str(bundle), "RISKSCORE_SESSION_SECRET": secrets.token_urlsafe(32)}
    migrate(url)
    engine = make_engine(url)
    session = session_factory(engine)()
    log_path = home / "server.log"
    try:
        extra = prepare(SiteHome(home=home, bundle=bundle, url=url, env=env, session=session))
        assert "keys" in extra, "prepare must return the site's keys"
        with running_server(["--bundle", str(bundle), "--database-url", url], env=env, log_path=log_path,
                            ready_timeout=ready_timeout) as base:
            yield {**extra, "base": base, "log": log_path}
    finally:
        session.close()
        engine.dispose()


# --- a fresh database per test: SQLite, and PostgreSQL in a throwaway schema ------------------------
import uuid  # noqa: E402

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402


@contextlib.contextmanager
def postgres_schema(base_url: str, *, prefix: str = "t") -> Iterator[str]:
    """A URL on a new, empty schema of the test server; the schema is dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield sa.make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@dataclass
class Db:
    url: str
    engine: sa.Engine
    sessions: sessionmaker[Session]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """A migrated store, once on SQLite and once on PostgreSQL (fresh schema)."""
    from riskscore.store.db import make_engine, migrate, session_factory

    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'rs.db'}"
        else:
            url = stack.enter_context(postgres_schema(request.getfixturevalue("postgres_url")))
        engine = make_engine(url)
        stack.callback(engine.dispose)
        migrate(engine)
        yield Db(url, engine, session_factory(engine))


# --- a real browser: Debian's chromium through Playwright ---------------------------------------------
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def chromium(chromium_path: str) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()




# --- people: a user row and a live web session, as if they had signed in ------------------------------
def sign_in_person(session: Any, secret: str, *, role: str, scope_kind: str = "all",
                   scope_values: list[str] | tuple[str, ...] = (), label: str = "Test person",
                   groups: tuple[str, ...] = (), user_id: str | None = None) -> tuple[str, str]:
    """A person (created unless user_id names one) with a fresh server-side session, as the sign-in
    routes make it; returns (the person's actor id, the session cookie's token). Tests that are not about
    signing in use this instead of walking through the identity provider."""
    from datetime import timedelta

    from riskscore.store.users import create_user
    from riskscore.store.web_sessions import start_session

    if user_id is None:
        user_id = create_user(session, display_name=label, role=role, scope_kind=scope_kind, scope_values=scope_values,
                              groups=groups, email=f"{secrets.token_hex(4)}@test.example").id
    token, _active = start_session(session, user_id=user_id, secret=secret.encode("utf-8"),
                                   lifetime=timedelta(hours=8))
    return f"user:{user_id}", token


def browser_sign_in(page: Any, base: str, token: str) -> None:
    """Put a person's session cookie (sign_in_person) into the browser and open the front page, which
    must then land signed in (not on the login form)."""
    from riskscore.web.auth import SESSION_COOKIE

    page.context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": base}])
    page.goto(f"{base}/")
    assert "/login" not in page.url, page.url
    page.wait_for_load_state()


def make_people(session: Any, specs: Any, *, label: str = "{name} label") -> dict[str, str]:
    """One person per (name, role, scope kind, scope values) row, as the key tables of the tests list them;
    returns name → user id."""
    from riskscore.store.users import create_user

    return {name: create_user(session, display_name=label.format(name=name), role=role, scope_kind=kind,
                              scope_values=values, email=f"{name}-{secrets.token_hex(3)}@test.example").id
            for name, role, kind, values in specs}


#: the web session secret of apps built in-process by tests (a served site makes its own)
TEST_SESSION_SECRET = "tests-only-session-secret-0123456789abcdef"
