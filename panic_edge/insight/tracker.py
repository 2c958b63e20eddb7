"""The insight worker's work: one completed output in, the run's geometry out (an Insight, and the
``Changes`` to store).

Stateless per output on purpose: each time it reads the run back from SQLite, embeds whatever
of it has no embedding yet (normally just the new output; after dropped jobs or a restart, the
gaps too) and measures the points that have no stored measures. It only reads: what is to be
stored goes to ``sink`` as one ``Changes`` per job (the worker sends it to the daemon, whose one
writer commits it before the next job; the backfill applies it itself). A dropped job, or a
write that failed, therefore only delays a point; it is never lost. The projection is the one
state kept in memory, and it is stored too, so the axes survive a restart.

Each point is stored with the version of the projection it was placed in; a refit does not
rewrite old points. Whoever shows a run's points (the admin page) places those of an older
version again from their stored embeddings, so a run is always drawn in one projection.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from panic_edge.core import trajectory as tj
from panic_edge.core.insight import Insight, PathPoint, Persistence, hop_steps
from panic_edge.core.persistence import persistence
from panic_edge.errors import PanicEdgeError
from panic_edge.insight import db
from panic_edge.insight.changes import Changes, ProjectionRow, RunRow, SimilarRow
from panic_edge.insight.embedders import Embedder

log = logging.getLogger("panic_edge.insight")

MAX_IMAGE_BYTES = 64 * 1024 * 1024
HOP_MODELS = 4  # models named in a hop at most (the last ones)
SIMILAR_CANDIDATES = 20
SIMILAR_POINTS = 200
HISTORY = 500  # newest outputs of a run a live job looks back over: its cost has a ceiling however long the run


@dataclass(frozen=True)
class TrackerSettings:
    window: int = 200
    thresholds: tj.Thresholds = field(default_factory=tj.Thresholds)
    labels: Mapping[str, str] = field(default_factory=dict)  # model id -> name, for hop names
    reference_limit: int = 2000


def atlas() -> list[str]:
    """The built-in reference captions: the projection's first axes, before there is any history."""
    text = resources.files("panic_edge.insight").joinpath("atlas.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def caption_key(text: str | None) -> str | None:
    """Identifies an exact repeat: the caption with case and spacing ignored."""
    if text is None:
        return None
    return hashlib.sha1(" ".join(text.casefold().split()).encode("utf-8")).hexdigest()[:16]


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


class Tracker:
    """Reads on ``conn`` (read-only is enough); hands what is to be stored to ``sink``."""

    def __init__(self, conn: sqlite3.Connection, text: Embedder | None, image: Embedder | None = None,
                 archive_dir: Path | None = None, settings: TrackerSettings = TrackerSettings(),
                 clock: Callable[[], float] = time.time, sink: Callable[[Changes], None] = lambda _: None) -> None:
        self.conn = conn
        self.embedders = {e.modality: e for e in (text, image) if e is not None}
        self.archive_dir = archive_dir
        self.settings = settings
        self.clock = clock
        self.sink = sink
        self.projections: dict[str, tj.Projection] = {}

    # --- entry points -----------------------------------------------------------------------

    def handle(self, invocation_id: str) -> Insight | None:
        """A completed invocation: its run brought up to date; the Insight of this output, or None
        when it has no embedding (audio, an image with no image model, a refused output)."""
        row = self.conn.execute("SELECT run_id, sequence, state, output_type, output_flags FROM invocations "
                                "WHERE id = ?", (invocation_id,)).fetchone()
        if row is None or row["state"] != "completed":
            return None
        embedder = self.embedders.get(row["output_type"])
        if embedder is None:
            return None
        return self.update_run(row["run_id"], embedder, upto=row["sequence"], focus=invocation_id)

    def update_run(self, run_id: str, embedder: Embedder, upto: int | None = None, focus: str | None = None,
                   similar: bool | None = None, history: int | None = HISTORY) -> Insight | None:
        """Embed what the run lacks and measure it; what is to be stored goes to the sink (one
        ``Changes``); the Insight of ``focus`` (default: the newest). Only the newest ``history``
        outputs are looked at (None: all of them, for a backfill)."""
        found = db.run_prompt(self.conn, run_id)
        if found is None:
            return None
        prompt_text, network = found
        now = self.clock()
        model = embedder.name
        outputs = [o for o in db.run_outputs(self.conn, run_id, embedder.modality, model, upto, history)
                   if "nsfw" not in o.flags]
        fresh = self._embed(embedder, [o for o in outputs if o.vector is None])
        prompt_blob = db.prompt_vector(self.conn, run_id, model)
        new_prompt = None
        if prompt_blob is None and embedder.modality == "text":
            vec = embedder.embed([prompt_text])[0]
            if np.any(vec):
                new_prompt = to_blob(vec)
        prompt_blob = prompt_blob or new_prompt
        prompt = from_blob(prompt_blob) if prompt_blob is not None else None
        kept = []
        for out in outputs:
            blob = out.vector if out.vector is not None else fresh.get(out.invocation_id)
            if blob is not None and (prompt is None or len(blob) == 4 * len(prompt)):
                kept.append((out, from_blob(blob)))
        embeddings = tuple((inv, model, embedder.dim, blob) for inv, blob in fresh.items())
        prompts = () if new_prompt is None else ((run_id, model, embedder.dim, new_prompt),)
        if not kept:  # nothing of this kind in the run yet: known, so a backfill does not come back for it
            self.sink(Changes(now, embeddings, prompts, runs=(RunRow(run_id, model, 0, None, None, 0, None),)))
            return None
        points = np.stack([v for _, v in kept])
        projection, refit = self._projection(embedder, extra=len(fresh))
        outs = [o for o, _ in kept]
        rows, path, total = self._points(run_id, model, outs, points, prompt, projection)
        diagram = persistence(points, self.settings.window)
        prompt_xy = (float(projection.project(prompt)[0, 0]), float(projection.project(prompt)[0, 1])) \
            if prompt is not None else None
        state = db.run_state(self.conn, run_id, model)
        last_similar = int(state["similar_at"]) if state else 0
        want_similar = similar if similar is not None else _similar_due(total, last_similar)
        nearest = self._similar(run_id, model, points) if want_similar else None
        self.sink(Changes(
            now, embeddings, prompts, tuple(rows),
            runs=(RunRow(run_id, model, total, to_blob(tj.signature(points)), prompt_xy, projection.version,
                         None if diagram is None else diagram.as_json()),),
            similar=() if nearest is None else (SimilarRow(run_id, model, tuple(nearest), total),),
            projections=() if refit is None else (refit,)))
        index = next((i for i, o in enumerate(outs) if o.invocation_id == focus), len(outs) - 1)
        return self._insight(run_id, network, model, embedder.modality, outs, points, prompt, index, path,
                             prompt_xy, diagram, now)

    # --- pieces -----------------------------------------------------------------------------

    def _embed(self, embedder: Embedder, outputs: Sequence[db.Output]) -> dict[str, bytes]:
        if not outputs:
            return {}
        if embedder.modality == "text":
            items: list[Any] = [o.text or "" for o in outputs]
        else:
            items = [self._read(o.file) for o in outputs]
        vectors = embedder.embed(items)
        return {o.invocation_id: to_blob(v) for o, v in zip(outputs, vectors) if np.any(v)}

    def _read(self, relative: str | None) -> bytes | None:
        if self.archive_dir is None or not relative:
            return None
        from panic_edge.archive import Archive  # (and Pillow) only where images are embedded

        try:
            path = Archive(self.archive_dir).path(relative)
            if path.stat().st_size > MAX_IMAGE_BYTES:
                return None
            return path.read_bytes()
        except (OSError, PanicEdgeError) as err:
            log.info("insight: cannot read %s (%s); it stays without an embedding", relative, err)
            return None

    def _projection(self, embedder: Embedder, extra: int = 0) -> tuple[tj.Projection, ProjectionRow | None]:
        """The current projection of ``embedder``'s space, and the row to store when it was refitted now."""
        model = embedder.name
        stored = db.projection_row(self.conn, model)
        current = self.projections.get(model)
        if stored is not None and (current is None or stored["version"] > current.version):
            current = tj.Projection(from_blob(stored["mean"]).astype(np.float64),
                                    from_blob(stored["axes"]).astype(np.float64).reshape(2, -1),
                                    float(stored["scale"]), int(stored["fitted_on"]), int(stored["version"]))
        captions = atlas() if embedder.modality == "text" else []
        available = db.count_embeddings(self.conn, model) + extra + len(captions)  # the atlas counts too
        refit = None
        if tj.should_refit(current, available, embedder.dim):
            reference = [from_blob(b) for b in db.reference_vectors(self.conn, model, self.settings.reference_limit)]
            reference = [v for v in reference if len(v) == embedder.dim] + list(embedder.embed(captions))
            if len(reference) >= tj.MIN_REFERENCE:
                previous = current if current is not None and current.dim == embedder.dim else None
                current = tj.fit_projection(np.stack(reference), available, previous)
                refit = ProjectionRow(model, current.version, current.fitted_on, embedder.dim, to_blob(current.mean),
                                      to_blob(current.axes), current.scale)
                log.info("insight: fitted the %s projection on %d points (version %d)", model, len(reference),
                         current.version)
        if current is None:  # nothing to fit on yet (an image model, no history): the first two axes
            axes = np.eye(2, embedder.dim)
            current = tj.Projection(np.zeros(embedder.dim), axes, 1.0, 0, 0)
        self.projections[model] = current
        return current, refit

    def _hops(self, run_id: str, outputs: Sequence[db.Output]) -> list[str]:
        models = db.run_models(self.conn, run_id, outputs[0].sequence - 4 * HOP_MODELS if outputs else 0)
        hops, previous = [], -1
        for out in outputs:
            between = [models[s] for s in range(previous + 1, out.sequence + 1) if s in models]
            hops.append(">".join(between[-HOP_MODELS:]) or out.model)
            previous = out.sequence
        return hops

    def _points(self, run_id: str, model: str, outputs: Sequence[db.Output], points: np.ndarray,
                prompt: np.ndarray | None, projection: tj.Projection,
                ) -> tuple[list[dict[str, Any]], list[PathPoint], int]:
        """Rows of the points not stored yet (placed in ``projection``), the path (every point placed
        in ``projection``, for the message) and how many points the run has in all."""
        first = outputs[0].sequence if outputs else 0
        stored = db.point_rows(self.conn, run_id, model, since=first)
        total = db.count_points(self.conn, run_id, model)
        hops = self._hops(run_id, outputs)
        xy = projection.project(points)
        keys = [tj_key(o) for o in outputs]
        seqs = [o.sequence for o in outputs]
        rows, path = [], []
        for i, out in enumerate(outputs):
            old = stored.get(out.invocation_id)
            x, y = float(xy[i, 0]), float(xy[i, 1])
            if old is None:
                m = tj.measure(points[: i + 1], seqs[: i + 1], keys[: i + 1], prompt, self.settings.thresholds)
                row: dict[str, Any] = {
                    "invocation_id": out.invocation_id, "model": model, "run_id": run_id, "sequence": out.sequence,
                    "hop": hops[i], "drift": m.drift, "step": m.step, "x": x, "y": y,
                    "projection": projection.version, "flags": json.dumps(list(m.flags)), "loop_period": m.loop_period,
                    "nearest_sequence": None if m.nearest is None else seqs[m.nearest],
                    "nearest_distance": m.nearest_distance}
                rows.append(row)
            else:
                row = dict(old)
            path.append(PathPoint(out.sequence, row["hop"], x, y, float(row["drift"])))
        return rows, path, total + len(rows)

    def _similar(self, run_id: str, model: str, points: np.ndarray) -> list[tuple[str, float]]:
        """Nearest other runs: candidates by their signatures, ranked by the chamfer distance."""
        mine = tj.signature(points)
        candidates = [(other, from_blob(blob)) for other, blob in db.signatures(self.conn, model, run_id)]
        candidates = [(o, v) for o, v in candidates if len(v) == len(mine)]
        if not candidates:
            return []
        cos = np.stack([v for _, v in candidates]) @ mine
        best = [candidates[i][0] for i in np.argsort(-cos)[:SIMILAR_CANDIDATES]]
        paths = {other: np.stack([from_blob(b) for b in db.run_vectors(self.conn, other, model, SIMILAR_POINTS)])
                 for other in best}
        return tj.nearest_runs(points[-SIMILAR_POINTS:], paths)

    def _insight(self, run_id: str, network: str, model: str, modality: str, outputs: Sequence[db.Output],
                 points: np.ndarray, prompt: np.ndarray | None, index: int, path: list[PathPoint],
                 prompt_xy: tuple[float, float] | None, diagram: Any, now: float) -> Insight:
        seqs = [o.sequence for o in outputs]
        keys = [tj_key(o) for o in outputs]
        m = tj.measure(points[: index + 1], seqs[: index + 1], keys[: index + 1], prompt, self.settings.thresholds)
        named = hop_steps([p.hop for p in path], self._steps(points, prompt), self.settings.labels)
        out = outputs[index]
        return Insight(run_id=run_id, network=network, sequence=out.sequence, invocation_id=out.invocation_id,
                       model=out.model, embedding_model=model, drift=m.drift, step=m.step,
                       point=(path[index].x, path[index].y), flags=m.flags, loop_period=m.loop_period,
                       nearest_sequence=None if m.nearest is None else seqs[m.nearest],
                       nearest_distance=m.nearest_distance, recurrence=m.recurrence, hop=path[index].hop,
                       hops=named, path=tuple(path[: index + 1]), prompt_point=prompt_xy,
                       persistence=None if diagram is None else Persistence(diagram.points, *_bars(diagram)),
                       modality=modality, created_at=round(now, 3))

    @staticmethod
    def _steps(points: np.ndarray, prompt: np.ndarray | None) -> list[float]:
        first = tj.distance(prompt, points[0]) if prompt is not None else 0.0
        rest = np.sqrt(np.clip(2.0 - 2.0 * np.sum(points[1:] * points[:-1], axis=1, dtype=np.float64), 0.0, 4.0))
        return [first, *map(float, rest)]


def tj_key(output: db.Output) -> str | None:
    return caption_key(output.text) if output.text is not None else None


def _bars(diagram: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    data = diagram.as_json(limit=32)
    return tuple(tuple(b) for b in data["h0"]), tuple(tuple(b) for b in data["h1"])


def _similar_due(points: int, last: int) -> bool:
    """Runs like this one are looked for at 3, 5, 10, 20, 40 points, then every 25."""
    if points <= last:
        return False
    return points in (3, 5, 10, 20, 40) or (points >= 50 and points - last >= 25)
