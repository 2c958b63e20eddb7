"""What a database offered for restore may hold, and how it gets in.

A backup file is untrusted input: it may come from anyone who can reach the admin page, or
from a USB stick. Restoring its pages as they are would bring along whatever it hides: a
trigger that rewrites every later invocation, a view shadowing a table, rows breaking the
schema's CHECK rules (written with ``ignore_check_constraints``), text that is not UTF-8,
values of megabytes, JSON nested a million deep.

So a restore never copies the file's pages. It checks that the file declares exactly the
schema the migrations make at its ``user_version`` (no trigger, view, table, index or column
more or less), then copies its rows, one by one, into a fresh database built by those same
migrations: every value is checked (type, size, UTF-8, finite numbers, the JSON columns,
each row readable as the daemon reads it) and every row passes the fresh schema's own
constraints and foreign keys. The fresh database is then migrated to this version.

A migration that adds a table whose rows the daemon parses (JSON, enums, vectors) should add a
check for it to ROW_CHECKS. Triggers the migrations make are set aside while rows are copied, so
a total kept by a trigger is copied as it is, not counted twice.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import quote

from panic_edge.errors import BackupError
from panic_edge.private_files import create_private
from panic_edge.store.migrations import MIGRATIONS, migrate, schema_version
from panic_edge.store.rows import row_to_invocation, row_to_run

MAX_VALUE_BYTES = 8 * 1024 * 1024  # one text or blob in a row; the daemon writes far less
BATCH = 500
# objects SQLite makes by itself: a table's own indexes, AUTOINCREMENT's counters, ANALYZE's statistics
_INTERNAL = {("table", "sqlite_sequence"), *(("table", f"sqlite_stat{n}") for n in range(1, 5))}
# the SQLite types a column may hold, by its declared affinity
_ALLOWED = {"INTEGER": {"integer", "null"}, "TEXT": {"text", "null"}, "REAL": {"real", "integer", "null"},
            "NUMERIC": {"integer", "real", "null"}, "BLOB": {"integer", "real", "text", "blob", "null"}}


def open_untrusted(path: Path) -> sqlite3.Connection:
    """A read-only connection to a file that may be hostile: the schema is not trusted to run
    functions, cells are checked, and no value larger than MAX_VALUE_BYTES is read."""
    conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.execute("PRAGMA trusted_schema = OFF")
    conn.execute("PRAGMA cell_size_check = ON")
    return conn


def reference(version: int) -> sqlite3.Connection:
    """An empty in-memory database with the schema the migrations make at ``version``."""
    conn = sqlite3.connect(":memory:")
    migrate(conn, upto=version)
    return conn


def _objects(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    rows = conn.execute("SELECT type, name FROM sqlite_master")
    return {(str(kind), str(name)) for kind, name in rows
            if (kind, name) not in _INTERNAL and not (kind == "index" and str(name).startswith("sqlite_autoindex_"))}


def _columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, str, bool]]:
    """(name, affinity, not null) of each column, in order."""
    rows = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
    return [(str(name), _affinity(str(declared)), bool(notnull)) for _, name, declared, notnull, _, _ in rows]


def _affinity(declared: str) -> str:
    """SQLite's rules for a column's affinity from its declared type (datatype3.html, 3.1)."""
    t = declared.upper()
    if "INT" in t:
        return "INTEGER"
    if any(word in t for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if not t or "BLOB" in t:
        return "BLOB"
    if any(word in t for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def schema_problems(conn: sqlite3.Connection, version: int) -> list[str]:
    """How the file's schema differs from what the migrations make at ``version``."""
    ref = reference(version)
    try:
        expected, found = _objects(ref), _objects(conn)
        problems = [f"an unexpected {kind} {name!r}" for kind, name in sorted(found - expected)]
        problems += [f"no {kind} {name!r}" for kind, name in sorted(expected - found)]
        for kind, name in sorted(expected & found):
            if kind == "table" and [c[0] for c in _columns(conn, name)] != [c[0] for c in _columns(ref, name)]:
                problems.append(f"table {name!r} has other columns than schema {version} gives it")
        return problems
    finally:
        ref.close()


# --- rows ---------------------------------------------------------------------------------------


def _json_object(text: str, column: str) -> None:
    if not isinstance(json.loads(text), dict):
        raise TypeError(f"column {column} is not a JSON object")


def _json_strings(text: str, column: str) -> None:
    value = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"column {column} is not a JSON list of strings")


def _check_invocation(row: dict[str, Any]) -> None:
    _json_object(row["meta"], "meta")
    _json_strings(row["output_flags"], "output_flags")
    row_to_invocation(row)


def _check_warmup(row: dict[str, Any]) -> None:
    _json_object(row["meta"], "meta")


# each known table's rows must read back as the daemon reads them
ROW_CHECKS: dict[str, Callable[[dict[str, Any]], Any]] = {"runs": row_to_run, "invocations": _check_invocation,
                                                          "warmups": _check_warmup}


