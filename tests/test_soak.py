"""A gallery's day and a half in under a minute: the real daemon on a fast clock (one real second
is an hour), a real broker, a real SQLite file and archive, and a paid model that costs money.

Closed in the morning, the installation opens (an attract run starts), paces itself, spends its
budget and holds, closes in the evening (the run ends), starts a fresh budget at midnight and
opens again; the archive stays within its limit all along (every pass of the daemon's own retention
task leaves it there, while the run goes). Nothing is lost.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import random
from pathlib import Path

import pytest
from PIL import Image

from panic_edge.clock import FastClock
from panic_edge.config import Config
from panic_edge.core.catalogue import Catalogue
from panic_edge.core.invocation import InvocationState
from panic_edge.core.media import MediaType
from panic_edge.core.model import Hints, Model, Price
from panic_edge.core.network import Network
from panic_edge.daemon.app import Daemon
from panic_edge.daemon.retention import Pass
from panic_edge.errors import ClosedError
from panic_edge.network_files import LoadedNetworks
from panic_edge.platforms.base import ModelInput, ModelOutput, Platforms

UTC = dt.UTC
MONDAY_0800 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=UTC).timestamp()  # 2 h to start in (2 s)
SPEED = 3600.0
COST = 0.02  # dollars a call
CAP = 1.00  # a day: 50 calls
LIMIT = 150 * 1024  # the archive's max_bytes: about five of the meter's pictures

MODELS = (
    Model("meter-painter", "Meter Painter", "meter", MediaType.TEXT, MediaType.IMAGE, "A picture, priced.",
          hints=Hints(typical_seconds=1.0), price=Price(per_call=COST)),
    Model("meter-captioner", "Meter Captioner", "meter", MediaType.IMAGE, MediaType.TEXT, "Words, priced.",
          hints=Hints(typical_seconds=1.0), price=Price(per_call=COST)),
)
GALLERY = Network(slug="gallery", name="Gallery", models=("meter-painter", "meter-captioner"),
                  lockout_seconds=0, prompts=("a camel in the desert",), pacing=((0.0, 20.0), (600.0, 120.0)))


class Meter:
    """A cloud-like platform (it needs the internet, so budgets apply) whose calls cost COST."""

    name = "meter"
    needs_internet = True

    def __init__(self) -> None:
        self.calls = 0

    async def invoke(self, model: Model, given: ModelInput) -> ModelOutput:
        self.calls += 1
        meta = {"cost_usd": COST}
        if model.output is MediaType.IMAGE:
            noise = Image.frombytes("RGB", (96, 96), random.randbytes(96 * 96 * 3))
            out = io.BytesIO()
            noise.save(out, format="PNG")
            return ModelOutput(data=out.getvalue(), meta=meta)
        return ModelOutput(text=f"a picture of static, number {self.calls}", meta=meta)

    async def aclose(self) -> None:
        return None


async def until(clock: FastClock, test, seconds: float = 30.0) -> None:
    async with asyncio.timeout(seconds):
        while not test():
            await asyncio.sleep(0.01)


@pytest.mark.timeout(180)
async def test_a_day_and_a_half_unattended(make_config, broker, tmp_path: Path):
    config: Config = make_config(
        PANIC_EDGE_SCHEDULE_HOURS="mon-fri 10:00-18:00", PANIC_EDGE_SCHEDULE_TIMEZONE="UTC",
        PANIC_EDGE_SCHEDULE_ON_OPEN="attract", PANIC_EDGE_SCHEDULE_CLOSED_POLICY="stop",
        PANIC_EDGE_BUDGET_APPLIANCE_PER_DAY=str(CAP), PANIC_EDGE_BUDGET_POLICY="pause",
        PANIC_EDGE_ARCHIVE_MAX_BYTES=str(LIMIT), PANIC_EDGE_ARCHIVE_MIN_FREE_BYTES="0",
        PANIC_EDGE_ARCHIVE_KEEP_NEWEST="4", PANIC_EDGE_ARCHIVE_CHECK_INTERVAL="0.3",
        PANIC_EDGE_DEFAULT_NETWORK="gallery", PANIC_EDGE_OFFLINE_PROBE=f"127.0.0.1:{broker.port}",
        PANIC_EDGE_PREWARM_ENABLED="false", PANIC_EDGE_INSIGHT_ENABLED="false")
    clock = FastClock(SPEED, start=MONDAY_0800)
    meter = Meter()
    daemon = Daemon(config, LoadedNetworks({"gallery": GALLERY}, {}), catalogue=Catalogue(MODELS),
                    platforms=Platforms({"meter": meter}), stdin=None, handle_signals=False, clock=clock)
    task = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(daemon.ready.wait(), 15)
        engine, day = daemon.engine, daemon.day
        assert engine is not None and day is not None
        archive = Archived(config.archive_dir, lambda: engine.states["gallery"].run is not None)
        day.retention.listeners.append(archive.seen)  # the daemon's own retention task, as it goes

        # early morning, closed: a press is answered "closed", with when it opens
        assert daemon.status()["open"] is False and daemon.status()["opens_at"] == "Mon 10:00"
        with pytest.raises(ClosedError, match="opens at Mon 10:00"):
            await engine.press("gallery")

        # 10:00: it opens and starts an attract run by itself
        await until(clock, lambda: engine.states["gallery"].run is not None)
        first = engine.states["gallery"].run.run_id
        assert daemon.status()["open"] is True

        # it paces itself and spends until the cap: then the run is held, and presses refused
        await until(clock, lambda: (engine.states["gallery"].run is not None
                                    and engine.states["gallery"].run.held_reason == "budget"))
        spend = daemon.status()["spend"]
        assert CAP <= spend["today_usd"] < CAP + COST + 1e-9  # over by one call at the most
        assert daemon.status()["networks"]["gallery"]["pause"].startswith("the appliance's daily budget")
        calls_day_one = meter.calls
        await asyncio.wait_for(archive.pruned_while_running.wait(), 30)  # retention kept up with the run

        # 18:00: closing time ends the held run
        await until(clock, lambda: engine.states["gallery"].run is None, 60)
        ended = await engine.store.get_run(first)
        assert ended is not None and ended.end_reason == "closed: outside the opening hours"
        assert meter.calls == calls_day_one  # held means no more paid calls

        # Tuesday 10:00: a fresh budget, an attract run, paid calls again
        await until(clock, lambda: engine.states["gallery"].run is not None
                    and engine.states["gallery"].run.run_id != first, 60)
        await until(clock, lambda: meter.calls >= calls_day_one + 4)
        assert clock.now() > MONDAY_0800 + 24 * 3600
        second = engine.states["gallery"].run.run_id
        await engine.stop("gallery")
        await archive.next_pass()  # a pass under way may have measured before the stop's last write:
        done = await archive.next_pass()  # this one began after it, and nothing writes now: the
        # archive on disk is what the pass left
        assert archive.on_disk() == done.archive_bytes <= LIMIT
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 20)

    steps = await _steps(config, first)
    completed = [s for s in steps if s.state is InvocationState.COMPLETED]
    assert len(completed) == calls_day_one  # every paid call is a completed step: nothing lost
    assert [s.sequence for s in steps] == list(range(len(steps)))  # no gap in the run
    assert steps[-1].state is InvocationState.FAILED and "closed" in (steps[-1].error or "")  # held, then closed
    run_start = steps[0].created_at
    waits = [(s.created_at - run_start, s.started_at - s.created_at) for s in completed[1:]]
    assert all(wait >= 20 - 1e-3 for age, wait in waits if age < 600)  # [0, 20]
    assert any(age >= 600 for age, _ in waits) and all(wait >= 120 - 1e-3 for age, wait in waits if age >= 600)

    # the archive stayed within its limit all along: every pass of the daemon's own retention task
    # while the run went left it there (it grows past the limit only between two passes, 0.3 s apart)
    during = [p for p, running in archive.passes if running]
    assert during and all(p.archive_bytes <= LIMIT for p in during)
    assert sum(p.pruned for p in during) > 0
    pruned = [s for s in steps + await _steps(config, second) if s.output is not None and "pruned" in s.output.flags]
    assert len(pruned) >= sum(p.pruned for p, _ in archive.passes)  # every file it deleted is marked


class Archived:
    """Watches the daemon's retention passes: each pass, and whether a run was going then."""

    def __init__(self, root: Path, running) -> None:
        self.root, self.running = root, running
        self.passes: list[tuple[Pass, bool]] = []
        self.pruned_while_running = asyncio.Event()
        self._next: asyncio.Future[Pass] | None = None

    def seen(self, done: Pass) -> None:
        going = self.running()
        self.passes.append((done, going))
        if going and done.pruned:
            self.pruned_while_running.set()
        if self._next is not None and not self._next.done():
            self._next.set_result(done)

    async def next_pass(self, seconds: float = 10.0) -> Pass:
        self._next = asyncio.get_running_loop().create_future()
        return await asyncio.wait_for(self._next, seconds)

    def on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())


async def _steps(config: Config, run_id: str):
    from panic_edge.store import Store

    async with Store.open(config.database_path) as store:
        return await store.run_invocations(run_id)
