"""The network runner as a pure transition function: ``step(state, event) -> (state, actions)``.

One runner per network, ``idle <-> running``. The shell (panic_edge.daemon.engine) feeds it
events, carries out the actions it returns in order, and owns every id, clock and call:
``now`` and new run ids arrive inside the events, so every rule here is testable without I/O.

Rules:
- Start (or a button press, which takes the network's next prompt) while idle begins a run whose
  genesis invocation (sequence 0) runs the first model on the prompt.
- Start while running is refused with the remaining lockout if the current run is younger than
  the network's lockout; otherwise the current run is ended ("replaced") and a new one begins.
- Each completion is recorded and the next invocation prepared: model ``seq % len(models)``,
  the previous output as its input.
- A failed invocation ends its run with the reason recorded.
- A call refused by the model's safety filter (Unsafe) does not end the run: an invocation that
  takes text is called once more with the network's ``safety_prompt`` (a fixed, harmless prompt;
  empty turns this off); refused again, or taking a picture or a sound, it completes with the
  safety placeholder (ShowPlaceholder), flagged ``nsfw``, and the loop goes on from it. The meta
  of the completed invocation records the refusal (``safety``) and the prompt used (``safety_prompt``).
- Stop ends the run; the invocation in flight is cancelled. A result that arrives for an
  invocation that is no longer current is discarded, never attached to a later run.
- Offline (the model platforms are unreachable), by the network's ``offline_policy``:
  ``pause`` holds the current invocation and calls it again when the platforms come back;
  ``replay`` keeps the loop going with past outputs of the same models, labelled as replay;
  ``stop`` ends the run, and refuses new starts until the platforms are back.
- Resume (after a restart) takes up a run where the database says it stopped.
- Pacing (panic_edge.core.pacing): after each completion the next invocation is prepared at once
  (screens show it waiting, with ``next_invocation_at``) but called only when it is ``Due``: the
  network's pacing for the run's age, the models' pre/post waits and the boards online decide how
  long. Gates are checked when it is due, not when it was prepared.
- Gates: outside the opening hours (``Hours``), when the day's budget is spent (``Spending``) or
  offline, the next invocation is held until the gate opens. By ``Policies``, closing or a spent
  budget may instead end the run; starts are refused while closed or over budget. Opening may
  start an attract run on an idle network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from panic_edge.core.media import Content, MediaType
from panic_edge.core.model import Model
from panic_edge.core.network import Network
from panic_edge.core.pacing import NO_BOARDS, Boards, Pacing, default_pacing, wait_before
from panic_edge.errors import BudgetError, ClosedError, CommandError, LockoutError, OfflineError

MAX_PROMPT_CHARS = 2000

Mode = Literal["call", "replay", "hold", "wait"]
Gate = Literal["closed", "budget", "offline"]


def invocation_id(run_id: str, sequence: int) -> str:
    return f"{run_id}.{sequence}"


# --- state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveRun:
    run_id: str
    started_at: float
    sequence: int  # of the invocation in flight (or held)
    model: str
    input: Content | None = None  # of the invocation in flight, kept to call it again after a hold
    held: bool = False  # waiting for a gate to open (the platforms, the opening hours, the budget)
    held_reason: Gate | None = None
    next_at: float | None = None  # the prepared invocation is called at this instant (pacing)
    safety: str | None = None  # why the safety filter refused this invocation once (then retried)

    @property
    def invocation_id(self) -> str:
        return invocation_id(self.run_id, self.sequence)


@dataclass(frozen=True)
class Policies:
    """The appliance's rules for every network: what closing time and a spent budget do to a run
    (``stop`` ends it, ``pause`` holds it until the gate opens) and what opening does to an idle
    network (``wait`` for the first press, or start an ``attract`` run)."""

    closed: Literal["stop", "pause"] = "stop"
    on_open: Literal["wait", "attract"] = "wait"
    budget: Literal["pause", "stop"] = "pause"


@dataclass(frozen=True)
class RunnerState:
    network: Network
    run: ActiveRun | None = None
    next_prompt: int = 0  # index into network.prompts for the next button press
    online: bool = True  # whether this network's model platforms are reachable
    models: Mapping[str, Model] = field(default_factory=dict, compare=False)  # for pacing hints
    policies: Policies = Policies()
    boards: Boards = NO_BOARDS
    open: bool = True  # within the opening hours
    opens_at: str | None = None  # when closed: when it opens next, as people read it
    budget: str | None = None  # why the day's budget forbids paid calls; None while it allows them

    @property
    def phase(self) -> str:
        return "running" if self.run else "idle"

    @property
    def lockout_until(self) -> float | None:
        return self.run.started_at + self.network.lockout_seconds if self.run else None

    @property
    def next_invocation_at(self) -> float | None:
        return self.run.next_at if self.run else None

    @property
    def pacing(self) -> Pacing:
        if self.network.pacing is not None:
            return self.network.pacing
        return default_pacing([self.models[m] for m in self.network.models if m in self.models])

    @property
    def gate(self) -> Gate | None:
        """What holds the next call, most lasting first; None when nothing does."""
        if not self.open:
            return "closed"
        if self.budget is not None:
            return "budget"
        if not self.online:
            return "offline"
        return None

    @property
    def mode(self) -> Mode:
        """How the next invocation is carried out: called, replayed from the archive, or held."""
        gate = self.gate
        if gate is None:
            return "call"
        return "replay" if gate == "offline" and self.network.offline_policy == "replay" else "hold"


# --- events (in) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    run_id: str
    prompt: str
    now: float


@dataclass(frozen=True)
class Press:
    """The panic button: start a run with the network's next prompt."""

    run_id: str
    now: float


