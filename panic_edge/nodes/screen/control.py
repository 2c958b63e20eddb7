"""What a screen does besides drawing the live view: the remote commands (``blank``, ``wake``,
``reload``, ``screenshot``), the backup reel while the daemon is away, and the systemd watchdog.

The app loop hands it each command and lets it choose what is drawn each frame (``draw``), then
calls ``after_flip``; what it shows (``live``, ``blank`` or ``reel``) goes into the node's
retained status, so the admin page can say which screens are on the reel.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable

import pygame

from panic_edge.nodes.commands import NodeCommand
from panic_edge.nodes.fallback import ReelSwitch, reachable
from panic_edge.nodes.link import NodeLink
from panic_edge.nodes.screen.reel import ReelPlayer
from panic_edge.nodes.service import Watchdog
from panic_edge.nodes.view import View

log = logging.getLogger("panic_edge.nodes.screen")

THUMBNAIL = 320  # a screenshot fits in THUMBNAIL x THUMBNAIL pixels
SCREEN_COMMANDS = ("blank", "wake", "reload", "screenshot")


def thumbnail(surface: pygame.Surface, box: int = THUMBNAIL) -> bytes:
    """A PNG of ``surface`` scaled to fit ``box`` x ``box`` (320x180 for a 16:9 screen)."""
    width, height = surface.get_size()
    k = min(box / width, box / height, 1.0)
    small = pygame.transform.smoothscale(surface, (max(1, round(width * k)), max(1, round(height * k))))
    out = io.BytesIO()
    pygame.image.save(small, out, "thumbnail.png")
    return out.getvalue()


class ScreenControl:
    def __init__(self, link: NodeLink, reel: ReelPlayer | None = None, reel_after: float = 60.0,
                 watchdog: Watchdog | None = None, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.link, self.reel = link, reel
        self.switch = ReelSwitch(reel_after)
        self.watchdog = watchdog or Watchdog()
        self.monotonic = monotonic
        self.blank = False
        self.showing = "live"
        self._shot = False

    def command(self, command: NodeCommand) -> bool:
        """Take one remote command; True when it asks for a reload (the app resets its view)."""
        log.info("%s: %s", self.link.node_id, command.verb)
        if command.verb in ("blank", "wake"):
            self.blank = command.verb == "blank"
        elif command.verb == "screenshot":
            self._shot = True
        return command.verb == "reload"

    def draw(self, surface: pygame.Surface, view: View, live: Callable[[], None]) -> None:
        """Draw this frame: black when blanked, the reel when the daemon has been away long enough,
        else ``live()`` (the normal render)."""
        now = self.monotonic()
        wants_reel = self.reel is not None and not self.reel.broken and self.switch.update(reachable(view), now)
        showing = "blank" if self.blank else "reel" if wants_reel else "live"
        if showing != self.showing:
            self._switch(showing, now)
        if showing == "blank":
            surface.fill((0, 0, 0))
        elif showing == "reel" and self.reel is not None:
            self.reel.draw(surface, now)
            if self.reel.broken:
                live()
        else:
            live()

    def _switch(self, showing: str, now: float) -> None:
        reason = {"blank": "blanked", "live": "live again", "reel": "the daemon is unreachable: playing the reel"}
        log.info("%s: %s", self.link.node_id, reason[showing])
        if self.reel is not None:
            if showing == "reel":
                self.reel.start(now)
            elif self.reel.playing:
                self.reel.stop()
        self.showing = showing
        self.link.set_status(showing=showing)

    def after_flip(self, surface: pygame.Surface) -> None:
        if self._shot:
            self._shot = False
            self.link.publish_screenshot(thumbnail(surface))
        self.watchdog.tick(self.monotonic(), f"showing {self.showing}")

    def close(self) -> None:
        if self.reel is not None and self.reel.playing:
            self.reel.stop()
