"""The composition root: opens every resource in one place and closes them in reverse order."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from contextlib import AsyncExitStack
from typing import Any, TextIO

from flask_ui.app import Settings
from panic_edge import __version__
from panic_edge.archive import Archive
from panic_edge.bus import MqttBus, Will
from panic_edge.config import Config
from panic_edge.core import payloads
from panic_edge.core.catalogue import CATALOGUE, Catalogue
from panic_edge.core.payloads import Command
from panic_edge.core.runner import RunnerState
from panic_edge.core.topics import Topics
from panic_edge.daemon.commands import CommandHandler
from panic_edge.daemon.engine import Engine
from panic_edge.daemon.http import HttpServer
from panic_edge.daemon.systemd import Notifier
from panic_edge.inputs.gpio import open_button, open_led
from panic_edge.inputs.keyboard import open_keyboard
from panic_edge.network_files import LoadedNetworks
from panic_edge.platforms.base import Platforms
from panic_edge.platforms.registry import build_platforms
from panic_edge.store import Store

log = logging.getLogger("panic_edge.daemon")


class Daemon:
    """The appliance. ``await Daemon(config, networks).run()`` until SIGTERM/SIGINT or ``stop()``."""

    def __init__(self, config: Config, networks: LoadedNetworks, *, catalogue: Catalogue = CATALOGUE,
                 pin_factory: Any = None, stdin: TextIO | None = sys.stdin,
                 handle_signals: bool = True, platforms: Platforms | None = None) -> None:
        self.config = config
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
        self.http: HttpServer | None = None
        self.handler: CommandHandler | None = None

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        config, topics = self.config, self.topics
        notifier = Notifier()
        for name, problem in self.networks.problems.items():
            log.error("skipping network %s: %s", name, problem)
        async with AsyncExitStack() as stack:
            store = await stack.enter_async_context(Store.open(config.database_path))
            failed, ended = await store.recover(time.time())
            if failed or ended:
                log.warning("recovered after an unclean stop: %d invocations marked failed, %d runs ended",
                            failed, ended)
            archive = Archive(config.archive_dir)
            platforms = self.platforms if self.platforms is not None else build_platforms(config)
            stack.push_async_callback(platforms.aclose)

            settings = Settings(config.archive_dir, config.database_path, status=self.status,
                                model_names={m.id: m.label for m in self.catalogue.values()})
            self.http = http = HttpServer(settings, config.http.host, config.http.port)
            http.start()
            stack.callback(http.stop)
            settings.media_base = config.media_base(http.port)

            online = (topics.availability, b"online", True)
            self.bus = bus = MqttBus(config.mqtt, f"panic-edge-{config.appliance_id}",
                                     will=Will(topics.availability, b"offline"),
                                     subscriptions=((topics.cmd_filter, 1),), on_connect_publish=(online,))
            bus.on_connection_change(lambda connected: self._publish_status() if connected else None)
            bus.start()
            stack.push_async_callback(bus.stop, (topics.availability, b"offline", True))

            self.engine = engine = Engine(self.networks.networks, self.catalogue, store, archive, platforms,
                                          bus, topics, settings.media_base)
            stack.push_async_callback(engine.aclose)
            self.handler = handler = CommandHandler(engine, config.default_network)
            engine.publish_all_states()

            led = open_led(config.led, self.pin_factory)
            if led is not None:
                stack.callback(led.close)
            engine.on_state_change(lambda state: self._state_changed(state, led))
            button = open_button(config.button, lambda: self._local(Command("press", config.button_network)),
                                 lambda: self._local(Command("stop", config.button_network)),
                                 self.pin_factory)
            if button is not None:
                stack.callback(button.close)
                log.info("panic button on GPIO%d drives %s", config.button.pin, config.button_network)
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
                commands = group.create_task(self._serve_commands(bus, handler), name="commands")
                watchdog = group.create_task(self._watchdog(notifier), name="watchdog")
                await self._stop.wait()
                log.info("stopping")
                notifier.stopping()
                commands.cancel()
                watchdog.cancel()

    # --- inputs -----------------------------------------------------------------------------

    async def _serve_commands(self, bus: MqttBus, handler: CommandHandler) -> None:
        while True:
            message = await bus.messages.get()
            name = self.topics.command_name(message.topic)
            if name is None or name == "reply":
                continue
            if message.retain:
                log.warning("ignored a retained cmd/%s: commands must not be retained", name)
                continue
            command, outcome = await handler.handle_raw(name, message.payload)
            request_id = command.request_id if command else None
            bus.publish(self.topics.cmd_reply,
                        payloads.reply(name, request_id, outcome.ok, outcome.message, **outcome.extra))

    async def _local(self, command: Command) -> None:
        assert self.handler is not None
        outcome = await self.handler.handle(command)
        if not outcome.ok:
            log.info("%s: %s", command.name, outcome.message)

    async def _typed(self, line: str) -> None:
        network = self.config.default_network
        await self._local(Command("start", network, line) if line else Command("press", network))

    async def _watchdog(self, notifier: Notifier) -> None:
        interval = notifier.watchdog_interval
        if interval is None:
            return
        while True:
            notifier.watchdog()
            await asyncio.sleep(interval)

    # --- status -----------------------------------------------------------------------------

    def _state_changed(self, state: RunnerState, led: Any) -> None:
        if led is not None and self.engine is not None:
            led.show(any(s.run for s in self.engine.states.values()))
        self._publish_status()

    def status(self) -> dict[str, Any]:
        """The appliance's status, for the status topic and /api/status. No secrets here."""
        engine = self.engine
        networks = {}
        for slug, net in self.networks.networks.items():
            state = engine.states[slug] if engine else RunnerState(net)
            networks[slug] = {"name": net.name, "state": state.phase, "models": list(net.models),
                              "run_id": state.run.run_id if state.run else None,
                              "sequence": state.run.sequence if state.run else None,
                              "lockout_until": state.lockout_until}
        return {"appliance_id": self.config.appliance_id, "version": __version__,
                "started_at": self.started_at, "uptime": round(time.time() - self.started_at, 1),
                "broker_connected": bool(self.bus and self.bus.connected),
                "default_network": self.config.default_network, "networks": networks,
                "network_problems": dict(self.networks.problems)}

    def _publish_status(self) -> None:
        if self.bus is not None:
            self.bus.publish(self.topics.status, payloads.encode(self.status()), qos=1, retain=True)