@dataclass(frozen=True)
class Stop:
    now: float
    reason: str = "stopped"


@dataclass(frozen=True)
class Completed:
    invocation_id: str
    output: Content
    now: float
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Failed:
    invocation_id: str
    error: str
    now: float


@dataclass(frozen=True)
class Unsafe:
    """The model's safety filter refused the call (or withheld its output)."""

    invocation_id: str
    error: str
    now: float


@dataclass(frozen=True)
class Unreachable:
    """A call could not reach its platform: the appliance is offline."""

    invocation_id: str
    error: str
    now: float


@dataclass(frozen=True)
class NothingToReplay:
    """Offline with the replay policy, but the archive has no past output of the model to show."""

    invocation_id: str
    now: float


@dataclass(frozen=True)
class Connectivity:
    """The model platforms became reachable (``online``) or unreachable."""

    online: bool
    now: float


@dataclass(frozen=True)
class Resume:
    """After a restart: take up an open run at ``sequence`` with ``input``.

    ``again`` is True when that invocation already exists (it was in flight) and is called again.
    """

    run_id: str
    started_at: float
    sequence: int
    input: Content
    again: bool
    now: float
    after: float | None = None  # when the invocation before it finished, to keep the pacing


@dataclass(frozen=True)
class Due:
    """The paced wait of the prepared invocation is over (the shell's timer)."""

    now: float


@dataclass(frozen=True)
class Hours:
    """The opening hours began (``open``) or ended. ``opens_at`` says when a closed installation
    opens next; ``attract_run_id`` (on opening) starts an attract run on an idle network."""

    open: bool
    now: float
    opens_at: str | None = None
    attract_run_id: str | None = None


@dataclass(frozen=True)
class Spending:
    """The day's budget now forbids paid calls (``reason``) or allows them again (None)."""

    reason: str | None
    now: float


@dataclass(frozen=True)
class BoardsSeen:
    """The split-flap boards online for this network changed."""

    boards: Boards


Event = (Start | Press | Stop | Completed | Failed | Unsafe | Unreachable | NothingToReplay | Connectivity
         | Resume | Due | Hours | Spending | BoardsSeen)

# --- actions (out) --------------------------------------------------------------------------


@dataclass(frozen=True)
class BeginRun:
    run_id: str
    network: str
    prompt: str
    started_at: float


@dataclass(frozen=True)
class EndRun:
    run_id: str
    reason: str
    ended_at: float


