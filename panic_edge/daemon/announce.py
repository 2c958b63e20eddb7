"""Telling the world about committed transitions: MQTT messages, log lines, in-process listeners.

The engine hands over a transition only once its writes are committed (nothing is published
before it is durable); ``later`` tells it as the next commit begins its fsync, or as soon as the
writer finds no next write, so the loop publishes while the disk works. Invocation messages go
out one per state change, each acknowledged by the broker into the durable outbox
(``acknowledged``). A network's retained state goes out at once when what it means changes
(idle or running, which run, online, held); a change of step alone is coalesced to at most one
message per ``state_interval`` per network, the latest always sent at the end of the window
(display nodes read the phase and lockout from it; steps arrive as invocations).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from panic_edge.core import payloads
from panic_edge.core.catalogue import describe
from panic_edge.core.invocation import Invocation, InvocationState, invocation_message
from panic_edge.core.media import Content
from panic_edge.core.model import Model
from panic_edge.core.runner import Action, BeginRun, Cancel, Complete, EndRun, Fail, Invoke, RunnerState
from panic_edge.core.topics import Topics

log = logging.getLogger("panic_edge.engine")

STATE_INTERVAL = 0.2  # seconds: a network's step-only state changes go out at most this often
TELL_WAIT = 0.002  # seconds a committed transition waits, at most, to be told (the writer is sooner)


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                on_ack: Callable[[], None] | None = None, expiry: int | None = None) -> None: ...


def _meaning(state: RunnerState) -> tuple[object, ...]:
    """What a network state says beyond its step: a change here is published at once."""
    run = state.run
    return (state.phase, run.run_id if run else None, state.online, bool(run and run.held),
            run.held_reason if run else None, state.network.offline_policy, state.open, state.budget)


def pause(state: RunnerState) -> str | None:
    """Why a network cannot go on or start, in words for the admin page: the opening hours or the
    day's budget (display nodes say it in their own words, from ``gate``: nodes/gate.py)."""
    if not state.open:
        opens = f" ({state.opens_at})" if state.opens_at else ""
        if state.run is not None:  # held until opening (closed_policy = "pause")
            return f"closed: the run goes on when the installation opens{opens}"
        return f"closed: a run can start when the installation opens{opens}"
    if state.budget is not None:
        return state.budget
    return None


