"""The HUD's picture of a network's geometry: the latest insight message in, a frozen ``HudView`` out.

Pure: no I/O, no clock of its own. Each insight message carries the run's recent path, so the
HUD only keeps the newest message (of the newest run); a message that arrives late or twice
(QoS 1 redelivery, an older state) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from panic_edge.core.insight import HopSteps, Insight, PathPoint, latest_nearest

PALETTE = ((255, 92, 56), (110, 200, 255), (255, 210, 80), (150, 230, 120), (220, 130, 255), (255, 140, 190),
           (90, 220, 200), (200, 200, 200))


@dataclass(frozen=True)
class HudView:
    """Everything ``render_hud`` draws; nothing it has to look up."""

    network_name: str
    now: float
    insight: Insight | None
    hop_colours: tuple[tuple[str, tuple[int, int, int]], ...] = ()
    offline_reason: str | None = None
    running: bool = True

    @property
    def path(self) -> tuple[PathPoint, ...]:
        return self.insight.path if self.insight else ()

    @property
    def drifts(self) -> tuple[float, ...]:
        return tuple(p.drift for p in self.path)

    def colour(self, hop: str) -> tuple[int, int, int]:
        return dict(self.hop_colours).get(hop, PALETTE[-1])

    @property
    def hops(self) -> tuple[HopSteps, ...]:
        return self.insight.hops if self.insight else ()

    @property
    def nearest_mark(self) -> int | None:
        """Which cell of the recurrence strip is marked: the nearest earlier output at least two back,
        the most recent of equally near ones (as the message's ``nearest`` is chosen)."""
        distances = self.insight.recurrence if self.insight else ()
        return latest_nearest(distances[:-1]) if len(distances) > 1 else None

    @property
    def badge(self) -> str | None:
        """What the recurrence strip's badge says: STUCK, LOOP with its period, or nothing."""
        if self.insight is None:
            return None
        if self.insight.stuck:
            return "STUCK"
        if self.insight.loop:
            period = self.insight.loop_period
            return f"LOOP \u00b7 every {period}" if period else "LOOP"
        return None


class HudState:
    """What one HUD knows: the newest insight message of its network."""

    def __init__(self, network: str) -> None:
        self.network = network
        self.latest: Insight | None = None

    def apply(self, insight: Insight) -> bool:
        """Take one message; True if the picture changed."""
        if insight.network != self.network or insight == self.latest:
            return False
        latest = self.latest
        if latest is not None:
            if insight.run_id == latest.run_id and insight.embedding_model == latest.embedding_model:
                if insight.sequence <= latest.sequence:
                    return False  # late or repeated: the path we have is newer
            elif insight.created_at < latest.created_at:
                return False  # an older run's message arriving late
            if insight.modality != "text" and latest.modality == "text" and insight.run_id == latest.run_id:
                return False  # the text path is the one shown; image paths are for the admin page
        self.latest = insight
        return True

    def view(self, now: float, network_name: str | None = None, offline_reason: str | None = None,
             running: bool = True) -> HudView:
        hops = sorted({h.hop for h in self.latest.hops} | {p.hop for p in self.latest.path}) if self.latest else []
        colours = tuple((hop, PALETTE[i % (len(PALETTE) - 1)]) for i, hop in enumerate(hops))  # stable for a run
        return HudView(network_name or self.network, now, self.latest, colours, offline_reason, running)
