"""What one insight job changes in the database, as data: made by the worker, written by the daemon.

The worker process never writes the main database. SQLite has one write lock per file: a worker
holding it (stopped by a debugger or the kernel, starved of CPU, or just slow) would make the
daemon's one writer wait, and the loop with it. So the worker reads on a read-only connection
and hands each job's results back as ``Changes``; the daemon submits them through the store's one
writer (``apply``, a plain function of a connection like those of store/writes.py), in chunks of
at most ``CHUNK`` rows, each committed before the next is sent, so insight never has more than
one small write in the writer's queue. ``panic-edge insight backfill`` applies the same changes
on its own connection, in short transactions.

On the wire (the worker's stdout), a chunk is one JSON line ``{"kind": "write", ...}``: vectors
as base64 of their little-endian float32 bytes, point rows as lists in ``POINT_COLUMNS`` order.
``from_json`` checks every field: a line that is not a well-formed chunk is a ValueError, never
a write. No numpy here: the daemon imports this module.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from panic_edge.insight import db

CHUNK = 64  # embeddings + points in one write at most: a few ms of the writer's time
MAX_ROWS = 4 * CHUNK  # what a chunk read from the wire may hold

Vector = tuple[str, str, int, bytes]  # (invocation or run id, embedding model, dim, float32 bytes)


@dataclass(frozen=True)
class RunRow:
    """``insight_runs``: a run's summary under one embedding model."""

    run_id: str
    model: str
    points: int  # every insight point the run has (not only those the job looked at)
    signature: bytes | None
    prompt_xy: tuple[float, float] | None
    projection: int
    persistence: dict[str, Any] | None


@dataclass(frozen=True)
class SimilarRow:
    run_id: str
    model: str
    nearest: tuple[tuple[str, float], ...]
    points: int  # the run's points when they were looked for


@dataclass(frozen=True)
class ProjectionRow:
    model: str
    version: int
    fitted_on: int
    dim: int
    mean: bytes
    axes: bytes
    scale: float


@dataclass(frozen=True)
class Changes:
    at: float
    embeddings: tuple[Vector, ...] = ()
    prompts: tuple[Vector, ...] = ()
    points: tuple[dict[str, Any], ...] = ()  # keyed by db.POINT_COLUMNS
    runs: tuple[RunRow, ...] = ()
    similar: tuple[SimilarRow, ...] = ()
    projections: tuple[ProjectionRow, ...] = ()

    def __bool__(self) -> bool:
        return any((self.embeddings, self.prompts, self.points, self.runs, self.similar, self.projections))

    @property
    def rows(self) -> int:
        return len(self.embeddings) + len(self.points)

    def chunks(self, rows: int = CHUNK) -> list[Changes]:
        """The same changes in pieces of at most ``rows`` embeddings and points each. The first piece
        carries the projection (the points after it are in it), the last the runs' summaries and
        nearest runs (written once their points are)."""
        if self.rows <= rows:
            return [self] if self else []
        pieces: list[Changes] = []
        rest_e, rest_p = list(self.embeddings), list(self.points)
        while rest_e or rest_p:
            take_e = rest_e[:rows]
            take_p = rest_p[: rows - len(take_e)]
            rest_e, rest_p = rest_e[len(take_e):], rest_p[len(take_p):]
            pieces.append(Changes(self.at, tuple(take_e), points=tuple(take_p)))
        pieces[0] = replace(pieces[0], prompts=self.prompts, projections=self.projections)
        pieces[-1] = replace(pieces[-1], runs=self.runs, similar=self.similar)
        return pieces

    # --- the wire -------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "embeddings": [[i, m, d, _b64(v)] for i, m, d, v in self.embeddings],
            "prompts": [[i, m, d, _b64(v)] for i, m, d, v in self.prompts],
            "points": [[p[c] for c in db.POINT_COLUMNS] for p in self.points],
            "runs": [[r.run_id, r.model, r.points, None if r.signature is None else _b64(r.signature),
                      None if r.prompt_xy is None else list(r.prompt_xy), r.projection, r.persistence]
                     for r in self.runs],
            "similar": [[s.run_id, s.model, [list(n) for n in s.nearest], s.points] for s in self.similar],
            "projections": [[p.model, p.version, p.fitted_on, p.dim, _b64(p.mean), _b64(p.axes), p.scale]
                            for p in self.projections],
        }

    @classmethod
    def from_json(cls, body: Any) -> Changes:
        """A chunk as ``to_json`` made it; ValueError naming what is wrong otherwise."""
        if not isinstance(body, dict):
            raise ValueError("a write must be a JSON object")
        parts = {k: _list(body, k) for k in ("embeddings", "prompts", "points", "runs", "similar", "projections")}
        if sum(len(v) for v in parts.values()) > MAX_ROWS:
            raise ValueError(f"a write holds more than {MAX_ROWS} rows")
        return cls(
            at=_number(body.get("at"), "at"),
            embeddings=tuple(_vector(v) for v in parts["embeddings"]),
            prompts=tuple(_vector(v) for v in parts["prompts"]),
            points=tuple(_point(v) for v in parts["points"]),
            runs=tuple(_run(v) for v in parts["runs"]),
            similar=tuple(_similar(v) for v in parts["similar"]),
            projections=tuple(_projection(v) for v in parts["projections"]))


