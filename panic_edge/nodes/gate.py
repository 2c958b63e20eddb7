"""Why a node's network cannot start now, in words for visitors: the opening hours or the day's budget.

Every node says it the same way: a screen draws a calm, still view (never the attract view that
invites a press the appliance would refuse), a Vestaboard posts a short message once, a speaker
stays quiet. The daemon's own words (``pause``, with dollars, for the admin page) are not these.

Pure: the appliance's retained status and the network's retained state in, a ``Gate`` out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from panic_edge.nodes.messages import ApplianceStatus, NetworkState

BUDGET_WORDS = "today's budget is spent; it opens again tomorrow"


@dataclass(frozen=True)
class Gate:
    kind: Literal["closed", "budget"]
    words: str  # a screen's line
    board: str  # a split-flap board's message: short, a few words


def gate_of(status: ApplianceStatus | None, state: NetworkState | None) -> Gate | None:
    """Closed (the status or the network's state says so) before the budget; None when it may start."""
    if (status is not None and not status.open) or (state is not None and state.gate == "closed"):
        opens = status.opens_at if status is not None and not status.open else None
        return Gate("closed", f"opens {opens}" if opens else "closed for now",
                    f"closed - opens {opens}" if opens else "closed for now")
    if state is not None and state.gate == "budget":
        return Gate("budget", BUDGET_WORDS, "today's budget is spent - back tomorrow")
    return None
