"""What every benchmark shares: statistics, the machine, the bench models and a config.

The bench platform is a real ``Platform`` (registered through ``Platforms``, never patched in):
its models answer at once (or after a fixed pause) and it records when each call starts, which
is how press-to-dispatch and the loop rate are timed.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from panic_edge.config import Config, load_config
from panic_edge.core.catalogue import Catalogue
from panic_edge.core.media import MediaType
from panic_edge.core.model import Hints, Model
from panic_edge.core.network import Network
from panic_edge.network_files import LoadedNetworks
from panic_edge.platforms.base import ModelInput, ModelOutput, Platforms

# The smallest valid PNG (1x1, RGBA): an image output the archive accepts, costing nothing to make.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a1d8f0a50000000049454e44ae426082")
CAPTION = "A bright picture of sandy gold and silver, calm, centred."

BENCH_MODELS = (
    Model("bench-painter", "Bench Painter", "bench", MediaType.TEXT, MediaType.IMAGE,
          "Answers at once with a 1x1 PNG.", hints=Hints(typical_seconds=0.0)),
    Model("bench-captioner", "Bench Captioner", "bench", MediaType.IMAGE, MediaType.TEXT,
          "Answers at once with a fixed caption.", hints=Hints(typical_seconds=0.0)),
)
BENCH_CATALOGUE = Catalogue(BENCH_MODELS)
UNPACED = ((0.0, 0.0),)  # benchmarks measure the machinery: no wait between steps
BENCH_NETWORK = Network(slug="bench", name="Bench (zero-latency)",
                        models=("bench-painter", "bench-captioner"), lockout_seconds=0,
                        prompts=("a camel in the desert",), pacing=UNPACED)
BENCH_NETWORKS = LoadedNetworks({BENCH_NETWORK.slug: BENCH_NETWORK}, {})


class BenchPlatform:
    """Zero-latency models (``latency`` seconds of pause if asked) that record when calls start."""

    name = "bench"
    needs_internet = False  # runs in-process: offline mode does not apply

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.calls = 0
        self.call_times: list[float] = []  # time.monotonic() as each call starts: one clock machine-wide
        self._waiters: list[tuple[int, asyncio.Future[float]]] = []

    async def invoke(self, model: Model, given: ModelInput) -> ModelOutput:
        now = time.monotonic()
        self.calls += 1
        self.call_times.append(now)
        for waiter in [w for w in self._waiters if w[0] <= self.calls]:
            self._waiters.remove(waiter)
            if not waiter[1].done():
                waiter[1].set_result(now)
        if self.latency:
            await asyncio.sleep(self.latency)
        if model.output is MediaType.IMAGE:
            return ModelOutput(data=TINY_PNG)
        return ModelOutput(text=CAPTION)

    def call_number(self, n: int) -> asyncio.Future[float]:
        """Resolves with the time.monotonic() at which call number ``n`` (1-based) started."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if self.calls >= n:
            future.set_result(self.call_times[n - 1])
        else:
            self._waiters.append((n, future))
        return future

    def forget(self) -> None:
        self.call_times.clear()

    async def aclose(self) -> None:
        return None


def bench_platforms(platform_: BenchPlatform) -> Platforms:
    return Platforms({"bench": platform_})


def bench_config(data_dir: Path, broker_url: str, appliance_id: str, **env: str) -> Config:
    """A daemon config for benchmarks: its own data dir, the bench broker, no keyboard, mock pins."""
    base = {
        "PANIC_EDGE_DATA_DIR": str(data_dir),
        "PANIC_EDGE_MQTT_URL": broker_url,
        "PANIC_EDGE_APPLIANCE_ID": appliance_id,
        "PANIC_EDGE_HTTP_PORT": "0",
        "PANIC_EDGE_BUTTON_PIN_FACTORY": "mock",
        "PANIC_EDGE_KEYBOARD_ENABLED": "false",
        "PANIC_EDGE_DEFAULT_NETWORK": BENCH_NETWORK.slug,
        "PANIC_EDGE_LIMITS_STARTS_PER_MINUTE": "0",  # presses by the hundred: the budget would pace them
    }
    return load_config(None, {**base, **env})


