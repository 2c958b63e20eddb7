"""The fleet view's subscriber: its own small MQTT connection, following ``panic/+/...``.

Its own connection, so a broker full of other appliances' traffic never queues ahead of this
appliance's commands. It keeps the pure ``core.fleet.Fleet`` up to date; the admin page reads a
snapshot (``/fleet``, ``GET /api/fleet``) from the HTTP threads, so a snapshot is taken under a lock.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from panic_edge.bus import MqttBus
from panic_edge.config import MqttConfig
from panic_edge.core.fleet import Fleet

log = logging.getLogger("panic_edge.fleet")


class FleetWatcher:
    def __init__(self, config: MqttConfig, appliance_id: str, *, max_appliances: int = 100,
                 max_nodes: int = 100) -> None:
        self.appliance_id = appliance_id
        self.fleet = Fleet(time.time, max_appliances, max_nodes)
        self._lock = threading.Lock()
        self.bus = MqttBus(config, f"panic-edge-{appliance_id}-fleet",
                           subscriptions=tuple((f, 1) for f in self.fleet.filters),
                           coalesce=lambda _: True)  # every appliance's retained state: the newest counts
        self._warned = False

    def snapshot(self) -> dict[str, Any]:
        """Safe from any thread."""
        with self._lock:
            return self.fleet.snapshot(self.appliance_id)

    async def run(self) -> None:
        """Follow the broker until cancelled."""
        self.bus.start()
        try:
            while True:
                message = await self.bus.messages.get()
                with self._lock:
                    self.fleet.apply(message.topic, message.payload)
                    ignored = self.fleet.ignored
                if ignored and not self._warned:
                    self._warned = True  # once: junk on a shared broker must not flood the log
                    log.warning("fleet view: ignored a message on %s (malformed, or over the limit of %d "
                                "appliances / %d nodes each); later ones are only counted",
                                message.topic[:120], self.fleet.max_appliances, self.fleet.max_nodes)
        finally:
            await self.bus.stop()
