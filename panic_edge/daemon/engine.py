"""The engine: feeds runner events, carries out the actions, and runs the model calls.

Every action that changes state is committed to SQLite before it is published. One lock
serialises transitions; model calls run as tasks outside it, and come back as events.

A call task never ends silently: whatever it dies of (an exception from a platform, a store or an
encoder, or a CancelledError nobody asked for) becomes a Failed event with the reason, and the
run goes on by the runner's policy. A watchdog (``fail_stuck_calls``) fails an invocation that is
still ``invoking`` long after its deadline (``call_deadline``, see panic_edge.daemon.deadlines).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

from panic_edge.archive import Archive, sniff
from panic_edge.core import payloads, picture_ref
from panic_edge.core.budget import StartBudget
from panic_edge.core.catalogue import describe
from panic_edge.core.clean import clean_text
from panic_edge.core.invocation import Invocation, InvocationState, Run, invocation_message
from panic_edge.core.media import Content, MediaType
from panic_edge.core.model import Model
from panic_edge.core.network import Network
from panic_edge.core.runner import (Action, BeginRun, Cancel, Complete, Completed, Connectivity, Discard,
                                    EndRun, Event, Fail, Failed, Invoke, NothingToReplay, Press, Refuse,
                                    Resume, RunnerState, ShowPlaceholder, Start, Stop, Unreachable, Unsafe,
                                    step)
from panic_edge.core.topics import Topics
from panic_edge.errors import CommandError, PanicEdgeError, StartBudgetError, StorageFault
from panic_edge.platforms.base import ModelInput, ModelOutput, Platforms
from panic_edge.platforms.errors import SafetyFilterError, UnreachableError
from panic_edge.platforms.safety import placeholder
from panic_edge.store import Store

log = logging.getLogger("panic_edge.engine")

MAX_TEXT_OUTPUT = 20_000
UNRECORDABLE = "its outcome could not be recorded"
T = TypeVar("T")


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                on_ack: Callable[[], None] | None = None, expiry: int | None = None) -> None: ...


class Engine:
    """Owns one runner state per network and everything that happens to them."""

    def __init__(self, networks: Mapping[str, Network], catalogue: Mapping[str, Model], store: Store,
                 archive: Archive, platforms: Platforms, publisher: Publisher, topics: Topics,
                 media_base: str, clock: Callable[[], float] = time.time,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
                 replay_seconds: float | None = None,
                 on_unreachable: Callable[[], None] | None = None,
                 start_budget: StartBudget | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 call_deadline: Callable[[Model], float] | None = None,
                 invocation_expiry: int | None = None) -> None:
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
        self.replay_seconds = replay_seconds
        self.on_unreachable = on_unreachable
        self.invocation_expiry = invocation_expiry  # MQTT 5 message expiry of invocation messages (s)
        self.states = {slug: RunnerState(net) for slug, net in self.networks.items()}
        self._acknowledged: list[tuple[str, str]] = []  # (invocation id, state) the broker has
        self.storage_problem: str | None = None  # why the disk refuses writes, while it does
        self.storage_retry_max = 10.0
        self._lock = asyncio.Lock()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.call_deadline = call_deadline
        self._watched: dict[str, tuple[str, float, float]] = {}  # invocation -> (network, due, seconds)
        self._state_listeners: list[Callable[[RunnerState], None]] = []
        self._invocation_listeners: list[Callable[[dict[str, Any]], None]] = []
        self.monotonic = monotonic
        self.start_budget = start_budget or StartBudget.full(0, 1, monotonic())  # default: unlimited

    # --- commands ---------------------------------------------------------------------------

    async def start(self, network: str, prompt: str) -> str:
        """Start a run; returns its id. Raises CommandError (LockoutError when locked)."""
        run_id = self.new_id()
        await self._budgeted(self._network(network), Start(run_id, prompt, self.clock()))
        return run_id

    async def press(self, network: str) -> str:
        """The panic button: a run with the network's next prompt."""
        run_id = self.new_id()
        await self._budgeted(self._network(network), Press(run_id, self.clock()))
        return run_id

    def check_start_budget(self) -> None:
        """Raise StartBudgetError if a start now would be refused for the appliance's budget."""
        wait = self.start_budget.wait(self.monotonic())
        if wait > 0:
            raise StartBudgetError(wait)

    async def _budgeted(self, slug: str, event: Start | Press) -> None:
        """Every start and press, from any source, spends from the appliance's start budget first;
        one refused for another reason (a lockout) gives its token back."""
        self.start_budget, wait = self.start_budget.take(self.monotonic())
        if wait > 0:
            raise StartBudgetError(wait)
        try:
            await self._dispatch(slug, event)
        except CommandError:
            self.start_budget = self.start_budget.give_back()
            raise

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
        await self.flush_acknowledged()

    def needs_internet(self, slug: str) -> bool:
        """Whether any of the network's models runs on a cloud platform."""
        return any(self.platforms.needs_internet(self.catalogue[m].platform) for m in self.networks[slug].models)

    async def set_online(self, online: bool) -> None:
        """The model platforms became reachable or not: tell every network that uses them."""
        for slug in self.states:
            if self.needs_internet(slug):
                await self._dispatch(slug, Connectivity(online, self.clock()))

    async def resume_open_runs(self, enabled: bool = True) -> None:
        """After a restart, take up the runs left open, or end them with the reason recorded."""
        now = self.clock()
        for run, last in await self.store.open_runs():
            state = self.states.get(run.network)
            resumable = enabled and state is not None and state.run is None
            if resumable and last is not None and last.model != state.network.model_at(last.sequence):
                resumable = False  # the network was edited since: its old sequence no longer fits
            if not resumable or (last is not None and last.state is InvocationState.FAILED):
                if last is not None and last.state in (InvocationState.READY, InvocationState.INVOKING):
                    await self.store.fail(last.id, "interrupted: the daemon stopped while this was in flight",
                                          now)
                reason = ("daemon restarted" if last is None or last.state is not InvocationState.FAILED
                          else f"step {last.sequence} ({last.model}) failed: {last.error}")
                await self.store.end_run(run.id, reason, now)
                log.warning("%s: run %s ended on restart: %s", run.network, run.id[:8], reason)
                continue
            if last is None:
                event = Resume(run.id, run.started_at, 0, Content.of_text(run.prompt), False, now)
            elif last.state is InvocationState.COMPLETED and last.output is not None:
                event = Resume(run.id, run.started_at, last.sequence + 1, last.output, False, now)
            else:
                event = Resume(run.id, run.started_at, last.sequence, last.input, True, now)
            log.warning("%s: resuming run %s at step %d after a restart", run.network, run.id[:8],
                        event.sequence)
            await self._dispatch(run.network, event)

    async def republish_unacknowledged(self) -> int:
        """Publish again every invocation whose current state the broker never acknowledged."""
        pending = await self.store.unpublished()
        for inv in pending:
            self._publish_invocation(inv)
        return len(pending)

    async def flush_acknowledged(self) -> None:
        """Record the broker's acknowledgements (the durable outbox); cheap, batched."""
        if self._acknowledged:
            batch, self._acknowledged = self._acknowledged, []
            await self.store.mark_published(batch)

    async def run_outbox(self, interval: float = 0.5) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.flush_acknowledged()

    async def put_network(self, network: Network) -> bool:
        """Add ``network``, or replace the definition of an idle one; True if it was new.

        The caller has validated it. A running network is not changed under its run: raises
        CommandError (stop it first).
        """
        async with self._lock:
            state = self.states.get(network.slug)
            if state is not None and state.run is not None:
                raise CommandError(f"network {network.slug!r} is running; stop it before changing it")
            self.networks[network.slug] = network
            after = RunnerState(network, next_prompt=state.next_prompt if state else 0)
            self.states[network.slug] = after
            self._publish_state(after)
            for listener in self._state_listeners:
                listener(after)
        log.info("network %s %s", network.slug, "added" if state is None else "updated")
        return state is None

    async def remove_network(self, slug: str) -> None:
        """Forget an idle network. A running one is not deleted out from under its run: raises
        CommandError (stop it first); an unknown one raises CommandError too."""
        async with self._lock:
            state = self.states[self._network(slug)]
            if state.run is not None:
                raise CommandError(f"network {slug!r} is running; stop it before deleting it")
            del self.states[slug], self.networks[slug]
            # clear the retained state so display nodes stop showing it
            self.publisher.publish(self.topics.network_state(slug), b"", qos=1, retain=True)
            for listener in self._state_listeners:
                listener(state)
        log.info("network %s removed", slug)

    def on_state_change(self, listener: Callable[[RunnerState], None]) -> None:
        self._state_listeners.append(listener)

    def _notify_listeners(self) -> None:
        for state in self.states.values():
            for listener in self._state_listeners:
                listener(state)

    def on_invocation(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener`` (on the loop) with every invocation message as it is published."""
        self._invocation_listeners.append(listener)

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
            try:
                for action in actions:
                    if isinstance(action, Refuse):
                        refusal = action.error
                    else:
                        await self._execute(action)
            except sqlite3.Error as err:  # disk full, I/O error: nothing is shown as done
                raise StorageFault(f"the database refused a write ({err}); check the disk") from err
            self.states[slug] = after  # shown only once every action is committed
            if (after.run, after.online) != (before.run, before.online):
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
                self._watched.pop(inv.id, None)  # called again, held or replayed: a new watch, or none
                if action.mode == "call":
                    work = self._call(action, model)
                    if self.call_deadline is not None:
                        seconds = self.call_deadline(model)
                        self._watched[inv.id] = (action.network, time.monotonic() + seconds, seconds)
                elif action.mode == "replay":
                    work = self._replay(action, model)
                else:
                    log.info("%s #%d %s: waiting for the internet to come back", action.network,
                             action.sequence, model.label)
                    return
                self._tasks[inv.id] = asyncio.create_task(work, name=f"{action.mode} {inv.id}")
            case Complete(inv_id, output, finished_at, meta):
                self._announce(await self.store.complete(inv_id, output, finished_at, meta))
                self._watched.pop(inv_id, None)
            case Fail(inv_id, error, finished_at):
                self._announce(await self.store.fail(inv_id, error, finished_at))
                self._watched.pop(inv_id, None)
            case Cancel(inv_id, reason, finished_at):
                self._watched.pop(inv_id, None)
                task = self._tasks.pop(inv_id, None)
                if task is not None and task is not asyncio.current_task():
                    task.cancel()
                self._announce(await self.store.fail(inv_id, reason, finished_at))
            case Discard(inv_id, output):
                self.archive.discard(output)
                log.info("discarded a late result for %s", inv_id)
            case ShowPlaceholder(inv_id, network, model_id, reason, _):
                log.info("%s: the safety filter withheld %s; showing the placeholder: %s", network, inv_id,
                         reason)
                self._tasks[inv_id] = asyncio.create_task(self._placeholder(action, self.catalogue[model_id]),
                                                          name=f"placeholder {inv_id}")

    # --- model calls ------------------------------------------------------------------------

    async def _call(self, action: Invoke, model: Model) -> None:
        """Run one invocation's model call; the outcome comes back as a runner event."""
        saved: Content | None = None
        try:
            self._announce(await self.store.mark_invoking(action.invocation_id, self.clock()))
            # Text is neither read from nor written to the archive: no I/O, so no hop to a thread.
            if action.input.text is not None and picture_ref.carried(action.input) is None:
                given = self._model_input(action.input)
            else:
                given = await asyncio.to_thread(self._model_input, action.input)
            out = await self.platforms.invoke(model, given)
            saved = await self._keep(action, model, out)
            event: Event = Completed(action.invocation_id, saved, self.clock(), dict(out.meta))
        except asyncio.CancelledError:
            self.archive.discard(saved)
            task = asyncio.current_task()
            if task is None or task.cancelling():  # a stop, a replacement, the watchdog, shutdown
                raise
            # nobody cancelled this task: a library leaked a CancelledError (or a cancelled
            # future) into it. Ending quietly here would leave the invocation invoking forever.
            log.error("%s: the call was cancelled from inside, though nothing stopped it",
                      action.invocation_id)
            event = Failed(action.invocation_id, "the call was cancelled from inside the platform "
                           "client, though nothing stopped it", self.clock())
        except UnreachableError as err:
            if self.on_unreachable is not None:
                self.on_unreachable()
            event = Unreachable(action.invocation_id, str(err), self.clock())
        except SafetyFilterError as err:  # the runner decides: the safety prompt, or the placeholder
            log.info("%s #%d %s: refused by the safety filter: %s", action.network, action.sequence,
                     model.label, err)
            event = Unsafe(action.invocation_id, str(err), self.clock())
        except PanicEdgeError as err:
            event = Failed(action.invocation_id, str(err), self.clock())
        except Exception as err:  # a bug or a surprise from a library: record it, keep the daemon up
            log.exception("unexpected error in %s", action.invocation_id)
            event = Failed(action.invocation_id, f"unexpected error: {type(err).__name__}: "
                           f"{clean_text(str(err), 300)}", self.clock())
        await self._report(action, event)

    async def _placeholder(self, action: ShowPlaceholder, model: Model) -> None:
        """Complete a refused invocation with the safety placeholder, flagged nsfw."""
        out = placeholder(model.output, action.reason)
        saved: Content | None = None
        try:
            saved = await self._keep(action, model, out)
            event: Event = Completed(action.invocation_id, saved, self.clock(), dict(out.meta))
        except asyncio.CancelledError:
            self.archive.discard(saved)
            raise
        except PanicEdgeError as err:
            event = Failed(action.invocation_id, f"could not show the safety placeholder: {err}",
                           self.clock())
        await self._report(action, event)

    async def _keep(self, action: Invoke | ShowPlaceholder, model: Model, out: ModelOutput) -> Content:
        """``out`` as the invocation's output, archived; while the disk refuses, wait and retry."""
        if model.output is MediaType.TEXT:  # no file to write: no thread, no disk to wait for
            return self._save_output(action, model, out.text, out.data, out.flags)
        return await self._until_storage_works(lambda: asyncio.to_thread(
            self._save_output, action, model, out.text, out.data, out.flags))

    async def _report(self, action: Invoke | ShowPlaceholder, event: Event) -> None:
        """Hand a call's outcome back to the runner; while the database refuses, wait and retry.

        Every write an action makes is idempotent, so carrying out the same transition again
        after a partial failure is safe; the runner's state moves only once all of it is committed.
        """
        self._tasks.pop(action.invocation_id, None)
        try:
            await self._until_storage_works(lambda: self._dispatch(action.network, event))
        except asyncio.CancelledError:
            if isinstance(event, Completed):
                self.archive.discard(event.output)
            raise
        except Exception as err:  # a bug, or an outcome the store, the encoder or the bus refuses
            # the output file stays: the database may already point at it
            log.exception("%s: could not record the outcome of the call", action.invocation_id)
            if isinstance(event, Failed) and event.error.startswith(UNRECORDABLE):
                return  # recording the failure failed too: the watchdog will try again
            error = f"{UNRECORDABLE} ({type(err).__name__}: {clean_text(str(err), 300)})"
            await self._report(action, Failed(action.invocation_id, error, self.clock()))

    async def fail_stuck_calls(self) -> list[str]:
        """The watchdog's round: fail every call still invoking after its deadline (its run then
        ends by the runner's policy); returns their invocation ids."""
        now = time.monotonic()
        stuck = []
        for inv_id, (network, due, seconds) in list(self._watched.items()):
            if now < due:
                continue
            del self._watched[inv_id]
            state = self.states.get(network)
            if state is None or state.run is None or state.run.invocation_id != inv_id or state.run.held:
                continue  # its outcome is in (the record just came late), or it waits for the internet
            task = self._tasks.pop(inv_id, None)
            if task is not None:
                task.cancel()
            log.error("%s: still invoking after %g s, past its deadline; failing it", inv_id, seconds)
            error = (f"no outcome within {seconds:g} s, the deadline for this model "
                     "(platforms.call_deadline); the watchdog gave up on it")
            failed = Failed(inv_id, error, self.clock())
            try:
                await self._until_storage_works(lambda: self._dispatch(network, failed))  # noqa: B023
            except Exception:  # keep watching the others; the next round tries this one again
                log.exception("%s: the watchdog could not record the failure", inv_id)
                self._watched[inv_id] = (network, now + 60.0, seconds)
                continue
            stuck.append(inv_id)
        return stuck

    async def run_call_watchdog(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.fail_stuck_calls()

    async def _until_storage_works(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run ``attempt`` until the disk lets it through: the loop pauses rather than corrupts."""
        delay = 0.5
        while True:
            try:
                result = await attempt()
            except StorageFault as err:
                if self.storage_problem != str(err):
                    log.error("storage fault, the loop pauses until it clears: %s", err)
                    self.storage_problem = str(err)
                    self._notify_listeners()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.storage_retry_max)
                continue
            if self.storage_problem is not None:
                log.warning("storage works again; the loop goes on")
                self.storage_problem = None
                self._notify_listeners()
            return result

    async def _replay(self, action: Invoke, model: Model) -> None:
        """Offline with the replay policy: show a past output of the same model, labelled as replay."""
        saved: Content | None = None
        try:
            self._announce(await self.store.mark_invoking(action.invocation_id, self.clock()))
            pace = self.replay_seconds if self.replay_seconds is not None else min(model.hints.typical_seconds, 30)
            await asyncio.sleep(pace)
            past = choose_replay(action.input, await self.store.replay_candidates(model.id))
            if past is None or past.output is None:
                event: Event = NothingToReplay(action.invocation_id, self.clock())
            else:
                saved = await asyncio.to_thread(self._copy_for_replay, action, past.output)
                event = Completed(action.invocation_id, saved, self.clock(), {"replay_of": past.id})
        except asyncio.CancelledError:
            self.archive.discard(saved)
            raise
        except PanicEdgeError as err:  # e.g. the archived file is gone: wait rather than fail
            log.warning("cannot replay %s: %s", action.invocation_id, err)
            event = NothingToReplay(action.invocation_id, self.clock())
        except Exception as err:  # a bug: record it, keep the daemon up
            log.exception("unexpected error replaying %s", action.invocation_id)
            event = Failed(action.invocation_id, f"unexpected error: {type(err).__name__}: "
                           f"{clean_text(str(err), 300)}", self.clock())
        await self._report(action, event)

    def _copy_for_replay(self, action: Invoke, past: Content) -> Content:
        flags = tuple(dict.fromkeys((*past.flags, "replay")))
        if past.text is not None:
            return Content(past.type, text=past.text, flags=flags)
        return self.archive.save(action.network, action.invocation_id, self.archive.read(past), past.type, flags)

    def _model_input(self, content: Content) -> ModelInput:
        if content.text is not None:
            return ModelInput(content.type, text=content.text, **self._carried_picture(content))
        return ModelInput(content.type, data=self.archive.read(content), mime=content.mime, file=content.file)

    def _carried_picture(self, content: Content) -> dict[str, Any]:
        """The picture a text carries (core.picture_ref), if it is still in the archive."""
        file = picture_ref.carried(content)
        if file is None:
            return {}
        try:
            data = self.archive.read(Content(MediaType.IMAGE, file=file))
        except (PanicEdgeError, OSError) as err:
            log.warning("the picture %s is gone from the archive (%s); the text goes on alone", file, err)
            return {}
        found = sniff(data)
        return {"data": data, "mime": found[0] if found else None, "file": file}

    def _save_output(self, action: Invoke | ShowPlaceholder, model: Model, text: str | None,
                     data: bytes | None, flags: tuple[str, ...]) -> Content:
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
        return describe(self.catalogue, model_id).label

    def _publish_invocation(self, inv: Invocation) -> None:
        body = invocation_message(inv, self._label(inv.model), self.media_base)
        ack = (inv.id, inv.state.value)
        self.publisher.publish(self.topics.invocations(inv.network), payloads.encode(body), qos=1,
                               on_ack=lambda: self._acknowledged.append(ack), expiry=self.invocation_expiry)
        for listener in self._invocation_listeners:
            listener(body)

    def _publish_state(self, state: RunnerState) -> None:
        run = state.run
        body = payloads.network_state(state.network.slug, state.phase, run.run_id if run else None,
                                      run.sequence if run else None, state.lockout_until,
                                      run.model if run else None, self.clock(), online=state.online,
                                      held=bool(run and run.held),
                                      offline_policy=state.network.offline_policy)
        self.publisher.publish(self.topics.network_state(state.network.slug), body, qos=1, retain=True)


def choose_replay(given: Content, candidates: list[Invocation]) -> Invocation | None:
    """The past invocation whose output best follows on from ``given``.

    Text: the most words in common with the past invocation's input (ties: the newest). Files:
    a choice spread over the candidates by the file's name, so a replayed loop keeps moving.
    Pure: unit-tested without a database.
    """
    usable = [c for c in candidates if c.output is not None]
    if not usable:
        return None
    if given.text is not None:
        words = set(given.text.lower().split())
        return max(usable, key=lambda c: len(words & set((c.input.text or "").lower().split())))
    key = sum(map(ord, given.file or ""))
    return usable[key % len(usable)]