@dataclass(frozen=True)
class Invoke:
    """Prepare an invocation and carry it out by ``mode``; ``again`` re-uses an existing one."""

    invocation_id: str
    run_id: str
    network: str
    sequence: int
    model: str
    input: Content
    created_at: float
    mode: Mode = "call"
    again: bool = False
    not_before: float | None = None  # mode "wait": the shell sends Due at this instant


@dataclass(frozen=True)
class Complete:
    invocation_id: str
    output: Content
    finished_at: float
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Fail:
    invocation_id: str
    error: str
    finished_at: float


@dataclass(frozen=True)
class Cancel:
    """Cancel the call in flight and record the invocation as failed with ``reason``."""

    invocation_id: str
    reason: str
    finished_at: float


@dataclass(frozen=True)
class Discard:
    """A result for an invocation that is no longer current: drop it (and its archived file)."""

    invocation_id: str
    output: Content | None


@dataclass(frozen=True)
class ShowPlaceholder:
    """Complete the invocation with the safety placeholder for its model's output (``reason`` says why)."""

    invocation_id: str
    network: str
    model: str
    reason: str
    now: float


@dataclass(frozen=True)
class Refuse:
    error: CommandError


Action = BeginRun | EndRun | Invoke | Complete | Fail | Cancel | Discard | ShowPlaceholder | Refuse

# --- the transition function ----------------------------------------------------------------


def step(state: RunnerState, event: Event) -> tuple[RunnerState, list[Action]]:
    """Apply ``event`` to ``state``; return the new state and the actions to carry out, in order."""
    match event:
        case Press(run_id, now):
            prompts = state.network.prompts
            prompt = prompts[state.next_prompt % len(prompts)]
            new_state, actions = _start(state, run_id, prompt, now)
            if new_state.run is not state.run:  # the press started a run: advance the prompt list
                new_state = replace(new_state, next_prompt=(state.next_prompt + 1) % len(prompts))
            return new_state, actions
        case Start(run_id, prompt, now):
            return _start(state, run_id, prompt, now)
        case Stop(now, reason):
            if state.run is None:
                return state, []
            return replace(state, run=None), _end(state.run, reason, now)
        case Completed(inv_id, output, now, meta):
            run = state.run
            if run is None or run.invocation_id != inv_id or run.held or run.next_at is not None:
                return state, [Discard(inv_id, output)]
            if run.safety is not None:
                meta = {"safety": run.safety, "safety_prompt": state.network.safety_prompt, **meta}
            stop = _stop_reason(state)
            if stop is not None:
                return replace(state, run=None), [Complete(inv_id, output, now, meta),
                                                  EndRun(run.run_id, stop, now)]
            state, invoke = _next(state, run, output, now)
            return state, [Complete(inv_id, output, now, meta), invoke]
        case Failed(inv_id, error, now):
            run = state.run
            if run is None or run.invocation_id != inv_id:
                return state, [Discard(inv_id, None)]
            reason = f"step {run.sequence} ({run.model}) failed: {error}"
            return replace(state, run=None), [Fail(inv_id, error, now), EndRun(run.run_id, reason, now)]
        case Unsafe(inv_id, error, now):
            run = state.run
            if run is None or run.invocation_id != inv_id or run.held:
                return state, [Discard(inv_id, None)]
            return _unsafe(state, run, error, now)
        case Unreachable(inv_id, error, now):
            run = state.run
            if run is None or run.invocation_id != inv_id:
                return state, [Discard(inv_id, None)]
            offline = replace(state, online=False)
            if state.network.offline_policy == "stop":
                reason = f"stopped: the model platforms are unreachable ({error})"
                return replace(offline, run=None), [Fail(inv_id, error, now), EndRun(run.run_id, reason, now)]
            return _again(offline, run, offline.mode, now)
        case NothingToReplay(inv_id, now):
            run = state.run
            if run is None or run.invocation_id != inv_id:
                return state, []
            return _again(state, run, "hold", now)
        case Connectivity(online, now):
            if online == state.online:
                return state, []
            return _release(replace(state, online=online), now)
        case Hours(is_open, now, opens_at, attract_run_id):
            return _hours(state, is_open, now, opens_at, attract_run_id)
        case Spending(reason, now):
            if reason == state.budget:
                return state, []
            return _gate_changed(replace(state, budget=reason), now)
        case BoardsSeen(boards):
            return replace(state, boards=boards), []
        case Due(now):
            run = state.run
            if run is None or run.next_at is None:
                return state, []  # a timer left over from a run that has ended
            if now < run.next_at:
                return state, [_wait(state, run, run.next_at)]  # early: wait the rest
            stop = _stop_reason(state)
            if stop is not None:
                return replace(state, run=None), _end(run, stop, now)
            return _again(state, replace(run, next_at=None), state.mode, now)
        case Resume(run_id, started_at, sequence, given, again, now, after):
            if state.run is not None:
                return state, [EndRun(run_id, "replaced by a new run", now)]
            state = replace(state, run=ActiveRun(run_id, started_at, sequence, "", given))
            not_before = None
            if after is not None and sequence > 0:
                previous = state.network.model_at(sequence - 1)
                wait = wait_before(sequence, after - started_at, state.pacing, state.models, previous,
                                   state.network.model_at(sequence), state.boards)
                not_before = after + wait if after + wait > now else None
            state, invoke = _invoke(state, run_id, sequence, given, now, again=again, not_before=not_before)
            return state, [invoke]
    raise TypeError(f"not a runner event: {event!r}")


