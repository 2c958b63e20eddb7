"""A file offered for restore is untrusted: only the schema the migrations make, and only rows
the daemon can read, get in; whatever else it carries is refused with a clear message, and the
live database is left as it was."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from flask_ui.app import Settings, create_app
from panic_edge import backup
from panic_edge.backup_check import MAX_VALUE_BYTES, schema_problems
from panic_edge.config import AdminConfig
from panic_edge.errors import BackupError
from panic_edge.store.database import _prepare
from panic_edge.store.migrations import MIGRATIONS, migrate
from panic_edge.store.reader import Reader
from tests.test_backup import make_db

INVOCATION = ("INSERT INTO invocations (id, run_id, network, sequence, model, state, input_type, input_text, "
              "output_type, created_at) VALUES ('r0.0', 'r0', 'demo', 0, 'local-poet', 'completed', 'text', 'hi', "
              "'text', 1.0)")


@contextlib.contextmanager
def past_the_triggers(conn: sqlite3.Connection) -> Iterator[None]:
    """Write what the schema's own triggers would refuse (they read meta as JSON): drop them, then
    put them back exactly, as someone crafting a file would."""
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for name, _ in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    yield
    for _, sql in triggers:
        conn.execute(sql)


def crafted(tmp_path: Path, *sql: str, runs: int = 1) -> Path:
    """A panic-edge backup with ``sql`` run on it by someone who knows SQLite well."""
    path = make_db(tmp_path / "crafted.sqlite3", runs=runs)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA ignore_check_constraints = ON")
    with past_the_triggers(conn):
        for statement in sql:
            conn.execute(statement)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    return path


@pytest.fixture
def live(tmp_path: Path) -> Path:
    return make_db(tmp_path / "live" / "panic-edge.sqlite3", runs=5)


def refused(bad: Path, live: Path, match: str) -> None:
    before = sqlite3.connect(live).execute("SELECT count(*) FROM runs").fetchone()
    with pytest.raises(BackupError, match=match):
        backup.restore(bad, live, live.parent / "backups")
    conn = sqlite3.connect(live)
    assert conn.execute("SELECT count(*) FROM runs").fetchone() == before
    assert schema_problems(conn, len(MIGRATIONS)) == []  # exactly what the migrations make, still
    assert sorted(p.name for p in live.parent.iterdir() if p.name.startswith(".restore-")) == []
    conn.close()


@pytest.mark.parametrize("sql, match", [
    (("CREATE TRIGGER rewrite AFTER UPDATE ON invocations BEGIN "
      "UPDATE invocations SET output_text = 'pwned' WHERE id = new.id; END"), "unexpected trigger 'rewrite'"),
    ("CREATE TRIGGER wedge BEFORE UPDATE ON runs BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END",
     "unexpected trigger 'wedge'"),
    ("CREATE VIEW everything AS SELECT * FROM runs", "unexpected view 'everything'"),
    ("CREATE TABLE stash (x)", "unexpected table 'stash'"),
    ("CREATE INDEX sneaky ON runs (prompt)", "unexpected index 'sneaky'"),
    ("ALTER TABLE runs ADD COLUMN extra TEXT", "table 'runs' has other columns"),
    ("DROP INDEX runs_network", "no index 'runs_network'"),
])
def test_a_backup_carrying_more_or_less_than_the_schema_is_refused(tmp_path, live, sql, match):
    refused(crafted(tmp_path, sql), live, match)


@pytest.mark.parametrize("sql, match", [
    (INVOCATION.replace("'completed'", "'hacked'"), "breaks the schema's rules .*CHECK"),
    (INVOCATION.replace("'demo'", "CAST(x'fffe' AS TEXT)"), "network holds text that is not UTF-8"),
    (INVOCATION.replace("'local-poet'", "x'00'"), "column model holds blob"),
    (INVOCATION.replace("1.0)", "1e999)"), "column created_at holds inf"),
    (INVOCATION.replace("'r0', 'demo'", "'nobody', 'demo'"), "pointing at rows it does not have"),
    (INVOCATION.replace("'hi', 'text'", "'hi', 'video'"), "invocations is not one panic-edge wrote.*'video'"),
    ("UPDATE runs SET started_at = 'yesterday'", "column started_at holds text"),
])
def test_rows_the_daemon_could_not_read_are_refused(tmp_path, live, sql, match):
    refused(crafted(tmp_path, sql), live, match)


@pytest.mark.parametrize("meta, flags, match", [
    ("[1]", "[]", "meta is not a JSON object"), ("[" * 100_000 + "]" * 100_000, "[]", "RecursionError"),
    ("{}", '"abc"', "output_flags is not a JSON list"), ("{}", "[1]", "output_flags is not a JSON list"),
    ("not json", "[]", "JSONDecodeError"), ('{"n": ' + "9" * 5000 + "}", "[]", "ValueError")])
def test_json_columns_must_be_what_the_daemon_writes(tmp_path, live, meta, flags, match):
    bad = crafted(tmp_path, INVOCATION)
    with sqlite3.connect(bad) as conn, past_the_triggers(conn):
        conn.execute("UPDATE invocations SET meta = ?, output_flags = ?", (meta, flags))
    conn.close()
    refused(bad, live, f"row 1 of table invocations is not one panic-edge wrote: .*{match}")


def test_an_absurdly_large_value_is_refused_without_reading_it(tmp_path, live):
    bad = crafted(tmp_path)
    with sqlite3.connect(bad) as conn:
        conn.execute("UPDATE runs SET prompt = ?", ("x" * (MAX_VALUE_BYTES + 1),))
    conn.close()
    refused(bad, live, "too big")


def test_pages_are_not_copied_so_deleted_data_hidden_in_free_pages_stays_out(tmp_path, live):
    secret = "HIDDEN-IN-A-FREE-PAGE"
    inserts = [f"INSERT INTO runs (id, network, prompt, started_at) VALUES ('x{i}', 'd', '{secret}{'.' * 3000}', 1)"
               for i in range(20)]
    bad = crafted(tmp_path, "PRAGMA secure_delete = OFF", *inserts, "DELETE FROM runs WHERE id LIKE 'x%'")
    assert secret.encode() in bad.read_bytes()  # still in the file's free pages
    info, kept = backup.restore(bad, live, live.parent / "backups")
    assert info.runs == 1 and kept is not None
    for path in (live, live.with_name(live.name + "-wal")):
        assert not path.exists() or secret.encode() not in path.read_bytes()
    assert [r.id for r in Reader(live).runs()] == ["r0"]


def test_an_older_backup_is_copied_then_migrated(tmp_path, live):
    old = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(old)
    migrate(conn, upto=1)
    conn.execute("INSERT INTO runs (id, network, prompt, started_at) VALUES ('old', 'demo', 'from v1', 1)")
    conn.execute(INVOCATION.replace("'r0'", "'old'"))
    conn.commit()
    conn.close()
    info, _ = backup.restore(old, live, None)
    assert info.schema_version == 1
    conn = sqlite3.connect(live)
    assert conn.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
    assert [i.id for i in Reader(live).run_invocations("old")] == ["r0.0"]


def test_a_restored_database_is_private(tmp_path, live):
    backup.restore(make_db(tmp_path / "good.sqlite3", runs=2), live, live.parent / "backups")
    assert live.stat().st_mode & 0o777 == 0o600
    kept = list((live.parent / "backups").iterdir())
    assert len(kept) == 1 and kept[0].stat().st_mode & 0o777 == 0o600
    assert (live.parent / "backups").stat().st_mode & 0o777 == 0o700


def test_panic_edge_restore_refuses_a_trigger_with_a_clear_message(make_config, tmp_path):
    config = make_config()
    _prepare(config.database_path)
    bad = crafted(tmp_path, "CREATE TRIGGER t AFTER INSERT ON runs BEGIN DELETE FROM runs; END")
    env = {**os.environ, "PANIC_EDGE_DATA_DIR": str(config.data_dir)}
    result = subprocess.run([sys.executable, "-m", "panic_edge", "restore", str(bad)], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "unexpected trigger 't'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


# --- any row at all ------------------------------------------------------------------------------

VALUES = st.one_of(st.none(), st.integers(min_value=-2**63, max_value=2**63 - 1),
                   st.floats(allow_nan=False), st.text(max_size=20), st.binary(max_size=8),
                   st.sampled_from(["text", "image", "completed", "failed", "{}", "[]", '{"cost_usd": 1e308}',
                                    "r0", "demo"]))
INVOCATION_COLUMNS = ("network", "sequence", "model", "state", "input_type", "input_text", "output_type",
                      "output_text", "output_file", "output_flags", "error", "created_at", "started_at",
                      "meta", "published")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The pages, open read-only, over one database that each example restores into."""
    folder = tmp_path_factory.mktemp("site")
    database = make_db(folder / "live.sqlite3", runs=1)
    app = create_app(Settings(folder / "archive", database, admin=AdminConfig(public_readonly=True)))
    return database, app.test_client()


