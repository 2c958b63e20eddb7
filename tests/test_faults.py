"""Fault injection against real processes: the daemon, a real Mosquitto, screen nodes and a fake
platform, all on loopback. One run of the loop meets every fault in turn:

1. the broker is killed (SIGKILL) mid-run and started again;
2. the platform becomes unreachable for a while, then comes back;
3. the daemon is killed (kill -9) mid-invocation and started again.

Then: every invocation committed reached every screen exactly once as shown, the database passes
``PRAGMA integrity_check``, the run went on (no gap in its sequence) and ended with its reason,
and going offline and coming back were each noticed (how fast is measured by bench/offline.py).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from panic_edge.broker import LocalBroker, free_port
from tests.fakes.platforms import KEYS, FakeOpenAI
from tests.mqtt_probe import Probe

CLI = [sys.executable, "-m", "panic_edge"]
SCREENS = 3

pytestmark = pytest.mark.timeout(240)


def wait(condition: Callable[[], object], timeout: float, what: str) -> float:
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - began


class Appliance:
    def __init__(self, tmp: Path, broker_url: str, platform_port: int) -> None:
        self.tmp = tmp
        self.data = tmp / "data"
        networks = tmp / "networks"
        networks.mkdir()
        (networks / "faulty.toml").write_text(
            'name = "Faulty"\nmodels = ["gpt-5-chat", "local-painter", "local-captioner"]\n'
            'lockout_seconds = 0\noffline_policy = "pause"\nprompts = ["a camel"]\n')
        self.config = tmp / "panic-edge.toml"
        self.config.write_text(f'''
appliance_id = "faults-{os.getpid()}"
data_dir = "{self.data}"
networks_dir = "{networks}"
default_network = "faulty"
[mqtt]
url = "{broker_url}"
[http]
port = {free_port()}
[button]
enabled = false
[local_models]
latency = 0.2
[platforms]
openai_url = "http://127.0.0.1:{platform_port}/v1"
attempts = 1
[offline]
probe = ["127.0.0.1:{platform_port}"]
probe_interval = 0.5
offline_probe_interval = 0.5
probe_timeout = 0.5
''')
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("PANIC_EDGE_")},
                    "OPENAI_API_KEY": KEYS["openai"], "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
        self.daemon: subprocess.Popen[bytes] | None = None
        self.screens: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.starts = 0

    @property
    def database(self) -> Path:
        return self.data / "panic-edge.sqlite3"

    def start_daemon(self) -> None:
        self.starts += 1
        with open(self.tmp / f"daemon-{self.starts}.log", "wb") as log:
            self.daemon = subprocess.Popen([*CLI, "run", "--config", str(self.config)], env=self.env,
                                           stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    def start_screen(self, n: int) -> None:
        log_path = self.tmp / f"screen-{n}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([*CLI, "-v", "display", "--network", "faulty", "--config", str(self.config), "--grid",
                                     "2x2", "--windowed", "--size", "320x240", "--fps", "20",
                                     "--node-id", f"screen-{n}"],
                                    env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.screens.append((proc, log_path))

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args, "--config", str(self.config)], env=self.env, capture_output=True,
                              text=True, timeout=30, check=False)

    def query(self, sql: str) -> list[tuple]:
        conn = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def completed(self) -> int:
        return self.query("SELECT count(*) FROM invocations WHERE state = 'completed'")[0][0]

    def shown(self, n: int) -> list[str]:
        text = self.screens[n][1].read_text(errors="replace")
        return [line.split(" shown ", 1)[1].strip() for line in text.splitlines() if " shown " in line]

    def close(self) -> None:
        for proc in [self.daemon, *(p for p, _ in self.screens)]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def test_the_loop_survives_broker_platform_and_daemon_faults_and_loses_nothing(tmp_path: Path):
    broker_port, platform_port = free_port(), free_port()
    broker = LocalBroker(broker_port, persistence_dir=tmp_path / "broker").start()
    platform = FakeOpenAI(platform_port).__enter__()
    app = Appliance(tmp_path, broker.url, platform_port)
    probe = Probe(broker.url, f"panic/faults-{os.getpid()}/#")
    try:
        app.start_daemon()
        wait(lambda: app.cli("stop-all", "--timeout", "2").returncode == 0, 30, "the daemon to answer")
        for n in range(SCREENS):
            app.start_screen(n)
        probe.wait_for(lambda t, b: t.endswith("/status") and isinstance(b, dict)
                       and b.get("networks", {}).get("faulty", {}).get("nodes") == SCREENS, 30)
        assert app.cli("start", "faulty", "a camel in the desert").returncode == 0
        wait(lambda: app.completed() >= 4, 30, "the loop to run")

        # 1. the broker dies hard, the loop goes on, the broker comes back
        broker.process.kill()
        broker.process.wait()
        at = app.completed()
        wait(lambda: app.completed() >= at + 3, 30, "the loop to go on without a broker")
        broker.start()
        wait(lambda: app.completed() >= at + 6, 30, "the loop after the broker came back")

        # 2. the platform becomes unreachable, then comes back
        platform.__exit__(None, None, None)
        probe.wait_for(lambda t, b: t.endswith("/status") and isinstance(b, dict)
                       and b.get("internet") == "offline", 15)
        held = probe.wait_for(lambda t, b: t.endswith("faulty/state") and isinstance(b, dict)
                              and b.get("held") is True, 15)
        assert held["online"] is False and held["state"] == "running"
        back = len(probe.messages)
        platform = FakeOpenAI(platform_port).__enter__()
        probe.wait_for(lambda t, b: t.endswith("/status") and isinstance(b, dict)
                       and b.get("internet") == "online", 15, since=back)
        at = app.completed()
        wait(lambda: app.completed() >= at + 3, 30, "the loop to resume after the platform came back")

        # 3. the daemon is killed mid-invocation and started again
        wait(lambda: app.query("SELECT count(*) FROM invocations WHERE state = 'invoking'")[0][0] > 0, 10,
             "an invocation in flight")
        app.daemon.kill()
        app.daemon.wait()
        probe.wait_for(lambda t, b: t.endswith("/availability") and b == "offline", 10)
        at = app.completed()
        app.start_daemon()
        wait(lambda: app.completed() >= at + 3, 40, "the run to resume after kill -9")

        assert app.cli("stop-all").returncode == 0
        wait(lambda: not app.query("SELECT 1 FROM runs WHERE ended_at IS NULL"), 10, "the run to end")

        # every committed invocation reached every screen exactly once, as completed
        completed = [row[0] for row in app.query("SELECT id FROM invocations WHERE state = 'completed'")]
        for n in range(SCREENS):
            def all_shown(n: int = n) -> bool:
                return {f"{i} completed" for i in completed} <= set(app.shown(n))

            wait(all_shown, 20, f"screen {n} to show every completed invocation")
            shown = [s for s in app.shown(n) if s.endswith(" completed")]
            assert sorted(shown) == sorted(set(shown)), f"screen {n} showed something twice"
    finally:
        probe.close()
        app.close()
        platform.__exit__(None, None, None)
        broker.close()

    assert app.query("PRAGMA integrity_check") == [("ok",)]
    assert app.query("SELECT count(*) FROM invocations WHERE state IN ('ready', 'invoking')") == [(0,)]
    [(reason,)] = app.query("SELECT end_reason FROM runs")
    assert reason == "stopped (stop all)"
    sequences = [row[0] for row in app.query("SELECT sequence FROM invocations ORDER BY sequence")]
    assert sequences == list(range(len(sequences)))  # the run went on through every fault
    assert any("resuming run" in p.read_text() for p in tmp_path.glob("daemon-*.log"))