OFFLINE_STOP = "stopped: the model platforms are unreachable"


CLOSED_STOP = "closed: outside the opening hours"


def _stop_reason(state: RunnerState) -> str | None:
    """Why the run ends instead of making its next call: closed, over budget or offline, on a
    network whose policy for that is stop; None when it goes on (or is held)."""
    if not state.open and state.policies.closed == "stop":
        return CLOSED_STOP
    if state.budget is not None and state.policies.budget == "stop":
        return f"budget: {state.budget}"
    if state.gate == "offline" and state.network.offline_policy == "stop":
        return OFFLINE_STOP
    return None


def _gate_changed(state: RunnerState, now: float) -> tuple[RunnerState, list[Action]]:
    """A gate closed or opened. Where its policy is stop the run ends: at once if it is waiting or
    held, else with the result of the call in flight (already paid for: recorded and shown first,
    by the Completed rule); elsewhere a held run goes on, or is held for another reason."""
    run = state.run
    stop = _stop_reason(state)
    if stop is not None and run is not None:
        if not run.held and run.next_at is None:
            return state, []
        return replace(state, run=None), _end(run, stop, now)
    return _release(state, now)


def _next(state: RunnerState, run: ActiveRun, output: Content, now: float) -> tuple[RunnerState, Invoke]:
    """Prepare the invocation after ``run``'s current one, paced."""
    sequence = run.sequence + 1
    wait = wait_before(sequence, now - run.started_at, state.pacing, state.models, run.model,
                       state.network.model_at(sequence), state.boards)
    return _invoke(state, run.run_id, sequence, output, now, not_before=now + wait if wait > 0 else None)


def _invoke(state: RunnerState, run_id: str, sequence: int, given: Content, now: float,
            again: bool = False, not_before: float | None = None) -> tuple[RunnerState, Invoke]:
    """Prepare invocation ``sequence`` of the current run, carried out by the state's mode; a
    ``not_before`` in the future makes it wait (the gates are checked again when it is due)."""
    assert state.run is not None
    model = state.network.model_at(sequence)
    mode: Mode = state.mode
    if mode == "call" and not_before is not None:
        mode = "wait"
    run = replace(state.run, sequence=sequence, model=model, input=given, held=mode == "hold",
                  held_reason=state.gate if mode == "hold" else None,
                  next_at=not_before if mode == "wait" else None, safety=None)
    invoke = Invoke(run.invocation_id, run_id, state.network.slug, sequence, model, given, now, mode, again,
                    not_before if mode == "wait" else None)
    return replace(state, run=run), invoke


def _wait(state: RunnerState, run: ActiveRun, until: float) -> Invoke:
    assert run.input is not None
    return Invoke(run.invocation_id, run.run_id, state.network.slug, run.sequence, run.model, run.input,
                  until, "wait", True, until)


