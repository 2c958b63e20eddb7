"""A display node's connection to the appliance: the thin MQTT (and HTTP backfill) shell.

Every node kind (screen, speaker, Vestaboard) opens one ``NodeLink``. It

- connects with a **persistent session** (``clean_session=False``, a stable client id built from
  the appliance and node ids: ``core.topics.node_client_id``) and QoS 1 subscriptions, so the
  broker keeps what is published while the node is away, and keeps it across its own restart when
  it persists sessions;
- announces the node: ``nodes/<node_id>/availability`` (retained ``online``; ``offline`` is the
  last will) and a retained ``nodes/<node_id>/status`` JSON (kind, network, mode, screen);
- with ``--screen NAME``, follows the installation that has the screen (``installations/+``);
- fetches the recent invocations once over HTTP (``/api/networks/<slug>/invocations``) so a node
  that starts late shows the current picture at once;
- parses every message into a typed event on ``events``. A malformed message is logged (a
  warning, naming the topic) and dropped: the node keeps what it had. So is an invocation whose
  file is not under the appliance's ``media_base`` (panic_edge.nodes.fetch): a forged message
  pointing elsewhere never reaches the screen;
- with ``commands``, takes node commands on ``nodes/<node_id>/cmd/<verb>`` (``NodeCommand``
  events), and can change its retained status (``set_status``) and send a screenshot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from panic_edge import __version__
from panic_edge.bus import Message, MqttBus, Will
from panic_edge.config import Config
from panic_edge.core import payloads
from panic_edge.core.insight import parse_insight
from panic_edge.core.installation import GridScreen, Installation, SingleScreen, find_screen
from panic_edge.core.topics import NODE_ID, Topics, node_client_id
from panic_edge.errors import ConfigError, PayloadError
from panic_edge.nodes import messages
from panic_edge.nodes.commands import NodeCommand, parse_node_command
from panic_edge.nodes.feed import selection_of
from panic_edge.nodes.fetch import bounded_get, media_scope
from panic_edge.nodes.gate import Gate, gate_of
from panic_edge.nodes.messages import (
    Appliance,
    ApplianceStatus,
    Assigned,
    Connection,
    Event,
    NetworkState,
    Shown,
    Unassigned,
)
from panic_edge.quiet import Quiet

log = logging.getLogger("panic_edge.nodes")


REFILL = 64  # invocations fetched again after a reconnect: what a broker outage may have dropped
STATUS_WAIT = 3.0  # seconds a file-bearing message waits for the status that says where media is
MAX_WARNED = 256  # refused URLs remembered, so each is logged once
BACKFILL_BYTES = 8 * 1024 * 1024


def default_node_id(kind: str, network: str, mode: str = "") -> str:
    """``<host>-<kind>-<network>[-<mode>]``, safe for a topic level and stable across restarts."""
    raw = "-".join(p for p in (socket.gethostname().split(".")[0], kind, network, mode) if p)
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in raw.lower())[:100]


class NodeLink:
    """Open with ``async with NodeLink.open(...) as link``; read ``await link.events.get()``.

    With ``screen`` (``--screen NAME``) the network is not given but learnt: the link subscribes
    to ``installations/+``, finds the installation that has the screen, emits ``Assigned`` and
    follows that installation's network, switching its subscriptions (and its status) whenever the
    installation is switched. ``kinds`` are the screen kinds this node can show.
    """

    def __init__(self, config: Config, *, kind: str, network: str | None, mode: str, node_id: str,
                 backfill: int = 16, replies: bool = False, screen: str | None = None,
                 kinds: tuple[str, ...] = (), commands: tuple[str, ...] = (), control: bool | None = None,
                 insight: bool = False) -> None:
        self.config = config
        self.topics = topics = Topics(config.appliance_id)
        self.kind, self.network, self.mode, self.node_id = kind, network, mode, node_id
        self.screen, self.kinds = screen, kinds
        self.installation: str | None = None
        self.assignment: Assigned | None = None
        self._installations: dict[str, Installation] = {}
        self.backfill_limit = backfill
        self.events: asyncio.Queue[Event | NodeCommand] = asyncio.Queue()
        self.status: ApplianceStatus | None = None
        self.network_state: NetworkState | None = None  # the followed network's latest retained state
        self._got_status = asyncio.Event()
        self.malformed = 0
        self._started_at = time.time()
        self.refused = 0  # invocations dropped for a file off the appliance
        self._warned: dict[str, None] = {}
        self._quiet = Quiet(log)  # what anyone may send is logged at most once a minute
        control = replies if control is None else control  # sends commands: logs in as control
        subscriptions = [(topics.availability, 1), (topics.status, 1)]
        if network:
            subscriptions += [(topics.network_state(network), 1), (topics.invocations(network), 1)]
        if screen:
            subscriptions.append((topics.installations_filter, 1))
        if replies:
            subscriptions.append((topics.cmd_reply, 1))
        if insight and network:  # the HUD: the run's geometry (core/insight.py)
            subscriptions.append((topics.insight(network), 1))
        self.insight = insight
        if commands:
            subscriptions.append((topics.node_cmd_filter(node_id), 1))
        self._extra: dict[str, Any] = {"commands": list(commands), "showing": "live"}
        if not NODE_ID.fullmatch(node_id):
            raise ConfigError(f"node id {node_id[:40]!r} must be 1-100 letters, digits, - or _ (it names the "
                              f"node's MQTT topics and its MQTT client id)")
        # a terminal sends commands, which only the control role may
        self.role = config.mqtt.role or ("control" if control else "node")
        logged_in = bool(config.mqtt.username or config.mqtt.credentials_file)
        self.client_id = node_client_id(config.appliance_id, node_id, logged_in=logged_in)
        self.bus = MqttBus(config.mqtt, self.client_id, role=self.role,
                           will=Will(topics.node_availability(node_id), b"offline"),
                           subscriptions=tuple(subscriptions),
                           on_connect_publish=self._announce(),
                           clean_session=False, coalesce=topics.is_state)
        self.bus.on_connection_change(self._connection_changed)
        self._connections = 0
        self._warned_role = False
        self._backfills: set[asyncio.Task[None]] = set()

    def _announce(self) -> tuple[tuple[str, bytes, bool], ...]:
        """What goes out on every connect: the retained status (what it shows), then ``online``."""
        body = {"node_id": self.node_id, "kind": self.kind, "network": self.network, "mode": self.mode,
                "host": socket.gethostname(), "version": __version__, "started_at": self._started_at,
                **self._extra}
        if self.screen:
            body.update(screen=self.screen, installation=self.installation)
        return ((self.topics.node_status(self.node_id), payloads.encode(body), True),
                (self.topics.node_availability(self.node_id), b"online", True))

    @classmethod
    @asynccontextmanager
    async def open(cls, config: Config, **kwargs: Any) -> AsyncIterator[NodeLink]:
        link = cls(config, **kwargs)
        link.bus.start()
        async with asyncio.TaskGroup() as group:
            pump = group.create_task(link._pump(), name=f"{link.node_id} messages")
            health = group.create_task(link._report_health(), name=f"{link.node_id} health")
            if link.network:
                link._refill(None)
            try:
                yield link
            finally:
                pump.cancel()
                health.cancel()
                for task in list(link._backfills):
                    task.cancel()
                await link.bus.stop((link.topics.node_availability(link.node_id), b"offline", True))

    def _connection_changed(self, up: bool) -> None:
        self.events.put_nowait(Connection(up))
        if up:
            self._connections += 1
            if self._connections > 1 and self.network:
                # back after an outage: a broker killed hard may have lost what it queued for us,
                # so fetch the recent invocations again (the feed ignores what it already has)
                self._refill(REFILL)

    def refill(self) -> None:
        """Fetch the recent invocations again over HTTP (the feed ignores what it already has)."""
        self._refill(REFILL)

    def _refill(self, limit: int | None) -> None:
        task = asyncio.get_running_loop().create_task(self._backfill(limit), name=f"{self.node_id} backfill")
        self._backfills.add(task)
        task.add_done_callback(self._backfills.discard)

    # --- following an installation (--screen NAME) -----------------------------------------------

    def follow(self, network: str, mode: str | None = None) -> None:
        """Show ``network`` from now on: move the subscriptions, announce it, fetch its recent steps."""
        topics = self.topics
        self.mode = mode or self.mode
        if network != self.network:
            if self.network:
                self.bus.unsubscribe(topics.network_state(self.network), topics.invocations(self.network),
                                     *((topics.insight(self.network),) if self.insight else ()))
            self.network, self.network_state = network, None
            self.bus.subscribe((topics.network_state(network), 1), (topics.invocations(network), 1),
                               *(((topics.insight(network), 1),) if self.insight else ()))
            self._refill(None)
            log.info("%s: now following %s", self.node_id, network)
        self._reannounce()

    def set_status(self, **fields: Any) -> None:
        """Change fields of the retained ``nodes/<node_id>/status`` (e.g. ``showing``) and publish it."""
        self._extra.update(fields)
        self._reannounce()

    def _reannounce(self) -> None:
        """The status changed: publish it now, and from now on at every connect."""
        announce = self._announce()
        self.bus.set_on_connect_publish(announce)
        for topic, body, retain in announce[:1]:
            self.bus.publish(topic, body, qos=1, retain=retain)

    async def _report_health(self) -> None:
        """The node's own machine in its status (``health``: disk, memory, temperature, the Pi's
        throttled flags, load, warnings), read every ``[health] interval`` seconds."""
        from panic_edge.core.health import Thresholds
        from panic_edge.health import read_health

        settings = self.config.health
        thresholds = Thresholds(settings.disk_warning_bytes, settings.temperature_warning_c)
        while True:
            reading = await asyncio.to_thread(read_health, Path.home(), None)
            body = reading.as_dict(thresholds)
            if body != self._extra.get("health"):
                self.set_status(health=body)
            await asyncio.sleep(settings.interval)

    def publish_screenshot(self, png: bytes) -> None:
        """``nodes/<node_id>/screenshot``: QoS 1, not retained (an answer, not a state)."""
        self.bus.publish(self.topics.node_screenshot(self.node_id), png, qos=1, retain=False)

    def _installation_changed(self, name: str, payload: bytes) -> Event | None:
        """A retained ``installations/<name>`` came (or was cleared): is this node's screen there?"""
        if payload:
            self._installations[name] = messages.parse_installation_message(payload)
        else:
            self._installations.pop(name, None)
        assert self.screen is not None
        found = find_screen(self._installations.values(), self.screen)
        if found is None:
            if self.installation != name:
                return None  # some other installation, and ours is not affected
            self.installation, self.assignment = None, None
            return Unassigned(self.screen, f"screen {self.screen} is no longer in installation {name}; "
                              f"still showing {self.network}")
        inst, screen = found
        assigned = Assigned(inst.name, inst.network, screen)
        if assigned == self.assignment:
            return None
        if self.kinds and screen.kind not in self.kinds:
            self.assignment = None
            return Unassigned(self.screen, f"screen {self.screen} is a {screen.kind} screen: start it with "
                              f"`panic-edge {screen.command} --screen {self.screen}`")
        self.installation, self.assignment = inst.name, assigned
        if isinstance(screen, (SingleScreen, GridScreen)):
            self.backfill_limit = selection_of(screen).backfill
        self.follow(inst.network, screen.describe())
        return assigned

    def _stale(self, topic: str) -> bool:
        """A network topic this node no longer follows (a persistent session can keep one across a
        restart): unsubscribe, so the broker stops queueing it."""
        prefix = f"{self.topics.base}/networks/"
        slug, _, leaf = topic.removeprefix(prefix).partition("/")
        if topic.startswith(prefix) and slug != self.network and leaf in ("state", "invocations", "insight"):
            self.bus.unsubscribe(topic)
            return True
        return False

    # --- commands (terminal and button) -----------------------------------------------------

    def command(self, name: str, body: dict[str, Any]) -> None:
        """Publish ``cmd/<name>`` (QoS 1, never retained: a stale start must not replay)."""
        if self.role == "node" and self.config.mqtt.credentials_file and not self.config.mqtt.username \
                and not self._warned_role:
            self._warned_role = True
            log.warning("%s: this node logs in as the node role, which the broker does not let send commands; "
                        "for a screen with a panic button set [mqtt] role = \"control\"", self.node_id)
        self.bus.publish(self.topics.cmd(name), payloads.encode(body), qos=1, retain=False)

    # --- incoming ---------------------------------------------------------------------------

    async def _pump(self) -> None:
        while True:
            message = await self.bus.messages.get()
            try:
                event = self._parse(message)
            except PayloadError as err:
                self.malformed += 1
                # one kind for every topic: a sender varying a wildcard's level must not get a line each
                self._quiet.warning("malformed", "%s: ignored a malformed message on %s: %s", self.node_id,
                                    message.topic[:160], err)
                continue
            except Exception:  # the last resort: a bug in a parser must not stop the node
                self.malformed += 1
                log.exception("%s: bug: a message on %s raised; ignored it", self.node_id, message.topic)
                continue
            if isinstance(event, ApplianceStatus):
                self.status = event
                self._got_status.set()
            if isinstance(event, NetworkState) and event.network == self.network:
                self.network_state = event
            if isinstance(event, Shown) and not await self._admit(event, message.topic):
                continue
            if event is not None:
                self.events.put_nowait(event)

    @property
    def gate(self) -> Gate | None:
        """Why the followed network cannot start now (opening hours, budget), from the appliance's
        status and the network's state as last heard; None when it may."""
        return gate_of(self.status, self.network_state)

    @property
    def media_base(self) -> str:
        """Where this node fetches media: the config's public_url, else the appliance's status."""
        if self.config.http.public_url:
            return self.config.http.public_url.rstrip("/")
        return (self.status.media_base if self.status else None) or self.config.media_base()

    async def _admit(self, shown: Shown, source: str) -> bool:
        """Whether ``shown``'s files are under the appliance's media_base; else warn (once per
        URL) and count it. Waits a moment for the status that names the media_base."""
        urls = [u for kind, u in ((shown.output_type, shown.output), (shown.input_type, shown.input))
                if kind != "text" and u]
        if not urls:
            return True
        if self.status is None and not self.config.http.public_url:
            try:
                async with asyncio.timeout(STATUS_WAIT):
                    await self._got_status.wait()
            except TimeoutError:
                pass
        for url in urls:
            why = media_scope(url, self.media_base)
            if why is not None:
                self.refused += 1
                if url not in self._warned:
                    self._warned[url] = None
                    if len(self._warned) > MAX_WARNED:
                        del self._warned[next(iter(self._warned))]
                    log.warning("%s: ignored invocation %s from %s: its file %.200r is not fetched: %s",
                                self.node_id, shown.id[:80], source, url, why)
                return False
        return True

    def _parse(self, message: Message) -> Event | NodeCommand | None:
        topics, payload = self.topics, message.payload
        if self.network and message.topic == topics.invocations(self.network):
            return messages.parse_invocation(payload)
        if self.network and message.topic == topics.network_state(self.network):
            return messages.parse_network_state(payload) if payload else None
        installation = topics.installation_name(message.topic)
        if installation is not None:
            return self._installation_changed(installation, payload) if self.screen else None
        if self._stale(message.topic):
            return None
        if message.topic == topics.availability:
            return Appliance(messages.parse_availability(payload)) if payload else None
        if message.topic == topics.status:
            return messages.parse_status(payload) if payload else None
        if message.topic == topics.cmd_reply:
            return messages.parse_reply(payload)
        found = topics.node_topic_leaf(message.topic)
        if found is not None and found[0] == self.node_id and found[1].startswith("cmd/"):
            return parse_node_command(found[1][4:], message.retain)
        if self.network and message.topic == topics.insight(self.network):
            return parse_insight(payload)  # type: ignore[return-value]
        return None

    async def _backfill(self, limit: int | None = None) -> None:
        """At start (and after a switch): the recent invocations over HTTP (the status names the URL)."""
        try:
            async with asyncio.timeout(3.0):
                await self._got_status.wait()
        except TimeoutError:
            pass
        network = self.network
        base = self.media_base
        url = f"{base.rstrip('/')}/api/networks/{network}/invocations"
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                body = await bounded_get(client, url, BACKFILL_BYTES, 30.0,
                                         {"limit": limit or self.backfill_limit})
            items = json.loads(body).get("invocations", [])
            if not isinstance(items, list):
                raise PayloadError("the answer holds no list of invocations")
        except (httpx.HTTPError, ValueError, AttributeError, TimeoutError, RecursionError) as err:
            log.warning("%s: could not fetch recent invocations from %s (%s); showing new ones as they "
                        "come", self.node_id, url, err)
            return
        items = items[:limit or self.backfill_limit]
        for item in reversed(items):  # oldest first, like the live stream
            try:
                shown = messages.parse_invocation(item)
            except PayloadError as err:
                log.warning("%s: ignored a malformed invocation from %s: %s", self.node_id, url, err)
                continue
            if await self._admit(shown, url):
                self.events.put_nowait(shown)
        log.info("%s: %d recent invocations of %s from %s", self.node_id, len(items), network, base)
