"""A call task never dies silently: whatever ends it, its invocation fails with the reason, its run
ends by policy, and the next run goes. The engine runs on a real SQLite file and archive; the
platform and the publisher are small real implementations of their interfaces that misbehave."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bench.common import BENCH_CATALOGUE, BENCH_NETWORKS, CAPTION, TINY_PNG
from panic_edge.archive import Archive
from panic_edge.core.invocation import InvocationState
from panic_edge.core.media import MediaType
from panic_edge.core.model import Model
from panic_edge.core.topics import Topics
from panic_edge.daemon.engine import Engine
from panic_edge.platforms.base import ModelInput, ModelOutput, Platforms
from panic_edge.platforms.errors import UnreachableError
from panic_edge.store import Store


class Misbehaving:
    """The bench platform's models; ``next`` says how the next call ends: None answers properly."""

    name = "bench"
    needs_internet = False

    def __init__(self) -> None:
        self.next: Callable[[], Any] | None = None

    async def invoke(self, model: Model, given: ModelInput) -> ModelOutput:
        how, self.next = self.next, None
        if how is not None:
            return await how()
        return ModelOutput(data=TINY_PNG) if model.output is MediaType.IMAGE else ModelOutput(text=CAPTION)

    async def aclose(self) -> None:
        return None


class Publisher:
    """Keeps what is published; raises on a completed invocation while ``refuse_completed``."""

    def __init__(self) -> None:
        self.refuse_completed = False
        self.published: list[bytes] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                on_ack: Callable[[], None] | None = None, expiry: int | None = None) -> None:
        if self.refuse_completed and b'"state":"completed"' in payload:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        self.published.append(payload)
        if on_ack is not None:  # the broker's acknowledgement, a moment later
            asyncio.get_running_loop().call_soon(on_ack)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[Engine, Misbehaving, Publisher]]:
    platform, publisher = Misbehaving(), Publisher()
    async with Store.open(tmp_path / "db.sqlite3") as store:
        engine = Engine(BENCH_NETWORKS.networks, BENCH_CATALOGUE, store, Archive(tmp_path / "archive"),
                        Platforms({"bench": platform}), publisher, Topics("test"), "http://127.0.0.1:1",
                        call_deadline=lambda model: 0.3)
        try:
            yield engine, platform, publisher
        finally:
            await engine.aclose()


async def ended(engine: Engine, run_id: str, timeout: float = 10.0) -> str:
    """The reason run ``run_id`` ended, once it has."""
    async with asyncio.timeout(timeout):
        while (run := await engine.store.get_run(run_id)) is None or run.ended_at is None:
            await asyncio.sleep(0.02)
    assert run.end_reason is not None
    return run.end_reason


async def goes_on(engine: Engine) -> None:
    """A new run completes invocations again."""
    run_id = await engine.start("bench", "a camel")
    async with asyncio.timeout(10):
        while sum(i.state is InvocationState.COMPLETED for i in await engine.store.run_invocations(run_id)) < 2:
            await asyncio.sleep(0.02)
    await engine.stop("bench")


@pytest.mark.allow_errors
async def test_a_cancelled_error_nobody_asked_for_fails_the_invocation_and_the_loop_goes_on(rig):
    engine, platform, _ = rig

    async def leaks() -> ModelOutput:
        raise asyncio.CancelledError()  # e.g. a library's cancelled future, passed on

    platform.next = leaks
    run_id = await engine.start("bench", "a camel")
    assert "cancelled from inside the platform client" in await ended(engine, run_id)
    [inv] = await engine.store.run_invocations(run_id)
    assert inv.state is InvocationState.FAILED and "cancelled from inside" in (inv.error or "")
    await goes_on(engine)


@pytest.mark.allow_errors
async def test_an_outcome_the_bus_refuses_stalls_nothing_and_waits_in_the_outbox(rig, caplog):
    """Recording and telling are apart: the completion is committed (the loop goes on), the bus
    refusing its message is logged, and the outbox still holds it to publish again."""
    engine, _, publisher = rig
    publisher.refuse_completed = True
    run_id = await engine.start("bench", "a camel")
    async with asyncio.timeout(10):
        while sum(i.state is InvocationState.COMPLETED for i in await engine.store.run_invocations(run_id)) < 3:
            await asyncio.sleep(0.02)
    await engine.stop("bench")
    await asyncio.sleep(0.05)
    await engine.flush_acknowledged()
    assert any("could not tell the world" in r.getMessage() for r in caplog.records)
    steps = await engine.store.run_invocations(run_id)
    unheard = {i.id for i in await engine.store.unpublished()}
    assert {i.id for i in steps if i.state is InvocationState.COMPLETED} <= unheard  # still to tell
    assert {i.id for i in steps if i.state is InvocationState.FAILED}.isdisjoint(unheard)  # told and acked
    publisher.refuse_completed = False
    await goes_on(engine)


@pytest.mark.allow_errors
async def test_the_watchdog_fails_a_call_that_never_ends_and_the_run_ends_by_policy(rig):
    engine, platform, _ = rig
    hung = asyncio.Event()

    async def hangs() -> ModelOutput:
        hung.set()
        await asyncio.Event().wait()  # past every timeout: only the watchdog ends it
        raise AssertionError("unreachable")

    platform.next = hangs
    run_id = await engine.start("bench", "a camel")
    await asyncio.wait_for(hung.wait(), 5)
    assert await engine.fail_stuck_calls() == []  # not yet past its 0.3 s
    await asyncio.sleep(0.35)
    assert await engine.fail_stuck_calls() == [f"{run_id}.0"]
    assert "the watchdog gave up on it" in await ended(engine, run_id)
    [inv] = await engine.store.run_invocations(run_id)
    assert inv.state is InvocationState.FAILED and "the watchdog gave up on it" in (inv.error or "")
    await goes_on(engine)
    assert await engine.fail_stuck_calls() == []  # finished calls are not watched


async def test_the_watchdog_leaves_an_invocation_held_for_the_internet_alone(rig):
    engine, platform, _ = rig

    async def unreachable() -> ModelOutput:
        raise UnreachableError("cannot reach bench: connection refused")

    platform.next = unreachable
    run_id = await engine.start("bench", "a camel")
    async with asyncio.timeout(5):
        while not engine.states["bench"].run.held:
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.35)  # past the 0.3 s deadline the call had
    assert await engine.fail_stuck_calls() == []
    assert engine.states["bench"].run.invocation_id == f"{run_id}.0"  # still waiting, not failed
    assert (await engine.store.get_run(run_id)).ended_at is None
