"""Erasure by key in every registered store (issue 21, breaks 6 and 7), on a home laid out as the demo
and a real import leave it: raw tables, an import store (staging tables + ledger), data-cycle, a batch
run's frame, cache, model folders, local MLflow artifacts (a current bundle and an old one whose
reference named pupils), reports, a scratch home with its own database, an unregistered folder, and
database tables added after this code was written. SQLite and PostgreSQL.

- `0`, `1`, `S0` are refused before anything is touched: every byte under the home and every row stay.
- A real pupil (synthetic `S…` id, and an import's 64-hex pseudonym) is found by no store of the
  registry afterwards, nor by a raw byte search of the home; every file that held no row of the pupil
  is byte-identical (bundles, references, cards, reports, the ledger); every other pupil's rows are equal.
- Break 6: an id whose text occurs inside bundle.json and the ledger leaves both byte-identical, and the
  service still reloads and starts ready."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import Db, SmallWorld
from riskscore import batch
from riskscore.cli import main
from riskscore.errors import DataError
from riskscore.ingest.pseudonym import is_pseudonym, pseudonymise
from riskscore.ingest.run import run_import
from riskscore.model.bundle import ModelBundle
from riskscore.settings import Settings, get_settings
from riskscore.store.audit import append_audit, verify_chain
from riskscore.store.db import make_engine, migrate, session_factory
from riskscore.store.erasure import RECORDS, TABLES, FileStore, StoreRegistry, holds_rows, registry
from riskscore.store.models import ReviewCase
from riskscore.store.privacy import erase_student
from riskscore.store.runs import write_scoring_run

KEY = b"erasure-test-key-0123456789"
NOT_PSEUDONYMS = ("0", "1", "S0")


# --- helpers ---------------------------------------------------------------------------------------------
def digests(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def bytes_holding(root: Path, sid: str) -> list[str]:
    """Files whose raw bytes hold the id as a whole token (not inside a longer id or a base64 run)."""
    token = re.compile(rb"(?<![0-9A-Za-z])" + re.escape(sid.encode()) + rb"(?![0-9A-Za-z])")
    return [str(p) for p in sorted(root.rglob("*")) if p.is_file() and token.search(p.read_bytes())]


def tables_holding(root: Path, sid: str) -> set[str]:
    """The oracle, independent of the registry: table files (pandas) with a row of the pupil."""
    out = set()
    for p in root.rglob("*"):
        if p.suffix == ".parquet" and not p.name.startswith("."):
            frame = pd.read_parquet(p)
        elif p.suffix == ".csv":
            frame = pd.read_csv(p, dtype=str, sep=None, engine="python")
        else:
            continue
        if "student_id" in frame and (frame["student_id"].astype(str) == sid).any():
            out.add(str(p))
    return out


def dump(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows (sorted, as text), the audit chain's head aside."""
    meta = sa.MetaData()
    meta.reflect(bind=engine)
    with engine.connect() as conn:
        return {t.name: sorted(tuple(str(v) for v in row) for row in conn.execute(sa.select(t)))
                for t in meta.sorted_tables if t.name != "audit_head"}


def later_tables(engine: sa.Engine) -> tuple[sa.Table, sa.Table]:
    """Tables added after the erasure code, outside the models (only the live schema knows them): one by
    student_id and one by a foreign key to a case."""
    meta = sa.MetaData()
    meta.reflect(bind=engine, only=["review_cases"])
    registrations = sa.Table("later_pupil_notes", meta, sa.Column("id", sa.Integer, primary_key=True),
                             sa.Column("student_id", sa.String(64), nullable=False), sa.Column("school_id", sa.String(16)))
    plans = sa.Table("later_case_plans", meta, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("case_id", sa.Integer, sa.ForeignKey("review_cases.id"), nullable=False),
                     sa.Column("plan", sa.Text))
    meta.create_all(engine, tables=[registrations, plans])
    return registrations, plans


def old_bundle(src: Path, dst: Path, features: pd.DataFrame) -> Path:
    """A bundle as logged before the reference lost student_id and the audit columns."""
    shutil.copytree(src, dst)
    features[["student_id", "as_of", "unauthorised_hours_4w"]].assign(gender="v").to_parquet(
        dst / "reference.parquet", index=False)
    return dst


