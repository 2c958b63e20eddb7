"""The daemon's installations: kept, changed by the admin page, published for the screens.

Each installation goes out as a retained ``installations/<name>`` (its network and its screens
with their settings). A node started with ``--screen NAME`` subscribes to ``installations/+``,
finds its screen, and follows the installation's network; when the admin page switches the
installation to another network, the new retained message moves every screen at once.

Retained messages outlive the daemon, so at start (and after a broker reconnect) it republishes
what it has and clears any retained installation it no longer has; one overwritten by another
client is published again: a node never follows a stale or foreign one.
Every method runs on the event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from panic_edge.bus import MqttBus
from panic_edge.core import payloads
from panic_edge.core.installation import Installation, check_unique, parse_installation
from panic_edge.core.topics import Topics
from panic_edge.errors import CommandError, ConfigError
from panic_edge.installation_files import (
    LoadedInstallations,
    installations_path,
    load_installations,
    write_installations,
)
from panic_edge.quiet import Quiet

log = logging.getLogger("panic_edge.daemon")


class Installations:
    def __init__(self, configured: tuple[Installation, ...], data_dir: Path, bus: MqttBus, topics: Topics,
                 known_network: Callable[[str], bool]) -> None:
        self.configured, self.data_dir, self.bus, self.topics = configured, data_dir, bus, topics
        self.known_network = known_network
        self.loaded = load_installations(configured, data_dir)
        self.updated_at = time.time()
        self._published: dict[str, list[bytes]] = {}  # the last few payloads sent, per installation
        self._quiet = Quiet(log)  # anyone may publish here: a line a minute at most
        if self.loaded.problem:
            log.error("%s; using the config's [[installations]] instead", self.loaded.problem)
        elif self.loaded.source != "config":
            log.info("installations from %s (the admin page's edits)", self.loaded.source)
        for inst in self.all:
            if not known_network(inst.network):
                log.warning("installation %s follows network %r, which is not loaded; its screens will "
                            "wait for it", inst.name, inst.network)

    @property
    def all(self) -> tuple[Installation, ...]:
        return self.loaded.installations

    def get(self, name: str) -> Installation | None:
        return next((i for i in self.all if i.name == name), None)

    # --- MQTT -------------------------------------------------------------------------------

    def publish_all(self) -> None:
        for inst in self.all:
            self._publish(inst)

    def _publish(self, inst: Installation) -> None:
        body = payloads.encode({**inst.as_json(), "updated_at": self.updated_at})
        self._published[inst.name] = [*self._published.get(inst.name, [])[-3:], body]  # echoes may lag
        self.bus.publish(self.topics.installation(inst.name), body, qos=1, retain=True)

    def _clear(self, name: str) -> None:
        self._published.pop(name, None)
        self.bus.publish(self.topics.installation(name), b"", qos=1, retain=True)

    def observe(self, name: str, payload: bytes, retained: bool) -> None:
        """A message on ``installations/<name>`` (the daemon subscribes to its own tree). Its own
        come back unchanged; anything else is put right, so no screen follows a stale or foreign
        one: an installation it does not have is cleared, one it has and someone else overwrote is
        published again. (A retained copy of one it has is from before its own publish, which
        the broker is about to receive: nothing to do.)"""
        inst = self.get(name)
        if inst is None and payload:
            self._quiet.warning("foreign", "clearing the retained installation %s: it is not configured here",
                                name[:80])
            self._clear(name)
        elif inst is not None and not retained and payload not in self._published.get(name, []):
            self._quiet.warning(name, "installations/%s was overwritten by someone else; publishing it again",
                                name[:80])
            self._publish(inst)

    # --- changes (from the admin page, through Control) ---------------------------------------

    def _replace(self, installations: tuple[Installation, ...], source_note: str) -> None:
        problems = check_unique(installations)
        if problems:
            raise ConfigError("; ".join(problems))
        before = {i.name for i in self.all}
        write_installations(self.data_dir, installations)
        self.loaded = LoadedInstallations(installations, str(installations_path(self.data_dir)))
        self.updated_at = time.time()
        for name in before - {i.name for i in installations}:
            self._clear(name)
        self.publish_all()
        log.info("installations: %s", source_note)

    def save(self, inst: Installation, previous_name: str | None = None) -> None:
        """Add ``inst``, or replace the installation ``previous_name`` (renamed or not) in place."""
        if not self.known_network(inst.network):
            raise CommandError(f"there is no network {inst.network!r} that can run; choose one of the "
                               "networks on the Networks page")
        current = list(self.all)
        old = previous_name or inst.name
        index = next((n for n, i in enumerate(current) if i.name == old), None)
        if previous_name is None and index is not None:
            raise CommandError(f"an installation {inst.name!r} already exists; choose another name or edit it")
        if previous_name is not None and index is None:
            raise CommandError(f"there is no installation {previous_name!r} to change")
        if index is None:
            current.append(inst)
        else:
            current[index] = inst
        self._replace(tuple(current), f"saved {inst.name} ({inst.network}, {len(inst.screens)} screens)")

    def switch(self, name: str, network: str) -> Installation:
        """Move installation ``name`` and all its screens to ``network``."""
        inst = self.get(name)
        if inst is None:
            raise CommandError(f"there is no installation {name!r}")
        try:
            moved = parse_installation({**inst.as_json(), "network": network})
        except ConfigError as err:
            raise CommandError(str(err)) from None
        self.save(moved, previous_name=name)
        return moved

    def delete(self, name: str) -> None:
        if self.get(name) is None:
            raise CommandError(f"there is no installation {name!r} to delete")
        self._replace(tuple(i for i in self.all if i.name != name), f"deleted {name}")

    def use_config(self) -> None:
        """Forget the admin page's edits: back to the config file's ``[[installations]]``."""
        before = {i.name for i in self.all}
        installations_path(self.data_dir).unlink(missing_ok=True)
        self.loaded = load_installations(self.configured, self.data_dir)
        self.updated_at = time.time()
        for name in before - {i.name for i in self.all}:
            self._clear(name)
        self.publish_all()
        log.info("installations: back to the config file's")
