"""Which network the panic button drives, and changing it at runtime (``cmd/button-network``).

"The button" is every way of pressing it: the GPIO button, the Enter key, ``cmd/press`` and
``cmd/start`` without a network, and Home Assistant's prompt. The config names it (``button.network``,
else ``default_network``); ``cmd/button-network`` (Home Assistant's select) chooses another.

A choice is kept in ``<data_dir>/button-network.json`` so it survives a restart (a gallery that is
switched off every night keeps what the operator chose), together with the configured network it
replaced: once the config's network is edited, the config wins again, since the edit is newer than the
choice. A choice of a network that is gone falls back to the config's.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from panic_edge.errors import CommandError

log = logging.getLogger("panic_edge.daemon")

MAX_FILE_BYTES = 4096


class ButtonNetwork:
    def __init__(self, configured: str, path: Path, known: Callable[[str], bool]) -> None:
        self.configured = configured
        self.path = path
        self.known = known
        self.listeners: list[Callable[[str], None]] = []
        self._chosen = self._load()

    @property
    def current(self) -> str:
        chosen = self._chosen
        return chosen if chosen is not None and self.known(chosen) else self.configured

    def choose(self, slug: str) -> None:
        """Drive ``slug`` from now on. Raises CommandError for a network this appliance does not have."""
        if not self.known(slug):
            raise CommandError(f"unknown network {slug!r}: the button can only drive a network this "
                               f"appliance has")
        self._chosen = None if slug == self.configured else slug
        try:
            if self._chosen is None:
                self.path.unlink(missing_ok=True)
            else:
                self._save(slug)
        except OSError as err:  # the choice still holds until a restart
            log.warning("could not keep the button's network in %s (%s); it holds until a restart",
                        self.path, err)
        log.info("the panic button now drives %s", slug)
        for listener in self.listeners:
            listener(slug)

    def _save(self, slug: str) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps({"network": slug, "configured": self.configured}), encoding="utf-8")
        os.replace(tmp, self.path)

    def _load(self) -> str | None:
        try:
            raw = self.path.read_bytes()[:MAX_FILE_BYTES + 1]
        except FileNotFoundError:
            return None
        except OSError as err:
            log.warning("could not read %s (%s); the button drives %s", self.path, err, self.configured)
            return None
        try:
            body = json.loads(raw) if len(raw) <= MAX_FILE_BYTES else None
        except (ValueError, RecursionError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("network"), str):
            log.warning("ignored %s: not a saved button network; the button drives %s", self.path,
                        self.configured)
            return None
        if body.get("configured") != self.configured:
            log.info("the config's button network is now %s: it replaces the earlier choice of %s",
                     self.configured, body["network"])
            return None
        return str(body["network"])
