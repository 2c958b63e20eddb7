"""A private Mosquitto on a loopback port: for the demo when no broker runs, and for the tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from panic_edge import broker_setup
from panic_edge.broker_setup import BrokerSetup
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
    ``extra`` is appended to its mosquitto.conf.

    Anonymous by default. Given ``setup`` (a ``BrokerSetup``), it is locked down the way
    ``panic-edge broker-config`` makes it: that setup is written (port and addresses made this
    broker's: loopback, a free port, and a free TLS port when it has certificates) and used.
    """

    def __init__(self, port: int | None = None, persistence_dir: Path | None = None,
                 setup: BrokerSetup | None = None, extra: str = "") -> None:
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
        self.setup = setup
        if setup is not None:
            self.setup = replace(setup, port=self.port, bind="127.0.0.1", tls_bind="127.0.0.1",
                                 tls_port=free_port() if setup.tls else setup.tls_port)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        """The TLS listener, by the name its certificate is expected to carry (localhost)."""
        assert self.setup is not None and self.setup.tls, "this broker has no TLS listener"
        return f"mqtts://localhost:{self.setup.tls_port}"

    @property
    def credentials_file(self) -> Path | None:
        return self.setup.directory / "credentials.toml" if self.setup is not None else None

    def start(self, timeout: float = 10.0) -> LocalBroker:
        conf = Path(self._tmp.name) / "mosquitto.conf"
        if self.setup is not None:
            broker_setup.write(self.setup)
            lines = (self.setup.directory / "mosquitto.conf").read_text().splitlines()
        else:
            lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "set_tcp_nodelay true",
                     f"max_packet_size {broker_setup.MAX_PACKET_BYTES}"]
        lines.append("max_queued_messages 100000")
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
        ports = [self.port] + ([self.setup.tls_port] if self.setup is not None and self.setup.tls else [])
        while not all(port_open("127.0.0.1", port, 0.2) for port in ports):
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

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
