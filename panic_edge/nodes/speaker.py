"""``panic-edge speaker``: a network's audio outputs, in order, one at a time, through pygame's mixer.

``--speak-text`` also speaks the text outputs with espeak-ng. Clips never overlap. When it falls
behind (clips arrive faster than they play) it skips what is stale: it keeps only the newest
``max_behind`` waiting, and drops any clip older than ``stale_after`` seconds.
"""

from __future__ import annotations

import asyncio
import io
import logging
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from panic_edge.config import Config
from panic_edge.core.installation import SpeakerScreen
from panic_edge.errors import MediaGone, PayloadError
from panic_edge.nodes.commands import NodeCommand
from panic_edge.nodes.fetch import fetch_media
from panic_edge.nodes.gate import Gate
from panic_edge.nodes.link import NodeLink, default_node_id
from panic_edge.nodes.messages import ApplianceStatus, Assigned, NetworkState, Shown, Unassigned
from panic_edge.nodes.service import Watchdog, quiet_http_logs

log = logging.getLogger("panic_edge.nodes.speaker")


@dataclass
class Playlist:
    """Pure: what to play next. Keyed by invocation id, ordered by when each was made."""

    speak_text: bool = False
    max_behind: int = 2
    stale_after: float = 120.0
    waiting: list[Shown] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)
    _last: tuple[float, str, int] | None = None

    def add(self, shown: Shown) -> bool:
        wanted = shown.output_type == "audio" or (self.speak_text and shown.output_type == "text")
        if shown.state != "completed" or not shown.output or shown.nsfw or not wanted:
            return False
        if shown.id in self._seen or (self._last is not None and shown.order <= self._last):
            return False  # a duplicate, or older than what already played
        self._seen.add(shown.id)
        self.waiting.append(shown)
        self.waiting.sort(key=lambda s: s.order)
        return True

    def next(self, now: float) -> Shown | None:
        """The clip to play now (wall-clock ``now``), skipping what is stale."""
        fresh = [s for s in self.waiting if (s.finished_at or s.created_at) >= now - self.stale_after]
        stale = [s for s in self.waiting if s not in fresh]
        if len(fresh) > self.max_behind:
            stale += fresh[: len(fresh) - self.max_behind]
            fresh = fresh[len(fresh) - self.max_behind:]
        for s in stale:
            self.skipped.append(s.id)
            log.info("speaker: skipping #%d, it is stale", s.sequence)
        self.waiting = fresh
        if not fresh:
            return None
        chosen = self.waiting.pop(0)
        self._last = chosen.order
        return chosen


class MixerPlayer:
    """Plays WAV/OGG/MP3/FLAC bytes through pygame's mixer and returns when the clip has ended."""

    def __init__(self) -> None:
        import pygame

        self._pygame = pygame
        if not pygame.mixer.get_init():
            pygame.mixer.init()

    async def play(self, data: bytes) -> float:
        sound = self._pygame.mixer.Sound(file=io.BytesIO(data))
        length = sound.get_length()
        channel = sound.play()
        started = time.monotonic()
        # wait for the mixer to finish, but never past the clip's own length plus a margin (polled:
        # pygame's mixer signals nothing)
        while channel is not None and channel.get_busy() and time.monotonic() - started < length + 2.0:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        return length

    def close(self) -> None:
        self._pygame.mixer.quit()


def espeak(text: str) -> bytes | None:
    binary = shutil.which("espeak-ng")
    if binary is None:
        return None
    result = subprocess.run([binary, "--stdout", text[:2000]], capture_output=True, timeout=60, check=False)
    return result.stdout if result.returncode == 0 and result.stdout else None