# --- statistics -------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        raise ValueError("no samples")
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def latency_stats(seconds: Iterable[float]) -> dict[str, Any]:
    """median, p99 and max in milliseconds, with the sample count."""
    values = sorted(seconds)
    if not values:
        return {"n": 0, "median_ms": None, "p99_ms": None, "max_ms": None}
    return {"n": len(values), "median_ms": round(percentile(values, 50) * 1e3, 3),
            "p99_ms": round(percentile(values, 99) * 1e3, 3), "max_ms": round(values[-1] * 1e3, 3)}


def goal(met: bool, text: str) -> dict[str, Any]:
    return {"goal": text, "met": met}


# --- the machine ------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mosquitto_version() -> str | None:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    try:
        out = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    first = out.splitlines()[0] if out else ""
    return first.removeprefix("mosquitto version ").strip() or None


def machine() -> dict[str, Any]:
    """What the figures came from: they only mean something beside these."""
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "machine": platform.machine(),
            "os": f"{platform.system()} {platform.release()}",
            "python": sys.version.split()[0], "mosquitto": _mosquitto_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """Resident set size of ``pid`` in KiB (Linux /proc); ``field="VmHWM"``: its peak so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


def merge(*parts: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        out.update(part)
    return out


NETWORK = """name = "Poet loop (bench)"
models = ["local-poet"]
lockout_seconds = 0
prompts = ["a camel in the desert"]
pacing = [[0, 0]]
"""


def daemon_command() -> list[str]:
    script = Path(sys.executable).parent / "panic-edge"
    return [str(script), "run"] if script.exists() else [sys.executable, "-m", "panic_edge", "run"]


@contextmanager
def daemon_process(broker_url: str, home: Path, appliance: str, network: str,
                   **extra: str) -> Iterator[tuple[subprocess.Popen[bytes], Path, float]]:
    """A real ``panic-edge run``, started as systemd starts it (NOTIFY_SOCKET held here), running the
    one network ``network`` (a network file's text, slug ``poet-loop``) on the local models at zero
    latency (``extra``: more environment). Yields (process, data folder, seconds from spawn to
    READY=1); stops it and removes the data folder after. The data folder goes on tmpfs where there
    is one (memory is the question in these benchmarks; fsync is measured by loop_overhead); the log
    stays in ``home``."""
    shm = Path("/dev/shm")
    data = Path(tempfile.mkdtemp(prefix="panic-bench-data-", dir=shm if shm.is_dir() else None))
    (home / "networks").mkdir(parents=True)
    (home / "networks" / "poet-loop.toml").write_text(network)
    env = {**os.environ, "PANIC_EDGE_DATA_DIR": str(data), "PANIC_EDGE_MQTT_URL": broker_url,
           "PANIC_EDGE_APPLIANCE_ID": appliance, "PANIC_EDGE_HTTP_PORT": "0",
           "PANIC_EDGE_NETWORKS_DIR": str(home / "networks"), "PANIC_EDGE_DEFAULT_NETWORK": "poet-loop",
           "PANIC_EDGE_LOCAL_MODELS_LATENCY": "0", "PANIC_EDGE_KEYBOARD_ENABLED": "false",
           "PANIC_EDGE_BUTTON_PIN_FACTORY": "mock", "NOTIFY_SOCKET": str(home / "notify.sock"), **extra}
    env.pop("PANIC_EDGE_CONFIG", None)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify, open(home / "daemon.log", "wb") as log:
        notify.bind(env["NOTIFY_SOCKET"])
        notify.settimeout(30)
        spawned = time.monotonic()
        process = subprocess.Popen(daemon_command(), env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            while b"READY=1" not in notify.recv(4096):
                pass
            yield process, data, time.monotonic() - spawned
        finally:
            stop_process(process, 15)
            shutil.rmtree(data, ignore_errors=True)


def stop_process(process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not gone within ``timeout`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
