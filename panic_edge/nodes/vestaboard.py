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
from panic_edge.core.installation import VestaboardScreen
from panic_edge.core.model import Model
from panic_edge.errors import ConfigError
from panic_edge.nodes.board import BOARDS, CLEAR, Message, Pacer, compose
from panic_edge.nodes.commands import NodeCommand
from panic_edge.nodes.gate import Gate
from panic_edge.nodes.link import NodeLink, default_node_id
from panic_edge.nodes.messages import ApplianceStatus, Assigned, NetworkState, Shown, Unassigned
from panic_edge.nodes.screen.markdown import blocks
from panic_edge.nodes.service import Watchdog, quiet_http_logs

log = logging.getLogger("panic_edge.nodes.vestaboard")

APIS = {"local": ("http://vestaboard.local:7000", "/local-api/message", "X-Vestaboard-Local-Api-Key", 10.0),
        "rw": ("https://rw.vestaboard.com", "/", "X-Vestaboard-Read-Write-Key", 15.0)}


@dataclass(frozen=True)
class BoardOptions:
    """One board. Several boards can share a network, each showing every ``stride``-th text output
    from ``offset`` (as single screens do); ``show_prompt`` puts a new run's starting prompt up."""

    network: str
    api: str = "local"
    url: str | None = None
    board: str = "flagship"
    min_interval: float | None = None
    node_id: str | None = None
    stride: int = 1
    offset: int = 0
    show_prompt: bool = False

    def __post_init__(self) -> None:
        if self.stride < 1 or not 0 <= self.offset < self.stride:
            raise ConfigError(f"a board needs 0 <= offset < stride, got offset {self.offset}, stride {self.stride}")

    @property
    def interval(self) -> float:
        return self.min_interval if self.min_interval is not None else APIS[self.api][3]

    @classmethod
    def of_screen(cls, screen: VestaboardScreen, network: str, node_id: str | None = None) -> BoardOptions:
        return cls(network, screen.api, screen.url or None, screen.board, screen.min_interval, node_id,
                   screen.stride, screen.offset, screen.show_prompt)


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


@dataclass(frozen=True)
class Post:
    """One message waiting for the board: an output, or a new run's starting prompt."""

    text: str
    label: str  # what the log and ``Bridge.posted`` call it: the invocation id, or "<run>.prompt"
    model: str | None
    arrived: float


class Bridge:
    """The pacing loop: a new run's opening, then the newest matching text output, when the pacer
    says the board may flip.

    The genesis rule, on a board: when a run starts the board resets to it: with ``show_prompt``
    its starting prompt goes up first, and outputs of older runs are dropped from then on.

    While the network cannot start (closed, or the day's budget spent: ``gate``), the board says so
    once, in a few words, and keeps saying it: nothing else goes up until the gate opens, or a new
    run's first step arrives (the daemon publishes it just before the state that opens the gate).
    """

    def __init__(self, client: VestaboardClient, options: BoardOptions,
                 clock: Callable[[], float] = time.monotonic, catalogue: Mapping[str, Model] = CATALOGUE) -> None:
        self.client, self.options, self.clock, self.catalogue = client, options, clock, catalogue
        self.board = BOARDS[options.board]
        self.pacer = Pacer(options.interval)
        self.notice: Post | None = None  # the gate's message, before anything else
        self.opening: Post | None = None
        self.pending: Post | None = None
        self.posted: list[str] = []
        self._gate: Gate | None = None
        self._latest: tuple[float, str, int] | None = None
        self._run: tuple[str, tuple[float, str, int]] | None = None  # the current run and its genesis' order
        self._wake = asyncio.Event()

    def reconfigure(self, client: VestaboardClient, options: BoardOptions) -> None:
        """New settings from the installation (a switched network, another stride): start afresh."""
        self.client, self.options = client, options
        self.board = BOARDS[options.board]
        self.pacer.min_interval = options.interval
        self.opening = self.pending = self.notice = None
        self._latest = self._run = self._gate = None

    def gate(self, gate: Gate | None) -> None:
        """Whether the network can start now (nodes/gate.py): a new gate goes up once; an opened
        one lets outputs through again (the board keeps its message until the next)."""
        if gate == self._gate:
            return
        self._gate = gate
        self.notice = None if gate is None else Post(gate.board, f"{self.options.network}.{gate.kind}", None,
                                                      self.clock())
        if gate is not None:
            self.opening = self.pending = None
            log.info("vestaboard: %s", gate.board)
        self._wake.set()

    def offer(self, shown: Shown) -> None:
        if shown.network != self.options.network:
            return
        if self._gate is not None:
            if shown.sequence != 0 or shown.done or shown.cancelled:
                return  # a late output: the board keeps saying why the network rests
            self.gate(None)  # a new run under way: it has opened (its state comes just after this)
        if shown.sequence == 0 and not shown.cancelled and (self._run is None or (
                shown.run_id != self._run[0] and shown.order > self._run[1])):
            self._begin(shown)
        if self._run is not None and shown.run_id != self._run[0] and shown.order < self._run[1]:
            return  # a run older than the one the board shows
        if not (shown.state == "completed" and shown.output_type == "text" and shown.output) or shown.nsfw:
            return
        if shown.sequence % self.options.stride != self.options.offset:
            return
        if self._latest is not None and shown.order <= self._latest:
            return  # already shown, or older than what is
        if self.pending is not None:
            log.info("vestaboard: skipping %s, a newer output came before the board could flip",
                     self.pending.label)
        self._latest = shown.order
        self.pending = Post(plain_text(shown.output or ""), shown.id, shown.model, self.clock())
        self._wake.set()

    def _begin(self, genesis: Shown) -> None:
        self._run = (genesis.run_id, genesis.order)
        self.pending = None
        if self.options.show_prompt and genesis.input_type == "text":
            self.opening = Post(genesis.input or CLEAR, f"{genesis.run_id}.prompt", None, self.clock())
            self._wake.set()

    async def run(self) -> None:
        while True:
            post = self.notice or self.opening or self.pending
            if post is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            model = self.catalogue.get(post.model) if post.model else None
            due = self.pacer.due(post.arrived, model.hints.pre_wait if model else 0.0)
            wait = due - self.clock()
            if wait > 0:
                self._wake.clear()
                try:
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                continue  # something newer may have come
            await self._post(post, model.hints.post_wait if model else 0.0)

    async def _post(self, post: Post, post_wait: float) -> None:
        message = compose(post.text, self.board)
        if message.replaced:
            log.info("vestaboard: %s has %d characters the board cannot show; shown as '?'",
                     post.label, message.replaced)
        try:
            await self.client.post(message)
        except httpx.HTTPError as err:
            status = getattr(getattr(err, "response", None), "status_code", None)
            log.warning("vestaboard: posting %s failed (%s%s); trying again in %.0f s", post.label,
                        type(err).__name__, f" {status}" if status else "", self.pacer.min_interval)
            self.pacer.posted(self.clock())  # back off a whole interval, keep the message
            return
        self.pacer.posted(self.clock(), post_wait)
        self.posted.append(post.label)
        if self.notice is post:
            self.notice = None
        elif self.opening is post:
            self.opening = None
        elif self.pending is post:
            self.pending = None
        log.info("vestaboard: showing %s", post.label)


