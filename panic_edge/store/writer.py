"""The one writer: a thread that owns the write connection and commits writes in groups.

A write is a plain function of a ``sqlite3`` connection, handed over in one queue put and
answered in one ``call_soon_threadsafe`` (datasette's ``execute_write_fn`` is the model). The
thread takes every write waiting in the queue, runs them in one transaction and commits them
together (group commit): while one commit waits for its fsync, the writes of other networks
queue up and share the next. No future is resolved before the commit that holds its write has
returned, so with ``synchronous=FULL`` nothing is reported (and so nothing published) before it
is on disk. A write that raises fails alone: the transaction is rolled back and the rest of the
group goes again without it; a failed commit (disk full, I/O) fails every write of the group,
and each caller retries its own.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

log = logging.getLogger("panic_edge.store")

T = TypeVar("T")
WriteFn = Callable[[sqlite3.Connection], T]
IDLE_AFTER = 0.0003  # seconds without a new write after a commit: the writer says so (see submit)
MAX_GROUP = 256  # writes in one commit at most: bounds how long one transaction holds the lock
BACKGROUND_WAIT = 0.25  # seconds a background write waits for a group to join before committing alone


@dataclass(frozen=True)
class _Write(Generic[T]):
    fn: WriteFn[T]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T]
    committing: Callable[[], None] | None = None
    background: bool = False


_Outcome = tuple[_Write[Any], Any, BaseException | None]


def connect_writer(path: Path) -> sqlite3.Connection:
    """The write connection: autocommit mode (the writer opens each transaction itself),
    ``synchronous=FULL``, foreign keys on, and a busy timeout for a backup restore's lock."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class Writer:
    """Owns the write connection on its own thread; ``submit`` hands it a write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[_Write[Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="panic-store-writer", daemon=True)
        self._opened = threading.Event()
        self._open_error: BaseException | None = None
        self._closed = False
        self.commits = 0  # transactions committed (a group counts once): for benchmarks and tests

    def start(self) -> None:
        """Start the thread and open the connection; raises what opening raised. Blocking."""
        self._thread.start()
        self._opened.wait()
        if self._open_error is not None:
            raise self._open_error

    def close(self) -> None:
        """Commit what is queued, then close the connection and end the thread. Blocking."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def submit(self, fn: WriteFn[T], committing: Callable[[], None] | None = None,
               background: bool = False) -> asyncio.Future[T]:
        """Queue ``fn`` for the next group; the future resolves once its commit has returned
        (with what ``fn`` returned), or with what it, or the commit, raised. ``committing`` is
        called on the loop (once per group) as the group's COMMIT begins, when its fsync leaves
        the loop free for other work, and again if no write follows within IDLE_AFTER seconds
        of that commit. ``background``: the write waits for the next group of other writes to
        join (no commit, no fsync of its own), at most BACKGROUND_WAIT seconds. Call on a loop."""
        if self._closed:
            raise RuntimeError("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = _Committing(loop=loop)
        self._queue.put(_Write(fn, loop, future, committing, background))
        return future

    # --- the thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            conn = connect_writer(self.path)
        except BaseException as err:  # noqa: BLE001  handed to start(), which raises it in the opener
            self._open_error = err
            self._opened.set()
            return
        self._opened.set()
        try:
            stopping = False
            idle: list[_Write[Any]] = []  # the last group's, told when no write follows it soon
            held: list[_Write[Any]] = []  # background writes waiting for a group to join
            held_until = 0.0
            while not stopping:
                group: list[_Write[Any]] = []
                timeout = IDLE_AFTER if idle else None
                if held:
                    wait = max(0.0, held_until - time.monotonic())
                    timeout = wait if timeout is None else min(timeout, wait)
                try:
                    item = self._queue.get() if timeout is None else self._queue.get(timeout=timeout)
                except queue.Empty:
                    if idle:
                        _call_on_loops((w.loop, w.committing) for w in idle if w.committing is not None)
                        idle = []
                    if held and time.monotonic() >= held_until:  # no group came: commit them alone
                        group, held = held, []
                        _deliver(self._commit(conn, group))
                        idle = group
                    continue
                while True:
                    if item is None:
                        stopping = True
                    elif item.background:
                        if not held:
                            held_until = time.monotonic() + BACKGROUND_WAIT
                        held.append(item)
                    else:
                        group.append(item)
                    if len(group) >= MAX_GROUP:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                if group or (stopping and held):  # (background writes alone leave ``idle`` as it was)
                    group, held = group + held, []  # the held ones ride along
                    _deliver(self._commit(conn, group))
                    idle = group
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, group: list[_Write[Any]]) -> list[_Outcome]:
        """Run ``group`` in one transaction and commit once. A write that raises fails alone: the
        transaction is rolled back and the others run again without it (no savepoint around
        each write: failures are rare, and every statement costs a trip for the interpreter
        lock)."""
        outcomes: list[_Outcome] = []
        while group:
            done, group = self._transaction(conn, group)
            outcomes += done
        return outcomes

    def _transaction(self, conn: sqlite3.Connection,
                     group: list[_Write[Any]]) -> tuple[list[_Outcome], list[_Write[Any]]]:
        """One try at committing ``group``: the outcomes settled, and the writes to try again."""
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            return [(w, None, err) for w in group], []
        results: list[Any] = []
        for index, write in enumerate(group):
            try:
                results.append(write.fn(conn))
            except Exception as err:  # noqa: BLE001  handed to its caller; the others go again without it
                _roll_back(conn)
                return [(write, None, err)], group[:index] + group[index + 1:]
        _call_on_loops((w.loop, w.committing) for w in group if w.committing is not None)
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            _roll_back(conn)
            return [(w, None, err) for w in group], []
        self.commits += 1
        return [(w, r, None) for w, r in zip(group, results, strict=True)], []


def _roll_back(conn: sqlite3.Connection) -> None:
    """End whatever is left of the transaction, so the next one can begin."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error as err:
            log.warning("could not roll back a failed transaction: %s", err)


def _call_on_loops(calls: Iterable[tuple[asyncio.AbstractEventLoop, Callable[[], None]]]) -> None:
    """Call each callback once, on its loop."""
    for loop, callback in dict.fromkeys(calls):
        try:
            loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop has closed
            pass


def _deliver(outcomes: list[_Outcome]) -> None:
    """Resolve every future of a group on its own loop, one hand-off per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, mine in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, mine)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            pass


def _resolve(outcomes: list[_Outcome]) -> None:
    for write, result, error in outcomes:
        if write.future.done():
            continue
        if error is not None:
            write.future.set_exception(error)
        else:
            write.future.set_result(result)


class _Committing(asyncio.Future[T]):
    """A write's future. It cannot be cancelled: the write is queued and will commit, so a task
    cancelled while it waits is told once the commit has returned (asyncio raises the
    cancellation into it then), and its result is still there to act on."""

    def cancel(self, msg: Any | None = None) -> bool:
        return False


async def settle(future: asyncio.Future[T]) -> tuple[T, bool]:
    """Wait for a submitted write to the end, even if the waiting task is cancelled meanwhile:
    the write commits regardless, and its caller must still act on it (publish what it
    committed). Returns the write's result and whether a cancellation arrived (the caller
    re-raises it once done). The write's own error is raised, as a cancellation if one came."""
    try:
        return await future, False
    except asyncio.CancelledError:
        if not future.done() or future.exception() is not None:
            raise
        return future.result(), True
