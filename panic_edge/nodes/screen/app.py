"""``panic-edge display``: the pygame loop. Drain node events and keys, render the view, tick.

Fullscreen uses KMS/DRM on a Raspberry Pi console (no X or Wayland needed) and the normal
video driver elsewhere; ``--windowed`` is for development; SDL's dummy driver runs it headless.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import httpx

from panic_edge.config import Config
from panic_edge.core.insight import Insight
from panic_edge.errors import ConfigError
from panic_edge.nodes.commands import NodeCommand
from panic_edge.nodes.feed import Feed, Grid, Selection
from panic_edge.nodes.hud import HudState
from panic_edge.nodes.link import NodeLink, default_node_id
from panic_edge.nodes.messages import Shown
from panic_edge.nodes.power import ScreenPower
from panic_edge.nodes.service import quiet_http_logs
from panic_edge.nodes.view import NodeState

if TYPE_CHECKING:
    from pygame.event import Event

log = logging.getLogger("panic_edge.nodes.screen")


@dataclass(frozen=True)
class DisplayOptions:
    network: str
    selection: Selection
    terminal: bool = False
    qr: bool = False
    qr_url: str | None = None
    fullscreen: bool = True
    size: tuple[int, int] | None = None
    fps: float = 20.0
    screenshot: Path | None = None
    exit_after: float | None = None
    button_key: str = "return"
    node_id: str | None = None
    screen: str | None = None  # --screen NAME: network and layout come from its installation
    reel: Path | None = None      # the backup reel, played while the daemon is unreachable
    reel_after: float = 60.0      # seconds unreachable before the reel starts
    qr_visit: bool = True  # --qr about: the about page even when visitors' passes are offered
    hud: bool = False

    @property
    def mode(self) -> str:
        if self.screen:
            return f"screen {self.screen}" + (", hud" if self.hud else "")
        return self.selection.describe() + (", terminal" if self.terminal else "") + (", hud" if self.hud else "")


def _choose_driver(fullscreen: bool) -> None:
    if "SDL_VIDEODRIVER" in os.environ or sys.platform != "linux":
        return
    if fullscreen and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["SDL_VIDEODRIVER"] = "kmsdrm"  # a Pi console: straight to the screen


async def run_display(config: Config, options: DisplayOptions, clock: Callable[[], float] = time.time) -> None:
    _choose_driver(options.fullscreen)
    quiet_http_logs()
    import pygame

    from panic_edge.nodes.screen.control import SCREEN_COMMANDS, ScreenControl
    from panic_edge.nodes.screen.hud import render_with_hud
    from panic_edge.nodes.screen.media import MediaCache
    from panic_edge.nodes.screen.reel import ReelPlayer
    from panic_edge.nodes.screen.render import render

    reel = None
    if options.reel:
        try:
            reel = ReelPlayer(options.reel)
        except ConfigError as err:  # a missing or broken reel must not keep the live screen off the wall
            log.warning("%s; the screen shows the live picture only", err)

    pygame.display.init()
    pygame.font.init()
    flags = pygame.FULLSCREEN if options.fullscreen else 0
    screen = pygame.display.set_mode(options.size or ((0, 0) if options.fullscreen else (1280, 720)), flags)
    pygame.display.set_caption(f"PANIC! {options.screen or options.network}")
    pygame.mouse.set_visible(not options.fullscreen)
    button_key = pygame.key.key_code(options.button_key)
    if options.terminal or options.screen:  # a screen's installation may make it a terminal
        pygame.key.start_text_input()
    state = NodeState(options.network, options.selection, terminal=options.terminal, show_qr=options.qr,
                      qr_url=options.qr_url, screen=options.screen, qr_visit=options.qr_visit)
    hud = HudState(options.network) if options.hud else None
    def new_media() -> MediaCache:
        return MediaCache(max_pixels=config.images.max_pixels, max_side=max(screen.get_size()) or None)

    media = new_media()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    node_id = options.node_id or (default_node_id("display", options.screen) if options.screen else
                                  default_node_id("display", options.network, options.mode.split(",")[0]))
    started = clock()
    last_shot = 0.0
    dirty = True
    fetching: asyncio.Task[bool] | None = None
    try:
        async with NodeLink.open(config, kind="display", network=options.network or None, mode=options.mode,
                                 node_id=node_id, backfill=options.selection.backfill,
                                 replies=options.terminal or bool(options.screen), control=options.terminal,
                                 screen=options.screen, insight=options.hud,
                                 kinds=("single", "grid"), commands=SCREEN_COMMANDS) as link, \
                httpx.AsyncClient(timeout=15) as http:
            media.media_base = lambda: link.media_base  # nothing is fetched from anywhere else
            log.info("display %s: %s of %s", node_id, options.mode, options.network or "its installation")
            control = ScreenControl(link, reel, options.reel_after)
            power = ScreenPower(config.schedule.screen_off_command, config.schedule.screen_on_command)
            while not stop.is_set():
                now = clock()
                while not link.events.empty():
                    event = link.events.get_nowait()
                    if isinstance(event, NodeCommand):
                        if control.command(event):  # reload: forget the picture, fetch it again
                            state.feed, media = Feed(state.feed.network, state.feed.capacity), new_media()
                            media.media_base = lambda: link.media_base
                            link.refill()
                        dirty = True
                        continue
                    if isinstance(event, Insight):
                        if hud is not None and hud.network != state.network:  # --screen: its network now
                            hud = HudState(state.network)
                        dirty = (hud is not None and hud.apply(event)) or dirty
                        continue
                    changed = state.apply(event, now)
                    if changed and isinstance(event, Shown):
                        log.debug("display %s: shown %s %s", node_id, event.id, event.state)
                        if event.done and event in state.view(now).cells:  # INFO: one line per shown output
                            log.info("display %s: #%d %s %s", node_id, event.sequence, event.model_name,
                                     event.output_type if event.state == "completed" else "failed")
                    dirty = changed or dirty
                for happened in pygame.event.get():
                    dirty = _key(happened, state, link, button_key, stop) or dirty
                view = state.view(now)
                if state.status is not None:
                    power.seen(view.closed is not None)  # [schedule] screen_off/on_command, if set
                if hud is not None:
                    draw = functools.partial(render_with_hud, screen, view, hud, media,
                                             isinstance(state.selection, Grid))
                else:
                    draw = functools.partial(render, screen, view, media)
                control.draw(screen, view, draw)
                pygame.display.flip()
                control.after_flip(screen)
                if fetching is None or fetching.done():
                    if fetching is not None and fetching.result():
                        dirty = True
                    fetching = asyncio.create_task(media.fetch_wanted(http))
                if options.screenshot and (dirty and now - last_shot >= 1.0):
                    _save(pygame, screen, options.screenshot)
                    last_shot, dirty = now, False
                if options.exit_after is not None and now - started >= options.exit_after:
                    break
                await asyncio.sleep(1.0 / options.fps)
            if options.screenshot:
                _save(pygame, screen, options.screenshot)
            if fetching is not None:
                fetching.cancel()
            control.close()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        from panic_edge.nodes.screen.text import font

        font.cache_clear()  # fonts die with pygame.font: a cached one would crash the next start
        pygame.quit()


def _key(event: Event, state: NodeState, link: NodeLink, button_key: int, stop: asyncio.Event) -> bool:
    import pygame

    kind = getattr(event, "type", None)
    terminal, network = state.terminal and bool(state.network), state.network
    if kind == pygame.QUIT:
        stop.set()
    elif kind == pygame.KEYDOWN:
        key = event.key
        if key == pygame.K_ESCAPE or (key == pygame.K_q and event.mod & pygame.KMOD_CTRL):
            stop.set()
        elif terminal and key in (pygame.K_RETURN, pygame.K_KP_ENTER):
            request_id = uuid.uuid4().hex
            prompt = state.submit(request_id)
            if prompt:
                link.command("start", {"network": network, "prompt": prompt, "request_id": request_id})
            else:
                link.command("press", {"network": network, "request_id": request_id})
            return True
        elif terminal and key == pygame.K_BACKSPACE:
            state.backspace()
            return True
        elif key == button_key and not terminal and network:
            link.command("press", {"network": network, "request_id": uuid.uuid4().hex})
    elif kind == pygame.TEXTINPUT and terminal:
        state.typed(event.text)
        return True
    return False


def _save(pygame: ModuleType, screen: object, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    pygame.image.save(screen, str(tmp))
    tmp.replace(path)
