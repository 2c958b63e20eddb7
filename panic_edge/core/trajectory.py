"""The geometry of a run: its outputs as a path of unit vectors, measured.

Pure: numpy only (the ``insight`` extra), no I/O, no clock. A run's *points* are the embeddings
of its outputs of one kind (text, or images), in order; the prompt, embedded the same way, is
where the path starts. Vectors are unit length, so the Euclidean distance between two of them is
``sqrt(2 - 2 cos)``: 0 for the same meaning, about 1.41 for unrelated, 2 for opposite. Every
distance here is that one (the batch research method's "normalise, then Euclidean").

- **drift**: distance of the newest point from the prompt;
- **step**: distance of the newest point from the one before (from the prompt for the first);
- **recurrence**: distances of the newest point to every earlier one; the *nearest* earlier
  point at least two back is where the run came closest to repeating itself (the most recent
  of equally near ones: in an exact loop, the last time round, one period back);
- **stuck**: the last ``stuck_steps`` steps all shorter than ``stuck_epsilon`` (or the same
  caption over and over);
- **loop**: the newest point returns within ``loop_epsilon`` of an earlier point (or repeats its
  caption exactly) after the path had moved away from it; the period is the number of
  invocations between the two;
- **projection**: a 2-D view that stays put (``Projection``), fitted on a reference set;
- **chamfer**: how far apart two runs' paths are, for "runs like this one".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from panic_edge.core.insight import TIE

STUCK = "stuck"
LOOP = "loop"
MIN_REFERENCE = 3  # points a projection needs


@dataclass(frozen=True)
class Thresholds:
    stuck_steps: int = 3
    stuck_epsilon: float = 0.2
    loop_epsilon: float = 0.25


@dataclass(frozen=True)
class Measures:
    """What one point of a run measures, given the points before it."""

    drift: float
    step: float
    recurrence: tuple[float, ...]  # distance to each earlier point, oldest first
    nearest: int | None  # index of the nearest earlier point at least two back
    nearest_distance: float | None
    flags: tuple[str, ...]
    loop_period: int | None  # invocations between the return and the point it returned to


def unit_rows(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows scaled to unit length, as float32, and a mask of the rows that could be (a zero or
    non-finite row has no direction: it is left as zeros and masked out)."""
    data = np.asarray(vectors, dtype=np.float64)
    if data.ndim == 1:
        data = data[None, :]
    finite = np.asarray(np.isfinite(data).all(axis=1))
    data = np.where(finite[:, None], data, 0.0)
    norms = np.linalg.norm(data, axis=1)
    ok = finite & (norms > 1e-9)
    out = np.zeros_like(data)
    out[ok] = data[ok] / norms[ok, None]
    return out.astype(np.float32), ok


