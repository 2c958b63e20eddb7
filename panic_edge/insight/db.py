"""The insight tables (migration 3): what the worker reads, what is written, what the admin page reads.

The insight worker (another process) only reads, on a read-only connection; what it computes
comes back to the daemon and is written by the store's one writer (``insight.changes.apply``,
made of the ``put_*`` functions here). ``panic-edge insight backfill`` writes the same on its own
connection (``connect`` and ``write``), in short transactions. The admin page reads on
read-only connections. No numpy here: vectors are little-endian float32 bytes, so the daemon,
the admin page and ``insight export`` work without the ``insight`` extra.
"""

from __future__ import annotations

import array
import json
import operator
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: the worker reads here too, and needs none of the store's machinery
    from panic_edge.store.queries import Window

Row = sqlite3.Row


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """A connection for the insight tables. Writers wait up to 10 s for the daemon's transactions
    (each a few ms); ``synchronous=NORMAL``: what a power cut loses here, ``backfill`` recomputes."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10, isolation_level=None,
                               check_same_thread=False)
    else:
        conn = sqlite3.connect(path, timeout=10, isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row
    return conn


@contextmanager
def write(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One short write transaction, taking the write lock at once (no deadlock on upgrade)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# --- what the worker reads ------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    """A completed output of a run, with its stored embedding under one model (or None)."""

    invocation_id: str
    sequence: int
    model: str
    text: str | None
    file: str | None
    flags: tuple[str, ...]
    vector: bytes | None


def run_prompt(conn: sqlite3.Connection, run_id: str) -> tuple[str, str] | None:
    """(prompt, network) of a run."""
    row = conn.execute("SELECT prompt, network FROM runs WHERE id = ?", (run_id,)).fetchone()
    return (row["prompt"], row["network"]) if row else None


def run_outputs(conn: sqlite3.Connection, run_id: str, output_type: str, model: str,
                upto: int | None = None, newest: int | None = None) -> list[Output]:
    """The run's completed outputs of ``output_type``, in order, up to sequence ``upto`` (only the
    ``newest`` of them when given)."""
    sql = ("SELECT i.id, i.sequence, i.model, i.output_text, i.output_file, i.output_flags, e.vector "
           "FROM invocations i LEFT JOIN embeddings e ON e.invocation_id = i.id AND e.model = ? "
           "WHERE i.run_id = ? AND i.state = 'completed' AND i.output_type = ? "
           "AND (? IS NULL OR i.sequence <= ?) ORDER BY i.sequence DESC LIMIT ?")
    rows = conn.execute(sql, (model, run_id, output_type, upto, upto, -1 if newest is None else newest))
    return [Output(r["id"], r["sequence"], r["model"], r["output_text"], r["output_file"],
                   tuple(json.loads(r["output_flags"] or "[]")), r["vector"]) for r in rows][::-1]


def run_models(conn: sqlite3.Connection, run_id: str, since: int = 0) -> dict[int, str]:
    """sequence -> model id, for the run's invocations from sequence ``since`` on."""
    return {r[0]: r[1] for r in conn.execute("SELECT sequence, model FROM invocations WHERE run_id = ? "
                                             "AND sequence >= ?", (run_id, since))}


def prompt_vector(conn: sqlite3.Connection, run_id: str, model: str) -> bytes | None:
    row = conn.execute("SELECT vector FROM prompt_embeddings WHERE run_id = ? AND model = ?",
                       (run_id, model)).fetchone()
    return row[0] if row else None


def point_rows(conn: sqlite3.Connection, run_id: str, model: str, since: int = 0) -> dict[str, Row]:
    """invocation id -> stored insight point of the run, from sequence ``since`` on."""
    return {r["invocation_id"]: r for r in conn.execute(
        "SELECT * FROM insight_points WHERE run_id = ? AND model = ? AND sequence >= ? ORDER BY sequence",
        (run_id, model, since))}


def count_points(conn: sqlite3.Connection, run_id: str, model: str) -> int:
    """How many insight points the run has under ``model`` (its index, not its rows)."""
    return int(conn.execute("SELECT count(*) FROM insight_points WHERE run_id = ? AND model = ?",
                            (run_id, model)).fetchone()[0])


def run_state(conn: sqlite3.Connection, run_id: str, model: str) -> Row | None:
    row: Row | None = conn.execute("SELECT * FROM insight_runs WHERE run_id = ? AND model = ?",
                                   (run_id, model)).fetchone()
    return row


