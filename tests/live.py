"""A real daemon on its own thread and event loop, for the admin page's tests: Flask's test
client (or a browser) runs on the test's thread, as waitress's threads do in production."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from flask import Flask

from panic_edge.config import Config
from panic_edge.core.catalogue import CATALOGUE
from panic_edge.daemon.app import Daemon
from panic_edge.network_files import load_networks

T = TypeVar("T")


class ThreadedDaemon:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.daemon = Daemon(config, load_networks(config.networks_dir, CATALOGUE), stdin=None,
                             handle_signals=False)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="daemon", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def run() -> None:
            task = asyncio.create_task(self.daemon.run())
            ready = asyncio.create_task(self.daemon.ready.wait())
            await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
            self._ready.set()
            await task

        try:
            self.loop.run_until_complete(run())
        except BaseException as err:  # noqa: BLE001 -- reported by start()
            self._error = err
            self._ready.set()
        finally:
            self.loop.close()

    def start(self) -> ThreadedDaemon:
        self._thread.start()
        assert self._ready.wait(15), "the daemon did not start"
        if self._error is not None:
            raise self._error
        for bus in (self.daemon.bus, self.daemon.commands_bus):  # commands sent from now on are heard
            assert bus is None or bus._connected.wait(10), "the daemon did not reach the broker"
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.daemon.stop)
            self._thread.join(15)

    def call(self, coro: Callable[[], Coroutine[Any, Any, T]], timeout: float = 10) -> T:
        """Run ``coro()`` on the daemon's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro(), self.loop).result(timeout)

    @property
    def app(self) -> Flask:
        assert self.daemon.http is not None
        return self.daemon.http.app

    @property
    def url(self) -> str:
        assert self.daemon.http is not None
        return f"http://127.0.0.1:{self.daemon.http.port}"

    @property
    def engine(self):
        assert self.daemon.engine is not None
        return self.daemon.engine

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        """Poll ``predicate`` on the daemon's loop until it is true."""
        async def poll() -> None:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await asyncio.sleep(0.02)
        self.call(poll, timeout + 1)