async def run_vestaboard(config: Config, options: BoardOptions, key: str, screen: str | None = None) -> None:
    """Show ``options.network`` on the board; with ``screen``, the network and the board's settings
    come from its installation (``options`` then only brings ``node_id``)."""
    node_id = options.node_id or default_node_id("vestaboard", screen or options.network)
    quiet_http_logs()
    mode = f"screen {screen}" if screen else f"{options.board} via {options.api}"
    async with httpx.AsyncClient(timeout=15) as http, NodeLink.open(
            config, kind="vestaboard", network=None if screen else options.network, mode=mode,
            node_id=node_id, backfill=4, screen=screen, kinds=("vestaboard",), commands=("blank", "wake")) as link:
        bridge = None if screen else Bridge(VestaboardClient(http, options.api, key, options.url), options)
        runner = None if bridge is None else asyncio.create_task(bridge.run(), name="vestaboard pacing")
        keepalive = asyncio.create_task(Watchdog().run(f"vestaboard {node_id}"), name="watchdog")
        held = False

        def tell_gate() -> None:
            if bridge is not None and not held:
                bridge.gate(link.gate)

        if not screen:  # the daemon holds the first call while a board shows the prompt (core/pacing.py)
            link.set_status(shows_prompt=options.show_prompt)
        try:
            while True:
                event = await link.events.get()
                if isinstance(event, NodeCommand) and event.verb in ("blank", "wake"):
                    held = event.verb == "blank"  # blank: the board keeps its message until wake
                    log.info("vestaboard %s: %s", node_id, "holding" if held else "following again")
                    link.set_status(showing="blank" if held else "live")
                    tell_gate()
                elif isinstance(event, Shown) and bridge is not None and not held:
                    bridge.offer(event)
                elif isinstance(event, (NetworkState, ApplianceStatus)):
                    tell_gate()
                elif isinstance(event, Assigned) and isinstance(event.screen, VestaboardScreen):
                    chosen = BoardOptions.of_screen(event.screen, event.network, node_id)
                    client = VestaboardClient(http, chosen.api, key, chosen.url)
                    if bridge is None:
                        bridge = Bridge(client, chosen)
                        runner = asyncio.create_task(bridge.run(), name="vestaboard pacing")
                    else:
                        bridge.reconfigure(client, chosen)
                    tell_gate()
                    link.set_status(shows_prompt=chosen.show_prompt)
                elif isinstance(event, Unassigned):
                    log.warning("vestaboard %s: %s", node_id, event.reason)
        finally:
            if runner is not None:
                runner.cancel()
            keepalive.cancel()
