"""A private Mosquitto on a loopback port: for the demo when no broker runs, and for the tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from panic_edge.errors import PanicEdgeError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class LocalBroker:
    """``mosquitto`` bound to 127.0.0.1:<port>; ``persistence_dir`` keeps sessions across restarts;
    ``extra`` is appended to its mosquitto.conf."""

    def __init__(self, port: int | None = None, persistence_dir: Path | None = None, extra: str = "") -> None:
        binary = shutil.which("mosquitto") or next(
            (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto")
             if Path(p).exists()), None)
        if binary is None:
            raise PanicEdgeError("Mosquitto is not installed: `sudo apt-get install mosquitto` "
                                 "(or `brew install mosquitto`), or point PANIC_EDGE_MQTT_URL at a broker")
        self.binary = binary
        self.port = port or free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="panic-broker-")
        self.persistence_dir = persistence_dir
        self.extra = extra  # more mosquitto.conf, appended (a bridge section, in the tests)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> "LocalBroker":
        conf = Path(self._tmp.name) / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "max_queued_messages 100000"]
        if os.name == "posix" and os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to `mosquitto`, who cannot write our dirs
        if self.persistence_dir is not None:
            self.persistence_dir.mkdir(parents=True, exist_ok=True)
            lines += ["persistence true", f"persistence_location {self.persistence_dir}/",
                      "autosave_interval 1"]
        conf.write_text("\n".join(lines) + "\n" + self.extra)
        self.log_path = Path(self._tmp.name) / "mosquitto.log"
        with open(self.log_path, "wb") as logfile:
            self.process = subprocess.Popen([self.binary, "-c", str(conf)], stdout=logfile,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not port_open("127.0.0.1", self.port, 0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise PanicEdgeError(f"mosquitto did not start on port {self.port}: "
                                     f"{self.log_path.read_text(errors='replace')[-500:]}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def __enter__(self) -> "LocalBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
