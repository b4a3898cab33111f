"""API keys: only the sha256 is stored (the plaintext appears nowhere in the database), authentication,
revocation, scopes, and the `keys` CLI. SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from conftest import Db
from riskscore.access import Place, Principal, in_scope, parse_scope
from riskscore.errors import ConfigError, NotFoundError
from riskscore.store import keys


def all_text_in_db(db: Db) -> str:
    """Every value of every row of every table, as one string."""
    chunks = []
    with db.engine.connect() as conn:
        for table in sa.inspect(db.engine).get_table_names():
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")):
                chunks.append(" ".join(str(v) for v in row))
    return "\n".join(chunks)


def test_create_authenticate_and_the_plaintext_is_never_stored(db: Db) -> None:
    with db.sessions() as s:
        key_id, plaintext = keys.create_key(s, "school", "school", ["BRIN1", "BRIN2"], "mentor team BRIN1")
    assert plaintext.startswith(f"rsk_{key_id}_") and len(plaintext) > 40
    secret = plaintext.split("_", 2)[2]
    dump = all_text_in_db(db)
    assert keys.hash_key(plaintext) in dump  # the scan does see the api_keys row
    assert plaintext not in dump and secret not in dump
    with db.sessions() as s:
        principal = keys.authenticate(s, plaintext)
    assert principal == Principal(key_id, "mentor team BRIN1", "school", "school", ("BRIN1", "BRIN2"))


@pytest.mark.parametrize("bad", ["", "rsk_", "nonsense", "rsk_abc_def", "Bearer x", "rsk_" + "a" * 300])
def test_wrong_keys_do_not_authenticate(db: Db, bad: str) -> None:
    with db.sessions() as s:
        _, plaintext = keys.create_key(s, "rmc", "rmc_region", ["RMC27"], "rmc")
        assert keys.authenticate(s, bad) is None
        assert keys.authenticate(s, plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")) is None


def test_revoked_key_stops_working(db: Db) -> None:
    with db.sessions() as s:
        key_id, plaintext = keys.create_key(s, "admin", "all", [], "ops")
        other_id, other = keys.create_key(s, "jeugdarts", "municipality", ["GM0363"], "GGD")
        assert keys.authenticate(s, plaintext) is not None
        keys.revoke_key(s, key_id)
        keys.revoke_key(s, key_id)  # idempotent
        assert keys.authenticate(s, plaintext) is None
        assert keys.authenticate(s, other).key_id == other_id
        listed = {k.id: k for k in keys.list_keys(s)}
        assert listed[key_id].revoked_at is not None and listed[other_id].revoked_at is None
        assert [k.id for k in keys.list_keys(s, include_revoked=False)] == [other_id]
        with pytest.raises(NotFoundError):
            keys.revoke_key(s, "nope")


@pytest.mark.parametrize(("role", "kind", "values"), [
    ("teacher", "school", ["BRIN1"]), ("school", "province", ["NH"]), ("school", "school", []),
    ("admin", "all", ["x"]), ("school", "school", ["  "])])
def test_bad_role_or_scope_is_refused(db: Db, role: str, kind: str, values: list[str]) -> None:
    with db.sessions() as s, pytest.raises(ConfigError):
        keys.create_key(s, role, kind, values, "x")
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM api_keys")).scalar_one() == 0


def test_auth_failures_are_counted_per_client(db: Db) -> None:
    with db.sessions() as s:
        for _ in range(3):
            keys.record_auth_failure(s, client="10.0.0.1", key_id="abc")
        keys.record_auth_failure(s, client="10.0.0.2")
        assert keys.recent_auth_failures(s, client="10.0.0.1") == 3
        assert keys.recent_auth_failures(s, client="10.0.0.9") == 0


def test_principal_scope() -> None:
    school = Principal("k", "l", "school", "school", ("BRIN1",))
    assert in_scope(school, Place("BRIN1", "GM1", "RMC1")) and not in_scope(school, Place("BRIN2", "GM1", "RMC1"))
    assert not in_scope(school, Place(None, None, None))
    gm = Principal("k", "l", "leerplicht", "municipality", ("GM0363",))
    assert in_scope(gm, Place("X", "GM0363", None)) and not in_scope(gm, Place("X", "GM0599", None))
    rmc = Principal("k", "l", "rmc", "rmc_region", ("RMC27",))
    assert in_scope(rmc, Place(None, None, "RMC27")) and not in_scope(rmc, Place("BRIN1", "GM0363", "RMC28"))
    # data team and admin see no single pupil, whatever their scope (access.scope.PUPIL_ROLES)
    assert not in_scope(Principal("k", "l", "admin", "all", ()), Place("BRIN1", "GM1", "RMC1"))
    assert in_scope(Principal("k", "l", "jeugdarts", "all", ()), Place(None, None, None))


def test_parse_scope() -> None:
    assert parse_scope("school:BRIN1, BRIN2,BRIN1") == ("school", ("BRIN1", "BRIN2"))
    assert parse_scope("municipality:GM0363") == ("municipality", ("GM0363",))
    assert parse_scope("all") == ("all", ())
    for bad in ("school", "school:", "planet:earth", "all:x", ""):
        with pytest.raises(ConfigError):
            parse_scope(bad)


def cli() -> typer.Typer:
    from riskscore.commands import keys as keys_cmd

    app = typer.Typer()
    keys_cmd.register(app)
    return app


def test_cli_create_list_revoke(db: Db) -> None:
    runner = CliRunner()
    created = runner.invoke(cli(), ["keys", "create", "--role", "leerplicht", "--scope", "municipality:GM0363",
                                    "--label", "leerplicht Amsterdam", "--database-url", db.url])
    assert created.exit_code == 0, created.output
    plaintext = created.stdout.strip().splitlines()[-1]
    with db.sessions() as s:
        principal = keys.authenticate(s, plaintext)
    assert principal is not None and principal.scope_values == ("GM0363",)
    listed = runner.invoke(cli(), ["keys", "list", "--database-url", db.url])
    assert listed.exit_code == 0 and principal.key_id in listed.output and plaintext not in listed.output
    assert "municipality:GM0363" in listed.output and "active" in listed.output
    revoked = runner.invoke(cli(), ["keys", "revoke", principal.key_id, "--database-url", db.url])
    assert revoked.exit_code == 0
    with db.sessions() as s:
        assert keys.authenticate(s, plaintext) is None


def test_cli_bad_scope_is_one_line_and_nonzero(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    proc = subprocess.run(
        [sys.executable, "-c", "from riskscore.cli import main; main()", "keys", "create", "--role", "school",
         "--scope", "province:NH", "--label", "x", "--database-url", url],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == ConfigError.exit_code
    assert proc.stderr.strip().count("\n") == 0 and "invalid scope" in proc.stderr
    assert not (tmp_path / "cli.db").exists()  # validated before the database is touched
