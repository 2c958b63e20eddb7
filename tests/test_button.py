"""The GPIO panic button on gpiozero's mock pins, and a machine with no GPIO header."""

from __future__ import annotations

import asyncio
import logging

from gpiozero.pins.mock import MockFactory

from panic_edge.config import ButtonConfig
from panic_edge.inputs.gpio import open_button
from tests.conftest import start_daemon


async def wait_until(condition, timeout=5.0):
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_pressing_the_button_starts_a_run_with_the_next_prompt(make_config):
    factory = MockFactory()
    running = await start_daemon(make_config(PANIC_EDGE_BUTTON_PIN="17"), pin_factory=factory)
    try:
        pin = factory.pin(17)
        pin.drive_low()  # pulled up: pressing connects the pin to ground
        await wait_until(lambda: running.engine.states["demo"].run is not None)
        run = running.engine.states["demo"].run
        stored = await running.engine.store.get_run(run.run_id)
        assert stored.prompt == "a camel in the desert"
        pin.drive_high()
    finally:
        await running.stop()


async def test_holding_the_button_stops_the_network(make_config):
    factory = MockFactory()
    config = make_config(PANIC_EDGE_BUTTON_PIN="22", PANIC_EDGE_BUTTON_HOLD_TIME="0.3")
    running = await start_daemon(config, pin_factory=factory)
    try:
        run_id = await running.engine.start("demo", "hold to stop")
        pin = factory.pin(22)
        pin.drive_low()  # the press is refused (lockout); the hold stops the run
        await wait_until(lambda: running.engine.states["demo"].run is None)
        pin.drive_high()
        assert (await running.engine.store.get_run(run_id)).end_reason == "stopped"
    finally:
        await running.stop()


async def test_a_status_led_is_on_while_a_network_runs(make_config):
    factory = MockFactory()
    running = await start_daemon(make_config(PANIC_EDGE_LED_PIN="27"), pin_factory=factory)
    try:
        led = factory.pin(27)
        assert led.state == 0
        await running.engine.start("demo", "light up")
        await wait_until(lambda: led.state == 1)
        await running.engine.stop("demo")
        await wait_until(lambda: led.state == 0)
    finally:
        await running.stop()


async def test_the_led_pulses_closed_when_the_daemon_starts_outside_the_opening_hours(make_config):
    import datetime as dt

    today = dt.datetime.now(dt.UTC).date()
    closed = ",".join(f"{today + dt.timedelta(days=d)} closed" for d in (0, 1))  # no hours today or tomorrow
    factory = MockFactory()
    config = make_config(PANIC_EDGE_LED_PIN="26", PANIC_EDGE_SCHEDULE_EXCEPTIONS=closed,
                         PANIC_EDGE_SCHEDULE_TIMEZONE="UTC", PANIC_EDGE_PREWARM_ENABLED="false")
    running = await start_daemon(config, pin_factory=factory)
    try:
        assert running.daemon.status()["open"] is False
        led = factory.pin(26)
        await wait_until(lambda: led.state == 1)  # nothing changed since the start: the LED says closed anyway
        await wait_until(lambda: led.state == 0)  # a slow pulse, not on (running)
        await wait_until(lambda: led.state == 1, timeout=10)
    finally:
        await running.stop()


async def test_no_gpio_header_means_no_button_and_one_clear_log_line(caplog):
    caplog.set_level(logging.INFO)
    # gpiozero's default factory on a machine without a header (this one) cannot load
    button = open_button(ButtonConfig(pin_factory=""), lambda: None, lambda: None)
    if button is not None:  # running on a real Pi
        button.close()
        return
    [line] = [r.getMessage() for r in caplog.records if "no GPIO panic button" in r.getMessage()]
    assert "press Enter here or run `panic-edge press`" in line
