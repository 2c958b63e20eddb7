"""A node's picture of the appliance, and the frozen ``View`` a renderer draws from it.

Pure: everything that happens to a node (a message, the broker coming or going, a key typed)
is a method call here, and ``view(now)`` is a function of the state and the clock it is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from panic_edge.core.installation import GridScreen, SingleScreen
from panic_edge.nodes.feed import Feed, Grid, Selection, selection_of
from panic_edge.nodes.gate import gate_of
from panic_edge.nodes.messages import (
    Appliance,
    ApplianceStatus,
    Assigned,
    Connection,
    Event,
    NetworkState,
    Reply,
    Shown,
    Unassigned,
)

MAX_PROMPT = 500


@dataclass(frozen=True)
class View:
    """Everything ``render(surface, view)`` needs; nothing it has to look up."""

    network: str
    network_name: str
    rows: int
    cols: int
    cells: tuple[Shown | None, ...]
    now: float
    appliance_online: bool | None  # None: not heard from yet
    broker_online: bool
    running: bool
    lockout_until: float | None = None
    about_url: str | None = None  # what the QR code opens
    qr_label: str = "about this work"
    terminal: bool = False
    prompt: str = ""
    notice: str | None = None
    notice_until: float | None = None
    problem: str | None = None  # a screen waiting for (or refused by) its installation
    closed: str | None = None  # outside the opening hours: what to say ("opens Fri 10:00")
    next_invocation_at: float | None = None  # the paced wait: when the next step is called
    pause: str | None = None  # the run waits for the budget or the opening hours: why, in words
    budget: str | None = None  # the day's budget is spent: no run can start (nodes/gate.py's words)

    @property
    def offline_reason(self) -> str | None:
        """What the banner says, or None when all is well."""
        if not self.broker_online:
            return "Lost the connection to the appliance's message broker - reconnecting"
        if self.appliance_online is False:
            return "The appliance is offline - showing the last pictures"
        return None

    @property
    def attract(self) -> bool:
        """Idle and reachable: invite visitors to press the button."""
        return (not self.running and self.offline_reason is None and self.appliance_online is True
                and self.problem is None and self.closed is None and self.budget is None)

    def lockout_left(self) -> float:
        return max(0.0, (self.notice_until or 0.0) - self.now)


@dataclass
class NodeState:
    """What one node knows. Mutated by the shell, one event at a time; read through ``view``."""

    network: str
    selection: Selection
    feed: Feed = field(init=False)
    terminal: bool = False
    show_qr: bool = False
    qr_url: str | None = None
    qr_visit: bool = True  # the QR opens the visitors' prompt page when the daemon offers one
    appliance_online: bool | None = None
    broker_online: bool = False
    network_state: NetworkState | None = None
    status: ApplianceStatus | None = None
    prompt: str = ""
    notice: str | None = None
    notice_until: float | None = None
    pending_request: str | None = None
    screen: str | None = None  # --screen NAME: the network and selection come from its installation
    problem: str | None = None

    def __post_init__(self) -> None:
        self.feed = Feed(self.network, capacity=max(64, 4 * self.selection.backfill))
        if self.screen and not self.network:
            self.problem = f"waiting for the appliance to describe screen {self.screen}"

    # --- events -----------------------------------------------------------------------------

    def apply(self, event: Event, now: float) -> bool:
        """Take one event from the link; True if the picture may have changed."""
        match event:
            case Shown():
                return self.invocation(event)
            case NetworkState():
                return self.state(event)
            case Appliance(online):
                changed, self.appliance_online = self.appliance_online != online, online
                return changed
            case Connection(online):
                changed, self.broker_online = self.broker_online != online, online
                return changed
            case ApplianceStatus():
                changed, self.status = self.status != event, event
                return changed
            case Reply():
                return self.reply(event, now)
            case Assigned():
                return self.assign(event)
            case Unassigned(_, reason):
                changed, self.problem = self.problem != reason, reason
                return changed
        return False

    def assign(self, assigned: Assigned) -> bool:
        """The installation says what this screen shows: a new network or layout starts afresh."""
        screen = assigned.screen
        if not isinstance(screen, (SingleScreen, GridScreen)):
            self.problem = f"screen {screen.name} is a {screen.kind} screen, not a display"
            return True
        selection = selection_of(screen)
        if assigned.network != self.network or selection != self.selection:
            self.network, self.selection = assigned.network, selection
            self.feed = Feed(self.network, capacity=max(64, 4 * selection.backfill))
            self.network_state = None
        self.terminal = isinstance(screen, SingleScreen) and screen.terminal
        self.show_qr = bool(screen.qr)
        self.qr_url = None if screen.qr in ("", "about") else screen.qr
        self.problem = None
        return True

    def invocation(self, shown: Shown) -> bool:
        return self.feed.apply(shown)

    def state(self, state: NetworkState) -> bool:
        if state.network != self.network or state == self.network_state:
            return False
        self.network_state = state
        return True

    def reply(self, reply: Reply, now: float) -> bool:
        """A ``cmd/reply``: only the answer to this node's own request matters."""
        if self.pending_request is None or reply.request_id != self.pending_request:
            return False
        self.pending_request = None
        if reply.ok:
            self.notice, self.notice_until = None, None
        elif reply.retry_after:
            self.notice, self.notice_until = "locked", now + reply.retry_after
        else:
            self.notice, self.notice_until = reply.message, now + 8.0
        return True

    def typed(self, text: str) -> None:
        self.prompt = (self.prompt + text)[:MAX_PROMPT]

    def backspace(self) -> None:
        self.prompt = self.prompt[:-1]

    def submit(self, request_id: str) -> str:
        """Enter in terminal mode: returns the prompt to start with ("" means press)."""
        prompt, self.prompt = self.prompt.strip(), ""
        self.pending_request = request_id
        return prompt

    # --- the picture ------------------------------------------------------------------------

    def view(self, now: float) -> View:
        rows, cols = (self.selection.rows, self.selection.cols) if isinstance(self.selection, Grid) else (1, 1)
        status = self.status
        visit = status.visit_urls.get(self.network) if status and self.qr_visit and not self.qr_url else None
        about = self.qr_url or visit or (status.about_urls.get(self.network) if status else None)
        notice, until = self.notice, self.notice_until
        if until is not None and now >= until:
            notice, until = None, None
        state = self.network_state
        gate = gate_of(status, state)
        return View(network=self.network,
                    network_name=(status.network_names.get(self.network) if status else None) or self.network,
                    rows=rows, cols=cols, cells=self.selection.select(self.feed), now=now,
                    appliance_online=self.appliance_online, broker_online=self.broker_online,
                    running=bool(state and state.running),
                    lockout_until=state.lockout_until if state else None,
                    about_url=about if self.show_qr else None,
                    qr_label="scan to send a prompt" if visit else "about this work",
                    terminal=self.terminal, prompt=self.prompt,
                    notice=notice, notice_until=until, problem=self.problem,
                    closed=gate.words if gate and gate.kind == "closed" else None,
                    next_invocation_at=state.next_invocation_at if state else None,
                    pause=state.pause if state and state.held_reason in ("closed", "budget") else None,
                    budget=gate.words if gate and gate.kind == "budget" else None)
