"""Pacing: how long a run waits between one invocation's end and the next one's call.

A network's ``pacing`` is a list of ``[run_age_seconds, delay_seconds]`` steps: while the run is at
least ``run_age_seconds`` old, each next call waits ``delay_seconds``. The original installation's
rule, kept as the default for networks that call paid cloud models, is "every second while the
run is under ten minutes old, every 15 s under an hour, every ten minutes after that"::

    [[0, 1], [600, 15], [3600, 600]]

Slow displays hold the loop too, so every output is seen before the next replaces it:

- a model's ``post_wait`` hint after its output, and the next model's ``pre_wait`` before its call;
- a Vestaboard online for the network: 8 s after each text output (the board flips for several
  seconds and people read it), and 10 s before the first call when a board shows the starting
  prompt.

The wait is the longest of these, never their sum: they all ask for the same thing, time on screen.
Pure: the run's age and what is online arrive as arguments.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from panic_edge.core.media import MediaType
from panic_edge.core.model import Model

Pacing = tuple[tuple[float, float], ...]

ORIGINAL: Pacing = ((0.0, 1.0), (600.0, 15.0), (3600.0, 600.0))
"""The Elixir installation's rule: the default for networks with a cloud model."""

LIVELY: Pacing = ((0.0, 0.0), (600.0, 5.0), (3600.0, 60.0))
"""The default for networks of local models only (the demo): brisk for the first ten minutes, then
slower, so a demo left on overnight does not fill the disk."""

BOARD_UPDATE_SECONDS = 8.0
BOARD_PROMPT_SECONDS = 10.0
MAX_DELAY = 24 * 3600.0


def parse_pacing(value: object) -> Pacing:
    """A pacing from a network file's value. Raises ValueError with a message a curator can act on.

    Steps must be pairs of non-negative numbers, ages strictly increasing from 0, delays at most a day.
    """
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError("pacing must be a non-empty list of [run_age_seconds, delay_seconds] pairs, "
                         "e.g. [[0, 1], [600, 15], [3600, 600]]")
    steps: list[tuple[float, float]] = []
    for index, item in enumerate(value):
        if (not isinstance(item, (list, tuple)) or len(item) != 2
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in item)):
            raise ValueError(f"pacing step {index + 1} must be a pair of numbers [run_age_seconds, "
                             f"delay_seconds], not {item!r}"[:200])
        age, delay = float(item[0]), float(item[1])
        if not (math.isfinite(age) and math.isfinite(delay)) or age < 0 or delay < 0:
            raise ValueError(f"pacing step {index + 1} must hold non-negative finite numbers")
        if delay > MAX_DELAY:
            raise ValueError(f"pacing step {index + 1} waits {delay:g} s; the longest wait is a day "
                             f"({MAX_DELAY:g} s)")
        if steps and age <= steps[-1][0]:
            raise ValueError(f"pacing step {index + 1} starts at {age:g} s, not after the step before it "
                             f"({steps[-1][0]:g} s): list the steps by increasing run age")
        steps.append((age, delay))
    if steps[0][0] != 0:
        raise ValueError("the first pacing step must start at run age 0, e.g. [0, 1]")
    return tuple(steps)


def pacing_text(pacing: Pacing) -> str:
    """``"0:1, 600:15, 3600:600"``: a pacing as a curator types it in the admin page."""
    return ", ".join(f"{age:g}:{delay:g}" for age, delay in pacing)


def parse_pacing_text(text: str) -> list[list[float]] | str:
    """The steps typed as ``"0:1, 600:15"``; the text itself when it is not that shape (so the
    network file's validation names the problem)."""
    steps: list[list[float]] = []
    for part in text.split(","):
        age, colon, delay = part.strip().partition(":")
        try:
            steps.append([float(age), float(delay)])
        except ValueError:
            return text
        if not colon:
            return text
    return steps


def default_pacing(models: Iterable[Model]) -> Pacing:
    """The pacing of a network that sets none: the original's rule if any model is paid (cloud)."""
    return LIVELY if all(m.is_local for m in models) else ORIGINAL


def delay_at(pacing: Pacing, run_age: float) -> float:
    """The pacing delay of a run ``run_age`` seconds old."""
    delay = pacing[0][1]
    for age, step_delay in pacing:
        if run_age >= age:
            delay = step_delay
        else:
            break
    return delay


@dataclass(frozen=True)
class Boards:
    """The split-flap boards online for a network: how many, whether one shows the prompt, and how
    long the loop holds for them (``[boards]``: a board flips for seconds, then people read)."""

    online: int = 0
    shows_prompt: bool = False
    update_seconds: float = BOARD_UPDATE_SECONDS
    prompt_seconds: float = BOARD_PROMPT_SECONDS


NO_BOARDS = Boards()


def wait_before(sequence: int, run_age: float, pacing: Pacing, models: Mapping[str, Model],
                finished: str | None, upcoming: str, boards: Boards = NO_BOARDS) -> float:
    """Seconds to wait before calling invocation ``sequence`` with model ``upcoming``.

    ``finished`` is the model whose output was just shown (None for the genesis, which has no
    pacing delay: a visitor who pressed the button wants to see something happen).
    """
    waits = [0.0]
    nxt = models.get(upcoming)
    if nxt is not None:
        waits.append(nxt.hints.pre_wait)
    if sequence == 0 or finished is None:
        if boards.online and boards.shows_prompt:
            waits.append(boards.prompt_seconds)
        return max(waits)
    waits.append(delay_at(pacing, run_age))
    done = models.get(finished)
    if done is not None:
        waits.append(done.hints.post_wait)
        if boards.online and done.output is MediaType.TEXT:
            waits.append(boards.update_seconds)
    return max(waits)