class Announcer:
    def __init__(self, publisher: Publisher, topics: Topics, media_base: str, catalogue: Mapping[str, Model],
                 clock: Callable[[], float] = time.time, state_interval: float = STATE_INTERVAL,
                 invocation_expiry: int | None = None) -> None:
        self.publisher = publisher
        self.topics = topics
        self.media_base = media_base
        self.catalogue = catalogue
        self.clock = clock
        self.state_interval = state_interval
        self.invocation_expiry = invocation_expiry  # MQTT 5 message expiry of invocation messages (s)
        self.acknowledged: list[tuple[str, str]] = []  # (invocation id, state) the broker has
        self.invocation_listeners: list[Callable[[dict[str, Any]], None]] = []
        self.state_listeners: list[Callable[[RunnerState], None]] = []
        self._sent: dict[str, tuple[tuple[object, ...], float]] = {}  # slug -> (meaning, monotonic)
        self._latest: dict[str, RunnerState] = {}
        self._due: dict[str, asyncio.TimerHandle] = {}
        self._untold: collections.deque[tuple[Sequence[Action], Sequence[Invocation | None],
                                              RunnerState | None]] = collections.deque()
        self._tell_timer: asyncio.TimerHandle | None = None

    def label(self, model_id: str) -> str:
        return describe(self.catalogue, model_id).label

    # --- invocations ----------------------------------------------------------------------------

    def invocation(self, inv: Invocation) -> None:
        """Publish an invocation as committed (the outbox records the broker's ack) and hand it to
        the listeners."""
        self._send(inv.network, invocation_message(inv, self.label(inv.model), self.media_base))

    def _send(self, network: str, body: dict[str, Any]) -> None:
        ack = (body["id"], body["state"])
        self.publisher.publish(self.topics.invocations(network), payloads.encode(body), qos=1,
                               on_ack=lambda: self.acknowledged.append(ack), expiry=self.invocation_expiry)
        for listener in self.invocation_listeners:
            listener(body)

    def outcome(self, inv: Invocation | None) -> None:
        """Publish and log a finished invocation; None (nothing changed) says nothing."""
        if inv is None:
            return
        self.invocation(inv)
        if inv.state is InvocationState.COMPLETED and inv.output is not None:
            secs = f"{inv.seconds:.1f} s" if inv.seconds is not None else "?"
            log.info("%s #%d %s: %s -> %s (%s)", inv.network, inv.sequence, self.label(inv.model),
                     inv.input.summary(40), inv.output.summary(40), secs)
        elif inv.state is InvocationState.FAILED:
            log.warning("%s #%d %s failed: %s", inv.network, inv.sequence, self.label(inv.model), inv.error)

    def later(self, plan: Sequence[Action], done: Sequence[Invocation | None],
              state: RunnerState | None) -> None:
        """Tell a committed transition soon, while the disk works: when the next commit starts its
        fsync, or when the writer has had no new write for a moment (``flush_told``, called by
        the store's writer), at the latest within TELL_WAIT seconds. Transitions are told in the
        order they committed."""
        self._untold.append((plan, done, state))
        if self._tell_timer is None:
            self._tell_timer = asyncio.get_running_loop().call_later(TELL_WAIT, self.flush_told)

    def flush_told(self) -> None:
        """Tell every committed transition not yet told, in order."""
        if self._tell_timer is not None:
            self._tell_timer.cancel()
            self._tell_timer = None
        while self._untold:
            self.transition(*self._untold.popleft())

    def transition(self, plan: Sequence[Action], done: Sequence[Invocation | None],
                   state: RunnerState | None) -> None:
        """Publish and log a committed transition; ``state`` when the network's state changed."""
        try:
            for action, result in zip(plan, done, strict=True):
                match action:
                    case BeginRun(run_id, network, prompt, _):
                        log.info("%s: run %s started: %s", network, run_id[:8], Content.of_text(prompt).summary())
                    case EndRun(run_id, reason, _):
                        log.info("run %s ended: %s", run_id[:8], reason)
                    case Invoke():
                        assert result is not None
                        body = invocation_message(result, self.label(result.model), self.media_base)
                        if result.state is InvocationState.INVOKING:  # created and called in one write
                            self._send(result.network, {**body, "state": InvocationState.READY.value,
                                                        "started_at": None})
                        self._send(result.network, body)
                        if action.mode == "hold":
                            held = (state.run.held_reason if state and state.run else None) or ""
                            why = {"closed": "for opening time", "budget": "for the budget to allow it"}.get(
                                held, "for the internet to come back")
                            log.info("%s #%d %s: waiting %s", action.network, action.sequence,
                                     self.label(action.model), why)
                    case Complete() | Fail() | Cancel():
                        self.outcome(result)
            if state is not None:
                self.state_changed(state)
        except Exception:  # a listener's bug must not stop the loop; the writes are committed
            log.exception("could not tell the world about a transition")

    # --- network states -------------------------------------------------------------------------

    def state_changed(self, state: RunnerState) -> None:
        """A network's state changed: its message (coalesced), and every listener (not coalesced)."""
        self.network_state(state)
        for listener in self.state_listeners:
            listener(state)

    def network_state(self, state: RunnerState, *, now: bool = False) -> None:
        """Publish a network's retained state: at once if its meaning changed (or ``now``), else
        at the end of the current window with whatever is latest then."""
        slug = state.network.slug
        self._latest[slug] = state
        meaning, sent = _meaning(state), self._sent.get(slug)
        wait = 0.0 if sent is None else sent[1] + self.state_interval - time.monotonic()
        if now or sent is None or sent[0] != meaning or wait <= 0:
            self._send_state(slug)
        elif slug not in self._due:
            self._due[slug] = asyncio.get_running_loop().call_later(wait, self._send_state, slug)

    def _send_state(self, slug: str) -> None:
        due = self._due.pop(slug, None)
        if due is not None:
            due.cancel()
        state = self._latest.get(slug)
        if state is None:
            return
        run = state.run
        body = payloads.network_state(slug, state.phase, run.run_id if run else None,
                                      run.sequence if run else None, state.lockout_until,
                                      run.model if run else None, self.clock(), online=state.online,
                                      held=bool(run and run.held), offline_policy=state.network.offline_policy,
                                      next_invocation_at=state.next_invocation_at,
                                      held_reason=run.held_reason if run else None, pause=pause(state),
                                      gate=state.gate)
        self._sent[slug] = (_meaning(state), time.monotonic())
        self.publisher.publish(self.topics.network_state(slug), body, qos=1, retain=True)

    def flush(self) -> None:
        """Send every network state still waiting for its window (at shutdown)."""
        for slug in list(self._due):
            self._send_state(slug)

    def removed(self, slug: str) -> None:
        """A network was deleted: clear its retained state, so display nodes stop showing it."""
        due = self._due.pop(slug, None)
        if due is not None:
            due.cancel()
        self._latest.pop(slug, None)
        self._sent.pop(slug, None)
        self.publisher.publish(self.topics.network_state(slug), b"", qos=1, retain=True)
