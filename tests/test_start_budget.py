"""The appliance's start budget: a pure token bucket, obeyed by MQTT, the button and the admin page."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from gpiozero import Device
from hypothesis import given
from hypothesis import strategies as st

from panic_edge.core.budget import StartBudget
from panic_edge.errors import StartBudgetError
from tests.conftest import start_daemon
from tests.mqtt_probe import Probe
from tests.test_daemon import topic, wait_for


def test_a_full_budget_allows_a_burst_then_paces_starts():
    budget = StartBudget.full(per_minute=6, burst=3, now=100.0)
    waits = []
    for _ in range(4):
        budget, wait = budget.take(100.0)
        waits.append(wait)
    assert waits[:3] == [0.0, 0.0, 0.0] and waits[3] == pytest.approx(10.0)
    budget, wait = budget.take(105.0)
    assert wait == pytest.approx(5.0)
    budget, wait = budget.take(110.0)
    assert wait == 0.0


def test_a_refused_start_gives_its_token_back():
    budget, _ = StartBudget.full(6, 1, 0.0).take(0.0)
    assert budget.wait(0.0) > 0
    assert budget.give_back().wait(0.0) == 0.0


def test_a_clock_going_backwards_neither_refills_nor_breaks_it():
    budget, _ = StartBudget.full(60, 1, 1000.0).take(1000.0)
    budget, wait = budget.take(10.0)
    assert wait > 0 and 0 <= budget.tokens < 1


def test_zero_per_minute_is_no_budget():
    budget = StartBudget.full(0, 1, 0.0)
    for _ in range(1000):
        budget, wait = budget.take(0.0)
        assert wait == 0.0


@given(per_minute=st.floats(0.1, 6000), burst=st.integers(1, 50),
       times=st.lists(st.floats(0, 3600), min_size=1, max_size=200))
def test_no_window_ever_sees_more_than_burst_plus_the_rate(per_minute, burst, times):
    budget = StartBudget.full(per_minute, burst, 0.0)
    granted = []
    for now in sorted(times):
        budget, wait = budget.take(now)
        assert wait >= 0
        if wait == 0:
            granted.append(now)
    span = granted[-1] - granted[0] if granted else 0
    assert len(granted) <= burst + span * per_minute / 60 + 1e-6


# --- the daemon: every source of starts obeys it ---------------------------------------------


@pytest.fixture
def flood_config(make_config, tmp_path: Path):
    folder = tmp_path / "networks"
    folder.mkdir()
    (folder / "open.toml").write_text('name = "Open"\nmodels = ["local-poet"]\nlockout_seconds = 0\n'
                                      'prompts = ["a camel"]\n')
    return make_config(PANIC_EDGE_NETWORKS_DIR=str(folder), PANIC_EDGE_DEFAULT_NETWORK="open",
                       PANIC_EDGE_LIMITS_STARTS_PER_MINUTE="6", PANIC_EDGE_LIMITS_START_BURST="4")


async def test_an_mqtt_flood_on_a_network_without_lockout_starts_only_the_budget(flood_config, broker):
    running = await start_daemon(flood_config)
    probe = Probe(broker.url, f"panic/{flood_config.appliance_id}/#")
    try:
        for i in range(30):
            probe.publish(topic(flood_config, "cmd", "press"), json.dumps({"network": "open", "request_id": f"f{i}"}))
        await wait_for(probe, lambda t, b: t.endswith("cmd/reply") and b.get("request_id") == "f29")
        replies = [b for b in probe.bodies(topic(flood_config, "cmd", "reply")) if b["request_id"].startswith("f")]
        started = [r for r in replies if r["ok"]]
        refused = [r for r in replies if not r["ok"]]
        assert 4 <= len(started) <= 5  # the burst, and perhaps one more token refilled meanwhile
        assert refused and all("starts_per_minute" in r["message"] and r["retry_after"] > 0 for r in refused)
    finally:
        probe.close()
        await running.stop()


async def test_the_button_and_the_admin_page_obey_the_same_budget(flood_config, caplog):
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    running = await start_daemon(flood_config, pin_factory=factory)
    try:
        engine = running.engine
        for _ in range(4):
            await engine.press("open")
        with pytest.raises(StartBudgetError):
            await engine.press("open")
        run_before = engine.states["open"].run.run_id
        pin = factory.pin(flood_config.button.pin)
        pin.drive_low()  # the panic button: refused, logged, nothing started
        for _ in range(100):
            if any("starts_per_minute" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the button's press was not refused")
        pin.drive_high()
        assert engine.states["open"].run.run_id == run_before
        control = running.daemon.settings.control
        with pytest.raises(StartBudgetError):
            await asyncio.to_thread(control.start, "open", "from the admin page")
        assert engine.states["open"].run.run_id == run_before  # refused before stopping the current run
    finally:
        await running.stop()
        Device.pin_factory = None
