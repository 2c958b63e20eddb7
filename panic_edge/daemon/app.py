"""The composition root: opens every resource in one place and closes them in reverse order."""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import sys
import time
import uuid
from contextlib import AsyncExitStack
from typing import Any, TextIO

from flask_ui.app import Settings
from panic_edge import __version__
from panic_edge.archive import Archive
from panic_edge.backup import rotate
from panic_edge.bus import Message, MqttBus, Will
from panic_edge.clock import SYSTEM, Clock
from panic_edge.config import Config
from panic_edge.core import payloads
from panic_edge.core.budget import StartBudget
from panic_edge.core.catalogue import CATALOGUE, Catalogue
from panic_edge.core.payloads import Command
from panic_edge.core.rate import RollingCount
from panic_edge.core.request_reply import response_refusal
from panic_edge.core.runner import RunnerState
from panic_edge.core.topics import Topics
from panic_edge.daemon.announce import pause
from panic_edge.daemon.button_network import ButtonNetwork
from panic_edge.daemon.commands import CommandHandler
from panic_edge.daemon.connectivity import ConnectivityMonitor
from panic_edge.daemon.control import Control
from panic_edge.daemon.day import GalleryDay, policies_of
from panic_edge.daemon.deadlines import call_deadline
from panic_edge.daemon.engine import Engine
from panic_edge.daemon.fleet import FleetWatcher
from panic_edge.daemon.homeassistant import HomeAssistant
from panic_edge.daemon.http import HttpServer
from panic_edge.daemon.hub import Hub
from panic_edge.daemon.installations import Installations
from panic_edge.daemon.latest_image import LatestImages
from panic_edge.daemon.lock import DataDirLock
from panic_edge.daemon.presence import Heard, Presence
from panic_edge.daemon.prewarm import Prewarmer
from panic_edge.daemon.screens import Screens
from panic_edge.daemon.systemd import Notifier
from panic_edge.errors import BackupError
from panic_edge.images import ImageLimits
from panic_edge.inputs.gpio import open_button, open_led
from panic_edge.inputs.keyboard import open_keyboard
from panic_edge.insight.service import InsightService
from panic_edge.lan import lan_address
from panic_edge.network_files import LoadedNetworks
from panic_edge.platforms.base import Platforms
from panic_edge.platforms.registry import build_platforms
from panic_edge.private_files import lock_down
from panic_edge.quiet import Quiet
from panic_edge.store import Store
from panic_edge.store.reader import Reader

log = logging.getLogger("panic_edge.daemon")

STATUS_INTERVAL = 0.2  # seconds: the retained status goes out at most this often (the last one always)