def distances(point: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Distances from one unit vector to each row of ``others`` (unit rows)."""
    if len(others) == 0:
        return np.zeros(0, dtype=np.float64)
    cos = np.asarray(others, dtype=np.float64) @ np.asarray(point, dtype=np.float64)
    return np.sqrt(np.clip(2.0 - 2.0 * cos, 0.0, 4.0))


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(distances(a, np.asarray(b)[None, :])[0])


def measure(points: np.ndarray, sequences: Sequence[int], keys: Sequence[str | None],
            prompt: np.ndarray | None = None, thresholds: Thresholds = Thresholds()) -> Measures:
    """The measures of the last of ``points`` (unit rows, in run order).

    ``sequences`` are the points' invocation sequence numbers; ``keys`` identify exact repeats
    (a normalised caption, or None where there is none).
    """
    n = len(points)
    if n == 0:
        raise ValueError("measure needs at least one point")
    newest = points[-1]
    before = distances(newest, points[:-1])
    origin = prompt if prompt is not None else points[0]
    drift = distance(origin, newest)
    if n > 1:  # noqa: SIM108 -- plainer than a nested ternary
        step = float(before[-1])
    else:
        step = distance(prompt, newest) if prompt is not None else 0.0
    nearest = nearest_distance = None
    if n > 2:
        earlier = before[:-1]
        nearest = int(np.flatnonzero(earlier <= float(earlier.min()) + TIE)[-1])  # the most recent of ties
        nearest_distance = float(before[nearest])
    stuck = _stuck(points, keys, thresholds)
    period = None if stuck else _loop_period(points, sequences, keys, before, thresholds)
    flags = (STUCK,) if stuck else (LOOP,) if period is not None else ()
    return Measures(drift, step, tuple(float(d) for d in before), nearest, nearest_distance, flags, period)


def _stuck(points: np.ndarray, keys: Sequence[str | None], th: Thresholds) -> bool:
    k = th.stuck_steps
    if k < 1 or len(points) < k + 1:
        return False
    tail = points[-(k + 1):]
    steps = np.sqrt(np.clip(2.0 - 2.0 * np.sum(tail[1:] * tail[:-1], axis=1, dtype=np.float64), 0.0, 4.0))
    if bool(np.all(steps <= th.stuck_epsilon)):
        return True
    last = keys[-(k + 1):]
    return last[0] is not None and all(key == last[0] for key in last)


def _loop_period(points: np.ndarray, sequences: Sequence[int], keys: Sequence[str | None],
                 before: np.ndarray, th: Thresholds) -> int | None:
    """The most recent earlier point (two or more back) the newest returns to, after having left."""
    n = len(points)
    newest_key = keys[-1]
    candidates = set(np.nonzero(before[: n - 2] <= th.loop_epsilon)[0].tolist())
    if newest_key is not None:
        candidates.update(j for j in range(n - 2) if keys[j] == newest_key)
    for j in sorted(candidates, reverse=True):
        exact = newest_key is not None and keys[j] == newest_key
        between = points[j + 1:n - 1]
        if exact:
            left = any(key != newest_key for key in keys[j + 1:n - 1])
        else:
            left = bool(np.max(distances(points[j], between)) > th.loop_epsilon)
        if left:
            return int(sequences[-1] - sequences[j])
    return None


# --- a projection that stays put -------------------------------------------------------------


@dataclass(frozen=True)
class Projection:
    """Two principal axes of a reference set, with its centre and a scale that puts most of it
    inside [-1, 1]. Fitted rarely, so a screen's picture does not jump with every new point."""

    mean: np.ndarray
    axes: np.ndarray  # (2, dim)
    scale: float
    fitted_on: int  # points the reference set had (past outputs and the built-in atlas)
    version: int

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def project(self, vectors: np.ndarray) -> np.ndarray:
        data = np.asarray(vectors, dtype=np.float64)
        if data.ndim == 1:
            data = data[None, :]
        projected: np.ndarray = ((data - self.mean) @ self.axes.T) / self.scale
        return projected


def fit_projection(reference: np.ndarray, fitted_on: int, previous: Projection | None = None) -> Projection:
    """PCA of ``reference`` (rows). Each axis keeps the sense of ``previous``'s, so a refit turns
    the picture as little as it can."""
    data = np.asarray(reference, dtype=np.float64)
    if data.ndim != 2 or len(data) < MIN_REFERENCE:
        raise ValueError(f"a projection needs at least {MIN_REFERENCE} reference points")
    mean = data.mean(axis=0)
    _, _, vt = np.linalg.svd(data - mean, full_matrices=False)
    axes = np.zeros((2, data.shape[1]))
    axes[: min(2, len(vt))] = vt[:2]
    for k in range(2):
        if previous is not None and previous.axes.shape == axes.shape:
            sense = float(axes[k] @ previous.axes[k])
        else:
            sense = float(axes[k][np.argmax(np.abs(axes[k]))]) if axes[k].any() else 1.0
        if sense < 0:
            axes[k] = -axes[k]
    coords = (data - mean) @ axes.T
    scale = float(np.percentile(np.abs(coords), 98)) or 1.0
    return Projection(mean, axes, max(scale, 1e-6), fitted_on, (previous.version + 1) if previous else 1)


def should_refit(projection: Projection | None, available: int, dim: int) -> bool:
    """Refit when the past outputs have doubled since the last fit (and by at least 32), or when
    the embedding model's dimension changed."""
    if projection is None or projection.dim != dim:
        return True
    return available >= 2 * projection.fitted_on and available - projection.fitted_on >= 32


# --- comparing runs ---------------------------------------------------------------------------


def signature(points: np.ndarray) -> np.ndarray:
    """A run in one unit vector: the direction of its mean (for a first, cheap comparison)."""
    rows, _ = unit_rows(np.asarray(points, dtype=np.float64).mean(axis=0))
    first: np.ndarray = rows[0]
    return first


def chamfer(a: np.ndarray, b: np.ndarray) -> float:
    """How far apart two paths are: the mean distance from each point to the nearest point of the
    other path, averaged both ways (0 when every idea of one run is also in the other)."""
    if len(a) == 0 or len(b) == 0:
        return float("inf")
    cos = np.asarray(a, dtype=np.float64) @ np.asarray(b, dtype=np.float64).T
    d = np.sqrt(np.clip(2.0 - 2.0 * cos, 0.0, 4.0))
    return float(0.5 * (d.min(axis=1).mean() + d.min(axis=0).mean()))


def nearest_runs(target: np.ndarray, candidates: Mapping[str, np.ndarray], limit: int = 5) -> list[tuple[str, float]]:
    """The ``limit`` runs whose paths are nearest ``target``'s, nearest first."""
    scored = sorted(((chamfer(target, points), run_id) for run_id, points in candidates.items()
                     if len(points)), key=lambda item: (item[0], item[1]))
    return [(run_id, score) for score, run_id in scored[:limit]]