def evidently_like_report(folder: Path, sid: str) -> None:
    """A monitoring report as `riskscore monitor` writes it: counts and charts, no pupil — but its
    embedded images are base64, where any id's characters can occur by chance (as in the demo)."""
    folder.mkdir(parents=True)
    blob = base64.b64encode(bytes(range(256)) * 4).decode()
    (folder / "evidently_drift.html").write_text(f'<img src="data:image/png;base64,{blob[:300]}x{sid}Q{blob[300:]}">')
    (folder / "report.html").write_text("<h1>Monitoring</h1><p>flag rate 12.0 % (n = 1,204); drift in 2 of 31 features</p>")
    (folder / "summary.json").write_text(json.dumps({"status": "ok", "n_current": 1204, "feature_drift": {"share": 0.06},
                                                     "fairness": [{"column": "gender", "group": "v", "n": 600}]}, indent=2))
    (folder / "charts.json").write_text(json.dumps({"probability_hist": [[0.0, 0.1, 800], [0.1, 0.2, 404]]}))


@pytest.fixture
def home(small_world: SmallWorld, db: Db, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A home as the demo, the retrain loop and an import leave it, and a batch run in the database."""
    root = tmp_path / "home"
    shutil.copytree(small_world.data_dir, root / "data")
    # scripts/cycle.sh's scratch home, kept (CYCLE_KEEP=1): the other cohort's raw data + audit frame, its own store
    shutil.copytree(small_world.data_dir, root / "data-cycle" / "data")
    # an import store elsewhere (RISKSCORE_DATA_DIR): staging tables, ledger, contract tables — 64-hex pseudonyms
    source = tmp_path / "export"
    source.mkdir()
    some = small_world.tables["students"]["student_id"].drop_duplicates().iloc[:60]
    for name in ("students", "absences", "sick_reports", "enrolments"):
        frame = small_world.tables[name]
        frame[frame["student_id"].isin(some)].to_parquet(source / f"{name}.parquet", index=False)
    run_import(source, kind="tables", out=root / "import", key=KEY)
    # a batch run: scores, cases, run signals in the database and the scored frame in runs/
    bundle = ModelBundle.load(small_world.bundle_dir)
    as_of = dt.date.fromisoformat(small_world.score_as_of)
    with db.sessions() as s:
        result = batch.run(s, small_world.tables, as_of, bundle, home=root)
    registrations, plans = later_tables(db.engine)
    with db.engine.connect() as conn:
        cases = conn.execute(sa.select(ReviewCase.id, ReviewCase.student_id).order_by(ReviewCase.id)).all()
    frame = pd.read_parquet(result.frame_path)
    in_frame = set(frame["student_id"])
    pupil = next(sid for _, sid in cases if sid in in_frame)
    other = next(sid for _, sid in cases if sid in in_frame and sid != pupil)
    with db.engine.begin() as conn:
        conn.execute(registrations.insert(), [{"student_id": pupil, "school_id": "01AB"},
                                              {"student_id": other, "school_id": "01AB"}])
        conn.execute(plans.insert(), [{"case_id": cid, "plan": f"plan {n}"} for n, (cid, _) in enumerate(cases[:40])])
    with db.sessions() as s:
        for sid in (pupil, other):
            append_audit(s, actor="key:mentor", role="school", action="score.read", resource=f"student:{sid}",
                         outcome="allowed", purpose="zorgteam")
    # cache, model folders, local MLflow artifacts (current bundle + an old one naming pupils), reports
    features = small_world.features
    (root / "cache").mkdir()
    latest = features[features["as_of"] == features["as_of"].max()]
    latest.to_parquet(root / "cache" / "features-train.parquet", index=False)
    shutil.copytree(small_world.bundle_dir, root / "cache" / "monitoring" / "riskscore-vsv-v1" / "artifacts" / "bundle")
    shutil.copytree(small_world.bundle_dir, root / "models" / "v1" / "bundle")
    artifacts = root / "mlartifacts" / "1"
    shutil.copytree(small_world.bundle_dir, artifacts / "models" / "m-new" / "artifacts" / "bundle")
    old_bundle(small_world.bundle_dir, artifacts / "models" / "m-old" / "artifacts" / "bundle", latest)
    (artifacts / "run-1" / "artifacts" / "reports").mkdir(parents=True)
    pd.DataFrame({"group": ["v", "m"], "recall": [0.5, 0.6]}).to_csv(
        artifacts / "run-1" / "artifacts" / "reports" / "fairness.csv", index=False)
    evidently_like_report(root / "reports" / "monitoring" / "20261201T000000Z", pupil)
    impact = root / "reports" / "impact" / "20261201T000000Z"
    impact.mkdir(parents=True)
    (impact / "impact.json").write_text(json.dumps({"created_at": "2026-12-01", "n_rows": 1204, "estimates": []}))
    # the demo's scratch homes (an interrupted demo leaves the impact one; CYCLE_KEEP=1 the cycle's): their own
    # database and scored frame
    scratch = root / "impact-demo"
    for folder in (scratch, root / "data-cycle"):
        (folder / "runs").mkdir(parents=True)
        url = f"sqlite:///{folder / 'riskscore.db'}"
        migrate(url)
        engine = make_engine(url)
        with session_factory(engine)() as s:
            write_scoring_run(s, as_of=as_of, model_version="m1", scores=[
                {"student_id": sid, "school_id": "01AB", "municipality": "GM0363", "rmc_region": "RMC27", "age": 15.0,
                 "probability": 0.3, "band": "high", "reasons": [], "triggers": [], "roles": ["school"]}
                for sid in (pupil, other)])
            append_audit(s, actor="cli:demo", role="admin", action="score.read", resource=f"student:{pupil}",
                         outcome="allowed", purpose="impact")
        engine.dispose()
        frame[frame["student_id"].isin([pupil, other])].to_parquet(folder / "runs" / "run-1.parquet", index=False)
    # a folder nobody registered: still reached by key (home-tables)
    (root / "exports").mkdir()
    (root / "exports" / "list.csv").write_text(f"school;student_id;note\n01AB;{other};a\n01AB;{pupil};b\n02CD;{other};c\n")
    settings = Settings(home=root, data_dir=root / "import")
    yield {"root": root, "pupil": pupil, "other": other, "stores": registry(settings.erasure_roots()),
           "scratch": scratch, "settings": settings, "db_file": tmp_path / "rs.db"}


def snapshot(db: Db, root: Path) -> tuple[dict[str, str], dict[str, list[tuple[Any, ...]]]]:
    return digests(root), dump(db.engine)


# --- the pseudonym shape -----------------------------------------------------------------------------------
def test_the_pseudonym_shape_is_what_imports_and_the_generator_make() -> None:
    from riskscore import synthetic

    ids = synthetic.generate(300, 1, 5)["students"]["student_id"]
    assert ids.map(is_pseudonym).all() and ids.str.len().min() == 7  # S + six digits at least
    assert pseudonymise(pd.Series(["123456782", "12345", None]), KEY).dropna().map(is_pseudonym).all()
    assert pseudonymise(pd.Series(["7"]), KEY, namespace="local:01AB").map(is_pseudonym).all()
    for bad in (*NOT_PSEUDONYMS, "", "S12345", "s000123", "S000123 ", "123456782", "ER-7", "RIGHTS-1", "a" * 63,
                "A" * 64, "g" * 64, "a" * 65, "S" + "0" * 64, None, 123456):
        assert not is_pseudonym(bad), bad


# --- refused: nothing touched -------------------------------------------------------------------------------
def test_ids_that_are_not_pseudonyms_touch_nothing(db: Db, home: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(db, home["root"])
    db_bytes = home["db_file"].read_bytes() if home["db_file"].exists() else b""
    for bad in NOT_PSEUDONYMS:
        with db.sessions() as s, pytest.raises(DataError, match="does not look like a pupil's pseudonym"):
            erase_student(s, bad, reason="verzoek", actor="cli:fg", role="admin", stores=home["stores"])
        with pytest.raises(DataError):
            home["stores"].erase(bad)
    # the CLI: one line on stderr, exit 3, before any question or store
    monkeypatch.setenv("RISKSCORE_HOME", str(home["root"]))
    get_settings.cache_clear()
    for bad in NOT_PSEUDONYMS:
        monkeypatch.setattr(sys, "argv", ["riskscore", "privacy", "erase", "--student", bad, "--reason", "verzoek",
                                          "--yes", "--database-url", db.url])
        with pytest.raises(SystemExit) as stop:
            main()
        out = capsys.readouterr()
        assert stop.value.code == 3 and out.out == "", out
        assert out.err.count("\n") == 1 and "--student: this does not look like a pupil's pseudonym" in out.err
    get_settings.cache_clear()
    assert snapshot(db, home["root"]) == before  # every byte of the home, every row of every table
    if db_bytes:
        assert home["db_file"].read_bytes() == db_bytes


# --- a real pupil: gone from every store, everything else as it was -----------------------------------------
def erase_and_check(db: Db, home: dict[str, Any], pupil: str) -> dict[str, Any]:
    root, stores = home["root"], home["stores"]
    assert isinstance(stores, StoreRegistry)
    files_before = digests(root)
    expected = tables_holding(root, pupil)
    frames_before = {p: pd.read_parquet(p) if p.endswith(".parquet") else pd.read_csv(p, dtype=str, sep=None,
                                                                                       engine="python")
                     for p in expected}
    rows_before = dump(db.engine)
    with db.engine.connect() as conn:
        cases = [str(i) for i in conn.execute(sa.select(ReviewCase.id).where(ReviewCase.student_id == pupil)).scalars()]
    assert expected and stores.holders(pupil).all_files  # the pupil is there to begin with

    with db.sessions() as s:
        report = erase_student(s, pupil, reason="verzoek ouders", actor="cli:fg", role="admin", stores=stores)

    files_after = digests(root)
    changed = {p for p in files_before if files_before[p] != files_after.get(p)}
    scratch_dbs = {str(home["scratch"] / "riskscore.db"),  # stores' database files, not table files
                   str(root / "data-cycle" / "riskscore.db")}
    assert changed - scratch_dbs == expected, changed ^ expected  # exactly the table files with the pupil's rows ...
    assert set(report.files) == expected and report.failed == []
    for path, old in frames_before.items():  # ... and in them every other row is as it was
        new = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path, dtype=str, sep=None,
                                                                                   engine="python")
        want = old[old["student_id"].astype(str) != pupil].reset_index(drop=True)
        pd.testing.assert_frame_equal(new.reset_index(drop=True), want)
        assert new.attrs == old.attrs
    # no registered store holds the pupil, and not even the bytes do (database files included)
    assert stores.holders(pupil).files == {} and stores.holders(pupil).failed == []
    assert bytes_holding(root, pupil) == []
    if home["db_file"].exists():
        assert bytes_holding(home["db_file"].parent, pupil) == []
    with db.engine.connect() as conn:
        assert holds_rows(conn, pupil) == {}
    # the database: the pupil's rows (and what hangs off their cases) gone, every other row equal
    rows_after = dump(db.engine)
    for table, rows in rows_before.items():
        if table == "audit_log":
            continue
        names = [c.name for c in sa.Table(table, sa.MetaData(), autoload_with=db.engine).c]
        theirs = [r for r in rows if not ("student_id" in names and r[names.index("student_id")] == pupil)
                  and not ("case_id" in names and r[names.index("case_id")] in cases)]
        assert rows_after[table] == theirs, table
    assert report.rows["later_case_plans"] == sum(1 for r in rows_before["later_case_plans"] if r[1] in cases)
    with db.sessions() as s:
        assert verify_chain(s).ok
    return {"report": report, "changed": changed}


def test_a_pupil_is_erased_by_key_from_every_store_and_nothing_else_changes(db: Db, home: dict[str, Any]) -> None:
    root, pupil, other = home["root"], home["pupil"], home["other"]
    result = erase_and_check(db, home, pupil)
    report = result["report"]
    assert report.rows["later_pupil_notes"] == 1 and report.rows["later_case_plans"] >= 1  # tables added after this code
    must = {root / "data" / "students.parquet", root / "data-cycle" / "data" / "students.parquet",
            root / "data-cycle" / "data" / "audit.parquet", root / "data-cycle" / "runs" / "run-1.parquet",
            root / "runs" / "run-1.parquet",
            root / "cache" / "features-train.parquet", root / "impact-demo" / "runs" / "run-1.parquet",
            root / "exports" / "list.csv",
            root / "mlartifacts" / "1" / "models" / "m-old" / "artifacts" / "bundle" / "reference.parquet"}
    assert {str(p) for p in must} | {str(home["scratch"] / "riskscore.db"),
                                     str(root / "data-cycle" / "riskscore.db")} <= result["changed"]
    assert {"raw-tables", "scratch:data-cycle", "runs", "cache", "mlflow-artifacts", "scratch:impact-demo",
            "home-tables"} <= set(report.stores)
    # the unregistered CSV lost exactly the pupil's line, byte for byte
    assert (root / "exports" / "list.csv").read_text() == f"school;student_id;note\n01AB;{other};a\n02CD;{other};c\n"
    # the scratch home's database: erased with the same receipt, its chain verifies, the other pupil stays
    engine = make_engine(f"sqlite:///{home['scratch'] / 'riskscore.db'}")
    try:
        with engine.connect() as conn:
            assert holds_rows(conn, pupil) == {} and holds_rows(conn, other) == {"scores": 1}
        with session_factory(engine)() as s:
            assert verify_chain(s).ok and verify_chain(s).erased == 1
        assert report.rows["scratch:impact-demo:database.scores"] == 1
        assert report.rows["scratch:data-cycle:database.scores"] == 1
    finally:
        engine.dispose()
    # the bundles still load (the old one's reference just lost the pupil's rows)
    for bundle in root.rglob("bundle.json"):
        ModelBundle.load(bundle.parent)
    # a second erasure finds nothing and changes no file (the scratch database records the erasure, as the main one)
    before = digests(root)
    with db.sessions() as s:
        again = erase_student(s, pupil, reason="herhaald", actor="cli:fg", stores=home["stores"])
    assert again.files == [] and sum(n for t, n in again.rows.items()) == 0
    after = digests(root)
    assert {p for p in before if before[p] != after[p]} == {str(home["scratch"] / "riskscore.db"),
                                                         str(root / "data-cycle" / "riskscore.db")}


def test_an_imported_pupil_with_a_hex_pseudonym_is_erased_from_the_import_store(db: Db, home: dict[str, Any]) -> None:
    root = home["root"]
    staged = pd.read_parquet(root / "import" / "ingest" / "tables_absences.parquet")
    pupil = str(staged["student_id"].value_counts().index[0])
    assert len(pupil) == 64 and is_pseudonym(pupil)
    ledger = (root / "import" / "ingest" / "ledger.jsonl").read_bytes()
    result = erase_and_check(db, home, pupil)
    assert {str(root / "import" / "ingest" / "tables_absences.parquet"),
            str(root / "import" / "absences.parquet")} <= result["changed"]
    assert (root / "import" / "ingest" / "ledger.jsonl").read_bytes() == ledger  # names no pupil: untouched


# --- break 6: the id's text inside a bundle and the ledger ----------------------------------------------------
def test_an_id_whose_text_is_inside_bundle_json_leaves_the_bundle_and_the_service_intact(tmp_path: Path) -> None:
    """Issue 21 break 6: erasing `0` rewrote every "0" in 36 files, both registry bundle.json files became
    invalid, reload answered 409 and after a restart /readyz was not ready. Now `0` is refused, and a real
    pupil whose id happens to occur inside bundle.json (and inside the ledger) leaves both byte-identical."""
    from riskscore.api import create_app
    from riskscore.store.keys import create_key
    from riskscore.testing import register_pupils, student_events, tiny_bundle

    home = tmp_path / "home"
    bundle = tiny_bundle(home / "mlartifacts" / "1" / "models" / "m-1" / "artifacts" / "bundle")
    doc = json.loads((bundle / "bundle.json").read_text())
    sid = "S0400123"
    doc["metadata"]["calibration_note"] = f"checked by hand on {sid} and S0400124"  # the id's text, not a record
    (bundle / "bundle.json").write_text(json.dumps(doc, indent=2, sort_keys=True))
    copy = Path(shutil.copytree(bundle, home / "models" / "v1" / "bundle"))
    source = tmp_path / "export"
    source.mkdir()
    pd.DataFrame({"student_id": ["1234567"], "date": pd.to_datetime(["2025-01-06"]), "hours": [2.0],
                  "category": ["unauthorised"]}).to_parquet(source / "absences.parquet", index=False)
    run_import(source, kind="tables", out=home / "data", key=KEY)
    ledger_hash = json.loads((home / "data" / "ingest" / "ledger.jsonl").read_text().splitlines()[0])["sha256"]
    bundle_bytes = {p: p.read_bytes() for p in (bundle / "bundle.json", copy / "bundle.json")}
    ledger_bytes = (home / "data" / "ingest" / "ledger.jsonl").read_bytes()
    url = f"sqlite:///{tmp_path / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    body = {"students": [student_events(s, absence_hours=30.0) for s in (sid, ledger_hash)]}
    with session_factory(engine)() as s:
        admin = create_key(s, "admin", "all", [], "fg")[1]
        school = create_key(s, "school", "school", ["01AB"], "mentor")[1]
        register_pupils(s, [*body["students"], student_events("S0400125")])  # the import's registrations
    engine.dispose()
    settings = Settings(home=home, database_url=url, bundle_path=bundle, log_level="WARNING")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        as_admin = {"X-API-Key": admin}
        assert client.post("/v1/scores", json=body, headers={"X-API-Key": school}).status_code == 200
        for bad in NOT_PSEUDONYMS:
            r = client.post(f"/v1/admin/students/{bad}/erasure", json={"reason": "verzoek"}, headers=as_admin)
            assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "student_id"], r.text
        for real in (sid, ledger_hash):  # real pupils (stored scores) whose ids occur as text in the files
            r = client.post(f"/v1/admin/students/{real}/erasure", json={"reason": "verzoek"}, headers=as_admin)
            assert r.status_code == 200 and r.json()["rows"]["scores"] == 1, r.text
        assert {p: p.read_bytes() for p in bundle_bytes} == bundle_bytes
        assert (home / "data" / "ingest" / "ledger.jsonl").read_bytes() == ledger_bytes
        r = client.post("/v1/admin/reload", headers=as_admin)
        assert r.status_code == 200, r.text
        assert client.get("/readyz").status_code == 200
    with TestClient(create_app(settings), raise_server_exceptions=False) as restarted:  # after a restart
        assert restarted.get("/readyz").status_code == 200
        r = restarted.post("/v1/scores", json={"students": [student_events("S0400125")]}, headers={"X-API-Key": school})
        assert r.status_code == 200, r.text


# --- each kind deletes by key and leaves the rest byte for byte -------------------------------------------
IDS = ("S000007", "S0000070", "S000008")  # the second starts with the first: no prefix or text match may hit it
# fields with delimiters, quotes and line breaks (quoted by the writer); no bare \r: csv.writer leaves it unquoted
# under a \n terminator, and every reader (pandas too) then sees two records
FIELD = st.text(alphabet=st.sampled_from(list("ab ,;\"'\n\t0S7é")), max_size=8)


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(IDS), FIELD, FIELD), max_size=12),
       delimiter=st.sampled_from([",", ";", "\t"]), terminator=st.sampled_from(["\n", "\r\n"]), bom=st.booleans())
def test_a_csv_table_loses_exactly_the_pupils_records(tmp_path_factory: pytest.TempPathFactory,
                                                      rows: list[tuple[str, str, str]], delimiter: str,
                                                      terminator: str, bom: bool) -> None:
    import csv
    import io

    def text(records: list[tuple[str, str, str]]) -> str:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=delimiter, lineterminator=terminator)
        writer.writerow(["note", "student_id", "extra"])
        for sid, a, b in records:
            writer.writerow([a, sid, b])
        return ("\ufeff" if bom else "") + out.getvalue()

    root = tmp_path_factory.mktemp("csv")
    path = root / "t.csv"
    path.write_bytes(text(rows).encode())
    path.chmod(0o640)
    stores = StoreRegistry((FileStore("t", root, frozenset({"csv"}), "test"),))
    result = stores.erase(IDS[0])
    assert path.read_bytes() == text([r for r in rows if r[0] != IDS[0]]).encode()  # every other record byte for byte
    assert result.files == ({"t": [str(path)]} if any(r[0] == IDS[0] for r in rows) else {})
    assert stores.holders(IDS[0]).files == {} and path.stat().st_mode & 0o777 == 0o640


def test_json_records_jsonl_lines_and_what_no_store_may_touch(tmp_path: Path) -> None:
    pupil, other = IDS[0], IDS[1]
    root = tmp_path / "reports"
    root.mkdir()
    (root / "rows.json").write_text(json.dumps({"n": 3, "rows": [{"student_id": pupil, "p": 0.1},
                                                                 {"student_id": other, "p": 0.2},
                                                                 {"nested": [{"student_id": pupil}]}]}))
    (root / "dossier.json").write_text(json.dumps({"student_id": pupil, "scores": []}))  # a document about the pupil
    lines = [json.dumps({"student_id": other, "x": "\u2028"}, ensure_ascii=False), json.dumps({"student_id": pupil}),
             json.dumps({"file": f"{pupil}.csv", "sha256": "0" * 64})]
    (root / "log.jsonl").write_text("\n".join(lines) + "\n")
    untouched = {"names.json": json.dumps({"examples": [pupil, other], "note": f"about {pupil}"}),  # text, not records
                 "report.html": f"<p>{pupil}</p>", "card.md": f"{pupil}", ".hidden.csv": f"student_id\n{pupil}\n",
                 "bad.parquet": "not parquet", "broken.jsonl": '{"student_id": "S000007"}\n{oops\n'}
    for name, body in untouched.items():
        (root / name).write_text(body)
    (root / "link.csv").symlink_to(root / ".hidden.csv")
    stores = StoreRegistry((FileStore("reports", root, TABLES | RECORDS, "test"),))
    result = stores.erase(pupil)
    assert sorted(result.files["reports"]) == [str(root / n) for n in ("dossier.json", "log.jsonl", "rows.json")]
    assert sorted(result.failed) == [str(root / "bad.parquet"), str(root / "broken.jsonl")]
    assert json.loads((root / "rows.json").read_text()) == {"n": 3, "rows": [{"student_id": other, "p": 0.2},
                                                                            {"nested": []}]}
    assert not (root / "dossier.json").exists()
    assert (root / "log.jsonl").read_text() == "\n".join([lines[0], lines[2]]) + "\n"
    for name, body in untouched.items():  # not a store's kind, not a record, hidden or unreadable: as it was
        assert (root / name).read_text() == body, name
    assert stores.holders(pupil).files == {}


def test_a_parquet_table_keeps_its_schema_metadata_and_other_rows(tmp_path: Path) -> None:
    frame = pd.DataFrame({"student_id": pd.Categorical([IDS[0], IDS[1], IDS[2], None]),
                          "date": pd.to_datetime(["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-09"]),
                          "hours": [1.0, 2.0, None, 4.0]})
    frame.attrs["riskscore_run"] = {"run_id": 7}
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    ints = pd.DataFrame({"student_id": [7, 70], "x": [1, 2]})  # a key column that is not text is compared as text
    ints.to_parquet(tmp_path / "n.parquet", index=False)
    stores = StoreRegistry((FileStore("t", tmp_path, TABLES, "test"),))
    assert stores.erase(IDS[0]).files == {"t": [str(tmp_path / "t.parquet")]}
    after = pd.read_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(after, frame.iloc[1:].reset_index(drop=True))
    assert after.attrs == {"riskscore_run": {"run_id": 7}} and isinstance(after["student_id"].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "n.parquet"), ints)


def test_a_file_that_cannot_be_written_is_reported_and_left_as_it_was(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from riskscore.errors import StorageFullError
    from riskscore.store import erasure

    pd.DataFrame({"student_id": [IDS[0], IDS[1]]}).to_parquet(tmp_path / "a.parquet", index=False)
    (tmp_path / "b.csv").write_text(f"student_id\n{IDS[0]}\n{IDS[1]}\n")
    before = digests(tmp_path)

    def full(path: Any, *_: Any, **__: Any) -> None:
        raise StorageFullError(f"could not write {path}: No space left on device")

    monkeypatch.setattr(erasure, "write_atomic", full)
    result = StoreRegistry((FileStore("t", tmp_path, TABLES, "test"),)).erase(IDS[0])
    assert result.files == {} and sorted(result.failed) == [str(tmp_path / "a.parquet"), str(tmp_path / "b.csv")]
    assert digests(tmp_path) == before


def test_the_artifact_root_is_reached_when_local_and_named_when_not(tmp_path: Path) -> None:
    assert Settings(home=tmp_path).erasure_roots().artifacts == tmp_path / "mlartifacts"
    assert Settings(home=tmp_path, mlflow_artifact_root=f"file://{tmp_path}/a").erasure_roots().artifacts == tmp_path / "a"
    assert Settings(home=tmp_path, mlflow_artifact_root="s3://bucket/x").erasure_roots().artifacts is None
    names = [row["store"] for row in registry(Settings(home=tmp_path, mlflow_artifact_root="s3://b").erasure_roots())
             .describe()]
    assert names == ["database", "raw-tables", "runs", "reports", "cache", "models", "scratch:impact-demo",
                     "scratch:data-cycle", "home-tables"]
