"""The shell that publishes Home Assistant discovery (``[homeassistant] enabled``).

- On every broker connect, and whenever the networks change, it publishes the device config
  (``core/homeassistant.py``) retained, QoS 1, on ``<prefix>/device/<appliance_id>/config``.
- When Home Assistant says ``online`` on ``<prefix>/status`` (it restarted, or its MQTT integration
  reloaded), it publishes the config again after a short random delay (Home Assistant's docs ask for
  one, so a broker full of devices does not answer all at once), then the states.
- It reads its own retained config back at connect: a component in it that this appliance no longer
  has (a network removed while the daemon was down, or just now) is removed by Home Assistant's
  two-step procedure.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Mapping

from panic_edge.bus import Message
from panic_edge.config import HomeAssistantConfig
from panic_edge.core import payloads
from panic_edge.core.homeassistant import components, discovery, discovery_topic, status_topic
from panic_edge.daemon.announce import Publisher

log = logging.getLogger("panic_edge.homeassistant")

MAX_CONFIG_BYTES = 256 * 1024
REANNOUNCE_DELAY = (1.0, 5.0)  # seconds, uniformly at random, after Home Assistant's `online`


class HomeAssistant:
    def __init__(self, config: HomeAssistantConfig, appliance_id: str, version: str, publisher: Publisher,
                 networks: Callable[[], Mapping[str, str]], media_base: Callable[[], str],
                 republish_states: Callable[[], None], *, delay: tuple[float, float] = REANNOUNCE_DELAY,
                 rng: Callable[[float, float], float] = random.uniform) -> None:
        self.appliance_id, self.version = appliance_id, version
        self.publisher = publisher
        self.networks, self.media_base = networks, media_base
        self.republish_states = republish_states
        self.delay, self.rng = delay, rng
        self.topic = discovery_topic(config.prefix, appliance_id)
        self.ha_status = status_topic(config.prefix)
        self.announcements = 0
        self._known: dict[str, str] = {}  # component id -> platform, as the broker last heard it
        self._last: bytes | None = None
        self._pending: asyncio.TimerHandle | None = None

    @property
    def subscriptions(self) -> tuple[tuple[str, int], ...]:
        return ((self.ha_status, 1), (self.topic, 1))

    def announce(self, force: bool = True) -> None:
        """Publish the device config: always when ``force``, else only when it changed."""
        networks = dict(self.networks())
        body = discovery(self.appliance_id, self.version, networks, self.media_base())
        now = components(body)
        gone = {key: platform for key, platform in self._known.items() if key not in now}
        if gone:
            log.info("Home Assistant: removing %s", ", ".join(sorted(gone)))
            removal = discovery(self.appliance_id, self.version, networks, self.media_base(), removed=gone)
            self._publish(payloads.encode(removal))
        encoded = payloads.encode(body)
        if force or gone or encoded != self._last:
            self._publish(encoded)
        self._known, self._last = now, encoded

    def handle(self, message: Message) -> bool:
        """Take a message on one of our subscriptions; False if it is not ours."""
        if message.topic == self.ha_status:
            if message.payload.strip() == b"online":
                self._reannounce_later()
            return True
        if message.topic == self.topic:
            if message.retain and message.payload:  # what the broker kept from before: ours, perhaps older
                earlier = _parse(message.payload)
                missing = {k: p for k, p in earlier.items() if k not in self._known}
                if missing:
                    self._known = {**missing, **self._known}
                    self.announce(force=False)
            return True
        return False

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def _reannounce_later(self) -> None:
        self.close()  # a second `online` inside the delay: one answer is enough
        wait = self.rng(*self.delay)
        log.info("Home Assistant came online: announcing again in %.1f s", wait)
        self._pending = asyncio.get_running_loop().call_later(wait, self._reannounce)

    def _reannounce(self) -> None:
        self._pending = None
        self.announce()
        self.republish_states()  # Home Assistant's docs: after the configs, the states again

    def _publish(self, payload: bytes) -> None:
        self.announcements += 1
        self.publisher.publish(self.topic, payload, qos=1, retain=True)


def _parse(payload: bytes) -> dict[str, str]:
    if len(payload) > MAX_CONFIG_BYTES:
        return {}
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError):
        return {}
    return components(body) if isinstance(body, dict) else {}