class Daemon:
    """The appliance. ``await Daemon(config, networks).run()`` until SIGTERM/SIGINT or ``stop()``."""

    def __init__(self, config: Config, networks: LoadedNetworks, *, catalogue: Catalogue = CATALOGUE,
                 pin_factory: Any = None, stdin: TextIO | None = sys.stdin,
                 handle_signals: bool = True, platforms: Platforms | None = None, clock: Clock = SYSTEM) -> None:
        self.config = config
        self.clock = clock  # the wall clock; a fast one runs a day in a minute (the soak test)
        self.networks = networks
        self.catalogue = catalogue
        self.pin_factory = pin_factory
        self.stdin = stdin
        self.handle_signals = handle_signals
        self.platforms = platforms  # None: built from the config (benchmarks bring their own)
        self.topics = Topics(config.appliance_id)
        self.ready = asyncio.Event()
        self.started_at = time.time()
        self._stop = asyncio.Event()
        self.engine: Engine | None = None
        self.bus: MqttBus | None = None
        self.commands_bus: MqttBus | None = None  # commands and their replies, on a connection of their own
        self.http: HttpServer | None = None
        self.handler: CommandHandler | None = None
        self.settings: Settings | None = None
        self._led: Any = None
        self.presence = Presence()
        self._quiet = Quiet(log)
        self.installations: Installations | None = None
        self.screens = Screens(self.topics, self._to_node, self.presence.nodes)
        self.insight: InsightService | None = None
        self.media_base = ""
        self.status_interval = STATUS_INTERVAL
        self._status_sent_at = float("-inf")  # the first status goes out at once
        self._status_timer: asyncio.TimerHandle | None = None
        self.invocations = RollingCount(60.0)  # completed in the last minute, for the status
        self.button = ButtonNetwork(config.button_network, config.data_dir / "button-network.json",
                                    lambda slug: self.engine is not None and slug in self.engine.states)
        self.button.listeners.append(lambda slug: self._publish_status())
        self.homeassistant: HomeAssistant | None = None
        self.fleet: FleetWatcher | None = None  # made in run(): its bus needs the running loop
        self.prewarmer: Prewarmer | None = None  # opening hours call prewarmer.prewarm("opening")
        self.day: GalleryDay | None = None  # opening hours, spending, retention, health

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        config, topics = self.config, self.topics
        notifier = Notifier()
        for name, problem in self.networks.problems.items():
            log.error("skipping network %s: %s", name, problem)
        async with AsyncExitStack() as stack:
            await asyncio.to_thread(lock_down, config.data_dir)  # installs made before 0600/0700
            stack.enter_context(DataDirLock(config.data_dir))
            store = await stack.enter_async_context(Store.open(config.database_path))
            archive = Archive(config.archive_dir, images=ImageLimits(**config.images.model_dump()))
            platforms = self.platforms if self.platforms is not None else build_platforms(config)
            stack.push_async_callback(platforms.aclose)

            settings = Settings(config.archive_dir, config.database_path, status=self.status,
                                model_names={m.id: m.label for m in self.catalogue.values()},
                                admin=config.admin, catalogue=self.catalogue, platforms=platforms,
                                networks_dir=config.networks_dir, hub=Hub(),
                                secret_key_path=config.data_dir / "admin-session-key",
                                visitors=config.visitors, public_url=config.http.public_url)
            self.settings = settings
            self.http = http = HttpServer(settings, config.http.host, config.http.port)
            http.start()
            stack.callback(http.stop)
            settings.media_base = self.media_base = config.media_base(http.port, await _lan_host(config, http.port))

            online = (topics.availability, b"online", True)
            # client ids no other login can guess: one that connects with the daemon's id would
            # take its place at the broker (and its last will would tell every screen "offline")
            ids = f"panic-edge-{config.appliance_id}-{secrets.token_hex(4)}"
            offline = Will(topics.availability, b"offline")
            self.bus = bus = MqttBus(config.mqtt, ids, will=offline,
                                     subscriptions=((topics.nodes_filter, 1), (topics.installations_filter, 1)),
                                     mqtt5=True, coalesce=topics.is_state,
                                     retain_as_published=frozenset({topics.nodes_filter}))
            # commands on a connection of their own: a flood on any other topic (a node's status,
            # from anyone holding a node login) never stands between a command and its answer.
            # "online" goes out on it, after its subscription (the broker takes a connection's
            # packets in order): once a client sees it, a command it sends is heard
            self.commands_bus = commands_bus = MqttBus(config.mqtt, f"{ids}-commands", mqtt5=True, will=offline,
                                                       subscriptions=((topics.cmd_filter, 1),),
                                                       on_connect_publish=(online,),
                                                       retain_as_published=frozenset({topics.cmd_filter}))
            self.latest_images = LatestImages(bus, topics)
            if config.fleet.enabled:
                self.fleet = FleetWatcher(config.mqtt, config.appliance_id)
            if config.homeassistant.enabled:
                self.homeassistant = HomeAssistant(
                    config.homeassistant, config.appliance_id, __version__, bus,
                    lambda: {s: n.name for s, n in (self.engine.networks if self.engine else {}).items()},
                    lambda: self.media_base, self._republish)
                bus.subscribe(*self.homeassistant.subscriptions)
                stack.callback(self.homeassistant.close)
            bus.on_connection_change(self._connection_changed)
            bus.start()
            stack.push_async_callback(bus.stop, (topics.availability, b"offline", True))
            commands_bus.start()
            stack.push_async_callback(commands_bus.stop)
            stack.callback(self._flush_status)  # after the engine closes, before the bus stops

            self.monitor = monitor = ConnectivityMonitor(config.offline, config.probe_targets,
                                                         self._online_changed)
            self.day = day = GalleryDay(
                config, self.clock, store, paid=lambda slug: self.engine is not None and self.engine.needs_internet(slug),
                attract_network=lambda: self.button.current, new_id=lambda: uuid.uuid4().hex,
                opened=lambda: self.prewarmer.prewarm("opening") if self.prewarmer else asyncio.sleep(0),
                changed=self._publish_status)
            self.engine = engine = Engine(self.networks.networks, self.catalogue, store, archive, platforms,
                                          bus, topics, settings.media_base,
                                          replay_seconds=config.offline.replay_seconds,
                                          on_unreachable=monitor.report_unreachable,
                                          start_budget=StartBudget.full(config.limits.starts_per_minute,
                                                                        config.limits.start_burst,
                                                                        time.monotonic()),
                                          call_deadline=lambda model: call_deadline(model, config),
                                          invocation_expiry=config.mqtt.invocation_expiry or None,
                                          clock=self.clock.now, policies=policies_of(config), timers=self.clock,
                                          spending=day.ledger, on_storage_fault=day.retention.poke)
            stack.push_async_callback(engine.aclose)
            settings.control = Control(engine, asyncio.get_running_loop(), self.catalogue,
                                       config.networks_dir, config.database_path, config.backups_dir,
                                       screens=self.screens)
            engine.on_invocation(lambda body: self._hub_publish("invocation", body))
            engine.on_invocation(self._invocation_published)
            self.installations = Installations(config.installations, config.data_dir, bus, topics,
                                               lambda slug: slug in engine.networks)
            settings.control.installations = self.installations
            settings.installations = lambda: self.installations.all if self.installations else ()
            self.installations.publish_all()
            self.insight = await stack.enter_async_context(InsightService.open(
                config, engine, store, bus, topics, settings.model_names,
                lambda body: self._hub_publish("insight", body)))
            self.handler = handler = CommandHandler(engine, self.button)
            self.prewarmer = prewarmer = Prewarmer(
                config.prewarm, self.catalogue, platforms, store, engine, button=lambda: self.button.current,
                shown=lambda: [i.network for i in self.installations.all] if self.installations else [],
                online=lambda: monitor.online, deadline=lambda model: call_deadline(model, config),
                reader=Reader(config.database_path), clock=self.clock.now, spent=day.ledger.spent)
            stack.push_async_callback(prewarmer.aclose)
            engine.on_invocation(prewarmer.observe)
            prewarmer.listeners.append(self._publish_status)
            if self.homeassistant is not None:
                self.homeassistant.announce()
            if self.fleet is not None:
                settings.fleet = self.fleet.snapshot
            await engine.resume_open_runs(config.offline.resume_after_restart)
            resent = await engine.republish_unacknowledged()
            if resent:
                log.info("publishing %d invocation updates the broker never acknowledged", resent)
            await day.start(engine)
            engine.publish_all_states()
            await prewarmer.load()
            if config.prewarm.on_start and day.hours.open:
                await prewarmer.prewarm("start")

            self._led = led = open_led(config.led, self.pin_factory)
            if led is not None:
                stack.callback(led.close)
            engine.on_state_change(self._state_changed)
            self._state_changed()  # the LED shows how things stand now (closed, offline), not only after a change
            button = open_button(config.button, lambda: self._local(Command("press", self.button.current)),
                                 lambda: self._local(Command("stop", self.button.current)),
                                 self.pin_factory)
            if button is not None:
                stack.callback(button.close)
                log.info("panic button on GPIO%d drives %s", config.button.pin, self.button.current)
            if self.stdin is not None:
                keyboard = open_keyboard(config.keyboard.enabled, self._typed, self.stdin)
                if keyboard is not None:
                    stack.callback(keyboard.close)
            if self.handle_signals:
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, self.stop)
                    stack.callback(loop.remove_signal_handler, sig)

            summary = (f"{len(self.networks.networks)} networks, media on {settings.media_base}, "
                       f"broker {config.mqtt.url}")
            log.info("panic-edge %s ready: %s", __version__, summary)
            notifier.ready(summary)
            self.ready.set()
            async with asyncio.TaskGroup() as group:
                background = [group.create_task(self._serve_commands(commands_bus, handler), name="commands"),
                              group.create_task(self._serve_messages(bus), name="messages"),
                              group.create_task(self._watchdog(notifier), name="watchdog"),
                              group.create_task(engine.run_outbox(), name="outbox"),
                              group.create_task(engine.run_call_watchdog(), name="stuck calls"),
                              group.create_task(self._backups(), name="backups"),
                              group.create_task(self._fresh_visit_passes(), name="visit passes")]
                if any(engine.needs_internet(slug) for slug in engine.states):
                    background.append(group.create_task(monitor.run(), name="connectivity"))
                background.append(group.create_task(self._rate_refresh(), name="rate"))
                if self.fleet is not None:
                    background.append(group.create_task(self.fleet.run(), name="fleet"))
                for name, work in day.tasks():
                    background.append(group.create_task(work(), name=name))
                await self._stop.wait()
                log.info("stopping")
                notifier.stopping()
                for task in background:
                    task.cancel()
                # the runs end first: no model is called (or paid for) while the rest shuts down
                # (the insight worker alone may take seconds); the stack's own close then finds none
                await engine.aclose()

    # --- inputs -----------------------------------------------------------------------------

    async def _serve_commands(self, bus: MqttBus, handler: CommandHandler) -> None:
        while True:
            message = await bus.messages.get()
            try:
                await self._serve_command(bus, message, handler)
            except Exception:  # the last resort: a bug in a handler must not stop the daemon
                log.exception("bug: a message on %s raised; ignored it and carried on", message.topic[:200])

    async def _serve_messages(self, bus: MqttBus) -> None:
        while True:
            message = await bus.messages.get()
            try:
                await self._serve(message)
            except Exception:  # the last resort: a bug in a handler must not stop the daemon
                log.exception("bug: a message on %s raised; ignored it and carried on", message.topic[:200])

    async def _serve(self, message: Message) -> None:
        """Everything but commands: node presence and screenshots, installations, Home Assistant."""
        installation = self.topics.installation_name(message.topic)
        if installation is not None:
            if self.installations is not None:
                self.installations.observe(installation, message.payload, message.retain)
            return
        node = self.topics.node_topic_leaf(message.topic)
        if node is not None:
            await self._serve_node(message, *node)
            return
        if self.homeassistant is not None:
            self.homeassistant.handle(message)

    async def _serve_node(self, message: Message, node_id: str, leaf: str) -> None:
        """A node's presence or screenshot. What is refused and was retained is cleared at the
        broker: anyone may invent node ids, and their retained messages would pile up there."""
        heard = Heard.REFUSED
        if leaf == "screenshot":
            if not self.presence.is_online(node_id):  # else any invented id could push real ones out
                self._quiet.warning("screenshot", "ignored a screenshot from %r, which is not a display node "
                                    "online", node_id[:100])
            else:
                shot = self.screens.put(node_id, message.payload)
                if shot is not None:
                    self._hub_publish("screenshot", {"node_id": node_id, "at": shot.at})
            heard = Heard.REFUSED if message.retain else Heard.SAME  # a screenshot is never kept
        elif leaf in ("availability", "status"):
            heard = self.presence.hear(node_id, leaf, message.payload)
            if heard is Heard.CHANGED:
                self._publish_status()
                if self.day is not None:
                    await self.day.boards(self.presence.boards(self.day.board_holds))
        if heard is Heard.REFUSED and message.retain and message.payload and self.bus is not None:
            self._quiet.warning("cleared", "cleared a retained message on %s that no display node of this "
                                "appliance sends (malformed, or one node too many)", message.topic[:160])
            self.bus.publish(message.topic, b"", qos=1, retain=True)

    async def _serve_command(self, bus: MqttBus, message: Message, handler: CommandHandler) -> None:
        name = self.topics.command_name(message.topic)
        if name is None or name == "reply":
            return
        if message.retain:  # it would come again at every subscribe: cleared at the broker
            if message.payload:
                self._quiet.warning("retained command", "ignored and cleared a retained cmd/%s: commands "
                                    "must not be retained", name[:40])
                bus.publish(message.topic, b"", qos=1, retain=True)
            return
        reply = await handler.answer(name, message.payload)
        bus.publish(self.topics.cmd_reply, reply)
        if message.response_topic is not None:
            self._respond(bus, message.response_topic, reply, message.correlation_data)

    def _respond(self, bus: MqttBus, topic: str, reply: bytes, correlation: bytes | None) -> None:
        """MQTT 5: the answer also goes to the request's response topic (core/request_reply.py)."""
        refusal = response_refusal(topic, self.topics, (self.config.homeassistant.prefix,))
        if refusal is not None:
            log.warning("answered on %s only, not on response topic %r: %s", self.topics.cmd_reply,
                        topic[:120], refusal)
            return
        bus.respond(topic, reply, correlation)

    def _to_node(self, topic: str, body: bytes) -> None:
        if self.bus is not None:
            self.bus.publish(topic, body, qos=1, retain=False)  # never retained: a stale blank must not replay

    async def _local(self, command: Command) -> None:
        assert self.handler is not None
        outcome = await self.handler.handle(command)
        if not outcome.ok:
            log.info("%s: %s", command.name, outcome.message)

    async def _typed(self, line: str) -> None:
        network = self.button.current
        await self._local(Command("start", network, line) if line else Command("press", network))

    async def _backups(self) -> None:
        """Online backups of the database into a rotating set, while the loop runs."""
        hours = self.config.backups.interval_hours
        if not hours:
            return
        while True:
            await asyncio.sleep(hours * 3600)
            try:
                made, dropped = await asyncio.to_thread(rotate, self.config.database_path,
                                                        self.config.backups_dir, self.config.backups.keep)
            except BackupError as err:
                log.error("automatic backup failed: %s", err)
                continue
            log.info("backed up the database to %s (%d old ones removed)", made, len(dropped))

    async def _fresh_visit_passes(self) -> None:
        """Republish the status before the screens' QR passes get old: each always has two thirds
        of its life left when it goes out."""
        if not self.config.visitors.enabled:
            return
        while True:
            await asyncio.sleep(self.config.visitors.token_minutes * 60 / 3)
            self._publish_status()

    def _visit_links(self) -> dict[str, dict[str, Any]]:
        """Per network: the prompt page's URL with a fresh pass, for the screens' QR codes (MQTT only:
        /api/status, open to anyone on the network, hands out none)."""
        if not self.config.visitors.enabled or self.http is None or self.engine is None:
            return {}
        from flask_ui.visitor import issue_link

        links = {}
        for slug in self.engine.networks:
            url, issued = issue_link(self.http.app, slug, self.media_base)
            links[slug] = {"visit_url": url, "visit_expires_at": issued.expires_at}
        return links

    async def _watchdog(self, notifier: Notifier) -> None:
        interval = notifier.watchdog_interval
        if interval is None:
            return
        while True:
            notifier.watchdog()
            await asyncio.sleep(interval)

    # --- status -----------------------------------------------------------------------------

    def _invocation_published(self, body: dict[str, Any]) -> None:
        if body.get("state") == "completed":
            self.invocations.add(time.monotonic())
            self.latest_images.observe(body)

    async def _rate_refresh(self, every: float = 10.0) -> None:
        """Invocations per minute falls with no event to say so: publish the status when it moved."""
        sent = 0
        while True:
            await asyncio.sleep(every)
            now = self.invocations.count(time.monotonic())
            if now != sent:
                sent = now
                self._publish_status()

    def _republish(self) -> None:
        """Every retained topic again (a broker that lost them; Home Assistant after its restart)."""
        if self.engine is not None:
            self.engine.publish_all_states()
            self._publish_status()
            self.latest_images.republish()
            if self.installations is not None:
                self.installations.publish_all()

    def _state_changed(self, state: RunnerState | None = None) -> None:
        if self._led is not None and self.engine is not None:
            states = self.engine.states.values()
            self._led.show(any(s.run for s in states), offline=any(not s.online for s in states),
                           closed=any(not s.open for s in states))
        self._publish_status()
        if state is None:
            return
        if self.engine is not None and state.network.slug not in self.engine.states:  # it was removed
            self.latest_images.forget(state.network.slug)
        if self.homeassistant is not None:
            self.homeassistant.announce(force=False)  # a network added or removed changes the device
        run = state.run
        self._hub_publish("state", {"network": state.network.slug, "state": state.phase,
                                    "run_id": run.run_id if run else None,
                                    "sequence": run.sequence if run else None,
                                    "lockout_until": state.lockout_until, "online": state.online,
                                    "held": bool(run and run.held),
                                    "next_invocation_at": state.next_invocation_at, "pause": pause(state)})

    def _hub_publish(self, kind: str, body: dict[str, Any]) -> None:
        if self.settings is not None and self.settings.hub is not None:
            self.settings.hub.publish(kind, body)

    def _connection_changed(self, connected: bool) -> None:
        if connected and self.commands_bus is not None and self.commands_bus.connected:
            # back after losing only this connection: its will said "offline"
            self.commands_bus.publish(self.topics.availability, b"online", qos=1, retain=True)
        if connected and self.engine is not None:
            # a broker that restarted without persistence has lost the retained picture
            self._republish()
            if self.homeassistant is not None:
                self.homeassistant.announce()

    async def _online_changed(self, online: bool) -> None:
        assert self.engine is not None
        await self.engine.set_online(online)
        self._state_changed()

    def status(self) -> dict[str, Any]:
        """The appliance's status, for the status topic and /api/status. No secrets here."""
        engine = self.engine
        networks = {}
        for slug, net in (engine.networks if engine else self.networks.networks).items():
            state = engine.states[slug] if engine else RunnerState(net)
            networks[slug] = {"name": net.name, "state": state.phase, "models": list(net.models),
                              "online": state.online, "held": bool(state.run and state.run.held),
                              "offline_policy": net.offline_policy,
                              "run_id": state.run.run_id if state.run else None,
                              "sequence": state.run.sequence if state.run else None,
                              "lockout_until": state.lockout_until, "about_url": net.about_url,
                              "nodes": self.presence.counts().get(slug, 0),
                              "next_invocation_at": state.next_invocation_at,
                              "held_reason": state.run.held_reason if state.run else None,
                              "pause": pause(state), "gate": state.gate,
                              "pacing": [list(step) for step in state.pacing],
                              "spend_today_usd": self.day.ledger.network_today(slug) if self.day else 0.0}
        return {"appliance_id": self.config.appliance_id, "version": __version__,
                "started_at": self.started_at, "uptime": round(time.time() - self.started_at, 1),
                "broker_connected": bool(self.bus and self.bus.connected),
                "internet": self._internet(),
                "storage_problem": engine.storage_problem if engine else None,
                "default_network": self.config.default_network, "networks": networks,
                "button_network": self.button.current,
                "invocations_per_minute": self.invocations.count(time.monotonic()),
                "network_problems": dict(self.networks.problems), "media_base": self.media_base,
                "nodes_online": self.presence.online(), "screens_online": self.presence.screens(),
                "insight": self.insight.status() if self.insight else {"state": "off", "reason": "not started"},
                "models_warm": self.prewarmer.models_warm() if self.prewarmer else {},
                "prewarm": self.prewarmer.status() if self.prewarmer else {"enabled": False, "last": None},
                **(self.day.status() if self.day else {"open": True, "next_change": None, "opens_at": None,
                                                        "spend": None, "health": None})}

    def _internet(self) -> str:
        monitor = getattr(self, "monitor", None)
        engine = self.engine
        if engine is not None and not any(engine.needs_internet(slug) for slug in engine.states):
            return "not needed"  # local models only: nothing is probed
        if monitor is None or monitor.online is None:
            return "unknown"
        return "online" if monitor.online else "offline"

    def _publish_status(self) -> None:
        """Publish the retained status, at most every STATUS_INTERVAL s: a change inside the window is
        sent at its end, built then, so the last state always goes out (and a burst costs one message)."""
        if self.bus is None or self._status_timer is not None:
            return  # a trailing publish is already due: it will carry this change too
        wait = self._status_sent_at + self.status_interval - time.monotonic()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            wait = 0.0  # not on the event loop: nothing to defer with
        if wait <= 0:
            self._send_status()
        else:
            self._status_timer = loop.call_later(wait, self._send_status)

    def _send_status(self) -> None:
        self._status_timer = None
        self._status_sent_at = time.monotonic()
        if self.bus is not None:
            body = self.status()
            for slug, link in self._visit_links().items():
                if slug in body["networks"]:
                    body["networks"][slug].update(link)
            self.bus.publish(self.topics.status, payloads.encode(body), qos=1, retain=True)

    def _flush_status(self) -> None:
        """At shutdown: a publish still waiting in its window goes out now, while the bus is up."""
        if self._status_timer is not None:
            self._status_timer.cancel()
            self._send_status()


async def _lan_host(config: Config, port: int) -> str | None:
    """This machine's LAN address when the daemon serves other machines without a ``public_url``
    (the links in the status, the QR codes and Home Assistant's must reach it); else None."""
    if not config.serves_other_machines:
        return None
    host = await asyncio.to_thread(lan_address)
    if host is None:
        log.warning("[http] host is %s but this machine has no network address yet: links point at "
                    "127.0.0.1, which other machines cannot follow; set [http] public_url "
                    "(e.g. http://panic.local:%d)", config.http.host or "every interface", config.http.port)
    else:
        log.info("display nodes and phones reach this appliance at %s (its address now; set [http] "
                 "public_url for a name that survives a new address)", config.media_base(port, host))
    return host