def _value(kind: bytes, raw: Any, allowed: set[str], column: str) -> Any:
    """One stored value, checked; text comes in as bytes and must be UTF-8."""
    name = kind.decode("ascii", "replace")
    if name not in allowed:
        raise ValueError(f"column {column} holds {name}, not {'/'.join(sorted(allowed - {'null'}))}")
    if name == "text":
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"column {column} holds text that is not UTF-8") from None
    if name == "real" and not math.isfinite(raw):
        raise ValueError(f"column {column} holds {raw}")
    return raw


def _rows(src: sqlite3.Connection, table: str, columns: list[tuple[str, str, bool]]) -> Iterator[list[Any]]:
    """The checked values of every row of ``table`` in the untrusted file."""
    select = ", ".join(f'typeof("{name}"), "{name}"' for name, _, _ in columns)
    cursor = src.execute(f'SELECT rowid, {select} FROM "{table}"')
    while batch := cursor.fetchmany(BATCH):
        for rowid, *pairs in batch:
            try:
                yield [_value(pairs[2 * i], pairs[2 * i + 1], _ALLOWED[affinity], name)
                       for i, (name, affinity, _) in enumerate(columns)]
            except ValueError as err:
                raise BackupError(f"row {rowid} of table {table} is not one panic-edge wrote: {err}") from None


def _copy_table(src: sqlite3.Connection, dst: sqlite3.Connection, table: str) -> int:
    columns = _columns(dst, table)
    names = ", ".join(f'"{name}"' for name, _, _ in columns)
    insert = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'
    rows, count = _rows(src, table, columns), 0
    while batch := list(islice(rows, BATCH)):
        try:
            dst.executemany(insert, batch)
        except sqlite3.IntegrityError as err:
            raise BackupError(f"a row of table {table} breaks the schema's rules ({err})") from None
        count += len(batch)
    return count


def copy_rows(src: sqlite3.Connection, dst: sqlite3.Connection) -> int:
    """Copy every row of every ordinary table of ``dst``'s schema from ``src``, checked, in one
    transaction. ``dst``'s own triggers are set aside meanwhile (and put back as they were): the
    rows arrive as the backup holds them, derived columns included, not counted twice by a
    trigger that keeps a total. Returns the number of rows."""
    tables = [str(r[0]) for r in dst.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
    triggers = dst.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY rowid").fetchall()
    dst.execute("BEGIN")
    try:
        for name, _ in triggers:
            dst.execute(f'DROP TRIGGER "{name}"')
        copied = sum(_copy_table(src, dst, table) for table in tables)
        for _, sql in triggers:
            dst.execute(sql)
    except BaseException:
        dst.execute("ROLLBACK")
        raise
    dst.execute("COMMIT")
    return copied


def _check_readable(conn: sqlite3.Connection) -> None:
    """Every row of the known tables reads back as the daemon reads it (after migrating)."""
    conn.row_factory = sqlite3.Row
    for table, check in ROW_CHECKS.items():
        for row in conn.execute(f'SELECT rowid AS _rowid_, * FROM "{table}"'):
            try:
                check(dict(row))
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as err:
                raise BackupError(f"row {row['_rowid_']} of table {table} is not one panic-edge wrote: "
                                  f"{type(err).__name__}: {str(err)[:200]}") from None


def copy_into_fresh(backup: Path, target: Path) -> int:
    """Build ``target`` (a new 0600 file) from the rows of ``backup``, whose schema must be
    exactly what the migrations make at its version; migrate it to this version. Returns the
    number of rows copied. Raises BackupError saying what is wrong."""
    src = open_untrusted(backup)
    try:
        version = schema_version(src)
        if not 1 <= version <= len(MIGRATIONS):
            raise BackupError(f"the backup is at schema {version}; this panic-edge reads 1 to {len(MIGRATIONS)}")
        problems = schema_problems(src, version)
        if problems:
            raise BackupError(schema_message(version, problems))
        create_private(target)
        dst = sqlite3.connect(target, isolation_level=None)
        try:
            dst.execute("PRAGMA journal_mode = OFF")  # a scratch file: thrown away if anything fails
            dst.execute("PRAGMA synchronous = OFF")
            migrate(dst, upto=version)
            src.text_factory = bytes  # text that is not UTF-8 is refused here, not by a crash later
            copied = copy_rows(src, dst)
            orphans = dst.execute("PRAGMA foreign_key_check").fetchmany(3)
            if orphans:
                raise BackupError("the backup has rows pointing at rows it does not have: " + ", ".join(
                    f"row {r[1]} of {r[0]} refers to a missing {r[2]}" for r in orphans))
            migrate(dst)
            _check_readable(dst)
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
        return copied
    except sqlite3.DatabaseError as err:
        raise BackupError(f"the backup cannot be read as a panic-edge database: {err}") from None
    finally:
        src.close()


def schema_message(version: int, problems: list[str]) -> str:
    shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
    return (f"the backup does not have the schema panic-edge makes (schema {version}): {shown}. "
            "Only a backup made by panic-edge can be restored")
