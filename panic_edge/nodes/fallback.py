"""When a screen gives up on the live view and plays the backup reel. Pure: the clock is an argument.

The daemon counts as reachable while the broker is connected and the daemon's ``availability`` is
``online``. Once it has been unreachable for ``after`` seconds the reel plays; the moment it is
reachable again the screen is live (the picture it missed is fetched again by the link).
"""

from __future__ import annotations

from dataclasses import dataclass

from panic_edge.nodes.view import View


def reachable(view: View) -> bool:
    return view.broker_online and view.appliance_online is True


@dataclass
class ReelSwitch:
    after: float
    since: float | None = None  # when the daemon was last seen going away

    def update(self, is_reachable: bool, now: float) -> bool:
        """True while the reel should play."""
        if is_reachable:
            self.since = None
            return False
        if self.since is None:
            self.since = now
        return now - self.since >= self.after
