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
- Stop ends the run; the invocation in flight is cancelled. A result that arrives for an
  invocation that is no longer current is discarded, never attached to a later run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from panic_edge.core.media import Content
from panic_edge.core.network import Network
from panic_edge.errors import CommandError, LockoutError

MAX_PROMPT_CHARS = 2000


def invocation_id(run_id: str, sequence: int) -> str:
    return f"{run_id}.{sequence}"


# --- state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveRun:
    run_id: str
    started_at: float
    sequence: int  # of the invocation in flight
    model: str

    @property
    def invocation_id(self) -> str:
        return invocation_id(self.run_id, self.sequence)


@dataclass(frozen=True)
class RunnerState:
    network: Network
    run: ActiveRun | None = None
    next_prompt: int = 0  # index into network.prompts for the next button press

    @property
    def phase(self) -> str:
        return "running" if self.run else "idle"

    @property
    def lockout_until(self) -> float | None:
        return self.run.started_at + self.network.lockout_seconds if self.run else None


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


Event = Start | Press | Stop | Completed | Failed

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
    invocation_id: str
    run_id: str
    network: str
    sequence: int
    model: str
    input: Content
    created_at: float


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
class Refuse:
    error: CommandError


Action = BeginRun | EndRun | Invoke | Complete | Fail | Cancel | Discard | Refuse

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
            if run is None or run.invocation_id != inv_id:
                return state, [Discard(inv_id, output)]
            next_seq = run.sequence + 1
            model = state.network.model_at(next_seq)
            nxt = replace(run, sequence=next_seq, model=model)
            return replace(state, run=nxt), [
                Complete(inv_id, output, now, meta),
                Invoke(nxt.invocation_id, run.run_id, state.network.slug, next_seq, model, output, now),
            ]
        case Failed(inv_id, error, now):
            run = state.run
            if run is None or run.invocation_id != inv_id:
                return state, [Discard(inv_id, None)]
            reason = f"step {run.sequence} ({run.model}) failed: {error}"
            return replace(state, run=None), [Fail(inv_id, error, now), EndRun(run.run_id, reason, now)]
    raise TypeError(f"not a runner event: {event!r}")


def _start(state: RunnerState, run_id: str, prompt: str, now: float) -> tuple[RunnerState, list[Action]]:
    prompt = prompt.strip()
    if not prompt:
        return state, [Refuse(CommandError("the prompt is empty; type something to start a run"))]
    if len(prompt) > MAX_PROMPT_CHARS:
        return state, [Refuse(CommandError(
            f"the prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}"))]
    actions: list[Action] = []
    if state.run is not None:
        until = state.lockout_until
        assert until is not None
        if now < until:
            return state, [Refuse(LockoutError(state.network.slug, until - now))]
        actions += _end(state.run, "replaced by a new run", now)
    model = state.network.model_at(0)
    run = ActiveRun(run_id=run_id, started_at=now, sequence=0, model=model)
    actions += [
        BeginRun(run_id, state.network.slug, prompt, now),
        Invoke(run.invocation_id, run_id, state.network.slug, 0, model, Content.of_text(prompt), now),
    ]
    return replace(state, run=run), actions


def _end(run: ActiveRun, reason: str, now: float) -> list[Action]:
    return [Cancel(run.invocation_id, f"cancelled: {reason}", now), EndRun(run.run_id, reason, now)]
