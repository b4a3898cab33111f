"""The pupil's rights in the store and CLI: objection marks (audited), the dossier, erasure (nothing of
the pupil left in any table, scored frame or report; `riskscore audit verify` still exits 0 and still
finds an edited or deleted entry afterwards) and retention (per-table periods, idempotent, audited).
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import Db
from riskscore.cli import app as cli_app
from riskscore.clock import today as school_today
from riskscore.errors import DataError
from riskscore.settings import Settings
from riskscore.store.audit import append_audit, list_audit, verify_chain
from riskscore.store.cases import add_note, open_or_update_case, record_outcome
from riskscore.store.erasure import StoreRegistry, registry
from riskscore.store.models import Base, Score
from riskscore.store.privacy import (
    dossier,
    erase_student,
    get_objection,
    objecting_ids,
    set_objection,
    withdraw_objection,
)
from riskscore.store.retention import Period, RetentionConfig, retain
from riskscore.store.runs import write_scoring_run
from riskscore.testing import register_places

# pseudonyms of synthetic pupils (S + at least 6 digits); OTHER's id contains PUPIL's: erasure must not touch it
PUPIL, OTHER = "S0000007", "S00000070"


def score(sid: str) -> dict[str, Any]:
    return {"student_id": sid, "school_id": "01AB", "municipality": "GM0363", "rmc_region": "RMC27", "age": 15.5,
            "probability": 0.4, "band": "high",
            "reasons": [{"code": "abs_4w", "category": "absence", "text_nl": "veel verzuim", "text_en": "much absence",
                         "contribution": 0.5}],
            "triggers": [{"id": "leerplicht_16h_4w", "detail": "17 uur in 4 lesweken", "fired_on": "2025-03-01"}],
            "roles": ["school", "leerplicht"]}


def seed(db: Db, home: Path) -> dict[str, Any]:
    """Two pupils, a run, cases with notes and outcomes, audit entries about both, files on disk."""
    with db.sessions() as s:
        register_places(s, [(sid, "01AB", "GM0363", "RMC27") for sid in (PUPIL, OTHER)], school_year="2024-25")
        run = write_scoring_run(s, as_of=dt.date(2025, 3, 1), model_version="m1", scores=[score(PUPIL), score(OTHER)])
        cases = {}
        for sid in (PUPIL, OTHER):
            case, _ = open_or_update_case(s, student_id=sid, role="school", reason="capacity", as_of=dt.date(2025, 3, 1),
                                          school_id="01AB", municipality="GM0363", rmc_region="RMC27",
                                          opened_by_run=run.id)
            add_note(s, case.id, f"gesprek met {sid} gepland", actor="key:mentor")
            record_outcome(s, case.id, outcome="conversation_held", worth_conversation=True, recorded_by="key:mentor")
            cases[sid] = case.id
            for resource in (f"student:{sid}", f"case:{case.id}"):
                append_audit(s, actor="key:mentor", role="school", action="score.read", resource=resource,
                             outcome="allowed", purpose="zorgteam")
        append_audit(s, actor="key:dt", role="data_team", action="monitoring.read", resource="monitoring",
                     outcome="allowed", purpose="toezicht")
    runs = home / "runs"
    runs.mkdir(parents=True)
    frame = pd.DataFrame({"student_id": [PUPIL, OTHER], "probability": [0.4, 0.4]})
    frame.attrs["riskscore_run"] = {"run_id": run.id}
    frame.to_parquet(runs / f"run-{run.id}.parquet", index=False)
    reports = home / "reports" / "monitoring" / "r1"
    reports.mkdir(parents=True)
    (reports / "report.html").write_text("<p>flag rate 12 % (n = 2)</p>")  # reports hold counts, no pupil
    (reports / "rows.csv").write_text(f"student_id,p\n{PUPIL},0.4\n{OTHER},0.4\n")
    (reports / "summary.json").write_text(json.dumps({"n": 2, "examples": [{"student_id": PUPIL, "p": 0.4},
                                                                            {"student_id": OTHER, "p": 0.4}]}))
    return {"run": run.id, "cases": cases, "runs": runs, "reports": home / "reports"}


def stores_of(home: Path) -> StoreRegistry:
    return registry(Settings(home=home).erasure_roots())


def bytes_holding(root: Path, sid: str) -> list[Path]:
    """Files whose raw bytes hold the id as a whole token (OTHER's id starts with PUPIL's)."""
    token = re.compile(rb"(?<![0-9A-Za-z])" + re.escape(sid.encode()) + rb"(?![0-9A-Za-z])")
    return [p for p in sorted(root.rglob("*")) if p.is_file() and token.search(p.read_bytes())]


def rows_about(db: Db, sid: str) -> dict[str, int]:
    out = {}
    with db.engine.connect() as conn:
        for t in Base.metadata.sorted_tables:
            if "student_id" in t.c:
                out[t.name] = conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.student_id == sid)).scalar_one()
    return out


def test_objection_is_kept_audited_and_withdrawn(db: Db) -> None:
    with db.sessions() as s:
        with pytest.raises(DataError, match="reason is required"):
            set_objection(s, PUPIL, reason="  ", actor="key:a")
        set_objection(s, PUPIL, reason="ouders willen geen profilering", actor="key:a", role="school")
        assert objecting_ids(s, [PUPIL, OTHER, "X"]) == frozenset({PUPIL})
        mark = get_objection(s, PUPIL)
        assert mark is not None and mark.recorded_by == "key:a" and "profilering" in mark.reason
        assert [e.action for e in list_audit(s, resource=f"student:{PUPIL}")] == ["privacy.objection.set"]
        withdraw_objection(s, PUPIL, actor="key:a")
        assert objecting_ids(s, [PUPIL]) == frozenset()
        with pytest.raises(DataError, match="no objection"):
            withdraw_objection(s, PUPIL, actor="key:a")
        assert [e.action for e in list_audit(s, resource=f"student:{PUPIL}")] == [
            "privacy.objection.withdraw", "privacy.objection.set"]
        assert verify_chain(s).ok


def test_dossier_holds_scores_triggers_cases_and_who_looked(db: Db, tmp_path: Path) -> None:
    seed(db, tmp_path)
    with db.sessions() as s:
        d = dossier(s, PUPIL, rule_sources={"leerplicht_16h_4w": "Leerplichtwet 1969 art. 21a"})
        assert dossier(s, "NEVER") is None
    assert d is not None and d["student_id"] == PUPIL
    assert d["scores"][0]["triggers"][0]["source"] == "Leerplichtwet 1969 art. 21a"
    assert d["scores"][0]["reasons"][0]["code"] == "abs_4w"
    case = d["cases"][0]
    assert [e["action"] for e in case["history"]][-2:] == ["note", "outcome"]
    assert case["outcomes"][0]["outcome"] == "conversation_held"
    assert {e["action"] for e in d["access_log"]} == {"score.read"} and len(d["access_log"]) == 2
    assert OTHER not in json.dumps(d)


def test_erasure_leaves_nothing_and_the_chain_verifies(db: Db, tmp_path: Path) -> None:
    with db.sessions() as s:  # first, so the seeded scores stay (an objection removes model scores)
        set_objection(s, PUPIL, reason="bezwaar", actor="key:a")
    world = seed(db, tmp_path)
    with db.sessions() as s:
        before = verify_chain(s)
        report = erase_student(s, PUPIL, reason="verzoek ouders", actor="cli:fg", role="admin",
                               stores=stores_of(tmp_path))
    assert before.ok
    assert report.rows["scores"] == 1 and report.rows["review_cases"] == 1 and report.rows["objections"] == 1
    assert report.rows["case_events"] >= 2 and report.rows["review_outcomes"] == 1
    assert report.audit_entries == 3  # the student read, the case read, the objection set: this pupil only
    assert set(rows_about(db, PUPIL).values()) == {0}
    with db.engine.connect() as conn:
        dump = " ".join(str(v) for row in conn.execute(sa.text("SELECT * FROM audit_log")) for v in row)
        for t in ("case_events", "review_outcomes"):
            dump += " ".join(str(v) for row in conn.execute(sa.text(f"SELECT * FROM {t}")) for v in row)
    assert f"student:{PUPIL} " not in dump + " " and f"met {PUPIL} " not in dump + " "
    assert f"case:{world['cases'][PUPIL]}" not in dump
    assert f"student:{OTHER}" in dump and rows_about(db, OTHER)["scores"] == 1  # the other pupil untouched
    # files: the pupil is gone from the frame and the reports, the other pupil stays, run metadata kept
    assert stores_of(tmp_path).holders(PUPIL).files == {}
    assert stores_of(tmp_path).holders(OTHER).files == {"runs": [str(world["runs"] / f"run-{world['run']}.parquet")],
                                                        "reports": [str(world["reports"] / "monitoring" / "r1" / n)
                                                                    for n in ("rows.csv", "summary.json")]}
    frame = pd.read_parquet(world["runs"] / f"run-{world['run']}.parquet")
    assert list(frame["student_id"]) == [OTHER] and frame.attrs["riskscore_run"]["run_id"] == world["run"]
    assert (world["reports"] / "monitoring" / "r1" / "report.html").read_text() == "<p>flag rate 12 % (n = 2)</p>"
    assert (world["reports"] / "monitoring" / "r1" / "rows.csv").read_text() == f"student_id,p\n{OTHER},0.4\n"
    assert json.loads((world["reports"] / "monitoring" / "r1" / "summary.json").read_text()) == {
        "n": 2, "examples": [{"student_id": OTHER, "p": 0.4}]}
    with db.sessions() as s:
        result = verify_chain(s)
        assert result.ok and result.erased == 3, result
        record = list_audit(s, limit=1)[0]
        assert record.action == "privacy.erase" and PUPIL not in (record.detail or "")
        assert report.receipt in (record.detail or "")
        # a second erasure finds nothing, and says so
        again = erase_student(s, PUPIL, reason="herhaald", actor="cli:fg", stores=stores_of(tmp_path))
        assert sum(again.rows.values()) == 0 and again.audit_entries == 0 and again.files == []
    # the CLI verifies after erasure, and still finds an edited or deleted entry
    ok = CliRunner().invoke(cli_app, ["audit", "verify", "--database-url", db.url])
    assert ok.exit_code == 0, ok.output
    drop = (["DROP TRIGGER audit_log_no_update ON audit_log"] if db.engine.dialect.name == "postgresql"
            else ["DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"])
    with db.engine.begin() as conn:
        for sql in drop:
            conn.execute(sa.text(sql))
        conn.execute(sa.text("UPDATE audit_log SET purpose = 'iets anders' WHERE action = 'monitoring.read'"))
    bad = CliRunner().invoke(cli_app, ["audit", "verify", "--database-url", db.url])
    assert bad.exit_code == 10 and "edited" in bad.output, bad.output
    with db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE action = 'monitoring.read'"))
    bad = CliRunner().invoke(cli_app, ["audit", "verify", "--database-url", db.url])
    assert bad.exit_code == 10 and "BROKEN" in bad.output


def test_erasure_needs_a_reason(db: Db) -> None:
    with db.sessions() as s, pytest.raises(DataError, match="reason is required"):
        erase_student(s, PUPIL, reason="", actor="cli:fg")


def test_retention_deletes_only_what_aged_out_and_is_idempotent(db: Db, tmp_path: Path) -> None:
    world = seed(db, tmp_path)
    with db.sessions() as s:  # a recent run that must survive
        recent = write_scoring_run(s, as_of=dt.date(2026, 10, 1), model_version="m1", scores=[score("NEW-1")])
        append_audit(s, actor="key:mentor", role="school", action="score.read", resource="student:NEW-1",
                     outcome="allowed", purpose="zorgteam")
    today = dt.date(2027, 9, 1)  # school year 2027-28: two school years keep 2026-27 and 2027-28
    cfg = RetentionConfig()
    with db.sessions() as s:
        dry = retain(s, cfg, today=today, actor="cli:nightly", runs_dir=world["runs"], dry_run=True)
        assert dry["scores"]["deleted"] == 2 and dry["review_cases"]["deleted"] == 0  # cases updated today
        assert rows_about(db, PUPIL)["scores"] == 1  # dry run deleted nothing
        first = retain(s, cfg, today=today, actor="cli:nightly", runs_dir=world["runs"])
        second = retain(s, cfg, today=today, actor="cli:nightly", runs_dir=world["runs"])
        assert first["scores"] == {"cutoff": "2026-08-01", "deleted": 2, "runs": 1, "files": 1}
        assert second["scores"]["deleted"] == 0 and second["audit_content"]["erased"] == 0
        assert rows_about(db, "NEW-1")["scores"] == 1 and not (world["runs"] / f"run-{world['run']}.parquet").exists()
        # cases and audit content are young (written today in real time): a much later night removes them
        later = retain(s, cfg, today=school_today() + dt.timedelta(days=3 * 366), actor="cli:nightly")
        assert later["review_cases"]["deleted"] == 2 and later["audit_content"]["erased"] >= 5
        assert later["scores"]["deleted"] == 1 and recent.id
        assert verify_chain(s).ok
        assert list_audit(s, limit=1)[0].action == "privacy.retain"


@settings(max_examples=60, deadline=None)
@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2090, 12, 31)), st.integers(1, 5))
def test_school_year_cutoff_keeps_exactly_n_school_years(today: dt.date, n: int) -> None:
    cut = Period(school_years=n).cutoff(today).date()
    assert cut.month == 8 and cut.day == 1 and cut <= today
    start = today.year if today.month >= 8 else today.year - 1  # the current school year's first day
    assert cut.year == start - (n - 1)


def test_retention_config_is_validated(tmp_path: Path) -> None:
    from riskscore.errors import ConfigError

    bad = tmp_path / "p.yaml"
    bad.write_text("retention:\n  scores: {school_years: 2, days: 3}\n")
    with pytest.raises(ConfigError, match="exactly one"):
        RetentionConfig.from_yaml(bad)
    bad.write_text("retention:\n  scoress: {days: 3}\n")
    with pytest.raises(ConfigError, match="scoress"):
        RetentionConfig.from_yaml(bad)
    cfg = RetentionConfig.from_yaml(Path(__file__).parents[1] / "serving" / "privacy.yaml")
    assert cfg.scores == Period(school_years=2) and cfg.auth_failures == Period(days=30)


def test_cli_export_object_erase(db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(db, tmp_path)
    monkeypatch.setenv("RISKSCORE_HOME", str(tmp_path))
    from riskscore.settings import get_settings

    get_settings.cache_clear()
    runner = CliRunner()
    base = ["--database-url", db.url]
    r = runner.invoke(cli_app, ["privacy", "object", "--student", PUPIL, "--reason", "wil niet", *base])
    assert r.exit_code == 0 and "legal rules still apply" in r.output
    out = tmp_path.parent / f"{tmp_path.name}-export"  # the export is handed over, outside the home folder
    r = runner.invoke(cli_app, ["privacy", "export", "--student", PUPIL, "--out", str(out), *base])
    assert r.exit_code == 0, r.output
    data = json.loads((out / f"dossier-{PUPIL}.json").read_text())
    assert data["objection"]["reason"] == "wil niet"
    nl = (out / f"dossier-{PUPIL}.nl.html").read_text()
    en = (out / f"dossier-{PUPIL}.en.html").read_text()
    assert "Je hebt bezwaar gemaakt" in nl and "geen besluit" in nl and "gesprek gevoerd" in nl
    assert "conversation_held" not in nl and "conversation held" in en  # the outcome in words, never its code
    assert data["scores"] == [] or all(s["probability"] is None for s in data["scores"])  # model part gone
    assert "You have objected" in en and "not a decision" in en and "functionaris gegevensbescherming" in nl
    assert "<script" not in nl
    r = runner.invoke(cli_app, ["privacy", "export", "--student", "NOBODY", "--out", str(out), *base])
    from riskscore.errors import NotFoundError

    assert isinstance(r.exception, NotFoundError) and "nothing is stored" in str(r.exception)  # main(): exit 8
    r = runner.invoke(cli_app, ["privacy", "erase", "--student", PUPIL, "--reason", "", "--yes", *base])
    assert isinstance(r.exception, DataError) and rows_about(db, PUPIL)["review_cases"] == 1
    reference = tmp_path / "mlartifacts" / "1" / "abc" / "artifacts" / "bundle" / "reference.parquet"
    reference.parent.mkdir(parents=True)  # an older logged bundle's reference names pupils
    pd.DataFrame({"student_id": [PUPIL, OTHER], "probability": [0.1, 0.2]}).to_parquet(reference, index=False)
    (tmp_path / "data").mkdir()  # the imported raw tables: the next run must not score the pupil again
    pd.DataFrame({"student_id": [PUPIL, OTHER], "date": pd.to_datetime(["2025-01-06", "2025-01-07"]),
                  "hours": [2.0, 1.0], "category": ["unauthorised", "unauthorised"]}).to_parquet(
        tmp_path / "data" / "absences.parquet", index=False)
    r = runner.invoke(cli_app, ["privacy", "erase", "--student", PUPIL, "--reason", "verzoek", "--yes", *base])
    assert r.exit_code == 0, r.output
    assert list(pd.read_parquet(reference)["student_id"]) == [OTHER]
    kept = pd.read_parquet(tmp_path / "data" / "absences.parquet")
    assert list(kept["student_id"]) == [OTHER] and str(kept["date"].dtype) == "datetime64[ns]"
    assert json.loads(r.stdout)["receipt"].startswith("ERA-")
    assert set(rows_about(db, PUPIL).values()) == {0}
    assert stores_of(tmp_path).holders(PUPIL).files == {}  # no registered store holds the pupil
    assert bytes_holding(tmp_path, PUPIL) == []  # belt and braces: not even the bytes, database files included
    assert runner.invoke(cli_app, ["audit", "verify", *base]).exit_code == 0
    r = runner.invoke(cli_app, ["privacy", "retain", "--dry-run", "--config", str(tmp_path / "none.yaml"), *base])
    assert r.exit_code == 0 and json.loads(r.stdout)["dry_run"] is True
    get_settings.cache_clear()


def test_batch_stores_no_model_part_for_objecting_pupils(small_world: Any, tmp_path: Path) -> None:
    """The batch job with an objecting pupil: no score row with a probability, no capacity case, no row in
    the monitoring frame, and a rule case without the model's probability — while the legal rule
    still opens its case. Other pupils are scored as before."""
    from riskscore import batch
    from riskscore.model.bundle import ModelBundle
    from riskscore.store.db import make_engine, migrate, session_factory
    from riskscore.store.models import ReviewCase, Score

    url = f"sqlite:///{tmp_path / 'rs.db'}"
    migrate(url)
    engine = make_engine(url)
    bundle = ModelBundle.load(small_world.bundle_dir)
    as_of = dt.date.fromisoformat(small_world.score_as_of)
    prepared = batch.prepare(small_world.tables, as_of, bundle)
    ruled = {c.student_id for c in prepared.candidates if c.reason.startswith("rule:")}
    capacity = {c.student_id for c in prepared.candidates if c.reason == "capacity"}
    objector = sorted(ruled)[0]  # a pupil with a legal trigger ...
    also = sorted(capacity - ruled)[0]  # ... and one the model put on a list
    with session_factory(engine)() as s:
        for sid in (objector, also):
            set_objection(s, sid, reason="bezwaar ouders", actor="key:fg")
        result = batch.run(s, small_world.tables, as_of, bundle, home=tmp_path)
        stored = {r.student_id: r for r in s.scalars(sa.select(Score).where(Score.run_id == result.run_id))}
        cases = list(s.scalars(sa.select(ReviewCase).where(ReviewCase.student_id.in_([objector, also]))))
    engine.dispose()
    assert objector not in stored and also not in stored  # no model score kept
    assert len(stored) == len(prepared.scores) - 2
    assert cases and all(c.reason.startswith("rule:") and c.probability is None and c.band is None for c in cases)
    assert {c.student_id for c in cases} == {objector}  # the legal rule still opened its case
    frame = pd.read_parquet(result.frame_path)
    assert not frame["student_id"].isin([objector, also]).any() and len(frame) > 100


def test_objection_removes_the_stored_model_part_and_keeps_the_pupil_in_scope(db: Db, tmp_path: Path) -> None:
    from riskscore.store.privacy import student_place

    seed(db, tmp_path)
    with db.sessions() as s:
        set_objection(s, PUPIL, reason="bezwaar", actor="key:a")
        rows = list(s.scalars(sa.select(Score).where(Score.student_id.in_([PUPIL, OTHER]))))
        assert all(r.probability is None for r in rows if r.student_id == PUPIL)  # deleted, or kept without it
        assert [r.student_id for r in rows if r.probability is not None] == [OTHER]
        assert student_place(s, PUPIL) == {"school_id": "01AB", "municipality": "GM0363", "rmc_region": "RMC27"}
        entry = list_audit(s, resource=f"student:{PUPIL}", limit=1)[0]
        assert entry.action == "privacy.objection.set" and '"model_scores_deleted":1' in (entry.detail or "")
