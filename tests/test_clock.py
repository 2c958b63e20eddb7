"""The clocks: a fast one runs the same timers a simulated day in real seconds."""

from __future__ import annotations

import asyncio
import time

import pytest

from panic_edge.clock import FastClock, SystemClock


async def test_a_fast_clock_runs_its_timers_in_its_own_time():
    clock = FastClock(speed=3600, start=1_000_000.0)
    fired = asyncio.Event()
    at: list[float] = []
    def fire() -> None:
        at.append(clock.now())
        fired.set()

    clock.call_at(clock.now() + 1800, fire)  # half a simulated hour
    began = time.monotonic()
    await asyncio.wait_for(fired.wait(), 5)
    assert time.monotonic() - began < 4  # half an hour took about half a second
    assert at[0] >= 1_000_000.0 + 1800 - 1e-3


async def test_sleep_waits_in_the_clocks_time():
    clock = FastClock(speed=1000)
    before = clock.now()
    await clock.sleep(200)
    assert clock.now() - before >= 199.9


def test_the_system_clock_is_the_wall_clock_and_a_clock_cannot_stop():
    assert abs(SystemClock().now() - time.time()) < 1
    with pytest.raises(ValueError):
        FastClock(0)
