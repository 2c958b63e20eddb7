"""The engine: feeds runner events, carries out the actions, and runs the model calls.

Every action that changes state is committed to SQLite before it is published. One lock
serialises transitions; model calls run as tasks outside it, and come back as events.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Protocol

from panic_edge.archive import Archive
from panic_edge.core import payloads
from panic_edge.core.invocation import Invocation, InvocationState, Run, invocation_message
from panic_edge.core.media import Content, MediaType
from panic_edge.core.model import Model
from panic_edge.core.network import Network
from panic_edge.core.runner import (Action, BeginRun, Cancel, Complete, Completed, Discard, EndRun, Event,
                                    Fail, Failed, Invoke, Press, Refuse, RunnerState, Start, Stop, step)
from panic_edge.core.topics import Topics
from panic_edge.errors import CommandError, PanicEdgeError
from panic_edge.platforms.base import ModelInput, Platforms
from panic_edge.store import Store

log = logging.getLogger("panic_edge.engine")

MAX_TEXT_OUTPUT = 20_000


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None: ...


class Engine:
    """Owns one runner state per network and everything that happens to them."""

    def __init__(self, networks: Mapping[str, Network], catalogue: Mapping[str, Model], store: Store,
                 archive: Archive, platforms: Platforms, publisher: Publisher, topics: Topics,
                 media_base: str, clock: Callable[[], float] = time.time,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex) -> None:
        self.networks = dict(networks)
        self.catalogue = catalogue
        self.store = store
        self.archive = archive
        self.platforms = platforms
        self.publisher = publisher
        self.topics = topics
        self.media_base = media_base
        self.clock = clock
        self.new_id = new_id
        self.states = {slug: RunnerState(net) for slug, net in self.networks.items()}
        self._lock = asyncio.Lock()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._state_listeners: list[Callable[[RunnerState], None]] = []

    # --- commands ---------------------------------------------------------------------------

    async def start(self, network: str, prompt: str) -> str:
        """Start a run; returns its id. Raises CommandError (LockoutError when locked)."""
        run_id = self.new_id()
        await self._dispatch(self._network(network), Start(run_id, prompt, self.clock()))
        return run_id

    async def press(self, network: str) -> str:
        """The panic button: a run with the network's next prompt."""
        run_id = self.new_id()
        await self._dispatch(self._network(network), Press(run_id, self.clock()))
        return run_id

    async def stop(self, network: str, reason: str = "stopped") -> bool:
        """Stop a network's run; False if it was idle."""
        slug = self._network(network)
        was_running = self.states[slug].run is not None
        await self._dispatch(slug, Stop(self.clock(), reason))
        return was_running

    async def stop_all(self, reason: str = "stopped (stop all)") -> list[str]:
        stopped = [slug for slug, state in self.states.items() if state.run is not None]
        for slug in stopped:
            await self._dispatch(slug, Stop(self.clock(), reason))
        return stopped

    async def aclose(self) -> None:
        """Stop every run and wait for the calls in flight to finish cancelling."""
        await self.stop_all("daemon shutting down")
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def on_state_change(self, listener: Callable[[RunnerState], None]) -> None:
        self._state_listeners.append(listener)

    def publish_all_states(self) -> None:
        for state in self.states.values():
            self._publish_state(state)

    def _network(self, slug: str) -> str:
        if slug not in self.states:
            known = ", ".join(sorted(self.states))
            raise CommandError(f"unknown network {slug!r}; this appliance has {known}")
        return slug

    # --- the transition loop ----------------------------------------------------------------

    async def _dispatch(self, slug: str, event: Event) -> None:
        async with self._lock:
            before = self.states[slug]
            after, actions = step(before, event)
            refusal: CommandError | None = None
            for action in actions:
                if isinstance(action, Refuse):
                    refusal = action.error
                else:
                    await self._execute(action)
            self.states[slug] = after  # shown only once every action is committed
            if (after.run, after.phase) != (before.run, before.phase):
                self._publish_state(after)
                for listener in self._state_listeners:
                    listener(after)
        if refusal is not None:
            raise refusal

    async def _execute(self, action: Action) -> None:
        match action:
            case BeginRun(run_id, network, prompt, started_at):
                await self.store.begin_run(Run(run_id, network, prompt, started_at))
                log.info("%s: run %s started: %s", network, run_id[:8], Content.of_text(prompt).summary())
            case EndRun(run_id, reason, ended_at):
                await self.store.end_run(run_id, reason, ended_at)
                log.info("run %s ended: %s", run_id[:8], reason)
            case Invoke():
                model = self.catalogue[action.model]
                inv = Invocation(id=action.invocation_id, run_id=action.run_id, network=action.network,
                                 sequence=action.sequence, model=action.model, state=InvocationState.READY,
                                 input=action.input, output_type=model.output, created_at=action.created_at)
                await self.store.add_invocation(inv)
                self._publish_invocation(inv)
                self._tasks[inv.id] = asyncio.create_task(self._call(action, model), name=f"invoke {inv.id}")
            case Complete(inv_id, output, finished_at, meta):
                self._announce(await self.store.complete(inv_id, output, finished_at, meta))
            case Fail(inv_id, error, finished_at):
                self._announce(await self.store.fail(inv_id, error, finished_at))
            case Cancel(inv_id, reason, finished_at):
                task = self._tasks.pop(inv_id, None)
                if task is not None and task is not asyncio.current_task():
                    task.cancel()
                self._announce(await self.store.fail(inv_id, reason, finished_at))
            case Discard(inv_id, output):
                self.archive.discard(output)
                log.info("discarded a late result for %s", inv_id)

    # --- model calls ------------------------------------------------------------------------

    async def _call(self, action: Invoke, model: Model) -> None:
        """Run one invocation's model call; the outcome comes back as a runner event."""
        saved: Content | None = None
        try:
            self._announce(await self.store.mark_invoking(action.invocation_id, self.clock()))
            # Text is neither read from nor written to the archive: no I/O, so no hop to a thread.
            if action.input.text is not None:
                given = self._model_input(action.input)
            else:
                given = await asyncio.to_thread(self._model_input, action.input)
            out = await self.platforms.invoke(model, given)
            if model.output is MediaType.TEXT:
                saved = self._save_output(action, model, out.text, out.data, out.flags)
            else:
                saved = await asyncio.to_thread(self._save_output, action, model, out.text, out.data,
                                                out.flags)
            event: Event = Completed(action.invocation_id, saved, self.clock(), dict(out.meta))
        except asyncio.CancelledError:
            self.archive.discard(saved)
            raise
        except PanicEdgeError as err:
            event = Failed(action.invocation_id, str(err), self.clock())
        except Exception as err:  # a bug or a surprise from a library: record it, keep the daemon up
            log.exception("unexpected error in %s", action.invocation_id)
            event = Failed(action.invocation_id, f"unexpected error: {type(err).__name__}: {err}", self.clock())
        self._tasks.pop(action.invocation_id, None)
        try:
            await self._dispatch(action.network, event)
        except asyncio.CancelledError:
            if isinstance(event, Completed):
                self.archive.discard(event.output)
            raise

    def _model_input(self, content: Content) -> ModelInput:
        if content.text is not None:
            return ModelInput(content.type, text=content.text)
        return ModelInput(content.type, data=self.archive.read(content), mime=content.mime)

    def _save_output(self, action: Invoke, model: Model, text: str | None, data: bytes | None,
                     flags: tuple[str, ...]) -> Content:
        if model.output is MediaType.TEXT:
            if text is None:
                raise PanicEdgeError(f"{model.id} should give text but gave a file")
            return Content(MediaType.TEXT, text=text[:MAX_TEXT_OUTPUT].strip() or "(silence)", flags=flags)
        if data is None:
            raise PanicEdgeError(f"{model.id} should give a {model.output} file but gave text")
        return self.archive.save(action.network, action.invocation_id, data, model.output, flags)

    # --- telling the world ------------------------------------------------------------------

    def _announce(self, inv: Invocation | None) -> None:
        """Publish (and log) an invocation as committed; None (nothing changed) says nothing."""
        if inv is None:
            return
        self._publish_invocation(inv)
        if inv.state is InvocationState.COMPLETED and inv.output is not None:
            secs = f"{inv.seconds:.1f} s" if inv.seconds is not None else "?"
            log.info("%s #%d %s: %s -> %s (%s)", inv.network, inv.sequence, self._label(inv.model),
                     inv.input.summary(40), inv.output.summary(40), secs)
        elif inv.state is InvocationState.FAILED:
            log.warning("%s #%d %s failed: %s", inv.network, inv.sequence, self._label(inv.model), inv.error)

    def _label(self, model_id: str) -> str:
        model = self.catalogue.get(model_id)
        return model.label if model else model_id

    def _publish_invocation(self, inv: Invocation) -> None:
        body = invocation_message(inv, self._label(inv.model), self.media_base)
        self.publisher.publish(self.topics.invocations(inv.network), payloads.encode(body), qos=1)

    def _publish_state(self, state: RunnerState) -> None:
        run = state.run
        body = payloads.network_state(state.network.slug, state.phase, run.run_id if run else None,
                                      run.sequence if run else None, state.lockout_until,
                                      run.model if run else None, self.clock())
        self.publisher.publish(self.topics.network_state(state.network.slug), body, qos=1, retain=True)
