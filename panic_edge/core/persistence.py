"""Persistent homology (H0 and H1) of a run's latest window of points, with ripser.

Pure computation, no I/O (numpy and ripser: the ``insight`` extra). The filtration is
Vietoris-Rips on the Euclidean distances between unit vectors, as in the batch research
method, but only H0 and H1 (H2 costs seconds to minutes and gigabytes above a few hundred
points) and only over a bounded window, so the cost has a ceiling.

- An **H0 bar** is a cluster of ideas: born at 0, it dies at the distance where it merges with
  another. One bar never dies (``death`` None): the whole run, once everything is joined.
- An **H1 bar** is a loop: the path went round an idea and came back, and the hole it left is
  filled in at ``death``. A long H1 bar means the run circled back to an old idea from afar.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Bar = tuple[float, float | None]
Rips = Callable[[np.ndarray], list[np.ndarray]]
MAX_WINDOW = 1000


@dataclass(frozen=True)
class Diagram:
    h0: tuple[Bar, ...]
    h1: tuple[Bar, ...]
    points: int  # how many points the window held

    def as_json(self, limit: int | None = None) -> dict[str, object]:
        """``{"points", "h0", "h1"}``; bars as [birth, death] (death null: never dies), the
        ``limit`` longest of each dimension when given."""
        return {"points": self.points, "h0": [list(b) for b in _longest(self.h0, limit)],
                "h1": [list(b) for b in _longest(self.h1, limit)]}


def _lifetime(bar: Bar) -> float:
    return math.inf if bar[1] is None else bar[1] - bar[0]


def _longest(bars: tuple[Bar, ...], limit: int | None) -> tuple[Bar, ...]:
    ordered = tuple(sorted(bars, key=lambda b: (-_lifetime(b), b[0])))
    return ordered if limit is None else ordered[:limit]


def distance_matrix(points: np.ndarray) -> np.ndarray:
    data = np.asarray(points, dtype=np.float64)
    cos = data @ data.T
    out = np.sqrt(np.clip(2.0 - 2.0 * cos, 0.0, 4.0))
    np.fill_diagonal(out, 0.0)
    return out


def rips(dm: np.ndarray) -> list[np.ndarray]:
    """H0 and H1 diagrams of a distance matrix.

    Calls ripser's compiled core (``pyRipser``, shipped in the ripser wheel) the way
    ``ripser.ripser(dm, distance_matrix=True, maxdim=1)`` does, without importing the
    ``ripser`` package itself, which pulls in scipy and scikit-learn (~0.8 s, ~100 MB) for
    nothing used here. Falls back to the package when the core's interface moved.
    """
    try:
        from pyRipser import doRipsFiltrationDM
    except ImportError:  # pragma: no cover - a ripser without the core module
        return _rips_package(dm)
    n = dm.shape[0]
    rows, cols = np.meshgrid(np.arange(n), np.arange(n))
    flat = np.array(dm[rows > cols], dtype=np.float32)
    try:
        result = doRipsFiltrationDM(flat, 1, np.inf, 2, False)
        dgms = result["births_and_deaths_by_dim"]
    except (TypeError, KeyError):  # pragma: no cover - the core's signature changed
        return _rips_package(dm)
    return [np.reshape(np.array(d, dtype=np.float64), (len(d) // 2, 2)) for d in dgms]


def _rips_package(dm: np.ndarray) -> list[np.ndarray]:  # pragma: no cover - see rips()
    from ripser import ripser

    return [np.asarray(d, dtype=np.float64) for d in ripser(dm, maxdim=1, distance_matrix=True)["dgms"]]


def persistence(points: np.ndarray, window: int, compute: Rips = rips) -> Diagram | None:
    """H0+H1 of the last ``window`` points (at most MAX_WINDOW); None for fewer than 3."""
    window = max(3, min(window, MAX_WINDOW))
    tail = np.asarray(points)[-window:]
    if len(tail) < 3:
        return None
    dgms = compute(distance_matrix(tail))

    def bars(d: np.ndarray) -> tuple[Bar, ...]:
        return tuple((round(float(b), 4), None if not math.isfinite(float(e)) else round(float(e), 4))
                     for b, e in d)

    return Diagram(bars(dgms[0]), bars(dgms[1]) if len(dgms) > 1 else (), len(tail))