class Speaker:
    """Plays what the playlist says; fetches clips only under ``media_base()`` (nodes.fetch)."""

    def __init__(self, playlist: Playlist, player: MixerPlayer, http: httpx.AsyncClient,
                 clock: Callable[[], float] = time.time,
                 on_play: Callable[[Shown], None] | None = None,
                 media_base: Callable[[], str | None] = lambda: None) -> None:
        self.playlist, self.player, self.http, self.clock = playlist, player, http, clock
        self.on_play = on_play
        self.media_base = media_base
        self.played: list[str] = []
        self.gated = False  # the network cannot start now (closed, budget): quiet
        self._wake = asyncio.Event()

    def offer(self, shown: Shown) -> None:
        if not self.gated and self.playlist.add(shown):
            self._wake.set()

    def gate(self, gate: Gate | None) -> None:
        """While the network cannot start (nodes/gate.py) the speaker stays quiet: clips waiting
        are dropped and new ones skipped until it can."""
        if (gate is not None) == self.gated:
            return
        self.gated = gate is not None
        if gate is not None:
            self.playlist.skipped += [s.id for s in self.playlist.waiting]
            self.playlist.waiting = []
            log.info("speaker: quiet (%s)", gate.words)

    async def run(self) -> None:
        while True:
            shown = self.playlist.next(self.clock())
            if shown is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            data = await self._clip(shown)
            if data is None:
                continue
            if self.on_play:
                self.on_play(shown)
            self.played.append(shown.id)
            try:
                await self.player.play(data)
            except Exception as err:  # noqa: BLE001 -- a clip the mixer cannot decode must not stop the speaker
                log.warning("speaker: could not play #%d: %s: %s", shown.sequence, type(err).__name__, err)

    async def _clip(self, shown: Shown) -> bytes | None:
        if shown.output_type == "text":
            data = await asyncio.to_thread(espeak, shown.output or "")
            if data is None:
                log.warning("speaker: espeak-ng is not installed or failed; not speaking #%d", shown.sequence)
            return data
        try:
            return await fetch_media(self.http, shown.output or "", self.media_base())
        except MediaGone:  # retention pruned it: nothing to play, nothing wrong
            log.info("speaker: #%d was archived away to make room; skipping it", shown.sequence)
            return None
        except (httpx.HTTPError, PayloadError, TimeoutError) as err:
            log.warning("speaker: could not fetch #%d from %.200r: %s: %.200s", shown.sequence, shown.output,
                        type(err).__name__, err)
            return None


async def run_speaker(config: Config, network: str | None, *, speak_text: bool = False, max_behind: int = 2,
                      stale_after: float = 120.0, node_id: str | None = None, screen: str | None = None) -> None:
    """Play ``network``'s clips; with ``screen``, the network and settings come from its installation."""
    node_id = node_id or (default_node_id("speaker", screen) if screen else default_node_id("speaker", network or ""))
    quiet_http_logs()
    player = MixerPlayer()
    mode = f"screen {screen}" if screen else ("speak text" if speak_text else "audio")
    try:
        async with httpx.AsyncClient(timeout=30) as http, NodeLink.open(
                config, kind="speaker", network=None if screen else network, mode=mode, node_id=node_id,
                backfill=1, screen=screen, kinds=("speaker",), commands=("blank", "wake")) as link:
            speaker = Speaker(Playlist(speak_text, max_behind, stale_after), player, http,
                              media_base=lambda: link.media_base)
            runner = asyncio.create_task(speaker.run(), name="speaker")
            keepalive = asyncio.create_task(Watchdog().run(f"speaker {node_id}"), name="watchdog")
            quiet = False
            try:
                while True:
                    event = await link.events.get()
                    if isinstance(event, NodeCommand) and event.verb in ("blank", "wake"):
                        quiet = event.verb == "blank"  # blank: new clips are skipped until wake
                        log.info("speaker %s: %s", node_id, "quiet" if quiet else "playing again")
                        link.set_status(showing="blank" if quiet else "live")
                    elif isinstance(event, Shown) and event.network == link.network and not quiet:
                        speaker.offer(event)
                    elif isinstance(event, (NetworkState, ApplianceStatus)):
                        speaker.gate(link.gate)
                    elif isinstance(event, Assigned) and isinstance(event.screen, SpeakerScreen):
                        s = event.screen  # a new network or new settings: start a fresh playlist
                        speaker.playlist = Playlist(s.speak_text, s.max_behind, s.stale_after)
                    elif isinstance(event, Unassigned):
                        log.warning("speaker %s: %s", node_id, event.reason)
            finally:
                runner.cancel()
                keepalive.cancel()
    finally:
        player.close()