PAGES = ["/", "/history", "/runs/r0", "/api/runs", "/api/runs/r0", "/api/networks/demo/invocations"]


@settings(max_examples=int(os.environ.get('PANIC_EDGE_FUZZ_EXAMPLES', '60')), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(run=st.fixed_dictionaries({"prompt": VALUES, "started_at": VALUES, "ended_at": VALUES}),
       inv=st.dictionaries(st.sampled_from(INVOCATION_COLUMNS), VALUES, max_size=5))
def test_any_row_is_either_refused_clearly_or_shown_after_restore(tmp_path_factory, site, run, inv):
    database, client = site
    folder = tmp_path_factory.mktemp("any")
    bad = crafted(folder, INVOCATION)
    with sqlite3.connect(bad) as conn, past_the_triggers(conn):
        conn.execute("PRAGMA ignore_check_constraints = ON")
        for table, row in (("runs", run), ("invocations", inv)):
            for column, value in row.items():
                try:
                    conn.execute(f'UPDATE {table} SET "{column}" = ?', (value,))
                except sqlite3.IntegrityError:  # NOT NULL: SQLite itself keeps that out
                    pass
    conn.close()
    try:
        backup.restore(bad, database, None)
    except BackupError as err:
        assert str(err)
        event("refused")
        return
    event("restored")
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, (path, response.get_data()[:300])
        json.dumps(response.get_json()) if response.is_json else response.get_data(as_text=True)


def test_triggers_the_schema_makes_are_set_aside_while_rows_are_copied(tmp_path):
    from panic_edge.backup_check import copy_rows

    schema = ("CREATE TABLE runs (id TEXT PRIMARY KEY, steps INTEGER NOT NULL DEFAULT 0);"
              "CREATE TABLE steps (run_id TEXT NOT NULL REFERENCES runs (id));"
              "CREATE TRIGGER count_steps AFTER INSERT ON steps BEGIN "
              "UPDATE runs SET steps = steps + 1 WHERE id = new.run_id; END;")
    src, dst = sqlite3.connect(tmp_path / "src.sqlite3"), sqlite3.connect(":memory:", isolation_level=None)
    src.executescript(schema + "INSERT INTO runs (id) VALUES ('r'); INSERT INTO steps VALUES ('r'), ('r');")
    assert src.execute("SELECT steps FROM runs").fetchone() == (2,)
    dst.executescript(schema)
    src.text_factory = bytes
    assert copy_rows(src, dst) == 3
    assert dst.execute("SELECT steps FROM runs").fetchone() == (2,)  # as the backup had it, not 4
    dst.execute("INSERT INTO steps VALUES ('r')")
    assert dst.execute("SELECT steps FROM runs").fetchone() == (3,)  # and the trigger is back


def test_a_restored_timestamp_from_no_real_clock_still_renders(tmp_path, live):
    from flask_ui.render import clock

    bad = crafted(tmp_path, "UPDATE runs SET started_at = 1e300")
    backup.restore(bad, live, None)  # a finite number: it gets in, and the pages must cope
    assert [clock(r.started_at) for r in Reader(live).runs()] == ["?"]
