"""Pre-warming: which models are warm, and which to warm at an opening. Pure: the clock is an input.

A model the catalogue marks WARM (an official Replicate model, a chat API, a local model) is always
warm: the platform keeps it running. A model marked COLD (a community Replicate model) is turned
off by the platform when unused for a while, and the first call after that waits for it to boot
(minutes). Its state here:

- ``warming`` while a warm-up call (or an engine call) is waiting on it;
- ``warm`` for ``warm_seconds`` after its last successful call, whoever made it;
- ``cold`` otherwise.

At an opening (``plan``), the cold models of the networks likely to run are warmed, each with one
call, once: a model already warm or warming is skipped, and so is one whose last warm-up attempt
is younger than ``warm_seconds`` (a second opening, or a restart, within that time calls nothing).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from panic_edge.core.model import Model, Warmth
from panic_edge.core.network import Network

MAX_ERROR_CHARS = 300


class WarmState(str, enum.Enum):
    WARM = "warm"
    COLD = "cold"
    WARMING = "warming"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ModelWarmth:
    """What is known of one model: its last successful call, a call waiting on it since, its last
    warm-up attempt and why that failed."""

    last_call: float | None = None
    warming_since: float | None = None
    last_attempt: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class WarmTable:
    """Model id -> ModelWarmth; every change returns a new table."""

    warm_seconds: float = 600.0
    entries: Mapping[str, ModelWarmth] = field(default_factory=dict)

    def get(self, model_id: str) -> ModelWarmth:
        return self.entries.get(model_id, ModelWarmth())

    def _put(self, model_id: str, entry: ModelWarmth) -> WarmTable:
        return replace(self, entries={**self.entries, model_id: entry})

    def called(self, model_id: str, at: float) -> WarmTable:
        """A call of the model succeeded at ``at``: warm from then."""
        entry = self.get(model_id)
        last = at if entry.last_call is None else max(entry.last_call, at)
        return self._put(model_id, replace(entry, last_call=last, warming_since=None, error=None))

    def waiting(self, model_id: str, at: float) -> WarmTable:
        """A call is waiting on the model from ``at`` (it boots, if it was cold)."""
        return self._put(model_id, replace(self.get(model_id), warming_since=at))

    def attempted(self, model_id: str, at: float) -> WarmTable:
        """A warm-up call begins at ``at``."""
        return self._put(model_id, replace(self.get(model_id), warming_since=at, last_attempt=at))

    def gave_up(self, model_id: str, error: str | None = None) -> WarmTable:
        """The call waiting on the model ended without an answer (``error``: why, for a warm-up)."""
        entry = replace(self.get(model_id), warming_since=None)
        if error is not None:
            entry = replace(entry, error=error[:MAX_ERROR_CHARS])
        return self._put(model_id, entry)

    def state(self, model: Model, now: float) -> WarmState:
        entry = self.get(model.id)
        if entry.warming_since is not None:
            return WarmState.WARMING
        if model.hints.warmth is Warmth.WARM:
            return WarmState.WARM
        if entry.last_call is not None and entry.last_call <= now < entry.last_call + self.warm_seconds:
            return WarmState.WARM
        return WarmState.COLD

    def warm_until(self, model: Model, now: float) -> float | None:
        """When a cold model that is warm now counts as cold again (None: not warm, or always warm)."""
        entry = self.get(model.id)
        if model.hints.warmth is Warmth.WARM or self.state(model, now) is not WarmState.WARM:
            return None
        assert entry.last_call is not None
        return entry.last_call + self.warm_seconds


def likely_networks(loaded: Iterable[str], chosen: Sequence[str], button: str, shown: Iterable[str],
                    running: Iterable[str]) -> list[str]:
    """The networks whose models are worth warming: ``chosen`` ([prewarm] networks) when given,
    else the button's network, every network an installation shows and every one with a run;
    only networks that are loaded, in that order, once each."""
    names = list(chosen) if chosen else [button, *shown, *running]
    loaded = set(loaded)
    return [name for name in dict.fromkeys(names) if name in loaded]


@dataclass(frozen=True)
class Plan:
    """What one opening warms: ``warm`` (model ids, in network order) and ``skipped`` (model id ->
    why not)."""

    reason: str
    networks: tuple[str, ...]
    warm: tuple[str, ...]
    skipped: Mapping[str, str]


def plan(reason: str, networks: Mapping[str, Network], likely: Sequence[str], catalogue: Mapping[str, Model],
         table: WarmTable, now: float, unusable: Callable[[Model], str | None]) -> Plan:
    """Which cold models of the ``likely`` networks to warm now. ``unusable(model)`` says why a
    model cannot be called at all (no key, offline), or None."""
    warm: list[str] = []
    skipped: dict[str, str] = {}
    for slug in likely:
        for model_id in networks[slug].models:
            if model_id in warm or model_id in skipped or model_id not in catalogue:
                continue
            model = catalogue[model_id]
            if model.hints.warmth is Warmth.WARM:
                continue  # the platform keeps it running: nothing to do, nothing to say
            why = _why_not(model, table, now, unusable)
            if why is None:
                warm.append(model_id)
            else:
                skipped[model_id] = why
    return Plan(reason, tuple(likely), tuple(warm), skipped)


def _why_not(model: Model, table: WarmTable, now: float, unusable: Callable[[Model], str | None]) -> str | None:
    state = table.state(model, now)
    if state is WarmState.WARMING:
        return "already warming"
    if state is WarmState.WARM:
        return "already warm"
    last = table.get(model.id).last_attempt
    if last is not None and now - last < table.warm_seconds:
        return "warmed a short while ago"
    return unusable(model)


@dataclass(frozen=True)
class Warmup:
    """One warm-up call, as recorded (table ``warmups``): ``meta`` as the platform gave it
    (prediction id, predict time, ``cost_usd`` where the catalogue knows the price)."""

    id: str
    model: str
    reason: str
    ok: bool
    started_at: float
    finished_at: float
    error: str | None = None
    meta: Mapping[str, object] = field(default_factory=dict)