def _again(state: RunnerState, run: ActiveRun, mode: Mode, now: float) -> tuple[RunnerState, list[Action]]:
    """Carry out the current invocation again, by ``mode``."""
    assert run.input is not None
    invoke = Invoke(run.invocation_id, run.run_id, state.network.slug, run.sequence, run.model, run.input,
                    now, mode, again=True)
    held = replace(run, held=mode == "hold", held_reason=state.gate if mode == "hold" else None, next_at=None)
    return replace(state, run=held), [invoke]


def _release(state: RunnerState, now: float) -> tuple[RunnerState, list[Action]]:
    """A gate changed: a held run goes on (or is held for another reason, said once)."""
    run = state.run
    if run is None or not run.held:
        return state, []
    mode = state.mode
    if mode == "hold" and state.gate == run.held_reason:
        return state, []
    return _again(state, run, mode, now)


def _hours(state: RunnerState, is_open: bool, now: float, opens_at: str | None,
           attract_run_id: str | None) -> tuple[RunnerState, list[Action]]:
    if is_open == state.open and opens_at == state.opens_at:
        return state, []
    state = replace(state, open=is_open, opens_at=None if is_open else opens_at)
    if not is_open:
        return _gate_changed(state, now)
    if state.run is None:
        if attract_run_id is not None and state.policies.on_open == "attract":
            return step(state, Press(attract_run_id, now))
        return state, []
    return _release(state, now)


def _unsafe(state: RunnerState, run: ActiveRun, error: str, now: float) -> tuple[RunnerState, list[Action]]:
    """Refused by the safety filter: once more with the safety prompt, else the placeholder."""
    prompt = state.network.safety_prompt.strip()
    takes_text = run.input is not None and run.input.text is not None
    if run.safety is None and prompt and takes_text:
        safe = Content.of_text(prompt)
        invoke = Invoke(run.invocation_id, run.run_id, state.network.slug, run.sequence, run.model, safe, now,
                        "call", again=True)
        return replace(state, run=replace(run, input=safe, safety=error)), [invoke]
    if run.safety is not None:
        reason = f"{run.safety}; with the safety prompt too: {error}"
    elif not prompt:
        reason = f"{error} (this network has no safety prompt to try instead)"
    else:
        kind = "a sound" if run.input is not None and run.input.type is MediaType.AUDIO else "a picture"
        reason = f"{error} (not retried: the model takes {kind})"
    return state, [ShowPlaceholder(run.invocation_id, state.network.slug, run.model, reason, now)]


def _start(state: RunnerState, run_id: str, prompt: str, now: float) -> tuple[RunnerState, list[Action]]:
    prompt = prompt.strip()
    if not prompt:
        return state, [Refuse(CommandError("the prompt is empty; type something to start a run"))]
    if len(prompt) > MAX_PROMPT_CHARS:
        return state, [Refuse(CommandError(
            f"the prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}"))]
    if not state.open:
        return state, [Refuse(ClosedError(state.network.slug, state.opens_at))]
    if state.budget is not None:
        return state, [Refuse(BudgetError(state.network.slug, state.budget))]
    if not state.online and state.network.offline_policy == "stop":
        return state, [Refuse(OfflineError(state.network.slug))]
    actions: list[Action] = []
    if state.run is not None:
        until = state.lockout_until
        assert until is not None
        if now < until:
            return state, [Refuse(LockoutError(state.network.slug, until - now))]
        actions += _end(state.run, "replaced by a new run", now)
    genesis = Content.of_text(prompt)
    state = replace(state, run=ActiveRun(run_id=run_id, started_at=now, sequence=0, model=""))
    wait = wait_before(0, 0.0, state.pacing, state.models, None, state.network.model_at(0), state.boards)
    state, invoke = _invoke(state, run_id, 0, genesis, now, not_before=now + wait if wait > 0 else None)
    actions += [BeginRun(run_id, state.network.slug, prompt, now), invoke]
    return state, actions


def _end(run: ActiveRun, reason: str, now: float) -> list[Action]:
    return [Cancel(run.invocation_id, f"cancelled: {reason}", now), EndRun(run.run_id, reason, now)]
