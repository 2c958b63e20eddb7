"""Restarting from an invocation: which text becomes the prompt of the new run.

A run starts from a text prompt, so:
- a completed invocation with a text output gives that text;
- one with an image or audio output gives the nearest text before it in the same run: its own
  input if that was text, else the input of the invocation before it, and so on back to the run's
  prompt. (The picture itself was made from that text, so the new run starts where it did.)
An invocation with no output (in flight or failed) cannot be restarted from.
"""

from __future__ import annotations

from collections.abc import Sequence

from panic_edge.core.invocation import Invocation, InvocationState, Run
from panic_edge.errors import CommandError


def restart_prompt(run: Run, invocations: Sequence[Invocation], invocation_id: str) -> str:
    """The prompt for a new run restarted from ``invocation_id`` of ``run``. Raises CommandError."""
    ordered = sorted(invocations, key=lambda inv: inv.sequence)
    index = next((i for i, inv in enumerate(ordered) if inv.id == invocation_id), None)
    if index is None:
        raise CommandError(f"invocation {invocation_id!r} is not part of run {run.id!r}")
    chosen = ordered[index]
    if chosen.state is not InvocationState.COMPLETED or chosen.output is None:
        raise CommandError(f"invocation {invocation_id!r} has no output ({chosen.state}); "
                           "restart from a completed one")
    if chosen.output.text is not None:
        return chosen.output.text
    for inv in reversed(ordered[: index + 1]):
        if inv.input.text is not None:
            return inv.input.text
    return run.prompt
