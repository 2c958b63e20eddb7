"""The engine: feeds runner events, carries out the actions, and runs the model calls.

A transition is one step of a network's runner: its database writes go to the store's writer
as one function, in one transaction and one hand-off, and only once that is committed is
anything published, logged or started. Each network has its own lock, so networks advance
independently (and their commits are grouped by the writer); model calls run as tasks outside
it, and come back as events.

A call task never ends silently: whatever it dies of (an exception from a platform, a store or an
encoder, or a CancelledError nobody asked for) becomes a Failed event with the reason, and the
run goes on by the runner's policy. A watchdog (``fail_stuck_calls``) fails an invocation that is
still ``invoking`` long after its deadline (``call_deadline``, see panic_edge.daemon.deadlines).
Every start and press spends from the appliance's start budget (core/budget.py) first.

The gates of a gallery's day are runner rules too (core/runner.py): a paced invocation is
prepared at once and called when its timer sends ``Due`` (on the ``timers`` clock); opening
hours, the day's budget and the boards online arrive as events through ``broadcast``. The
spending ledger (daemon/spending.py) hears each completed call's cost before the runner does, so
a cap reached by this call holds the next one.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from panic_edge.archive import Archive, sniff
from panic_edge.clock import SYSTEM, Clock
from panic_edge.core import picture_ref
from panic_edge.core.budget import StartBudget
from panic_edge.core.clean import clean_text
from panic_edge.core.invocation import Invocation, InvocationState
from panic_edge.core.media import Content, MediaType
from panic_edge.core.model import Model
from panic_edge.core.network import Network
from panic_edge.core.runner import (
    Action,
    Cancel,
    Complete,
    Completed,
    Connectivity,
    Discard,
    Due,
    Event,
    Fail,
    Failed,
    Invoke,
    NothingToReplay,
    Policies,
    Press,
    Refuse,
    Resume,
    RunnerState,
    ShowPlaceholder,
    Start,
    Stop,
    Unreachable,
    Unsafe,
    step,
)
from panic_edge.core.topics import Topics
from panic_edge.daemon.announce import Announcer, Publisher
from panic_edge.errors import CommandError, PanicEdgeError, StartBudgetError, StorageFault
from panic_edge.platforms.base import ModelInput, ModelOutput, Platforms
from panic_edge.platforms.errors import SafetyFilterError, UnreachableError
from panic_edge.platforms.safety import placeholder
from panic_edge.store import Store, writes
from panic_edge.store.writer import settle

log = logging.getLogger("panic_edge.engine")

MAX_TEXT_OUTPUT = 20_000
UNRECORDABLE = "its outcome could not be recorded"
DEFAULT_POLICIES = Policies()


class Spender(Protocol):
    """The day's spending ledger (daemon/spending.py), told each completed call's cost first (and
    told again if the runner then discards the result)."""

    async def spent(self, network: str, cost: object, at: float) -> None: ...

    async def refund(self, network: str, cost: object, at: float) -> None: ...
T = TypeVar("T")


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
                 invocation_expiry: int | None = None,
                 policies: Policies = DEFAULT_POLICIES,
                 timers: Clock = SYSTEM,
                 spending: Spender | None = None,
                 on_storage_fault: Callable[[], None] | None = None) -> None:
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
        self.policies = policies
        self.timers = timers
        self.spending = spending
        self.on_storage_fault = on_storage_fault  # retention frees space when the disk refuses
        self.states = {slug: self._fresh_state(net) for slug, net in self.networks.items()}
        self._due: dict[str, asyncio.TimerHandle] = {}  # network -> the paced wait's timer
        self.announce = Announcer(publisher, topics, media_base, catalogue, clock,
                                  invocation_expiry=invocation_expiry)
        self.storage_problem: str | None = None  # why the disk refuses writes, while it does
        self.storage_retry_max = 10.0
        self._locks: dict[str, asyncio.Lock] = {}  # one per network: transitions of one network in turn
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._handoff: dict[str, tuple[str, bytes]] = {}  # network -> (archived file, its bytes) for the next model
        self._unwritten: dict[str, bytes] = {}  # invocation id -> its output file, written with its transition
        self._in_flight: dict[str, Invocation] = {}  # invocation id -> the record this engine created
        self.call_deadline = call_deadline
        self._watched: dict[str, tuple[str, float, float]] = {}  # invocation -> (network, due, seconds)
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
        now = self.clock()
        await _all(self._dispatch(slug, Stop(now, reason)) for slug in stopped)
        return stopped

    async def aclose(self) -> None:
        """Stop every run and wait for the calls in flight to finish cancelling. With the disk
        refusing writes the runs' end cannot be recorded: the daemon still stops, and the next
        start takes them up where the database left them (resume_open_runs)."""
        try:
            await self.stop_all("daemon shutting down")
        except StorageFault as err:
            log.warning("stopping without recording the runs' end (%s); the next start takes them up", err)
        for timer in self._due.values():
            timer.cancel()
        self._due.clear()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.announce.flush_told()  # the last transitions are told (published) before the bus goes
        self.announce.flush()
        await self.flush_acknowledged()

    def needs_internet(self, slug: str) -> bool:
        """Whether any of the network's models runs on a cloud platform."""
        return any(self.platforms.needs_internet(self.catalogue[m].platform) for m in self.networks[slug].models)

    async def set_online(self, online: bool) -> None:
        """The model platforms became reachable or not: tell every network that uses them."""
        now = self.clock()
        await _all(self._dispatch(slug, Connectivity(online, now)) for slug in list(self.states)
                   if self.needs_internet(slug))

    async def resume_open_runs(self, enabled: bool = True) -> None:
        """After a restart, take up the runs left open, or end them with the reason recorded."""
        now = self.clock()
        for run, last in await self.store.open_runs():
            state = self.states.get(run.network)
            resumable = enabled and state is not None and state.run is None
            if resumable and state is not None and last is not None \
                    and last.model != state.network.model_at(last.sequence):
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
                event = Resume(run.id, run.started_at, last.sequence + 1, last.output, False, now,
                               after=last.finished_at)
            else:  # in flight; a ``ready`` one was waiting out its pace since it was prepared
                event = Resume(run.id, run.started_at, last.sequence, last.input, True, now,
                               after=last.created_at if last.state is InvocationState.READY else None)
            log.warning("%s: resuming run %s at step %d after a restart", run.network, run.id[:8],
                        event.sequence)
            await self._dispatch(run.network, event)

    async def republish_unacknowledged(self) -> int:
        """Publish again every invocation whose current state the broker never acknowledged."""
        pending = await self.store.unpublished()
        for inv in pending:
            self.announce.invocation(inv)
        return len(pending)

    async def flush_acknowledged(self) -> None:
        """Record the broker's acknowledgements (the durable outbox); cheap, batched. While the
        disk refuses, they wait for the next flush (at worst, a restart publishes them again)."""
        acknowledged = self.announce.acknowledged
        if acknowledged:
            batch = acknowledged[:]
            del acknowledged[:]
            try:
                await self.store.mark_published(batch)
            except sqlite3.Error as err:
                acknowledged[:0] = batch
                log.warning("could not record %d broker acknowledgements yet: %s", len(batch), err)

    async def run_outbox(self, interval: float = 0.5) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.flush_acknowledged()

    async def put_network(self, network: Network) -> bool:
        """Add ``network``, or replace the definition of an idle one; True if it was new.

        The caller has validated it. A running network is not changed under its run: raises
        CommandError (stop it first).
        """
        async with self._lock(network.slug):
            state = self.states.get(network.slug)
            if state is not None and state.run is not None:
                raise CommandError(f"network {network.slug!r} is running; stop it before changing it")
            self.networks[network.slug] = network
            after = self._fresh_state(network, state)
            self.states[network.slug] = after
            self.announce.flush_told()  # what came before goes out before
            self.announce.state_changed(after)
        log.info("network %s %s", network.slug, "added" if state is None else "updated")
        return state is None

    async def remove_network(self, slug: str) -> None:
        """Forget an idle network. A running one is not deleted out from under its run: raises
        CommandError (stop it first); an unknown one raises CommandError too."""
        async with self._lock(self._network(slug)):
            state = self.states[slug]
            if state.run is not None:
                raise CommandError(f"network {slug!r} is running; stop it before deleting it")
            del self.states[slug], self.networks[slug]
            self.announce.flush_told()
            self.announce.removed(slug)
            for listener in self.announce.state_listeners:
                listener(state)
        log.info("network %s removed", slug)

    def on_state_change(self, listener: Callable[[RunnerState], None]) -> None:
        """Call ``listener`` (on the loop) with every network state change, once committed."""
        self.announce.state_listeners.append(listener)

    def _notify_listeners(self) -> None:
        self.announce.flush_told()
        for state in self.states.values():
            for listener in self.announce.state_listeners:
                listener(state)

    def on_invocation(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener`` (on the loop) with every invocation message as it is published."""
        self.announce.invocation_listeners.append(listener)

    def publish_all_states(self) -> None:
        self.announce.flush_told()
        for state in self.states.values():
            self.announce.network_state(state, now=True)

    def _fresh_state(self, network: Network, before: RunnerState | None = None) -> RunnerState:
        """A network's runner state: its models' hints (for pacing), the appliance's policies, and
        what the gates say now (carried over from ``before``, the same network's old state)."""
        models = {m: self.catalogue[m] for m in network.models if m in self.catalogue}
        state = RunnerState(network, models=models, policies=self.policies)
        if before is not None:
            state = replace(state, next_prompt=before.next_prompt, online=before.online, open=before.open,
                            opens_at=before.opens_at, budget=before.budget, boards=before.boards)
        return state

    async def broadcast(self, event_for: Callable[[RunnerState], Event | None]) -> None:
        """Give every network the event ``event_for`` makes of its state (None: nothing), all at
        once (their commits are grouped): the opening hours, the budget, the boards online."""
        events = {slug: event_for(state) for slug, state in list(self.states.items())}
        await _all(self._quietly(slug, event) for slug, event in events.items() if event is not None)

    async def _quietly(self, slug: str, event: Event) -> None:
        """Dispatch a gate's event; a refusal it makes (an attract run refused) is only logged."""
        try:
            await self._until_storage_works(lambda: self._dispatch(slug, event))
        except CommandError as err:
            log.info("%s: %s", slug, err)

    def _network(self, slug: str) -> str:
        if slug not in self.states:
            known = ", ".join(sorted(self.states))
            raise CommandError(f"unknown network {slug!r}; this appliance has {known}")
        return slug

    # --- the transition loop ----------------------------------------------------------------

    def _lock(self, slug: str) -> asyncio.Lock:
        lock = self._locks.get(slug)
        if lock is None:
            lock = self._locks[slug] = asyncio.Lock()
        return lock

    async def _dispatch(self, slug: str, event: Event) -> Sequence[Action]:
        """Step ``slug``'s runner with ``event``, commit, carry out; returns what it decided
        (without a refusal, which is raised)."""
        async with self._lock(slug):
            before = self.states[slug]
            after, actions = step(before, event)
            refusal = next((a.error for a in actions if isinstance(a, Refuse)), None)
            plan = [a for a in actions if not isinstance(a, Refuse)]
            done, interrupted = await self._record(plan)
            self.states[slug] = after  # shown only once every write is committed
            if after.run is None:
                self._handoff.pop(slug, None)
            for action, result in zip(plan, done, strict=True):
                self._carry_out(action, result)
            changed = (after.run, after.online, after.open, after.budget) != (
                before.run, before.online, before.open, before.budget)
            self.announce.later(plan, done, after if changed else None)  # MQTT, logs, listeners
        if interrupted:
            raise asyncio.CancelledError
        if refusal is not None:
            raise refusal
        return plan

    async def _record(self, plan: Sequence[Action]) -> tuple[list[Invocation | None], bool]:
        """Commit a transition's writes, output files first, as one function in one transaction and
        one hand-off to the writer. Returns what each action left (see writes.record_transition)
        and whether this task was cancelled meanwhile (the commit stands; the caller finishes)."""
        if all(isinstance(a, Discard) for a in plan):
            return [None] * len(plan), False
        created = {a.invocation_id: self._new_invocation(a) for a in plan if isinstance(a, Invoke)}
        finishing = [a.invocation_id for a in plan if isinstance(a, Complete | Fail | Cancel)]
        files = [(a.output, self._unwritten[a.invocation_id]) for a in plan
                 if isinstance(a, Complete) and a.invocation_id in self._unwritten]
        in_flight = {i: self._in_flight[i] for i in finishing if i in self._in_flight}

        def record(conn: sqlite3.Connection) -> list[Invocation | None]:
            for content, data in files:  # on disk before the row that names it
                self.archive.write(content, data)
            return writes.record_transition(conn, plan, created, in_flight)

        try:
            done, interrupted = await settle(self.store.submit(record, committing=self.announce.flush_told))
        except sqlite3.Error as err:  # disk full, I/O error: nothing is shown as done
            raise StorageFault(f"the database refused a write ({err}); check the disk") from err
        for inv_id in finishing:
            self._unwritten.pop(inv_id, None)
            self._in_flight.pop(inv_id, None)
            self._watched.pop(inv_id, None)
        for inv_id in created:  # called again, held or replayed: a new watch (in _carry_out), or none
            self._watched.pop(inv_id, None)
        self._in_flight.update(created)
        return done, interrupted

    def _new_invocation(self, action: Invoke) -> Invocation:
        """The invocation an Invoke creates: ``invoking`` from the start when it is called (or
        replayed) at once, so creating and starting it is one write; ``ready`` while held."""
        model = self.catalogue[action.model]
        at_once = action.mode in ("call", "replay")  # held or paced: ready, and called later
        earlier = self._in_flight.get(action.invocation_id) if action.again else None
        return Invocation(id=action.invocation_id, run_id=action.run_id, network=action.network,
                          sequence=action.sequence, model=action.model,
                          state=InvocationState.INVOKING if at_once else InvocationState.READY,
                          input=action.input, output_type=model.output,
                          # called again: it keeps the creation time its row keeps (writes.add_invocation)
                          created_at=earlier.created_at if earlier is not None else action.created_at,
                          started_at=action.created_at if at_once else None)

    def _carry_out(self, action: Action, done: Invocation | None) -> None:
        """What an action does at once when its writes are committed: start or cancel a call,
        drop a late result's file."""
        match action:
            case Invoke(mode="call" | "replay"):
                assert done is not None
                model = self.catalogue[action.model]
                work = self._call(action, model) if action.mode == "call" else self._replay(action, model)
                self._tasks[done.id] = asyncio.create_task(work, name=f"{action.mode} {done.id}")
                if action.mode == "call" and self.call_deadline is not None:
                    seconds = self.call_deadline(model)
                    self._watched[done.id] = (action.network, time.monotonic() + seconds, seconds)
            case Invoke(mode="wait", not_before=when) if when is not None:
                self._wait(action.network, when)
            case Cancel(inv_id):
                task = self._tasks.pop(inv_id, None)
                if task is not None and task is not asyncio.current_task():
                    task.cancel()
            case Discard(inv_id, output):
                if self._unwritten.pop(inv_id, None) is None:  # else it never reached the disk
                    self.archive.discard(output)
                log.info("discarded a late result for %s", inv_id)
            case ShowPlaceholder(inv_id, network, model_id, reason, _):
                log.info("%s: the safety filter withheld %s; showing the placeholder: %s", network, inv_id,
                         reason)
                self._tasks[inv_id] = asyncio.create_task(self._placeholder(action, self.catalogue[model_id]),
                                                          name=f"placeholder {inv_id}")

    # --- the paced wait ---------------------------------------------------------------------

    def _wait(self, slug: str, when: float) -> None:
        """Send ``Due`` to the network at ``when`` (its one timer: a new wait replaces it)."""
        old = self._due.pop(slug, None)
        if old is not None:
            old.cancel()
        self._due[slug] = self.timers.call_at(when, lambda: self._fire(slug, when))

    def _fire(self, slug: str, when: float) -> None:
        self._due.pop(slug, None)
        task = asyncio.get_running_loop().create_task(self._quietly(slug, Due(max(self.clock(), when))),
                                                      name=f"due {slug}")
        self._tasks[f"due {slug}"] = task
        task.add_done_callback(lambda _: self._tasks.pop(f"due {slug}", None))

    # --- model calls ------------------------------------------------------------------------

    async def _call(self, action: Invoke, model: Model) -> None:
        """Run one invocation's model call; the outcome comes back as a runner event."""
        try:
            # Text, and the file the previous model just gave (kept in memory), need no disk read:
            # no hop to a thread.
            given = self._handed_over(action.network, action.input)
            if given is None:
                given = await asyncio.to_thread(self._model_input, action.input)
            out = await self.platforms.invoke(model, given)
            saved = await self._keep(action, model, out)
            event: Event = Completed(action.invocation_id, saved, self.clock(), dict(out.meta))
        except asyncio.CancelledError:
            self._unwritten.pop(action.invocation_id, None)
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
        try:
            saved = await self._keep(action, model, out)
            event: Event = Completed(action.invocation_id, saved, self.clock(), dict(out.meta))
        except asyncio.CancelledError:
            self._unwritten.pop(action.invocation_id, None)
            raise
        except PanicEdgeError as err:
            event = Failed(action.invocation_id, f"could not show the safety placeholder: {err}",
                           self.clock())
        await self._report(action, event)

    async def _keep(self, action: Invoke | ShowPlaceholder, model: Model, out: ModelOutput) -> Content:
        """``out`` as the invocation's output: text at once; a file checked and normalised off the
        loop, its bytes kept to be written with the transition that completes the invocation (and
        handed to the next model in memory)."""
        if model.output is MediaType.TEXT:  # no file: no thread, no disk to wait for
            saved, _ = self._checked_output(action, model, out.text, out.data, out.flags)
            return saved
        saved, data = await asyncio.to_thread(self._checked_output, action, model, out.text, out.data,
                                              out.flags)
        if saved.file is not None and data is not None:
            self._unwritten[action.invocation_id] = data
            self._handoff[action.network] = (saved.file, data)
        return saved

    async def _report(self, action: Invoke | ShowPlaceholder, event: Event) -> None:
        """Hand a call's outcome back to the runner; while the database refuses, wait and retry.

        Every write an action makes is idempotent, so carrying out the same transition again
        after a partial failure is safe; the runner's state moves only once all of it is committed.
        """
        self._tasks.pop(action.invocation_id, None)
        counted: tuple[object, float] | None = None
        if isinstance(event, Completed) and self.spending is not None:
            made = self._in_flight.get(action.invocation_id)  # counted when it was created, as the database does
            counted = (event.meta.get("cost_usd"), made.created_at if made is not None else event.now)
            await self.spending.spent(action.network, *counted)
        try:
            plan = await self._until_storage_works(lambda: self._dispatch(action.network, event))
            if counted is not None and self.spending is not None and not any(
                    isinstance(a, Complete) for a in plan):  # discarded: no completed step, no cost on record
                await self.spending.refund(action.network, *counted)
        except asyncio.CancelledError:
            if self._unwritten.pop(action.invocation_id, None) is not None and isinstance(event, Completed):
                self.archive.discard(event.output)  # its transition never committed
            raise
        except Exception as err:  # a bug, or an outcome the store, the encoder or the bus refuses
            log.exception("%s: could not record the outcome of the call", action.invocation_id)
            self._unwritten.pop(action.invocation_id, None)
            if counted is not None and self.spending is not None:  # recorded as failed: no cost on record
                await self.spending.refund(action.network, *counted)
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
                if self.on_storage_fault is not None:
                    self.on_storage_fault()
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
        try:
            pace = self.replay_seconds if self.replay_seconds is not None else min(model.hints.typical_seconds, 30)
            await asyncio.sleep(pace)
            found = await self.store.replay_candidates(model.id)
            past = choose_replay(action.input, await asyncio.to_thread(self._still_archived, found))
            if past is None or past.output is None:
                event: Event = NothingToReplay(action.invocation_id, self.clock())
            else:
                saved, data = await asyncio.to_thread(self._copy_for_replay, action, past.output)
                if data is not None:
                    self._unwritten[action.invocation_id] = data  # written with the transition
                event = Completed(action.invocation_id, saved, self.clock(), {"replay_of": past.id})
        except asyncio.CancelledError:
            self._unwritten.pop(action.invocation_id, None)
            raise
        except PanicEdgeError as err:  # e.g. the archived file is gone: wait rather than fail
            log.warning("cannot replay %s: %s", action.invocation_id, err)
            event = NothingToReplay(action.invocation_id, self.clock())
        except Exception as err:  # a bug: record it, keep the daemon up
            log.exception("unexpected error replaying %s", action.invocation_id)
            event = Failed(action.invocation_id, f"unexpected error: {type(err).__name__}: "
                           f"{clean_text(str(err), 300)}", self.clock())
        await self._report(action, event)

    def _still_archived(self, found: list[Invocation]) -> list[Invocation]:
        """The candidates whose file is still there: retention deletes a file before its row is
        marked pruned (and a full disk may delay the mark), so the row alone does not say."""
        return [i for i in found if i.output is None or self.archive.has(i.output)]

    def _copy_for_replay(self, action: Invoke, past: Content) -> tuple[Content, bytes | None]:
        """The replayed output, and the bytes of its file to write (None for text)."""
        flags = tuple(dict.fromkeys((*past.flags, "replay")))
        if past.text is not None:
            return Content(past.type, text=past.text, flags=flags), None
        return self.archive.plan(action.network, action.invocation_id, self.archive.read(past), past.type, flags)

    def _handed_over(self, network: str, content: Content) -> ModelInput | None:
        """The input without touching the disk: text, or the file the network's previous model
        gave (its bytes kept since it was archived); None when it must be read from the archive."""
        if content.text is not None:
            if picture_ref.carried(content) is not None:
                return None  # the text carries a picture: read it from the archive, off the loop
            return ModelInput(content.type, text=content.text)
        kept = self._handoff.pop(network, None)
        if kept is not None and kept[0] == content.file:
            return ModelInput(content.type, data=kept[1], mime=content.mime, file=content.file)
        return None

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

    def _checked_output(self, action: Invoke | ShowPlaceholder, model: Model, text: str | None,
                        data: bytes | None, flags: tuple[str, ...]) -> tuple[Content, bytes | None]:
        """The output as it will be recorded, and the bytes of its file: text trimmed, a file
        checked, normalised (images: CPU work) and placed, not yet written. Raises
        PanicEdgeError when it is not what the model should give."""
        if model.output is MediaType.TEXT:
            if text is None:
                raise PanicEdgeError(f"{model.id} should give text but gave a file")
            return Content(MediaType.TEXT, text=text[:MAX_TEXT_OUTPUT].strip() or "(silence)", flags=flags), None
        if data is None:
            raise PanicEdgeError(f"{model.id} should give a {model.output} file but gave text")
        return self.archive.plan(action.network, action.invocation_id, data, model.output, flags)


async def _all(coroutines: Iterable[Coroutine[Any, Any, object]]) -> None:
    """Run ``coroutines`` concurrently (several networks' transitions share the writer's commits);
    the first error is raised once all have finished."""
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


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
