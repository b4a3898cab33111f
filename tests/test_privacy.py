"""Privacy: after a demo-sized run — DUO files (tests/fixtures/duo, DUO's own formats, invented
people) and Magister/EduArte/SOMtoday absence exports with BSNs, names and addresses imported and
pseudonymised, a synthetic cohort batch-scored into the store, a real uvicorn process serving
scores, worklists and case writes, an MLflow training run logged — nothing that identifies a person
or opens the system is found in what the run leaves behind:

  the service's JSON log, /metrics, a dump of the SQLite database, the Parquet outputs (imported
  tables, scored frames), generated reports and the MLflow store (its database and artifacts).

Searched for: the pseudonym key, every API key plaintext (and the secret of a wrong key tried),
every person number (BSN, onderwijsnummer, persoonsgebonden nummer) and every name, street and town
of the source files, and birth dates (those sent to the API; the cohort's for the store and logs).
A hit fails with the file and line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from conftest import running_server
from riskscore.ingest.formats import read_text_table
from riskscore.ingest.run import run_import
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.keys import create_key

pytestmark = pytest.mark.e2e

PSEUDONYM_KEY = f"pk-{uuid.uuid4().hex}"
FIXTURES = Path(__file__).parent / "fixtures"
NUMBER_COLUMNS = ("BURGERSERVICENUMMER", "ONDERWIJSNUMMER", "PERSOONSGEBONDENNUMMER", "BSN_ONDERWIJSNR", "BSN",
                  "onderwijsnummer")
NAME_COLUMNS = ("ACHTERNAAM", "VOORNAMEN", "ALLE_VOORNAMEN", "STRAAT", "WOONPLAATS", "Naam leerling", "Mentor",
                "Roepnaam", "Achternaam", "achternaam")


def source_identifiers() -> dict[str, str]:
    """Every person number and name in the source files (names shorter than 4 letters are skipped:
    they would match unrelated text)."""
    out: dict[str, str] = {}
    files = [*sorted((FIXTURES / "duo").glob("*.csv")), *sorted((FIXTURES / "schools").glob("*.csv"))]
    for f in files:
        frame = read_text_table(f).frame
        for col in frame.columns:
            values = {str(v).strip() for v in frame[col] if str(v).strip()}
            if col in NUMBER_COLUMNS:
                out.update({v: "person number (BSN/onderwijsnummer)" for v in values if v.strip("0")})
            elif col in NAME_COLUMNS:
                out.update({v: "name or address" for v in values if len(v) >= 4})
    assert len(out) > 100
    return out
API_BIRTHS = ("2009-02-17", "2008-11-23", "2010-06-30")
WRONG_SECRET = "NotTheRealSecretButSensitive42"


def _needles(keys: list[str], cohort_births: set[str]) -> dict[str, str]:
    """text → what it is."""
    out: dict[str, str] = {PSEUDONYM_KEY: "pseudonym key", WRONG_SECRET: "secret of a wrong API key"}
    for k in keys:
        out[k] = "API key plaintext"
        out[k.split("_", 2)[2]] = "API key secret"
    out.update(source_identifiers())
    for b in API_BIRTHS:
        out[b] = "birth date"
    for b in cohort_births:
        out[b] = "birth date (cohort)"
    return out


def _lines_of(path: Path) -> Iterator[tuple[str, int, str]]:
    """(where, line number, text) for any file: SQLite dumped, Parquet as CSV, the rest as text."""
    suffix = path.suffix.lower()
    if suffix in (".db", ".sqlite", ".sqlite3"):
        with sqlite3.connect(path) as conn:
            for i, line in enumerate(conn.iterdump(), 1):
                yield f"{path} (SQL dump)", i, line
        return
    if suffix == ".parquet":
        frame = pd.read_parquet(path)
        text = frame.to_csv(index=False)
        for i, line in enumerate(text.splitlines(), 1):
            yield f"{path} (as CSV)", i, line
        meta = str(frame.attrs)  # pandas/arrow metadata too
        yield f"{path} (metadata)", 0, meta
    data = path.read_bytes()
    for i, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        yield str(path), i, line


def scan(paths: list[Path], needles: dict[str, str], *, allow: dict[str, set[str]] | None = None) -> list[str]:
    """Every hit as 'file:line: what (text)'. allow: file name → needle kinds allowed in it."""
    hits: list[str] = []
    files = [p for root in paths for p in ([root] if root.is_file() else sorted(root.rglob("*"))) if p.is_file()]
    assert files, f"nothing to scan in {paths}"
    for f in files:
        if f.suffix in (".db-wal", ".db-shm") or f.name.endswith(("-wal", "-shm")):
            continue  # checkpointed into the .db before the scan
        allowed = (allow or {}).get(f.name, set())
        for where, n, line in _lines_of(f):
            for text, kind in needles.items():
                if text in line and kind not in allowed:
                    hits.append(f"{where}:{n}: {kind} ({text!r})")
    return hits


def _checkpoint(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _student(sid: str, birth: str, school: str = "01AB") -> dict[str, Any]:
    """A pupil's raw events: 30 unauthorised hours in the last 4 lesson weeks, 12 school days sick."""
    from riskscore.testing import student_events

    return student_events(sid, school=school, birth_date=birth, absence_hours=30.0, sick_days=12)


