"""The pre-warmer: one real call to each cold model of the networks likely to run, at an opening.

The rules (which models, when a model counts as warm or cold again) are pure, in
``panic_edge.core.prewarm``; this shell makes the calls, records each one and what it cost (table
``warmups``, shown in the spend), watches the engine's calls (every completed invocation marks its
model warm), and says what it knows in the status (``models_warm``, ``prewarm``).

A warm-up is the model's own request on a tiny input (a short prompt, a small grey picture, a
second of silence): on Replicate the boot itself is free and the call is billed like any other
(its predict time, or its output for a model priced per output); its output is thrown away.

**The opening hook.** The daemon calls ``prewarm("start")`` once it is ready (``[prewarm]
on_start``). Opening hours (panic_edge/daemon/hours.py) call ``await daemon.prewarmer.prewarm(
"opening")`` at each opening: it decides at once, starts the calls in the background and returns
the Plan; ``idle()`` waits for them. Calling it again within ``warm_minutes`` calls nothing.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sqlite3
import time
import uuid
import wave
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import cache
from typing import Any, Protocol

from panic_edge.config import PrewarmConfig
from panic_edge.core.clean import clean_text
from panic_edge.core.media import MediaType
from panic_edge.core.model import Model, Warmth
from panic_edge.core.network import Network
from panic_edge.core.prewarm import Plan, WarmState, WarmTable, Warmup, likely_networks, plan
from panic_edge.core.runner import RunnerState
from panic_edge.core.spend import PREWARMING
from panic_edge.platforms.base import ModelInput, Platforms
from panic_edge.store import Store
from panic_edge.store.reader import Reader

log = logging.getLogger("panic_edge.prewarm")

WARMUP_PROMPT = "a quiet morning in an empty gallery"
CONCURRENCY = 4  # cold boots take minutes: warm a few at once, not every model of every network


class EngineView(Protocol):
    networks: dict[str, Network]
    states: dict[str, RunnerState]


@cache
def _grey_picture() -> bytes:
    from PIL import Image  # only when a picture model is warmed

    out = io.BytesIO()
    Image.new("RGB", (256, 256), (128, 128, 128)).save(out, format="PNG")
    return out.getvalue()


@cache
def _silence() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * 16000)
    return out.getvalue()


def warmup_input(model: Model) -> ModelInput:
    """The tiny input a warm-up call gives ``model``."""
    if model.input is MediaType.IMAGE:
        return ModelInput(MediaType.IMAGE, data=_grey_picture(), mime="image/png", file="warmup.png")
    if model.input is MediaType.AUDIO:
        return ModelInput(MediaType.AUDIO, data=_silence(), mime="audio/wav", file="warmup.wav")
    return ModelInput(MediaType.TEXT, text=WARMUP_PROMPT)


class Prewarmer:
    def __init__(self, config: PrewarmConfig, catalogue: Mapping[str, Model], platforms: Platforms, store: Store,
                 engine: EngineView, *, button: Callable[[], str] = lambda: "",
                 shown: Callable[[], Iterable[str]] = tuple, online: Callable[[], bool | None] = lambda: None,
                 deadline: Callable[[Model], float] = lambda model: 3600.0, reader: Reader | None = None,
                 clock: Callable[[], float] = time.time, new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
                 spent: Callable[[str, object, float], Awaitable[None]] | None = None) -> None:
        self.config, self.catalogue, self.platforms, self.store, self.engine = config, catalogue, platforms, store, engine
        self.button, self.shown, self.online, self.deadline, self.reader = button, shown, online, deadline, reader
        self.clock, self.new_id = clock, new_id
        self.spent = spent  # the day's ledger (daemon/spending.py): a warm-up's cost counts as it is made
        self.table = WarmTable(config.warm_minutes * 60)
        self.listeners: list[Callable[[], None]] = []  # called on the loop after every change
        self.last: Plan | None = None
        self.last_at: float | None = None
        # the last plan's models: "warm", or why the call failed. Replaced, never changed in place: the
        # HTTP thread reads the status
        self.outcomes: dict[str, str] = {}
        self.cost_usd: float | None = None  # what the last plan's calls cost, where priced
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._expiry: asyncio.TimerHandle | None = None

    # --- deciding ---------------------------------------------------------------------------

    async def load(self) -> None:
        """Take up what the database knows (after a restart): the models' last calls and warm-ups."""
        if self.reader is None:
            return
        try:
            found = await asyncio.to_thread(self.reader.recent_calls, self.clock() - self.table.warm_seconds)
        except sqlite3.Error as err:
            log.warning("could not read the models' recent calls (%s); every cold model counts as cold", err)
            return
        for model_id, (called, attempted) in found.items():
            if model_id not in self.catalogue:
                continue
            if called is not None:
                self.table = self.table.called(model_id, called)
            if attempted is not None:
                self.table = self.table.attempted(model_id, attempted).gave_up(model_id)
        self._changed()

    def likely(self) -> list[str]:
        running = [slug for slug, state in self.engine.states.items() if state.run is not None]
        return likely_networks(self.engine.networks, self.config.networks, self.button(), self.shown(), running)

    async def prewarm(self, reason: str) -> Plan:
        """Warm the cold models of the networks likely to run (see the module docstring); returns at
        once with the plan, the calls going on in the background."""
        if not self.config.enabled:
            return Plan(reason, (), (), {})
        now = self.clock()
        decided = plan(reason, self.engine.networks, self.likely(), self.catalogue, self.table, now, self._unusable)
        self.last, self.last_at, self.cost_usd = decided, now, None
        self.outcomes = {}
        for model_id in decided.warm:
            self.table = self.table.attempted(model_id, now)
            self._tasks[model_id] = asyncio.create_task(self._warm(self.catalogue[model_id], reason),
                                                        name=f"prewarm {model_id}")
        if decided.warm or decided.skipped:
            log.info("pre-warming (%s): %s%s", reason, ", ".join(decided.warm) or "nothing to warm",
                     "".join(f"; {m} skipped: {why}" for m, why in decided.skipped.items()))
        self._changed()
        return decided

    def _unusable(self, model: Model) -> str | None:
        if not self.platforms.available(model.platform):
            return clean_text(self.platforms.why_missing(model.platform), 200)
        if self.platforms.needs_internet(model.platform) and self.online() is False:
            return "offline: the model platforms are unreachable"
        return None

    async def idle(self) -> None:
        """Wait until no warm-up call is running (tests, and a caller that wants the outcome)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    # --- calling ----------------------------------------------------------------------------

    async def _warm(self, model: Model, reason: str) -> None:
        started = self.clock()
        error: str | None = None
        meta: dict[str, Any] = {}
        try:
            async with self._slots:
                started = self.clock()
                async with asyncio.timeout(self.deadline(model)):
                    out = await self.platforms.invoke(model, warmup_input(model))
            meta = dict(out.meta)
        except TimeoutError:
            error = f"no answer within {self.deadline(model):g} s"
        except asyncio.CancelledError:
            self._tasks.pop(model.id, None)
            raise
        except Exception as err:  # noqa: BLE001 -- a platform error or a client's surprise: recorded, never raised
            error = clean_text(str(err) or type(err).__name__, 300)
        finished = self.clock()
        self._tasks.pop(model.id, None)
        if error is None:
            self.table = self.table.called(model.id, finished)
            self.outcomes = {**self.outcomes, model.id: "warm"}
            cost = meta.get("cost_usd")
            if isinstance(cost, (int, float)) and not isinstance(cost, bool):
                self.cost_usd = round((self.cost_usd or 0.0) + cost, 6)
            log.info("pre-warming: %s is warm (%.1f s%s)", model.id, finished - started,
                     f", ${cost:.4f}" if isinstance(cost, (int, float)) else "")
        else:
            self.table = self.table.gave_up(model.id, error)
            self.outcomes = {**self.outcomes, model.id: error}
            log.warning("pre-warming: %s did not warm: %s", model.id, error)
        self._changed()
        if self.spent is not None:  # counted at its start, as the database counts it after a restart
            await self.spent(PREWARMING, meta.get("cost_usd"), started)
        try:
            await self.store.add_warmup(Warmup(self.new_id(), model.id, reason, error is None, started, finished,
                                               error, meta))
        except sqlite3.Error as err:  # the call is made; only its record is missing
            log.warning("pre-warming: could not record the warm-up of %s: %s", model.id, err)

    # --- watching the engine's calls --------------------------------------------------------

    def observe(self, body: dict[str, Any]) -> None:
        """The engine's invocation listener: a call waiting on a cold model warms it, a completed
        one (not a replay) leaves it warm."""
        model = self.catalogue.get(str(body.get("model")))
        if model is None or model.hints.warmth is not Warmth.COLD:
            return  # always warm: nothing to track
        state, at = body.get("state"), body.get("finished_at") or body.get("started_at") or self.clock()
        if not isinstance(at, (int, float)):
            at = self.clock()
        if state == "invoking" and self.table.state(model, self.clock()) is WarmState.COLD:
            self.table = self.table.waiting(model.id, at)
        elif state == "completed" and "replay" not in (body.get("flags") or ()):
            self.table = self.table.called(model.id, at)
        elif state == "failed" and model.id not in self._tasks:
            self.table = self.table.gave_up(model.id)
        else:
            return
        self._changed()

    # --- telling ----------------------------------------------------------------------------

    def models_warm(self) -> dict[str, str]:
        """``warm`` / ``cold`` / ``warming`` for every model of the loaded networks."""
        now = self.clock()
        ids = dict.fromkeys(m for net in self.engine.networks.values() for m in net.models if m in self.catalogue)
        return {m: self.table.state(self.catalogue[m], now).value for m in ids}

    def status(self) -> dict[str, Any]:
        last = None
        if self.last is not None:
            warming = [m for m in self.last.warm if m not in self.outcomes]
            last = {"reason": self.last.reason, "at": self.last_at, "networks": list(self.last.networks),
                    "warmed": [m for m in self.last.warm if self.outcomes.get(m) == "warm"],
                    "warming": warming,
                    "failed": {m: why for m, why in self.outcomes.items() if why != "warm"},
                    "skipped": dict(self.last.skipped), "cost_usd": self.cost_usd}
        return {"enabled": self.config.enabled, "warm_minutes": self.config.warm_minutes, "last": last}

    def _changed(self) -> None:
        self._schedule_expiry()
        for listener in self.listeners:
            listener()

    def _schedule_expiry(self) -> None:
        """Tell the listeners again when the next warm model turns cold by the clock alone."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        now = self.clock()
        ends = [until for m in self.table.entries if m in self.catalogue
                and (until := self.table.warm_until(self.catalogue[m], now)) is not None]
        if ends:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._expiry = loop.call_later(max(0.0, min(ends) - now) + 0.05, self._changed)

    async def aclose(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
