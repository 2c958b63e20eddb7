"""Shared fixtures: a real Mosquitto, a real SQLite file, a real daemon on loopback."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from panic_edge.broker import LocalBroker
from panic_edge.config import Config, load_config
from panic_edge.core.catalogue import CATALOGUE
from panic_edge.daemon.app import Daemon
from panic_edge.network_files import load_networks
from tests.mqtt_probe import Probe

REPO = Path(__file__).resolve().parent.parent
# Fixtures shared by several test modules, found by name (so ruff's F811 stays on: a module that
# imported a fixture and then took it as a parameter would redefine the name).
pytest_plugins = ["tests.admin_fixtures", "tests.browser_fixtures"]

# Hypothesis's per-example deadline is a timed assertion: on a machine busy with other tests it fails
# a property that holds. Properties are checked here; speed is the benchmarks' (bench/).
settings.register_profile("panic-edge", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("panic-edge")

# The insight tests need the insight extra, which scripts/setup installs (PANIC_EDGE_NO_INSIGHT=1 leaves it out).
if importlib.util.find_spec("model2vec") is None or importlib.util.find_spec("onnx") is None:
    collect_ignore_glob = ["test_insight_*.py", "test_trajectory.py"]


@pytest.fixture(scope="session")
def broker() -> Iterator[LocalBroker]:
    """One Mosquitto for the session, on a free loopback port."""
    with LocalBroker() as running:
        yield running


@pytest.fixture
def make_config(tmp_path: Path, broker: LocalBroker):
    """Config for a test appliance: its own data dir and appliance id, the session broker."""
    counter = iter(range(1000))

    def make(**env: str) -> Config:
        base = {
            "PANIC_EDGE_DATA_DIR": str(tmp_path / "data"),
            "PANIC_EDGE_MQTT_URL": broker.url,
            # unique per test: id(tmp_path) can repeat within a run, and a stale retained status of an
            # earlier test with the same id would then arrive in this one
            "PANIC_EDGE_APPLIANCE_ID": f"test-{uuid.uuid4().hex[:16]}-{next(counter)}",
            "PANIC_EDGE_HTTP_PORT": "0",
            "PANIC_EDGE_LOCAL_MODELS_LATENCY": "0.05",
            "PANIC_EDGE_BUTTON_PIN_FACTORY": "mock",
            "PANIC_EDGE_KEYBOARD_ENABLED": "false",
        }
        return load_config(None, {**base, **env})

    return make


@pytest.fixture
def config(make_config) -> Config:
    return make_config()


class RunningDaemon:
    def __init__(self, daemon: Daemon, task: asyncio.Task[None]) -> None:
        self.daemon, self.task = daemon, task

    @property
    def engine(self):
        assert self.daemon.engine is not None
        return self.daemon.engine

    async def stop(self) -> None:
        self.daemon.stop()
        await asyncio.wait_for(self.task, 10)


async def start_daemon(config: Config, **kwargs) -> RunningDaemon:
    daemon = Daemon(config, load_networks(config.networks_dir, CATALOGUE), stdin=None,
                    handle_signals=False, **kwargs)
    task = asyncio.create_task(daemon.run())
    ready = asyncio.create_task(daemon.ready.wait())
    done, _ = await asyncio.wait({task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raises the daemon's start-up error
    assert daemon.ready.is_set(), "daemon did not become ready"
    assert daemon.bus is not None and await daemon.bus.wait_connected(5), "daemon did not reach the broker"
    assert daemon.commands_bus is not None and await daemon.commands_bus.wait_connected(5), \
        "daemon's commands connection did not reach the broker"
    return RunningDaemon(daemon, task)


@pytest.fixture
async def daemon(config: Config) -> AsyncIterator[RunningDaemon]:
    running = await start_daemon(config)
    try:
        yield running
    finally:
        if not running.task.done():
            await running.stop()


@pytest.fixture
def probe(broker: LocalBroker, config: Config) -> Iterator[Probe]:
    """A bare subscriber to everything under this test's appliance."""
    p = Probe(broker.url, f"panic/{config.appliance_id}/#")
    yield p
    p.close()


@pytest.fixture(autouse=True)
def no_logged_errors(caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test when panic-edge logged an error it did not expect: hidden failures are loud."""
    caplog.set_level(logging.INFO)
    yield
    if request.node.get_closest_marker("allow_errors"):
        return
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR
              and r.name.startswith("panic_edge")]
    assert not errors, f"unexpected errors logged: {[r.getMessage() for r in errors]}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_errors: the test expects panic-edge to log errors")
