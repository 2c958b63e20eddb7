"""A display node's connection to the appliance: the thin MQTT (and HTTP backfill) shell.

Every node kind (screen, speaker, Vestaboard) opens one ``NodeLink``. It

- connects with a **persistent session** (``clean_session=False``, a stable client id built from
  the node id) and QoS 1 subscriptions, so the broker keeps what is published while the node is
  away, and keeps it across its own restart when it persists sessions;
- announces the node: ``nodes/<node_id>/availability`` (retained ``online``; ``offline`` is the
  last will) and a retained ``nodes/<node_id>/status`` JSON (kind, network, mode);
- fetches the recent invocations once over HTTP (``/api/networks/<slug>/invocations``) so a node
  that starts late shows the current picture at once;
- parses every message into a typed event on ``events``. A malformed message is logged (a
  warning, naming the topic) and dropped: the node keeps what it had.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from panic_edge import __version__
from panic_edge.bus import Message, MqttBus, Will
from panic_edge.config import Config
from panic_edge.core import payloads
from panic_edge.core.insight import parse_insight
from panic_edge.core.topics import Topics
from panic_edge.errors import PayloadError
from panic_edge.nodes import messages
from panic_edge.nodes.messages import Appliance, ApplianceStatus, Connection, Event

log = logging.getLogger("panic_edge.nodes")


REFILL = 64  # invocations fetched again after a reconnect: what a broker outage may have dropped


def default_node_id(kind: str, network: str, mode: str = "") -> str:
    """``<host>-<kind>-<network>[-<mode>]``, safe for a topic level and stable across restarts."""
    raw = "-".join(p for p in (socket.gethostname().split(".")[0], kind, network, mode) if p)
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in raw.lower())[:100]


class NodeLink:
    """Open with ``async with NodeLink.open(...) as link``; read ``await link.events.get()``."""

    def __init__(self, config: Config, *, kind: str, network: str, mode: str, node_id: str,
                 backfill: int = 16, replies: bool = False, insight: bool = False) -> None:
        self.config = config
        self.topics = topics = Topics(config.appliance_id)
        self.kind, self.network, self.mode, self.node_id = kind, network, mode, node_id
        self.backfill_limit = backfill
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.status: ApplianceStatus | None = None
        self._got_status = asyncio.Event()
        self.malformed = 0
        subscriptions = [(topics.availability, 1), (topics.status, 1), (topics.network_state(network), 1),
                         (topics.invocations(network), 1)]
        if replies:
            subscriptions.append((topics.cmd_reply, 1))
        if insight:  # the HUD: the run's geometry (core/insight.py)
            subscriptions.append((topics.insight(network), 1))
        self._status_body = payloads.encode({
            "node_id": node_id, "kind": kind, "network": network, "mode": mode,
            "host": socket.gethostname(), "version": __version__, "started_at": time.time()})
        self.bus = MqttBus(config.mqtt, f"panic-node-{config.appliance_id}-{node_id}"[:200],
                           will=Will(topics.node_availability(node_id), b"offline"),
                           subscriptions=tuple(subscriptions),
                           on_connect_publish=((topics.node_status(node_id), self._status_body, True),
                                               (topics.node_availability(node_id), b"online", True)),
                           clean_session=False)
        self.bus.on_connection_change(self._connection_changed)
        self._connections = 0
        self._backfills: set[asyncio.Task[None]] = set()

    @classmethod
    @asynccontextmanager
    async def open(cls, config: Config, **kwargs: Any) -> AsyncIterator[NodeLink]:
        link = cls(config, **kwargs)
        link.bus.start()
        async with asyncio.TaskGroup() as group:
            pump = group.create_task(link._pump(), name=f"{link.node_id} messages")
            backfill = group.create_task(link._backfill(), name=f"{link.node_id} backfill")
            try:
                yield link
            finally:
                pump.cancel()
                backfill.cancel()
                for task in list(link._backfills):
                    task.cancel()
                await link.bus.stop((link.topics.node_availability(link.node_id), b"offline", True))

    def _connection_changed(self, up: bool) -> None:
        self.events.put_nowait(Connection(up))
        if up:
            self._connections += 1
            if self._connections > 1:
                # back after an outage: a broker killed hard may have lost what it queued for us,
                # so fetch the recent invocations again (the feed ignores what it already has)
                task = asyncio.get_running_loop().create_task(self._backfill(REFILL), name=f"{self.node_id} refill")
                self._backfills.add(task)
                task.add_done_callback(self._backfills.discard)

    # --- commands (terminal and button) -----------------------------------------------------

    def command(self, name: str, body: dict[str, Any]) -> None:
        """Publish ``cmd/<name>`` (QoS 1, never retained: a stale start must not replay)."""
        self.bus.publish(self.topics.cmd(name), payloads.encode(body), qos=1, retain=False)

    # --- incoming ---------------------------------------------------------------------------

    async def _pump(self) -> None:
        while True:
            message = await self.bus.messages.get()
            try:
                event = self._parse(message)
            except PayloadError as err:
                self.malformed += 1
                log.warning("%s: ignored a malformed message on %s: %s", self.node_id, message.topic, err)
                continue
            if isinstance(event, ApplianceStatus):
                self.status = event
                self._got_status.set()
            if event is not None:
                self.events.put_nowait(event)

    def _parse(self, message: Message) -> Event | None:
        topics, payload = self.topics, message.payload
        if message.topic == topics.invocations(self.network):
            return messages.parse_invocation(payload)
        if message.topic == topics.network_state(self.network):
            return messages.parse_network_state(payload) if payload else None
        if message.topic == topics.availability:
            return Appliance(messages.parse_availability(payload)) if payload else None
        if message.topic == topics.status:
            return messages.parse_status(payload) if payload else None
        if message.topic == topics.cmd_reply:
            return messages.parse_reply(payload)
        if message.topic == topics.insight(self.network):
            return parse_insight(payload)  # type: ignore[return-value]
        return None

    async def _backfill(self, limit: int | None = None) -> None:
        """Once, at start: the recent invocations over HTTP (the daemon's status names its URL)."""
        try:
            await asyncio.wait_for(self._got_status.wait(), 3.0)
        except TimeoutError:
            pass
        base = (self.status.media_base if self.status else None) or self.config.media_base()
        url = f"{base.rstrip('/')}/api/networks/{self.network}/invocations"
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.get(url, params={"limit": limit or self.backfill_limit})
                response.raise_for_status()
                items = response.json().get("invocations", [])
        except (httpx.HTTPError, ValueError, AttributeError) as err:
            log.warning("%s: could not fetch recent invocations from %s (%s); showing new ones as they "
                        "come", self.node_id, url, err)
            return
        for item in reversed(items):  # oldest first, like the live stream
            try:
                self.events.put_nowait(messages.parse_invocation(item))
            except PayloadError as err:
                log.warning("%s: ignored a malformed invocation from %s: %s", self.node_id, url, err)
        log.info("%s: %d recent invocations of %s from %s", self.node_id, len(items), self.network, base)
