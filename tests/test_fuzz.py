"""Fuzzing the API from its own OpenAPI schema (schemathesis 4): every operation, as every role and
anonymously, positive and negative cases. No answer may be a 5xx, and every answer must conform
to the schema (documented status code, content type, headers and body).

The app runs in-process under one TestClient (its lifespan opens a real SQLite store and loads a
real bundle); schemathesis serialises each generated case and validates our httpx response.
`make test` runs >= 1,000 cases; RISKSCORE_SOAK=1 (`make soak`) runs ten times as many.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from riskscore.api import create_app
from riskscore.service.deps import AuthThrottle
from riskscore.settings import Settings
from riskscore.store.cases import open_or_update_case
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key
from riskscore.testing import register_pupils
from test_api import build_bundle, student

pytestmark = [pytest.mark.soak, pytest.mark.slow]

SOAK = os.environ.get("RISKSCORE_SOAK", "") == "1"
MIN_CASES = 10_000 if SOAK else 1_000
ROLES = ("school", "jeugdarts", "leerplicht", "rmc", "data_team", "admin")
SCOPES = {"school": ("school", ["01AB"]), "jeugdarts": ("municipality", ["GM0363"]),
          "leerplicht": ("municipality", ["GM0363"]), "rmc": ("rmc_region", ["RMC27"]),
          "data_team": ("all", []), "admin": ("all", [])}
#: operations that change what is served: fuzzed, but a reload of an unchanged bundle is harmless
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
TALLY: Counter[str] = Counter()
#: path parameters that exist in the fixture: positive cases use them half of the time, so the
#: fuzzer reaches the code behind the 404 (random ids almost never exist)
KNOWN = {"student_id": ["S-1", "A-1", "PUPIL_1"], "case_id": [1, 2, 3, 4], "run": "20260101T000000000000Z",
         "name": ["report.html", "summary.json"]}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("fuzz")
    bundle = build_bundle(home / "bundle")
    url = f"sqlite:///{home / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        keys = {role: create_key(session, role, SCOPES[role][0], SCOPES[role][1], f"fuzz {role}")[1] for role in ROLES}
    app = create_app(Settings(home=home, database_url=url, bundle_path=bundle, max_batch=20, log_level="ERROR"))
    # negative cases send broken keys: with throttling on, the fuzzer would soon see only 429s
    # (tests/test_access_matrix.py tests the throttle itself)
    app.state.auth_throttle = AuthThrottle(limit=10**9, slow_after=10**9)
    with TestClient(app, raise_server_exceptions=False) as client:
        # some stored scores so that reads can find something (registered first, as an import would)
        with session_factory(engine)() as session:
            register_pupils(session, [student(sid) for sid in ("S-1", "A-1", "PUPIL_1")])
        for sid in ("S-1", "A-1", "PUPIL_1"):
            r = client.post("/v1/scores", json={"students": [student(sid)]},
                            headers={"X-API-Key": keys["school"]})
            assert r.status_code == 200, r.text
        with session_factory(engine)() as session:  # review cases, for the case endpoints to find
            for role in ("school", "jeugdarts", "leerplicht", "rmc"):
                open_or_update_case(session, student_id="S-1", role=role, reason="rule:mazl_long",
                                    as_of=dt.date(2025, 3, 1), school_id="01AB", municipality="GM0363",
                                    rmc_region="RMC27", probability=0.5, band="high")
        run = home / "reports" / "monitoring" / KNOWN["run"]
        run.mkdir(parents=True)
        (run / "summary.json").write_text('{"status": "warn", "created_at": "2026-01-01T00:00:00Z", "breaches": []}')
        (run / "report.html").write_text("<html><body>monitoring</body></html>")
        schema = schemathesis.openapi.from_dict(app.openapi())
        yield {"client": client, "keys": keys, "schema": schema, "app": app}
    engine.dispose()


def operations() -> list[tuple[str, str, GenerationMode]]:
    """(method, path, mode) of every operation, read from the schema a fresh app publishes; negative
    cases only where there is an input to break (parameters or a body)."""
    app = create_app(Settings(home=Path("/nonexistent-unused"), database_url="sqlite://", log_level="WARNING"))
    spec = app.openapi()
    out = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            out.append((method.upper(), path, GenerationMode.POSITIVE))
            if op.get("parameters") or op.get("requestBody"):
                out.append((method.upper(), path, GenerationMode.NEGATIVE))
    return sorted(out)


OPERATIONS = operations()
#: operations without inputs yield only one case per caller; the others carry the count
PER_OPERATION = 30 + MIN_CASES // max(1, sum(1 for _, p, _ in OPERATIONS if "{" in p or p.startswith("/v1")))


def _send(client: TestClient, case: Any, headers: dict[str, str]) -> httpx.Response:
    kw = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    body: dict[str, Any] = {}
    if "json" in kw:
        body["json"] = kw["json"]
    elif isinstance(kw.get("data"), (bytes, str)):
        body["content"] = kw["data"]
    elif kw.get("data") is not None:
        body["data"] = kw["data"]
    if kw.get("files"):
        body["files"] = kw["files"]
    cookies = kw.get("cookies") or None
    if cookies:
        client.cookies.clear()
    return client.request(kw["method"], kw["url"], params=kw.get("params"), headers=kw.get("headers"),
                          cookies=cookies, **body)


@pytest.mark.parametrize(("method", "path", "mode"), OPERATIONS, ids=[f"{m} {p} {g}" for m, p, g in OPERATIONS])
def test_fuzz_operation(api: dict[str, Any], method: str, path: str, mode: GenerationMode) -> None:
    operation = api["schema"][path][method]
    client: TestClient = api["client"]
    checks = [*CHECKS, negative_data_rejection] if mode is GenerationMode.NEGATIVE else CHECKS

    strategy = operation.as_strategy(generation_mode=mode)
    names = re.findall(r"\{(\w+)\}", path)
    if mode is GenerationMode.POSITIVE and names and all(n in KNOWN for n in names):
        known = [operation.as_strategy(path_parameters={n: (KNOWN[n][i % len(KNOWN[n])] if isinstance(KNOWN[n], list)
                                                            else KNOWN[n]) for n in names})
                 for i in range(4)]
        strategy = st.one_of(strategy, *known)

    @settings(max_examples=PER_OPERATION, deadline=None, database=None, derandomize=not SOAK,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy, role=st.sampled_from((*ROLES, None)))
    def run(case: Any, role: str | None) -> None:
        headers = {"X-API-Key": api["keys"][role]} if role else {}
        if mode is GenerationMode.POSITIVE and case.headers:  # positive: authenticate as the role drawn
            case.headers = {k: v for k, v in case.headers.items() if k.lower() not in ("authorization", "x-api-key")}
        response = _send(client, case, headers)
        TALLY[f"{method} {path} {mode}"] += 1
        TALLY[f"|status {response.status_code}"] += 1
        assert response.status_code < 500, (role, case.path_parameters, case.body, response.text[:300])
        case.validate_response(response, checks=checks, headers=headers)

    run()


def test_fuzzing_covered_enough(api: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """Runs after the fuzz cases (file order): the total and every operation were exercised."""
    per_op = {k: v for k, v in TALLY.items() if not k.startswith("|")}
    total = sum(per_op.values())
    statuses = ", ".join(f"{k[8:]}: {v}" for k, v in sorted(TALLY.items()) if k.startswith("|status"))
    with capsys.disabled():
        print(f"\nfuzz: {total} generated cases over {len(OPERATIONS)} operation/mode pairs, "
              f"{len(ROLES)} roles + anonymous; statuses {statuses}")
    if len(per_op) < len(OPERATIONS):
        pytest.skip("run with the fuzz cases (pytest -k selected a subset)")
    assert total >= MIN_CASES, per_op
    assert all(v >= 5 for v in per_op.values()), per_op