def projection_row(conn: sqlite3.Connection, model: str) -> Row | None:
    row: Row | None = conn.execute("SELECT * FROM insight_projections WHERE model = ?", (model,)).fetchone()
    return row


def count_embeddings(conn: sqlite3.Connection, model: str) -> int:
    return int(conn.execute("SELECT count(*) FROM embeddings WHERE model = ?", (model,)).fetchone()[0])


def reference_vectors(conn: sqlite3.Connection, model: str, limit: int) -> list[bytes]:
    """Up to ``limit`` stored vectors of ``model``, spread evenly over its history."""
    total = count_embeddings(conn, model)
    every = max(1, total // max(1, limit))
    sql = ("SELECT vector FROM (SELECT vector, row_number() OVER (ORDER BY created_at) AS n "
           "FROM embeddings WHERE model = ?) WHERE n % ? = 0 LIMIT ?")
    return [r[0] for r in conn.execute(sql, (model, every, limit))]


def signatures(conn: sqlite3.Connection, model: str, exclude: str, min_points: int = 3) -> list[tuple[str, bytes]]:
    sql = ("SELECT run_id, signature FROM insight_runs WHERE model = ? AND run_id != ? AND points >= ? "
           "AND signature IS NOT NULL")
    return [(r[0], r[1]) for r in conn.execute(sql, (model, exclude, min_points))]


def run_vectors(conn: sqlite3.Connection, run_id: str, model: str, limit: int) -> list[bytes]:
    """The run's newest ``limit`` output vectors under ``model``, in run order."""
    sql = ("SELECT e.vector FROM embeddings e JOIN invocations i ON i.id = e.invocation_id "
           "WHERE i.run_id = ? AND e.model = ? ORDER BY i.sequence DESC LIMIT ?")
    return [r[0] for r in conn.execute(sql, (run_id, model, limit))][::-1]


def runs_missing(conn: sqlite3.Connection, model: str, output_type: str, run_id: str | None = None) -> list[str]:
    """Runs with a completed output of ``output_type`` that has no embedding under ``model``, or
    whose prompt has none, oldest first."""
    sql = ("SELECT r.id FROM runs r WHERE (? IS NULL OR r.id = ?) AND (EXISTS ("
           "SELECT 1 FROM invocations i LEFT JOIN embeddings e ON e.invocation_id = i.id AND e.model = ? "
           "WHERE i.run_id = r.id AND i.state = 'completed' AND i.output_type = ? AND e.vector IS NULL) "
           "OR NOT EXISTS (SELECT 1 FROM insight_runs s WHERE s.run_id = r.id AND s.model = ?)) "
           "ORDER BY r.started_at")
    return [r[0] for r in conn.execute(sql, (run_id, run_id, model, output_type, model))]


# --- what is written (insight.changes.apply) -------------------------------------------------------------------


def put_embeddings(conn: sqlite3.Connection, rows: Sequence[tuple[str, str, int, bytes]], now: float) -> None:
    """(invocation id, model, dim, vector) rows; an existing one is replaced."""
    conn.executemany("INSERT OR REPLACE INTO embeddings (invocation_id, model, dim, vector, created_at) "
                     "VALUES (?, ?, ?, ?, ?)", [(*row, now) for row in rows])


def put_prompt(conn: sqlite3.Connection, run_id: str, model: str, dim: int, vector: bytes, now: float) -> None:
    conn.execute("INSERT OR REPLACE INTO prompt_embeddings (run_id, model, dim, vector, created_at) "
                 "VALUES (?, ?, ?, ?, ?)", (run_id, model, dim, vector, now))


POINT_COLUMNS = ("invocation_id", "model", "run_id", "sequence", "hop", "drift", "step", "x", "y", "projection",
                 "flags", "loop_period", "nearest_sequence", "nearest_distance")


def put_points(conn: sqlite3.Connection, rows: Sequence[dict[str, Any]]) -> None:
    sql = (f"INSERT OR REPLACE INTO insight_points ({', '.join(POINT_COLUMNS)}) "
           f"VALUES ({', '.join('?' for _ in POINT_COLUMNS)})")
    conn.executemany(sql, [tuple(row[c] for c in POINT_COLUMNS) for row in rows])


def put_run(conn: sqlite3.Connection, run_id: str, model: str, points: int, signature: bytes | None,
            prompt_xy: tuple[float, float] | None, projection: int, persistence: dict[str, Any] | None,
            now: float) -> None:
    px, py = prompt_xy if prompt_xy is not None else (None, None)
    conn.execute(
        "INSERT INTO insight_runs (run_id, model, points, signature, prompt_x, prompt_y, projection, persistence, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, model) DO UPDATE SET "
        "points = excluded.points, signature = excluded.signature, prompt_x = excluded.prompt_x, "
        "prompt_y = excluded.prompt_y, projection = excluded.projection, persistence = excluded.persistence, "
        "updated_at = excluded.updated_at",
        (run_id, model, points, signature, px, py, projection,
         None if persistence is None else json.dumps(persistence), now))


def put_similar(conn: sqlite3.Connection, run_id: str, model: str, nearest: Sequence[tuple[str, float]],
                points: int) -> None:
    conn.execute("DELETE FROM insight_similar WHERE run_id = ? AND model = ?", (run_id, model))
    conn.executemany("INSERT INTO insight_similar (run_id, model, other, distance) VALUES (?, ?, ?, ?)",
                     [(run_id, model, other, round(dist, 5)) for other, dist in nearest])
    conn.execute("UPDATE insight_runs SET similar_at = ? WHERE run_id = ? AND model = ?", (points, run_id, model))


def put_projection(conn: sqlite3.Connection, model: str, version: int, fitted_on: int, dim: int, mean: bytes,
                   axes: bytes, scale: float, now: float) -> None:
    conn.execute("INSERT OR REPLACE INTO insight_projections (model, version, fitted_on, dim, mean, axes, scale, "
                 "fitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (model, version, fitted_on, dim, mean, axes, scale, now))


# --- what the admin page reads ----------------------------------------------------------------


POINTS_WINDOW = 200  # points of a run a page shows at first (the newest)
HOPS_LOOKBACK = 500  # newest points the mean step per hop is taken over


@dataclass(frozen=True)
class Plane:
    """A stored projection, applied without numpy: ``((v - mean) . axis) / scale`` for both axes.
    The admin page places a point again with it when the point was stored in an older version."""

    version: int
    axes: tuple[array.array[float], array.array[float]]
    offsets: tuple[float, float]  # mean . axis
    scale: float

    def place(self, blob: bytes | None) -> tuple[float, float] | None:
        """Where the float32 vector ``blob`` goes; None without one (or of another dimension)."""
        vector = _floats(blob) if blob is not None else None
        if vector is None or len(vector) != len(self.axes[0]):
            return None
        x = (sum(map(operator.mul, vector, self.axes[0])) - self.offsets[0]) / self.scale
        y = (sum(map(operator.mul, vector, self.axes[1])) - self.offsets[1]) / self.scale
        return x, y


def _floats(blob: bytes) -> array.array[float]:
    values = array.array("f")
    values.frombytes(blob)
    if sys.byteorder != "little":  # pragma: no cover - stored little-endian
        values.byteswap()
    return values


def plane(conn: sqlite3.Connection, model: str) -> Plane | None:
    """The current projection of ``model``'s space; None before one was fitted."""
    row = projection_row(conn, model)
    if row is None:
        return None
    mean, axes = _floats(row["mean"]), _floats(row["axes"])
    dim = len(mean)
    if dim == 0 or len(axes) != 2 * dim:
        return None
    first, second = axes[:dim], axes[dim:]
    offsets = (sum(map(operator.mul, mean, first)), sum(map(operator.mul, mean, second)))
    return Plane(int(row["version"]), (first, second), offsets, float(row["scale"]) or 1.0)


def point_window(conn: sqlite3.Connection, run_id: str, model: str, limit: int = POINTS_WINDOW,
                 before: str | None = None, after: str | None = None) -> Window[dict[str, Any]]:
    """A run's insight points under ``model``, newest first; keyset on the step number, as the run's
    steps are (``queries.run_window``). Every point is placed in the current projection: those
    stored in an older one are placed again from their embeddings."""
    from panic_edge.store.queries import clamp_limit, parse_sequence, trim_window

    limit = clamp_limit(limit)
    current = plane(conn, model)
    version = current.version if current is not None else -1
    select = ("SELECT p.*, CASE WHEN p.projection != ? THEN e.vector END AS vector FROM insight_points p "
              "LEFT JOIN embeddings e ON e.invocation_id = p.invocation_id AND e.model = p.model "
              "WHERE p.run_id = ? AND p.model = ?")
    params: tuple[Any, ...]
    if after is not None:
        sql, params = f"{select} AND p.sequence > ? ORDER BY p.sequence LIMIT ?", (parse_sequence(after), limit + 1)
    elif before is not None:
        sql, params = (f"{select} AND p.sequence < ? ORDER BY p.sequence DESC LIMIT ?",
                       (parse_sequence(before), limit + 1))
    else:
        sql, params = f"{select} ORDER BY p.sequence DESC LIMIT ?", (limit + 1,)
    points = []
    for p in conn.execute(sql, (version, run_id, model, *params)):
        xy = (p["x"], p["y"])
        if current is not None and p["projection"] != current.version:
            xy = current.place(p["vector"]) or xy
        points.append({"sequence": p["sequence"], "invocation_id": p["invocation_id"], "hop": p["hop"],
                       "drift": p["drift"], "step": p["step"], "point": [round(xy[0], 5), round(xy[1], 5)],
                       "flags": json.loads(p["flags"]), "loop_period": p["loop_period"],
                       "nearest": None if p["nearest_sequence"] is None else {
                           "sequence": p["nearest_sequence"], "distance": p["nearest_distance"]}})
    return trim_window(points, limit, before, after, lambda point: str(point["sequence"]))


def recent_steps(conn: sqlite3.Connection, run_id: str, model: str,
                 limit: int = HOPS_LOOKBACK) -> tuple[list[str], list[float]]:
    """(hops, steps) of the run's newest ``limit`` points: what the mean step per hop is taken over."""
    rows = conn.execute("SELECT hop, step FROM insight_points WHERE run_id = ? AND model = ? "
                        "ORDER BY sequence DESC LIMIT ?", (run_id, model, limit)).fetchall()
    return [r[0] for r in rows], [r[1] for r in rows]


def run_insight(conn: sqlite3.Connection, run_id: str, limit: int = POINTS_WINDOW, before: str | None = None,
                after: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
    """Per embedding model (or only ``model``): a window of the run's points in run order (the
    newest ``limit``, or those ``before`` / ``after`` a step, with ``older`` / ``newer`` cursors),
    all placed in the current projection (whose version is ``projection``), its prompt's point in
    the same one, how many points it has in all, its persistence and the runs nearest it."""
    out = []
    for run in conn.execute("SELECT * FROM insight_runs WHERE run_id = ? AND (? IS NULL OR model = ?) "
                            "ORDER BY model", (run_id, model, model)):
        name = run["model"]
        window = point_window(conn, run_id, name, limit, before, after)
        current = plane(conn, name)
        prompt = None if run["prompt_x"] is None else (run["prompt_x"], run["prompt_y"])
        if prompt is not None and current is not None and run["projection"] != current.version:
            prompt = current.place(prompt_vector(conn, run_id, name)) or prompt
        out.append({"embedding_model": name, "projection": current.version if current else run["projection"],
                    "points": window.items[::-1], "older": window.older, "newer": window.newer,
                    "points_total": run["points"],
                    "prompt_point": None if prompt is None else [round(prompt[0], 5), round(prompt[1], 5)],
                    "persistence": json.loads(run["persistence"]) if run["persistence"] else None,
                    "updated_at": run["updated_at"], "similar": similar_runs(conn, run_id, name)})
    return out


def similar_runs(conn: sqlite3.Connection, run_id: str, model: str | None = None, limit: int = 8) -> list[dict[str, Any]]:
    """Runs found near this one, in either direction (it near them, or they near it), nearest first."""
    sql = ("SELECT other AS run, model, distance FROM insight_similar WHERE run_id = ? AND (? IS NULL OR model = ?) "
           "UNION SELECT run_id AS run, model, distance FROM insight_similar WHERE other = ? "
           "AND (? IS NULL OR model = ?)")
    best: dict[str, tuple[float, str]] = {}
    for r in conn.execute(sql, (run_id, model, model, run_id, model, model)):
        if r["run"] not in best or r["distance"] < best[r["run"]][0]:
            best[r["run"]] = (r["distance"], r["model"])
    ranked = sorted(best.items(), key=lambda item: item[1][0])[:limit]
    out = []
    for other, (dist, emb) in ranked:
        row = conn.execute("SELECT id, network, prompt, started_at, ended_at FROM runs WHERE id = ?", (other,)).fetchone()
        if row is not None:
            out.append({"run_id": other, "network": row["network"], "prompt": row["prompt"],
                        "started_at": row["started_at"], "distance": dist, "embedding_model": emb})
    return out
