"""The ``networks/<slug>/insight`` message: a run's geometry after each embedded output.

Pure, no numpy: the insight worker builds an ``Insight`` and publishes ``to_json()``; a HUD
node parses the bytes back with ``parse_insight``, strictly (any bytes give an ``Insight`` or
a PayloadError). Each message is whole on its own: it carries the run's recent path, so a
screen that starts late, or missed a message, draws the full picture from the next one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from panic_edge.core.wire import load_object
from panic_edge.errors import PayloadError

PATH_LIMIT = 120  # points of the path carried in each message (the newest)
RECURRENCE_LIMIT = 120
BARS_LIMIT = 32  # longest bars of each dimension
MAX_INSIGHT_BYTES = 256 * 1024
MAX_ITEMS = 1000
FLAGS = ("stuck", "loop")
TIE = 1e-3  # distances this close are equal (shown to 2 decimals; float32 noise is ~3e-4 near 0)

Bar = tuple[float, float | None]


@dataclass(frozen=True)
class PathPoint:
    sequence: int
    hop: str  # the models the step into this point went through, ids joined by ">"
    x: float
    y: float
    drift: float


@dataclass(frozen=True)
class HopSteps:
    """How far, on average, the steps through one hop moved: "which model moves meaning most"."""

    hop: str
    name: str
    mean_step: float
    steps: int


@dataclass(frozen=True)
class Persistence:
    points: int
    h0: tuple[Bar, ...]
    h1: tuple[Bar, ...]


@dataclass(frozen=True)
class Insight:
    run_id: str
    network: str
    sequence: int
    invocation_id: str
    model: str
    embedding_model: str
    drift: float
    step: float
    point: tuple[float, float]
    flags: tuple[str, ...] = ()
    loop_period: int | None = None
    nearest_sequence: int | None = None
    nearest_distance: float | None = None
    recurrence: tuple[float, ...] = ()
    hop: str = ""
    hops: tuple[HopSteps, ...] = ()
    path: tuple[PathPoint, ...] = ()
    prompt_point: tuple[float, float] | None = None
    persistence: Persistence | None = None
    modality: str = "text"
    created_at: float = 0.0

    @property
    def stuck(self) -> bool:
        return "stuck" in self.flags

    @property
    def loop(self) -> bool:
        return "loop" in self.flags

    def to_json(self) -> dict[str, Any]:
        r = _round
        return {
            "run_id": self.run_id, "network": self.network, "sequence": self.sequence,
            "invocation_id": self.invocation_id, "model": self.model, "embedding_model": self.embedding_model,
            "modality": self.modality, "drift": r(self.drift), "step": r(self.step),
            "point": [r(self.point[0]), r(self.point[1])], "flags": list(self.flags),
            "loop_period": self.loop_period,
            "nearest": None if self.nearest_sequence is None else {
                "sequence": self.nearest_sequence, "distance": r(self.nearest_distance or 0.0)},
            "recurrence": [r(d) for d in self.recurrence[-RECURRENCE_LIMIT:]],
            "hop": self.hop,
            "hops": [{"hop": h.hop, "name": h.name, "mean_step": r(h.mean_step), "steps": h.steps}
                     for h in self.hops],
            "path": [{"sequence": p.sequence, "hop": p.hop, "point": [r(p.x), r(p.y)], "drift": r(p.drift)}
                     for p in self.path[-PATH_LIMIT:]],
            "prompt_point": None if self.prompt_point is None else [r(v) for v in self.prompt_point],
            "persistence": None if self.persistence is None else {
                "points": self.persistence.points, "h0": [list(b) for b in self.persistence.h0[:BARS_LIMIT]],
                "h1": [list(b) for b in self.persistence.h1[:BARS_LIMIT]]},
            "created_at": self.created_at,
        }


def hop_steps(hops: Sequence[str], steps: Sequence[float], names: Mapping[str, str]) -> tuple[HopSteps, ...]:
    """Mean step per hop (the models a step went through, ids joined by ">"), largest first:
    "which model moves meaning most". ``names`` turns model ids into their labels."""
    sums: dict[str, list[float]] = {}
    for hop, step in zip(hops, steps):
        sums.setdefault(hop, []).append(float(step))
    out = (HopSteps(hop, " \u2192 ".join(names.get(m, m) for m in hop.split(">")), sum(v) / len(v), len(v))
           for hop, v in sums.items())
    return tuple(sorted(out, key=lambda h: (-h.mean_step, h.hop)))


def latest_nearest(distances: Sequence[float]) -> int | None:
    """Index of the smallest of ``distances`` (within TIE), the last of equals: in an exact loop the
    newest output is as near to every earlier visit of its idea, and the one to name is the last
    time round, one period back. None for no distances."""
    if not distances:
        return None
    best = min(distances)
    return max(i for i, d in enumerate(distances) if d <= best + TIE)


def _round(value: float) -> float:
    return round(float(value), 4)


# --- parsing (what a HUD node does with the bytes) -------------------------------------------


def parse_insight(payload: bytes) -> Insight:
    """Parse an insight message. Raises PayloadError saying what is wrong; never anything else."""
    what = "insight message"
    if not isinstance(payload, bytes | bytearray):
        raise PayloadError(f"{what} must be bytes, not {type(payload).__name__}")
    body = load_object(bytes(payload), what, MAX_INSIGHT_BYTES)  # the one total JSON reader
    try:
        return _insight(body)
    except PayloadError as err:
        raise PayloadError(f"{what}: {err}") from None


def _insight(b: dict[str, Any]) -> Insight:
    flags = tuple(f for f in _list(b, "flags", _text) if f in FLAGS)
    nearest = b.get("nearest")
    near_seq = near_dist = None
    if nearest is not None:
        if not isinstance(nearest, dict):
            raise PayloadError('"nearest" must be an object or null')
        near_seq, near_dist = _int(nearest, "sequence"), _num(nearest, "distance")
    persistence = b.get("persistence")
    return Insight(
        run_id=_str(b, "run_id"), network=_str(b, "network"), sequence=_int(b, "sequence"),
        invocation_id=_str(b, "invocation_id"), model=_str(b, "model", ""),
        embedding_model=_str(b, "embedding_model", ""), drift=_num(b, "drift"), step=_num(b, "step"),
        point=_pair(b.get("point"), "point"), flags=flags,
        loop_period=_int(b, "loop_period") if b.get("loop_period") is not None else None,
        nearest_sequence=near_seq, nearest_distance=near_dist,
        recurrence=tuple(_list(b, "recurrence", _number)),
        hop=_str(b, "hop", ""),
        hops=tuple(HopSteps(_str(h, "hop"), _str(h, "name", ""), _num(h, "mean_step"), _int(h, "steps"))
                   for h in _list(b, "hops", _obj)),
        path=tuple(PathPoint(_int(p, "sequence"), _str(p, "hop", ""), *_pair(p.get("point"), "path point"),
                             _num(p, "drift")) for p in _list(b, "path", _obj)),
        prompt_point=None if b.get("prompt_point") is None else _pair(b.get("prompt_point"), "prompt_point"),
        persistence=None if persistence is None else _persistence(persistence),
        modality=_str(b, "modality", "text"),
        created_at=_num(b, "created_at") if b.get("created_at") is not None else 0.0,
    )


def _persistence(p: Any) -> Persistence:
    if not isinstance(p, dict):
        raise PayloadError('"persistence" must be an object or null')
    return Persistence(_int(p, "points"), tuple(_bar(x) for x in _list(p, "h0", _any)),
                       tuple(_bar(x) for x in _list(p, "h1", _any)))


def _bar(value: Any) -> Bar:
    if not isinstance(value, list) or len(value) != 2:
        raise PayloadError("a bar must be [birth, death]")
    birth = _number(value[0])
    death = None if value[1] is None else _number(value[1])
    return birth, death


def _any(value: Any) -> Any:
    return value


def _obj(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError("expected an object")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise PayloadError("expected a string")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"expected a number, got {value!r:.40}")
    number = float(value) if not isinstance(value, int) or abs(value) < 2**63 else math.inf
    if not math.isfinite(number):
        raise PayloadError("numbers must be finite")
    return number


def _list(b: dict[str, Any], key: str, item: Any) -> list[Any]:
    value = b.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(f'"{key}" must be a list')
    if len(value) > MAX_ITEMS:
        raise PayloadError(f'"{key}" has {len(value)} items; the limit is {MAX_ITEMS}')
    return [item(v) for v in value]


def _str(b: dict[str, Any], key: str, default: str | None = None) -> str:
    value = b.get(key, default)
    if not isinstance(value, str) or len(value) > 500:
        raise PayloadError(f'"{key}" must be a string of at most 500 characters')
    return value


def _int(b: dict[str, Any], key: str) -> int:
    value = b.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not -2**53 <= value <= 2**53:
        raise PayloadError(f'"{key}" must be a whole number')
    return value


def _num(b: dict[str, Any], key: str) -> float:
    try:
        return _number(b.get(key))
    except PayloadError as err:
        raise PayloadError(f'"{key}": {err}') from None


def _pair(value: Any, what: str) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise PayloadError(f'"{what}" must be [x, y]')
    return _number(value[0]), _number(value[1])