def apply(conn: sqlite3.Connection, changes: Changes) -> None:
    """Write ``changes`` inside the caller's transaction (the store's writer, or ``db.write``).
    Idempotent: every statement replaces what the same job would have written before."""
    for p in changes.projections:
        db.put_projection(conn, p.model, p.version, p.fitted_on, p.dim, p.mean, p.axes, p.scale, changes.at)
    db.put_embeddings(conn, changes.embeddings, changes.at)
    for run_id, model, dim, vector in changes.prompts:
        db.put_prompt(conn, run_id, model, dim, vector, changes.at)
    if changes.points:
        db.put_points(conn, changes.points)
    for r in changes.runs:
        db.put_run(conn, r.run_id, r.model, r.points, r.signature, r.prompt_xy, r.projection, r.persistence,
                   changes.at)
    for s in changes.similar:
        db.put_similar(conn, s.run_id, s.model, s.nearest, s.points)


def applier(conn: sqlite3.Connection) -> Callable[[Changes], None]:
    """Apply changes on a connection of one's own (the backfill, tests): a short transaction per chunk."""
    def sink(changes: Changes) -> None:
        for chunk in changes.chunks():
            with db.write(conn):
                apply(conn, chunk)
    return sink


# --- parsing --------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not base64") from None


def _list(body: dict[str, Any], key: str) -> list[Any]:
    value = body.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f'"{key}" must be a list')
    return value


def _row(value: Any, n: int, what: str) -> Sequence[Any]:
    if not isinstance(value, list) or len(value) != n:
        raise ValueError(f"{what} must be a list of {n}")
    return value


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 500:
        raise ValueError(f"{what} must be a non-empty string")
    return value


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -2**63 <= value < 2**63:
        raise ValueError(f"{what} must be a whole number that SQLite can store")
    return value


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number")
    return float(value)


def _optional(value: Any, what: str, kind: Callable[[Any, str], Any]) -> Any:
    return None if value is None else kind(value, what)


def _vector(value: Any) -> Vector:
    key, model, dim, blob = _row(value, 4, "an embedding")
    vector = _bytes(blob, "a vector")
    dim = _int(dim, "dim")
    if len(vector) != 4 * dim or dim < 1:
        raise ValueError(f"a vector of {len(vector)} bytes is not {dim} float32 values")
    return _text(key, "an id"), _text(model, "a model"), dim, vector


POINT_KINDS: dict[str, Callable[[Any, str], Any]] = {
    "invocation_id": _text, "model": _text, "run_id": _text, "sequence": _int, "hop": lambda v, w: str(v)[:500],
    "drift": _number, "step": _number, "x": _number, "y": _number, "projection": _int,
    "flags": lambda v, w: json.dumps([f for f in json.loads(v) if f in ("stuck", "loop")]),
    "loop_period": lambda v, w: _optional(v, w, _int), "nearest_sequence": lambda v, w: _optional(v, w, _int),
    "nearest_distance": lambda v, w: _optional(v, w, _number)}


def _point(value: Any) -> dict[str, Any]:
    row = _row(value, len(db.POINT_COLUMNS), "a point")
    try:
        return {c: POINT_KINDS[c](v, c) for c, v in zip(db.POINT_COLUMNS, row, strict=True)}
    except (TypeError, json.JSONDecodeError):
        raise ValueError("a point has a field of the wrong kind") from None


def _run(value: Any) -> RunRow:
    run_id, model, points, signature, prompt_xy, projection, persistence = _row(value, 7, "a run")
    xy = None
    if prompt_xy is not None:
        x, y = _row(prompt_xy, 2, "a prompt point")
        xy = (_number(x, "x"), _number(y, "y"))
    if persistence is not None and not isinstance(persistence, dict):
        raise ValueError("persistence must be an object")
    return RunRow(_text(run_id, "a run id"), _text(model, "a model"), _int(points, "points"),
                  _optional(signature, "a signature", _bytes), xy, _int(projection, "projection"), persistence)


def _similar(value: Any) -> SimilarRow:
    run_id, model, nearest, points = _row(value, 4, "nearest runs")
    if not isinstance(nearest, list):
        raise ValueError("nearest runs must be a list")
    pairs = tuple((_text(o, "a run id"), _number(d, "a distance")) for o, d in (_row(n, 2, "a pair") for n in nearest))
    return SimilarRow(_text(run_id, "a run id"), _text(model, "a model"), pairs, _int(points, "points"))


def _projection(value: Any) -> ProjectionRow:
    model, version, fitted_on, dim, mean, axes, scale = _row(value, 7, "a projection")
    dim = _int(dim, "dim")
    p = ProjectionRow(_text(model, "a model"), _int(version, "version"), _int(fitted_on, "fitted_on"), dim,
                      _bytes(mean, "mean"), _bytes(axes, "axes"), _number(scale, "scale"))
    if len(p.mean) != 4 * dim or len(p.axes) != 8 * dim:
        raise ValueError(f"a projection's mean and axes must hold {dim} and 2 x {dim} float32 values")
    return p
