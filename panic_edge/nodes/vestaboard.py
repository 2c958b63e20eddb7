"""``panic-edge vestaboard``: a network's text outputs on a Vestaboard, at the board's pace.

Two wire formats, both a JSON array of rows of character codes (docs.vestaboard.com):

- Local API: ``POST http://<board>:7000/local-api/message`` with ``X-Vestaboard-Local-Api-Key``;
- Read/Write (cloud) API: ``POST https://rw.vestaboard.com/`` with ``X-Vestaboard-Read-Write-Key``
  (rate-limited to one message per 15 s; blank messages are refused).

The key comes from ``$PANIC_EDGE_VESTABOARD_KEY`` (or the file ``vestaboard-key`` in systemd's
``$CREDENTIALS_DIRECTORY``) and is never logged. When outputs arrive faster than the board may
flip, the newest waits and older ones are skipped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from panic_edge.config import Config
from panic_edge.core.catalogue import CATALOGUE
from panic_edge.core.model import Model
from panic_edge.errors import ConfigError
from panic_edge.nodes.board import BOARDS, Message, Pacer, compose
from panic_edge.nodes.commands import NodeCommand
from panic_edge.nodes.link import NodeLink, default_node_id
from panic_edge.nodes.messages import Shown
from panic_edge.nodes.screen.markdown import blocks
from panic_edge.nodes.service import Watchdog, quiet_http_logs

log = logging.getLogger("panic_edge.nodes.vestaboard")

APIS = {"local": ("http://vestaboard.local:7000", "/local-api/message", "X-Vestaboard-Local-Api-Key", 10.0),
        "rw": ("https://rw.vestaboard.com", "/", "X-Vestaboard-Read-Write-Key", 15.0)}


@dataclass(frozen=True)
class BoardOptions:
    network: str
    api: str = "local"
    url: str | None = None
    board: str = "flagship"
    min_interval: float | None = None
    node_id: str | None = None

    @property
    def interval(self) -> float:
        return self.min_interval if self.min_interval is not None else APIS[self.api][3]


def read_key(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    if env.get("PANIC_EDGE_VESTABOARD_KEY"):
        return env["PANIC_EDGE_VESTABOARD_KEY"]
    creds = env.get("CREDENTIALS_DIRECTORY")
    if creds and (Path(creds) / "vestaboard-key").exists():
        return (Path(creds) / "vestaboard-key").read_text().strip()
    raise ConfigError("no Vestaboard key: set PANIC_EDGE_VESTABOARD_KEY (the Local API key, or the "
                      "Read/Write key with --api rw), or LoadCredential=vestaboard-key under systemd")


class VestaboardClient:
    def __init__(self, http: httpx.AsyncClient, api: str, key: str, url: str | None = None) -> None:
        base, path, self._header, _ = APIS[api]
        self.url = (url or base).rstrip("/") + path
        self._http, self._key = http, key

    async def post(self, message: Message) -> None:
        """Raises httpx.HTTPError on failure; the message says the status, never the key."""
        response = await self._http.post(self.url, json=message.as_json(),
                                         headers={self._header: self._key, "Content-Type": "application/json"})
        response.raise_for_status()


def plain_text(markdown_text: str) -> str:
    """Markdown flattened to the words a split-flap board can show, one block a line."""
    return "\n".join(b.text for b in blocks(markdown_text))


class Bridge:
    """The pacing loop: the newest text output goes up when the pacer says it may."""

    def __init__(self, client: VestaboardClient, options: BoardOptions,
                 clock: Callable[[], float] = time.monotonic, catalogue: Mapping[str, Model] = CATALOGUE) -> None:
        self.client, self.options, self.clock, self.catalogue = client, options, clock, catalogue
        self.board = BOARDS[options.board]
        self.pacer = Pacer(options.interval)
        self.pending: tuple[Shown, float] | None = None
        self.posted: list[str] = []
        self._latest: tuple[float, str, int] | None = None
        self._wake = asyncio.Event()

    def offer(self, shown: Shown) -> None:
        if not (shown.state == "completed" and shown.output_type == "text" and shown.output) or shown.nsfw:
            return
        if self._latest is not None and shown.order <= self._latest:
            return  # already shown, or older than what is
        if self.pending is not None:
            log.info("vestaboard: skipping #%d, a newer output came before the board could flip",
                     self.pending[0].sequence)
        self._latest = shown.order
        self.pending = (shown, self.clock())
        self._wake.set()

    async def run(self) -> None:
        while True:
            if self.pending is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            shown, arrived = self.pending
            model = self.catalogue.get(shown.model)
            due = self.pacer.due(arrived, model.hints.pre_wait if model else 0.0)
            wait = due - self.clock()
            if wait > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except TimeoutError:
                    pass
                continue  # something newer may have come
            await self._post(shown, model.hints.post_wait if model else 0.0)

    async def _post(self, shown: Shown, post_wait: float) -> None:
        message = compose(plain_text(shown.output or ""), self.board)
        if message.replaced:
            log.info("vestaboard: #%d has %d characters the board cannot show; shown as '?'",
                     shown.sequence, message.replaced)
        try:
            await self.client.post(message)
        except httpx.HTTPError as err:
            status = getattr(getattr(err, "response", None), "status_code", None)
            log.warning("vestaboard: posting #%d failed (%s%s); trying again in %.0f s", shown.sequence,
                        type(err).__name__, f" {status}" if status else "", self.pacer.min_interval)
            self.pacer.posted(self.clock())  # back off a whole interval, keep the message
            return
        self.pacer.posted(self.clock(), post_wait)
        self.posted.append(shown.id)
        if self.pending is not None and self.pending[0] is shown:
            self.pending = None
        log.info("vestaboard: showing #%d %s", shown.sequence, shown.model_name)


async def run_vestaboard(config: Config, options: BoardOptions, key: str) -> None:
    node_id = options.node_id or default_node_id("vestaboard", options.network)
    quiet_http_logs()
    async with httpx.AsyncClient(timeout=15) as http, NodeLink.open(
            config, kind="vestaboard", network=options.network, mode=f"{options.board} via {options.api}",
            node_id=node_id, backfill=4, commands=("blank", "wake")) as link:
        bridge = Bridge(VestaboardClient(http, options.api, key, options.url), options)
        runner = asyncio.create_task(bridge.run(), name="vestaboard pacing")
        keepalive = asyncio.create_task(Watchdog().run(f"vestaboard {node_id}"), name="watchdog")
        held = False
        try:
            while True:
                event = await link.events.get()
                if isinstance(event, NodeCommand) and event.verb in ("blank", "wake"):
                    held = event.verb == "blank"  # blank: the board keeps its message until wake
                    log.info("vestaboard %s: %s", node_id, "holding" if held else "following again")
                    link.set_status(showing="blank" if held else "live")
                elif isinstance(event, Shown) and not held:
                    bridge.offer(event)
        finally:
            runner.cancel()
            keepalive.cancel()
