"""Spending caps, pure: a day's ledger per network and for the appliance."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from panic_edge.core.spending import Caps, add, new_ledger, next_midnight, over_cap, roll, take_back

TZ = ZoneInfo("Europe/London")
NOON = dt.datetime(2026, 11, 26, 12, tzinfo=TZ).timestamp()


def test_spend_adds_up_per_network_and_per_hour():
    ledger = add(add(new_ledger(NOON, TZ), "a", 0.5, NOON, TZ), "b", 0.25, NOON + 3600, TZ)
    assert ledger.total == 0.75 and ledger.network("a") == 0.5
    assert ledger.hours[12] == 0.5 and ledger.hours[13] == 0.25


def test_a_discarded_results_cost_is_taken_back_from_its_hour_and_never_below_nothing():
    ledger = add(new_ledger(NOON, TZ), "a", 0.5, NOON, TZ)
    back = take_back(ledger, "a", 0.2, NOON, TZ)
    assert back.network("a") == 0.3 and back.hours[12] == 0.3
    assert take_back(back, "a", 9.0, NOON, TZ).total == 0.0
    assert take_back(ledger, "a", 0.2, NOON - 86400, TZ) == ledger  # another day's: not this ledger's


def test_a_network_cap_stops_that_network_only():
    caps = Caps(network=1.0, networks={"big": 5.0})
    ledger = add(new_ledger(NOON, TZ), "a", 1.0, NOON, TZ)
    ledger = add(ledger, "big", 2.0, NOON, TZ)
    assert "network a's daily budget of $1.00 is spent" in (over_cap(ledger, caps, "a") or "")
    assert over_cap(ledger, caps, "big") is None


def test_the_appliance_cap_stops_every_network():
    ledger = add(new_ledger(NOON, TZ), "a", 3.0, NOON, TZ)
    assert "appliance's daily budget" in (over_cap(ledger, Caps(appliance=3.0), "b") or "")


def test_the_ledger_starts_afresh_at_local_midnight():
    ledger = add(new_ledger(NOON, TZ), "a", 3.0, NOON, TZ)
    midnight = next_midnight(NOON, TZ)
    assert dt.datetime.fromtimestamp(midnight, TZ).hour == 0
    assert roll(ledger, midnight - 1, TZ) is ledger
    assert roll(ledger, midnight, TZ).total == 0


def test_a_cost_from_another_day_is_not_counted():
    ledger = new_ledger(NOON, TZ)
    assert add(ledger, "a", 1.0, NOON - 86400, TZ).total == 0


# --- the daemon's ledger: live, and read back after a restart -------------------------------------

import asyncio  # noqa: E402
import math  # noqa: E402

import pytest  # noqa: E402

from panic_edge.core.catalogue import Catalogue  # noqa: E402
from panic_edge.core.media import MediaType  # noqa: E402
from panic_edge.core.model import Hints, Model, Price, Warmth  # noqa: E402
from panic_edge.core.network import Network  # noqa: E402
from panic_edge.core.spend import PREWARMING  # noqa: E402
from panic_edge.daemon.app import Daemon  # noqa: E402
from panic_edge.errors import BudgetError  # noqa: E402
from panic_edge.network_files import LoadedNetworks  # noqa: E402
from panic_edge.platforms.base import ModelInput, ModelOutput, Platforms  # noqa: E402

COST = 0.03
PRICED = (Model("meter-poet", "Meter Poet", "meter", MediaType.TEXT, MediaType.TEXT, "Words, priced; boots slowly.",
                hints=Hints(Warmth.COLD, 1.0), price=Price(per_call=COST)),
          Model("meter-echo", "Meter Echo", "meter", MediaType.TEXT, MediaType.TEXT, "Words again, priced.",
                hints=Hints(typical_seconds=1.0), price=Price(per_call=COST)))
PAID = Network(slug="paid", name="Paid", models=("meter-poet", "meter-echo"), lockout_seconds=0,
               pacing=((0.0, 0.0),))


class Meter:
    """A cloud-like platform whose every call, warm-ups included, costs COST."""

    name = "meter"
    needs_internet = True

    async def invoke(self, model: Model, given: ModelInput) -> ModelOutput:
        return ModelOutput(text=f"{model.id} says {given.text or ''}"[:80], meta={"cost_usd": COST})

    async def aclose(self) -> None:
        return None


async def paid_daemon(config) -> Daemon:
    daemon = Daemon(config, LoadedNetworks({"paid": PAID}, {}), catalogue=Catalogue(PRICED),
                    platforms=Platforms({"meter": Meter()}), stdin=None, handle_signals=False)
    daemon.task = asyncio.create_task(daemon.run())  # type: ignore[attr-defined]  # the test keeps it there
    await asyncio.wait_for(daemon.ready.wait(), 15)
    return daemon


async def stopped(daemon: Daemon) -> None:
    daemon.stop()
    await asyncio.wait_for(daemon.task, 20)  # type: ignore[attr-defined]


@pytest.mark.timeout(90)
async def test_warm_ups_count_in_the_live_ledger_and_a_restart_reads_back_the_same_day(make_config, broker):
    config = make_config(PANIC_EDGE_DEFAULT_NETWORK="paid", PANIC_EDGE_SCHEDULE_TIMEZONE="UTC",
                         PANIC_EDGE_OFFLINE_PROBE=f"127.0.0.1:{broker.port}", PANIC_EDGE_INSIGHT_ENABLED="false")
    daemon = await paid_daemon(config)
    try:
        assert daemon.prewarmer is not None and daemon.engine is not None and daemon.day is not None
        await daemon.prewarmer.idle()  # the start's warm-up of the cold poet
        run_id = await daemon.engine.start("paid", "a priced prompt")
        async with asyncio.timeout(20):
            while daemon.engine.states["paid"].run.sequence < 5:
                await asyncio.sleep(0.01)
        await daemon.engine.stop("paid")
        calls = [i for i in await daemon.engine.store.run_invocations(run_id) if i.state.value == "completed"]
        ledger = daemon.day.ledger
        async with asyncio.timeout(10):  # a result that came after the stop is discarded, and not counted
            while not math.isclose(ledger.day.network("paid"), COST * len(calls)):
                await asyncio.sleep(0.01)
        live = ledger.day
    finally:
        await stopped(daemon)
    assert live.network(PREWARMING) == pytest.approx(COST)  # the warm-up costs money today, as it did

    again = await paid_daemon(config)  # a restart reads the day back from the database
    try:
        assert again.day is not None
        reloaded = again.day.ledger.day
    finally:
        await stopped(again)
    assert reloaded.day == live.day
    assert dict(reloaded.networks) == pytest.approx(dict(live.networks))
    assert reloaded.hours == pytest.approx(live.hours)  # each cost in the same hour, live and read back



@pytest.mark.timeout(90)
async def test_with_the_stop_policy_the_call_that_spends_the_cap_is_kept_and_the_cap_then_holds(make_config, broker):
    """The call that crosses the cap was paid for: its output is recorded (not thrown away and its
    cost forgotten, which let every new run make one more paid call), the run ends, starts are refused."""
    config = make_config(PANIC_EDGE_DEFAULT_NETWORK="paid", PANIC_EDGE_SCHEDULE_TIMEZONE="UTC",
                         PANIC_EDGE_OFFLINE_PROBE=f"127.0.0.1:{broker.port}", PANIC_EDGE_INSIGHT_ENABLED="false",
                         PANIC_EDGE_BUDGET_NETWORK_PER_DAY="0.05", PANIC_EDGE_BUDGET_POLICY="stop",
                         PANIC_EDGE_PREWARM_ON_START="false")
    daemon = await paid_daemon(config)
    try:
        engine, ledger = daemon.engine, daemon.day.ledger
        assert engine is not None
        run_id = await engine.start("paid", "a priced prompt")
        async with asyncio.timeout(20):
            while engine.states["paid"].run is not None:
                await asyncio.sleep(0.01)
        invocations = await engine.store.run_invocations(run_id)
        assert [i.state.value for i in invocations] == ["completed", "completed"]  # $0.03, then $0.06 > $0.05
        assert ledger.day.network("paid") == pytest.approx(2 * COST)
        run = await engine.store.get_run(run_id)
        assert run is not None and (run.end_reason or "").startswith("budget: ")
        with pytest.raises(BudgetError):
            await engine.start("paid", "again")
    finally:
        await stopped(daemon)
