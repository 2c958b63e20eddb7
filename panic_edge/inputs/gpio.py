"""The panic button and status LED through gpiozero.

gpiozero calls ``when_pressed`` and ``when_held`` on its own thread; each hands the event to
asyncio in one line and does nothing else there. A machine without a GPIO header gets no
button, one clear log line, and everything else works.

A press starts a run at once (visitors expect an instant answer); holding the button for
``hold_time`` stops the network. The press at the start of a hold may start or replace a run
that the hold then stops: either way the network ends stopped, and both are recorded.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Callable
from typing import Any

from panic_edge.config import ButtonConfig, LedConfig

log = logging.getLogger(__name__)


def make_pin_factory(name: str) -> Any:
    """A gpiozero pin factory by name: '' for gpiozero's default, 'mock' for MockFactory."""
    if not name:
        return None
    if name == "mock":
        from gpiozero.pins.mock import MockFactory

        return MockFactory()
    raise ValueError(f"unknown pin factory {name!r}; use '' (default) or 'mock'")


class PanicButton:
    """A gpiozero Button whose press and hold become coroutine calls on the event loop."""

    def __init__(self, config: ButtonConfig, on_press: Callable[[], Any], on_hold: Callable[[], Any],
                 pin_factory: Any = None) -> None:
        from gpiozero import Button

        self._loop = asyncio.get_running_loop()
        self._on_press, self._on_hold = on_press, on_hold
        self._tasks: set[asyncio.Future[Any]] = set()  # held until done: the loop keeps only weak references
        factory = pin_factory if pin_factory is not None else make_pin_factory(config.pin_factory)
        self.device = Button(config.pin, pull_up=config.pull_up, bounce_time=config.bounce_time or None,
                             hold_time=config.hold_time, pin_factory=factory)
        self.device.when_pressed = lambda: self._loop.call_soon_threadsafe(self._spawn, self._on_press)
        self.device.when_held = lambda: self._loop.call_soon_threadsafe(self._spawn, self._on_hold)

    def _spawn(self, callback: Callable[[], Any]) -> None:
        result = callback()
        if asyncio.iscoroutine(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        self.device.close()


class StatusLed:
    """Idle: off. Running: on. Offline: blinking."""

    def __init__(self, config: LedConfig, pin_factory: Any = None) -> None:
        from gpiozero import LED

        assert config.pin is not None
        self.device = LED(config.pin, pin_factory=pin_factory)

    def show(self, running: bool, offline: bool = False, closed: bool = False) -> None:
        """Idle off, running on, offline blinking; closed (outside the opening hours) a slow pulse."""
        if closed:
            self.device.blink(on_time=0.2, off_time=2.8)
        elif offline:
            self.device.blink(on_time=0.5, off_time=0.5)
        elif running:
            self.device.on()
        else:
            self.device.off()

    def close(self) -> None:
        self.device.close()


def open_button(config: ButtonConfig, on_press: Callable[[], Any], on_hold: Callable[[], Any],
                pin_factory: Any = None) -> PanicButton | None:
    """The button, or None (logged) when it is disabled or the machine has no usable GPIO."""
    if not config.enabled:
        log.info("GPIO panic button disabled in the config")
        return None
    try:
        with warnings.catch_warnings():  # gpiozero warns once per factory it falls back from
            warnings.simplefilter("ignore")
            return PanicButton(config, on_press, on_hold, pin_factory)
    except Exception as err:  # noqa: BLE001 -- gpiozero raises a zoo of errors on machines without a header
        log.warning("no GPIO panic button (%s: %s); press Enter here or run `panic-edge press`",
                    type(err).__name__, err)
        return None


def open_led(config: LedConfig, pin_factory: Any = None) -> StatusLed | None:
    if config.pin is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return StatusLed(config, pin_factory)
    except Exception as err:  # noqa: BLE001 -- as for the button: no header, no LED, no crash
        log.warning("no status LED on pin %s (%s: %s)", config.pin, type(err).__name__, err)
        return None
