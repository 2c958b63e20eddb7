"""The invocations a node knows of, merged idempotently, and which of them a screen shows.

Pure: no I/O, no clock. Messages may arrive twice (QoS 1 redelivery), out of order (a backfill
over HTTP racing the live stream), or late (a persistent session replaying after a broker
restart). ``Feed.apply`` keys on the invocation id and its state's rank, so a message seen twice
or an older state arriving after a newer one changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from panic_edge.core.installation import GridScreen, SingleScreen
from panic_edge.nodes.messages import Shown


class Feed:
    """The newest ``capacity`` invocations of one network, by id."""

    def __init__(self, network: str, capacity: int = 64) -> None:
        self.network = network
        self.capacity = max(1, capacity)
        self._by_id: dict[str, Shown] = {}

    def apply(self, shown: Shown) -> bool:
        """Merge one message; True if what the node should show may have changed."""
        if shown.network != self.network:
            return False
        known = self._by_id.get(shown.id)
        if known is not None and (shown.rank < known.rank or shown == known or
                                  (shown.rank == known.rank and known.done)):
            return False  # a duplicate, or an older state arriving late
        if known is None and len(self._by_id) >= self.capacity and shown.order < self._oldest().order:
            return False  # older than everything kept: a backfill reaching too far back
        self._by_id[shown.id] = shown
        if len(self._by_id) > self.capacity:
            del self._by_id[self._oldest().id]
        return True

    def apply_all(self, items: Iterable[Shown]) -> bool:
        changed = False
        for item in items:
            changed = self.apply(item) or changed
        return changed

    def _oldest(self) -> Shown:
        return min(self._by_id.values(), key=lambda s: s.order)

    def get(self, invocation_id: str) -> Shown | None:
        return self._by_id.get(invocation_id)

    def newest_first(self) -> list[Shown]:
        """Every invocation worth showing, newest first (cancelled ones are not outputs)."""
        return sorted((s for s in self._by_id.values() if not s.cancelled), key=lambda s: s.order,
                      reverse=True)

    def __len__(self) -> int:
        return len(self._by_id)


def current_run(items: list[Shown]) -> str | None:
    """The run a screen shows: the newest invocation's (a new run's genesis is the newest there is)."""
    return items[0].run_id if items else None


@dataclass(frozen=True)
class Grid:
    """``--grid ROWSxCOLS``, in one of two orders.

    ``newest`` (the default): the ROWS*COLS most recent invocations, newest first, across runs.
    ``sequence`` (``--grid-order sequence``, the original installation's grid): the current run's
    invocation ``seq`` sits in slot ``seq % (ROWS*COLS)``, so the grid is a fixed layout that fills
    in order and then overwrites itself; a new run clears it.
    """

    rows: int
    cols: int
    order: str = "newest"

    def __post_init__(self) -> None:
        if not (1 <= self.rows <= 16 and 1 <= self.cols <= 16):
            raise ValueError(f"a grid is 1x1 to 16x16, not {self.rows}x{self.cols}")
        if self.order not in ORDERS:
            raise ValueError(f"grid order must be {' or '.join(ORDERS)}, not {self.order!r}")

    @property
    def cells(self) -> int:
        return self.rows * self.cols

    @property
    def backfill(self) -> int:
        return self.cells + 8  # a few spare: some recent ones may be cancelled

    def select(self, feed: Feed) -> tuple[Shown | None, ...]:
        items = feed.newest_first()
        if self.order == "sequence":
            run = current_run(items)
            slots: list[Shown | None] = [None] * self.cells
            for shown in items:  # newest first: the first seen for a slot is the latest to fill it
                if shown.run_id == run and slots[shown.sequence % self.cells] is None:
                    slots[shown.sequence % self.cells] = shown
            return tuple(slots)
        chosen = items[: self.cells]
        return tuple(chosen) + (None,) * (self.cells - len(chosen))

    def describe(self) -> str:
        return f"grid {self.rows}x{self.cols}" + (" by sequence" if self.order == "sequence" else "")


ORDERS = ("newest", "sequence")


@dataclass(frozen=True)
class Single:
    """``--single --offset K --stride N``: the current run's latest invocation with ``sequence % N == K``.

    Without ``show_invoking`` it is the latest *finished* one, so the screen keeps its picture
    while the next is made; with it, a running invocation shows its model and waiting timer.

    The genesis everywhere: when a run starts, its first invocation (sequence 0) shows at once on
    every single screen whatever its offset, until that screen's own next step is there; the
    screens reset to the new run, and invocations of other runs are ignored.
    """

    offset: int = 0
    stride: int = 1
    show_invoking: bool = False

    def __post_init__(self) -> None:
        if self.stride < 1 or not 0 <= self.offset < self.stride:
            raise ValueError(f"need 0 <= offset < stride, got offset {self.offset}, stride {self.stride}")

    @property
    def cells(self) -> int:
        return 1

    @property
    def backfill(self) -> int:
        return 4 * self.stride + 8

    def select(self, feed: Feed) -> tuple[Shown | None, ...]:
        items = feed.newest_first()
        run = current_run(items)
        genesis = None
        for shown in items:
            if shown.run_id != run:
                continue  # an older run: ignored once a newer one has begun
            if shown.sequence % self.stride == self.offset and (self.show_invoking or shown.done):
                return (shown,)
            if shown.sequence == 0:
                genesis = shown
        return (genesis,)

    def describe(self) -> str:
        extra = ", showing invoking" if self.show_invoking else ""
        return f"single, offset {self.offset} of stride {self.stride}{extra}"


Selection = Grid | Single


def parse_grid(text: str, order: str = "newest") -> Grid:
    """``"4x4"`` -> Grid(4, 4); raises ValueError with the expected form."""
    rows, sep, cols = text.lower().partition("x")
    if not sep or not rows.isdigit() or not cols.isdigit():
        raise ValueError(f"grid must look like ROWSxCOLS, e.g. 2x3, not {text!r}")
    return Grid(int(rows), int(cols), order)


def selection_of(screen: SingleScreen | GridScreen) -> Selection:
    """What an installation's screen selects: its settings as a Grid or a Single."""
    if isinstance(screen, GridScreen):
        return Grid(screen.rows, screen.cols, screen.order)
    return Single(screen.offset, screen.stride, screen.show_invoking or screen.terminal)
