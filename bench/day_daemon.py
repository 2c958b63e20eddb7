"""The daemon side of the gallery-day benchmark (bench/day.py), in a process of its own.

    python -m bench.day_daemon --start EPOCH --legs UNTIL:SPEED,... --pool DIR

The real daemon (``Daemon``, configured from the environment as ``panic-edge run`` is, with the
network files of config/networks and the real catalogue) on a ``DayClock``. Its one stand-in is the
cloud platforms: ``StandIn`` answers each call after the model's typical_seconds of the day's
clock with an output of the model's real shape (bench.outputs: pictures read from ``--pool``,
sounds, texts) and the meta and cost the Replicate client would leave.

Talks to the benchmark on stdin/stdout, one line each: it prints ``imported`` once its imports are
done, reads the clock's anchor (a ``time.monotonic()`` value: simulated time starts there), prints
``ready`` when the daemon is, and at the end (SIGTERM) one JSON line: the calls its stand-in
answered, per model.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.outputs import meta_of, picture_of, pool_path, sound_bytes, sound_of, text_of
from panic_edge.config import load_config
from panic_edge.core.catalogue import CATALOGUE
from panic_edge.core.media import MediaType
from panic_edge.core.model import Model
from panic_edge.daemon.app import Daemon
from panic_edge.logs import setup_logging
from panic_edge.network_files import load_networks
from panic_edge.platforms.base import ModelInput, ModelOutput, Platforms

CLOUD = ("replicate", "openai", "anthropic", "gemini")
POOL_SEEDS = 4  # different pictures of each shape, taken in turn


class DayClock:
    """Simulated time that stands at ``start`` until the real (monotonic) ``anchor``, then runs at
    each leg's speed until that leg's simulated end (``legs``: (until, speed), in order); the last
    speed goes on after. A day's quiet night can pass faster than its busy hours."""

    def __init__(self, start: float, anchor: float, legs: Sequence[tuple[float, float]]) -> None:
        untils = [start, *(until for until, _ in legs)]
        if not legs or any(b <= a for a, b in itertools.pairwise(untils)) or any(s <= 0 for _, s in legs):
            raise ValueError("a day clock needs legs of positive speed, each ending after the one before")
        self._sims, self._reals = [start], [anchor]
        self._speeds = [speed for _, speed in legs] + [legs[-1][1]]  # the last speed goes on
        for until, speed in legs:
            self._reals.append(self._reals[-1] + (until - self._sims[-1]) / speed)
            self._sims.append(until)

    def at(self, real: float) -> float:
        """The simulated time at the real monotonic time ``real``."""
        if real <= self._reals[0]:
            return self._sims[0]
        leg = bisect.bisect_right(self._reals, real) - 1
        return self._sims[leg] + (real - self._reals[leg]) * self._speeds[leg]

    def real(self, when: float) -> float:
        """The real monotonic time at which it is ``when``."""
        if when <= self._sims[0]:
            return self._reals[0]
        leg = bisect.bisect_right(self._sims, when) - 1
        return self._reals[leg] + (when - self._sims[leg]) / self._speeds[leg]

    def now(self) -> float:
        return self.at(time.monotonic())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, self.real(self.now() + max(0.0, seconds)) - time.monotonic()))

    def call_at(self, when: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(max(0.0, self.real(when) - time.monotonic()), callback)


class StandIn:
    """Every cloud platform at once: a call takes the model's typical_seconds on the day's clock
    and gives an output of the model's real shape; ``answered`` counts the calls that returned."""

    name = "stand-in"
    needs_internet = True  # a cloud platform: budgets and offline mode apply

    def __init__(self, clock: DayClock, pool: Path) -> None:
        self.clock = clock
        self.pool = pool
        self.answered: Counter[str] = Counter()

    async def invoke(self, model: Model, given: ModelInput) -> ModelOutput:
        seconds = model.hints.typical_seconds
        await self.clock.sleep(seconds)
        n = sum(self.answered.values())
        self.answered[model.id] += 1
        meta = meta_of(model, seconds)
        if model.output is MediaType.IMAGE:
            return ModelOutput(data=pool_path(self.pool, picture_of(model), n % POOL_SEEDS).read_bytes(), meta=meta)
        if model.output is MediaType.AUDIO:
            return ModelOutput(data=sound_bytes(sound_of(model), seed=n), meta=meta)
        return ModelOutput(text=text_of(n), meta=meta)

    async def aclose(self) -> None:
        return None


def parse_legs(text: str) -> list[tuple[float, float]]:
    """``"UNTIL:SPEED,..."`` as (until, speed) pairs."""
    return [(float(until), float(speed)) for until, speed in (leg.split(":") for leg in text.split(","))]


async def serve(daemon: Daemon) -> None:
    task = asyncio.create_task(daemon.run(), name="daemon")
    ready = asyncio.create_task(daemon.ready.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if daemon.ready.is_set():
        print("ready", flush=True)
    else:
        ready.cancel()
    await task


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=float, required=True, help="simulated epoch seconds at the anchor")
    parser.add_argument("--legs", type=parse_legs, required=True, help="UNTIL:SPEED,... (simulated epoch seconds)")
    parser.add_argument("--pool", type=Path, required=True, help="the pictures bench.outputs.write_pool wrote")
    args = parser.parse_args(argv)
    setup_logging()
    print("imported", flush=True)
    clock = DayClock(args.start, float(sys.stdin.readline()), args.legs)
    config = load_config(None)
    stand_in = StandIn(clock, args.pool)
    daemon = Daemon(config, load_networks(config.networks_dir, CATALOGUE), stdin=None, clock=clock,
                    platforms=Platforms(dict.fromkeys(CLOUD, stand_in)))
    asyncio.run(serve(daemon))
    logging.shutdown()
    print(json.dumps({"answered": dict(stand_in.answered)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