@pytest.fixture(scope="module")
def run(small_world: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("privacy")
    db = home / "riskscore.db"
    url = f"sqlite:///{db}"

    # 1. DUO files and the schools' absence exports → the pseudonymised raw store (Parquet + ledger)
    store = home / "data" / "imported"
    key = PSEUDONYM_KEY.encode()
    run_import(FIXTURES / "duo", kind="duo", out=store, key=key)
    schools = FIXTURES / "schools"
    for export, profile, school in (("magister_absences.csv", "magister", "27GZ-magister.yaml"),
                                    ("eduarte_absences.csv", "eduarte", "27GZ-eduarte.yaml"),
                                    ("somtoday_absences.csv", "somtoday-csv", "24ZZ-somtoday.yaml")):
        run_import(schools / export, kind="absences", out=store, key=key, profile=profile, school=schools / school)
    pseudonyms = sorted(set(pd.read_parquet(store / "students.parquet")["student_id"]))[:3]

    # 2. the synthetic cohort batch-scored into the store (scores, review cases, scored frame)
    from riskscore import batch
    from riskscore.model.bundle import ModelBundle
    from riskscore.rules import RuleConfig

    migrate(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        result = batch.run(session, small_world.tables, dt.date.fromisoformat(small_world.score_as_of),
                           ModelBundle.load(small_world.bundle_dir), home=home, config=batch.ScoringConfig(),
                           rule_config=RuleConfig.default())
        keys = {name: create_key(session, role, kind, values, name)[1] for name, role, kind, values in [
            ("school", "school", "school", ["01AB"]), ("jeugdarts", "jeugdarts", "all", []),
            ("leerplicht", "leerplicht", "all", []), ("admin", "admin", "all", []),
            ("data_team", "data_team", "all", [])]}
        from riskscore.testing import register_pupils  # the import's registrations of the pupils posted below

        register_pupils(session, [_student(p, b) for p, b in zip(pseudonyms, API_BIRTHS, strict=False)])
        case_id = session.execute(__import__("sqlalchemy").text(  # a case the all-scope keys may touch
            "SELECT id, role FROM review_cases WHERE role IN ('jeugdarts', 'leerplicht') ORDER BY id LIMIT 1")).first()
    engine.dispose()
    assert result is not None and case_id is not None

    # 3. a real uvicorn process with the pseudonym key in its environment; its JSON log kept
    log_path = home / "logs" / "server.log"
    env = {**os.environ, "RISKSCORE_HOME": str(home), "RISKSCORE_PSEUDONYM_KEY": PSEUDONYM_KEY}
    env.pop("RISKSCORE_BUNDLE_PATH", None)
    with running_server(["--bundle", str(small_world.bundle_dir), "--database-url", url, "--log-level", "debug"],
                        env=env, log_path=log_path) as base, httpx.Client(base_url=base, timeout=30) as c:
            def h(name: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {keys[name]}"}

            r = c.post("/v1/scores", headers=h("school"),
                       json={"students": [_student(p, b) for p, b in zip(pseudonyms, API_BIRTHS, strict=False)]})
            assert r.status_code == 200, r.text
            for who in ("school", "jeugdarts", "leerplicht"):
                assert c.get(f"/v1/students/{pseudonyms[0]}/score", headers=h(who)).status_code == 200
                assert c.get("/v1/worklists", params={"limit": 20}, headers=h(who)).status_code == 200
            cid, role = case_id
            assert c.post(f"/v1/cases/{cid}/notes", headers=h(role),  # its own role, scope all: allowed
                          json={"note": "gesprek gepland"}).status_code == 200
            assert c.get("/v1/students/NOT-THERE/score", headers=h("school")).status_code == 404
            # wrong keys, in both headers, one with a real key id and a wrong secret
            key_id = keys["school"].split("_")[1]
            assert c.get("/v1/models/current", headers={"X-API-Key": f"rsk_{key_id}_{WRONG_SECRET}"}).status_code == 401
            assert c.get("/v1/models/current", headers={"Authorization": f"Bearer rsk_x_{WRONG_SECRET}"}).status_code == 401
            assert c.get("/v1/models/current", headers=h("data_team")).status_code == 200
            assert c.get("/v1/monitoring/status", headers=h("admin")).status_code == 404  # no report published yet
            # a validation error echoes input: it must not echo a secret or a birth date into the log
            r = c.post("/v1/scores", headers=h("school"), json={"students": [{**_student("V-1", API_BIRTHS[0]),
                                                                               "unknown": WRONG_SECRET}]})
            assert r.status_code == 422
            metrics = c.get("/metrics").text
    (home / "metrics.txt").write_text(metrics)

    # 4. an MLflow training run: params, metrics, config, reports and the bundle as a pyfunc
    from riskscore import registry

    mlflow_dir = home / "mlflow"
    registry.configure(f"sqlite:///{mlflow_dir / 'mlflow.db'}", str(mlflow_dir / "artifacts"))
    card = home / "reports" / "model_card.md"
    card.parent.mkdir(parents=True, exist_ok=True)
    card.write_text((small_world.bundle_dir / "model_card.md").read_text())
    registry.log_training_run(experiment="privacy", params={"seed": 11, "n_estimators": 60},
                              metrics={"additive.roc_auc": 0.7}, config={"seed": 11, "data": {"dir": "data"}},
                              data_fingerprint="fp", artifacts={"model_card.md": card},
                              bundle_dir=small_world.bundle_dir)
    _checkpoint(db)
    births = set(pd.to_datetime(small_world.tables["students"]["birth_date"]).dt.strftime("%Y-%m-%d"))
    yield {"home": home, "db": db, "log": log_path, "keys": list(keys.values()), "births": births,
           "mlflow": mlflow_dir, "metrics": home / "metrics.txt", "pseudonyms": pseudonyms}


def _fail_on(hits: list[str]) -> None:
    assert not hits, "personal data or secrets found:\n" + "\n".join(hits[:40])


def test_service_log_is_clean(run: dict[str, Any]) -> None:
    text = run["log"].read_text()
    lines = [json.loads(x) for x in text.splitlines() if x.startswith("{")]
    assert len(lines) >= 15 and any(x.get("route") == "/v1/students/{student_id}/score" for x in lines)
    _fail_on(scan([run["log"]], _needles(run["keys"], run["births"])))
    assert not any(p in text for p in run["pseudonyms"]), "a student id in the service log"


def test_metrics_are_clean(run: dict[str, Any]) -> None:
    _fail_on(scan([run["metrics"]], _needles(run["keys"], run["births"])))
    assert not any(p in run["metrics"].read_text() for p in run["pseudonyms"])


def test_database_dump_is_clean(run: dict[str, Any]) -> None:
    """The whole SQLite store: scores, cases, audit log, keys (hashes only), auth failures."""
    _fail_on(scan([run["db"]], _needles(run["keys"], run["births"])))
    with sqlite3.connect(run["db"]) as conn:  # the scan saw real content
        assert conn.execute("SELECT COUNT(*) FROM scores").fetchone()[0] > 100
        assert conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] > 5
        assert conn.execute("SELECT COUNT(*) FROM auth_failures").fetchone()[0] == 2


def test_parquet_and_reports_are_clean(run: dict[str, Any]) -> None:
    home: Path = run["home"]
    outputs = [p for p in home.rglob("*.parquet") if run["mlflow"] not in p.parents]
    assert any(p.name == "students.parquet" for p in outputs) and any(p.name == "absences.parquet" for p in outputs)
    hits = scan([*outputs, home / "reports", home / "data" / "imported" / "ingest" / "ledger.jsonl"],
                _needles(run["keys"], set()))
    _fail_on(hits)


def test_mlflow_store_is_clean(run: dict[str, Any]) -> None:
    files = [p for p in run["mlflow"].rglob("*") if p.is_file()]
    assert any(p.name == "MLmodel" for p in files) and any(p.suffix == ".db" for p in files)
    _checkpoint(next(p for p in files if p.suffix == ".db"))
    _fail_on(scan([run["mlflow"]], _needles(run["keys"], run["births"])))


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The scanner itself: a planted BSN and key are reported with file and line."""
    f = tmp_path / "x.log"
    f.write_text("ok\nsomething 123456782 here\n")
    assert scan([f], {"123456782": "BSN"}) == [f"{f}:2: BSN ('123456782')"]
    db = tmp_path / "x.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (v TEXT)")
        conn.execute("INSERT INTO t VALUES (?)", (PSEUDONYM_KEY,))
    assert scan([db], {PSEUDONYM_KEY: "pseudonym key"})[0].startswith(f"{db} (SQL dump):")
