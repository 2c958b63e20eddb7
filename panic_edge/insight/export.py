"""``panic-edge insight export DIR``: the history as tables a notebook loads directly.

Parquet (pyarrow) where it is installed, CSV otherwise; the shapes follow the batch research
method's own export (one table per kind; a run's prompt is the ``sequence = -1`` row of
``embeddings``), so exhibition data can feed the same analysis code:

- ``runs``: id, network, prompt, started_at, ended_at, end_reason
- ``invocations``: id, run_id, network, sequence, model, state, input/output type, text, file, ...
- ``embeddings``: run_id, invocation_id (null for the prompt), sequence (-1 for the prompt),
  embedding_model, dim, vector (list of float32; in CSV a JSON array)
- ``insight_points``: per embedded output: drift, step, x, y (in the projection whose version is
  ``projection``: a refit does not rewrite old points; the embeddings are there to place them again),
  flags, loop_period, nearest ...
- ``persistence_diagrams``: run_id, embedding_model, points, homology_dim (0 or 1), birth, death
  (null: the bar never dies)
- ``similar_runs``: run_id, other_run_id, embedding_model, distance

Read from a read-only connection, in batches: safe while the daemon runs, flat in memory.
"""

from __future__ import annotations

import array
import csv
import json
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from panic_edge.errors import InsightError
from panic_edge.insight import db

BATCH = 5000


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, type): text, int, real, vector
    sql: str


TABLES = (
    Table("runs", (("id", "text"), ("network", "text"), ("prompt", "text"), ("started_at", "real"),
                   ("ended_at", "real"), ("end_reason", "text")),
          "SELECT id, network, prompt, started_at, ended_at, end_reason FROM runs ORDER BY started_at"),
    Table("invocations", (("id", "text"), ("run_id", "text"), ("network", "text"), ("sequence", "int"),
                          ("model", "text"), ("state", "text"), ("input_type", "text"), ("input_text", "text"),
                          ("input_file", "text"), ("output_type", "text"), ("output_text", "text"),
                          ("output_file", "text"), ("output_flags", "text"), ("error", "text"),
                          ("created_at", "real"), ("started_at", "real"), ("finished_at", "real")),
          "SELECT id, run_id, network, sequence, model, state, input_type, input_text, input_file, output_type, "
          "output_text, output_file, output_flags, error, created_at, started_at, finished_at FROM invocations "
          "ORDER BY run_id, sequence"),
    Table("embeddings", (("run_id", "text"), ("invocation_id", "text"), ("sequence", "int"),
                         ("embedding_model", "text"), ("dim", "int"), ("vector", "vector")),
          "SELECT run_id, NULL, -1, model, dim, vector FROM prompt_embeddings "
          "UNION ALL SELECT i.run_id, e.invocation_id, i.sequence, e.model, e.dim, e.vector "
          "FROM embeddings e JOIN invocations i ON i.id = e.invocation_id ORDER BY 1, 3"),
    Table("insight_points", (("run_id", "text"), ("invocation_id", "text"), ("sequence", "int"),
                             ("embedding_model", "text"), ("hop", "text"), ("drift", "real"), ("step", "real"),
                             ("x", "real"), ("y", "real"), ("projection", "int"), ("flags", "text"),
                             ("loop_period", "int"), ("nearest_sequence", "int"), ("nearest_distance", "real")),
          "SELECT run_id, invocation_id, sequence, model, hop, drift, step, x, y, projection, flags, loop_period, "
          "nearest_sequence, nearest_distance FROM insight_points ORDER BY run_id, model, sequence"),
    Table("persistence_diagrams", (("run_id", "text"), ("embedding_model", "text"), ("points", "int"),
                                   ("homology_dim", "int"), ("birth", "real"), ("death", "real")), ""),
    Table("similar_runs", (("run_id", "text"), ("other_run_id", "text"), ("embedding_model", "text"),
                           ("distance", "real")),
          "SELECT run_id, other, model, distance FROM insight_similar ORDER BY run_id, distance"),
)


def _rows(conn: sqlite3.Connection, table: Table) -> Iterator[tuple[Any, ...]]:
    if table.name == "persistence_diagrams":
        for run_id, model, data in conn.execute("SELECT run_id, model, persistence FROM insight_runs "
                                                "WHERE persistence IS NOT NULL ORDER BY run_id, model"):
            diagram = json.loads(data)
            for dim, key in ((0, "h0"), (1, "h1")):
                for birth, death in diagram.get(key, []):
                    yield run_id, model, diagram.get("points"), dim, birth, death
        return
    cursor = conn.execute(table.sql)
    while batch := cursor.fetchmany(BATCH):
        for row in batch:
            yield tuple(_vector(v) if kind == "vector" else v for v, (_, kind) in zip(row, table.columns))


def _vector(blob: bytes | None) -> list[float] | None:
    if blob is None:
        return None
    values = array.array("f")
    values.frombytes(blob)
    if sys.byteorder != "little":  # pragma: no cover - stored little-endian
        values.byteswap()
    return values.tolist()


def parquet_available() -> bool:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def export(database: Path, folder: Path, fmt: str = "auto") -> dict[Path, int]:
    """Write every table into ``folder`` as ``<table>.parquet`` or ``<table>.csv``: the files
    written, with their rows."""
    if not database.exists():
        raise InsightError(f"no database at {database}: nothing to export")
    if fmt == "auto":
        fmt = "parquet" if parquet_available() else "csv"
    if fmt == "parquet" and not parquet_available():
        raise InsightError("Parquet needs pyarrow (pip install pyarrow); or use --format csv")
    folder.mkdir(parents=True, exist_ok=True)
    conn = db.connect(database, readonly=True)
    try:
        return {folder / f"{t.name}.{fmt}": (_parquet if fmt == "parquet" else _csv)(conn, t, folder) for t in TABLES}
    finally:
        conn.close()


def _csv(conn: sqlite3.Connection, table: Table, folder: Path) -> int:
    count = 0
    with open(folder / f"{table.name}.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([name for name, _ in table.columns])
        for row in _rows(conn, table):
            writer.writerow([json.dumps(v) if isinstance(v, list) else v for v in row])
            count += 1
    return count


def _parquet(conn: sqlite3.Connection, table: Table, folder: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"text": pa.string(), "int": pa.int64(), "real": pa.float64(), "vector": pa.list_(pa.float32())}
    schema = pa.schema([(name, types[kind]) for name, kind in table.columns])
    count = 0
    with pq.ParquetWriter(folder / f"{table.name}.parquet", schema) as writer:
        batch: list[tuple[Any, ...]] = []
        for row in _rows(conn, table):
            batch.append(row)
            if len(batch) >= BATCH:
                writer.write_table(_table(pa, schema, batch))
                count += len(batch)
                batch = []
        if batch or count == 0:
            writer.write_table(_table(pa, schema, batch))
            count += len(batch)
    return count


def _table(pa: Any, schema: Any, rows: list[tuple[Any, ...]]) -> Any:
    columns: list[Sequence[Any]] = list(zip(*rows)) if rows else [[] for _ in schema]
    return pa.table([pa.array(list(col), type=field.type) for col, field in zip(columns, schema)], schema=schema)
