"""A real Mosquitto started from `panic-edge broker-config`'s files: who may do what, over plain MQTT and TLS."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from panic_edge import broker_setup
from panic_edge.broker import LocalBroker, free_port, port_open
from panic_edge.broker_setup import BrokerSetup, Login, read_credentials
from panic_edge.cli import main
from panic_edge.nodes.link import NodeLink
from panic_edge.nodes.messages import Shown
from panic_edge.remote import send_command
from tests.conftest import start_daemon
from tests.nodes_helpers import encoded
from tests.tls_certs import Certs, make_certs, make_client_cert

APPLIANCE = f"locked-{os.getpid()}"
BASE = f"panic/{APPLIANCE}"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory, certs: Certs) -> Iterator[LocalBroker]:
    """One broker for the module, from broker-config's files, with a TLS listener."""
    setup = BrokerSetup(tmp_path_factory.mktemp("broker"), APPLIANCE, tls_cert=certs.cert, tls_key=certs.key)
    with LocalBroker(setup=setup) as running:
        yield running


@pytest.fixture(scope="module")
def logins(locked: LocalBroker) -> dict[str, Login]:
    assert locked.credentials_file is not None
    return read_credentials(locked.credentials_file)


@pytest.fixture
def locked_config(make_config, locked: LocalBroker):
    def make(**env: str):
        return make_config(**{"PANIC_EDGE_APPLIANCE_ID": APPLIANCE, "PANIC_EDGE_MQTT_URL": locked.url,
                              "PANIC_EDGE_MQTT_CREDENTIALS_FILE": str(locked.credentials_file), **env})
    return make


class Client:
    """A bare paho client: connects (or is refused), collects messages, publishes with an ack."""

    def __init__(self, url: str, login: Login | None, client_id: str = "", subscribe: str | None = None,
                 ca: Path | None = None) -> None:
        scheme, _, hostport = url.partition("://")
        host, port = hostport.rsplit(":", 1)
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.answer: queue.Queue[object] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if login is not None:
            self.client.username_pw_set(login.username, login.password)
        if scheme == "mqtts":
            self.client.tls_set(ca_certs=str(ca) if ca else None)
        self.client.on_connect = lambda c, u, f, reason, p: self.answer.put(reason)
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.answer.put(codes)
        self.all: list[tuple[str, bytes]] = []
        self.client.on_message = self._on_message
        self.client.connect(host, int(port))
        self.client.loop_start()
        self.reason = self.answer.get(timeout=10)
        if subscribe and self.connected:
            self.client.subscribe(subscribe, qos=1)
            self.answer.get(timeout=10)

    def _on_message(self, client: object, userdata: object, m: mqtt.MQTTMessage) -> None:
        self.all.append((m.topic, bytes(m.payload)))
        self.messages.put((m.topic, bytes(m.payload)))

    @property
    def connected(self) -> bool:
        return not getattr(self.reason, "is_failure", True)

    def publish(self, topic: str, payload: bytes | str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)  # the broker has dealt with it

    def wait(self, predicate, timeout: float = 10.0) -> tuple[str, bytes]:
        while True:
            topic, payload = self.messages.get(timeout=timeout)
            if predicate(topic, payload):
                return topic, payload

    def seen(self) -> list[tuple[str, bytes]]:
        """Every message received so far."""
        return list(self.all)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_broker_config_writes_the_four_files_and_keeps_passwords_unless_rotated(tmp_path, capsys):
    folder = tmp_path / "broker"
    env = {"PANIC_EDGE_APPLIANCE_ID": "gallery-1"}
    os.environ.update(env)
    try:
        assert main(["broker-config", str(folder), "--port", "18830"]) == 0
        first = read_credentials(folder / "credentials.toml")
        assert main(["broker-config", str(folder)]) == 0
        assert read_credentials(folder / "credentials.toml") == first
        assert main(["broker-config", str(folder), "--rotate"]) == 0
        rotated = read_credentials(folder / "credentials.toml")
    finally:
        for key in env:
            del os.environ[key]
    assert set(first) == {"daemon", "node", "control"} and first["daemon"].username == "gallery-1-daemon"
    assert all(rotated[r].password != first[r].password for r in first)
    assert (folder / "credentials.toml").stat().st_mode & 0o777 == 0o600
    assert (folder / "passwd").stat().st_mode & 0o777 == 0o600
    conf = (folder / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf and "listener 1883" in conf  # the last run's port
    for forbidden in ("pid_file", "persistence", "log_dest", "user ", "include_dir"):
        assert forbidden not in conf  # options the main file owns: an include must not repeat them
    out = capsys.readouterr().out
    assert all(login.password not in out for login in rotated.values())  # secrets never printed


def test_mosquitto_takes_the_files_as_a_conf_d_include_with_passwords_hashed_here(tmp_path):
    """As on a Pi: the system's main file includes /etc/mosquitto/conf.d; passwd is hashed by hashlib."""
    port = free_port()
    setup = BrokerSetup(tmp_path / "panic-edge", "included", port=port, bind="127.0.0.1")
    logins = broker_setup.write(setup, use_mosquitto_passwd=False)
    assert "$7$101$" in (tmp_path / "panic-edge" / "passwd").read_text()
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "panic-edge.conf").symlink_to(tmp_path / "panic-edge" / "mosquitto.conf")
    main_conf = tmp_path / "mosquitto.conf"
    main_conf.write_text(f"{'user root' if os.geteuid() == 0 else ''}\npersistence false\nlog_dest stderr\n"
                         f"include_dir {tmp_path / 'conf.d'}\n")
    broker = subprocess.Popen([LocalBroker().binary, "-c", str(main_conf)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", port, 0.1) and broker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert broker.poll() is None, broker.stdout.read().decode()
        good = Client(f"mqtt://127.0.0.1:{port}", logins["control"])
        wrong = Client(f"mqtt://127.0.0.1:{port}", Login(logins["control"].username, "not-it"))
        anonymous = Client(f"mqtt://127.0.0.1:{port}", None)
        assert good.connected and not wrong.connected and not anonymous.connected
        for c in (good, wrong, anonymous):
            c.close()
    finally:
        broker.terminate()
        broker.wait(10)


def test_anonymous_clients_are_refused(locked, certs):
    assert not Client(locked.url, None).connected
    assert not Client(locked.tls_url, None, ca=certs.ca).connected


async def test_a_control_login_commands_and_a_node_login_cannot(locked_config, locked, logins):
    running = await start_daemon(locked_config())
    node = Client(locked.url, logins["node"], client_id="node-1", subscribe=f"{BASE}/cmd/reply")
    try:
        assert node.connected
        config = locked_config()
        answer = await asyncio.to_thread(send_command, config, "press", {"network": "demo"}, 10)
        assert answer["ok"], answer
        run_id = running.engine.states["demo"].run.run_id
        node.publish(f"{BASE}/cmd/stop-all", json.dumps({"request_id": "from-node"}))
        node.publish(f"{BASE}/cmd/press", json.dumps({"request_id": "from-node"}))
        # the broker dropped both before acknowledging them; a later control command is answered
        answer = await asyncio.to_thread(send_command, config, "stop", {"network": "demo"}, 10)
        assert answer["ok"] and answer["message"] == "stopped demo"
        replies = [json.loads(p) for _, p in node.seen()]
        assert all(r["request_id"] != "from-node" for r in replies)
        assert running.engine.states["demo"].run is None and run_id
    finally:
        node.close()
        await running.stop()


async def test_a_node_cannot_forge_what_other_nodes_receive(locked_config, locked, logins):
    running = await start_daemon(locked_config())
    config = locked_config()
    observer = Client(locked.url, logins["node"], client_id="observer", subscribe=f"{BASE}/#")
    forger = Client(locked.url, logins["node"], client_id="forger")
    try:
        forger.publish(f"{BASE}/networks/demo/invocations", encoded(0, run="forged", output="http://evil.example/x"))
        forger.publish(f"{BASE}/nodes/observer/status", b'{"network": "demo", "kind": "forged"}')
        forger.publish(f"{BASE}/status", b'{"media_base": "http://evil.example"}')
        forger.publish(f"{BASE}/nodes/forger/status", b'{"network": "demo", "kind": "display"}')  # its own: fine
        await asyncio.to_thread(send_command, config, "press", {"network": "demo"}, 10)
        # off the loop: a blocking wait on the loop's thread would stall the daemon it waits for
        real = await asyncio.to_thread(observer.wait, lambda t, p: t.endswith("/invocations"))
        assert b"forged" not in real[1]
        seen = observer.seen()
        assert not any(b"forged" in p or b"evil.example" in p for _, p in seen)
        assert (f"{BASE}/nodes/forger/status", b'{"network": "demo", "kind": "display"}') in seen
    finally:
        observer.close()
        forger.close()
        await running.stop()


def test_a_client_id_with_wildcards_cannot_widen_its_node_topics(locked, logins):
    observer = Client(locked.url, logins["node"], client_id="watcher", subscribe=f"{BASE}/nodes/#")
    try:
        for client_id in ("+", "#", "victim/status", "victim/+"):
            sly = Client(locked.url, logins["node"], client_id=client_id)
            if sly.connected:
                for leaf in ("status", "availability"):
                    sly.publish(f"{BASE}/nodes/victim/{leaf}", b'{"network": "demo", "kind": "sly"}')
                sly.close()
        observer.client.publish(f"{BASE}/nodes/watcher/availability", b"online", qos=1).wait_for_publish(5)
        observer.wait(lambda t, p: t.endswith("watcher/availability"))
        assert not any(b"sly" in p for _, p in observer.seen())
    finally:
        observer.close()


def test_a_node_login_writes_only_the_leaves_a_node_sends(locked, logins):
    # a stolen node login must not stash megabytes at the broker under leaves nobody reads
    observer = Client(locked.url, logins["node"], client_id="watcher2", subscribe=f"{BASE}/nodes/#")
    stasher = Client(locked.url, logins["node"], client_id="stasher")
    try:
        stasher.publish(f"{BASE}/nodes/stasher/stash", b"x" * 1000)
        stasher.publish(f"{BASE}/nodes/stasher/status", b'{"network": "demo", "kind": "display"}')
        observer.wait(lambda t, p: t == f"{BASE}/nodes/stasher/status")
        assert not any(t.endswith("/stash") for t, _ in observer.seen())
    finally:
        observer.close()
        stasher.close()


async def test_the_daemon_and_a_node_work_over_tls_with_their_own_logins(locked_config, locked, certs):
    tls = {"PANIC_EDGE_MQTT_URL": locked.tls_url, "PANIC_EDGE_MQTT_CA_FILE": str(certs.ca)}
    running = await start_daemon(locked_config(**tls))
    config = locked_config(**tls)
    try:
        async with NodeLink.open(config, kind="display", network="demo", mode="single", node_id="tls-node") as link:
            answer = await asyncio.to_thread(send_command, config, "press", {"network": "demo"}, 10)
            assert answer["ok"], answer
            while True:
                event = await asyncio.wait_for(link.events.get(), 10)
                if isinstance(event, Shown) and event.run_id == answer["run_id"]:
                    break
            await _until(lambda: running.daemon.presence.counts().get("demo") == 1)
    finally:
        await running.stop()


def test_tls_without_the_ca_is_refused(locked, logins):
    with pytest.raises(Exception, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        Client(locked.tls_url, logins["control"])


async def _until(condition, timeout: float = 10.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if condition():
            done.set()
            break
        await asyncio.sleep(0.05)
    assert done.is_set(), "condition not met in time"


async def test_a_broker_that_asks_for_client_certificates_gets_one_from_cert_file(make_config, certs, tmp_path):
    # a venue IT department's broker may want a certificate from every client: [mqtt] cert_file/key_file
    cert, key = make_client_cert(certs, tmp_path)
    port = free_port()
    extra = (f"listener {port} 127.0.0.1\ncafile {certs.ca}\ncertfile {certs.cert}\nkeyfile {certs.key}\n"
             "require_certificate true\n")
    with LocalBroker(extra=extra):
        url = f"mqtts://localhost:{port}"
        config = make_config(PANIC_EDGE_MQTT_URL=url, PANIC_EDGE_MQTT_CA_FILE=str(certs.ca),
                             PANIC_EDGE_MQTT_CERT_FILE=str(cert), PANIC_EDGE_MQTT_KEY_FILE=str(key))
        running = await start_daemon(config)  # it waits for the broker: the handshake took the certificate
        try:
            answer = await asyncio.to_thread(send_command, config, "press", {"network": "demo"}, 10)
            assert answer["ok"], answer  # the CLI's client too
        finally:
            await running.stop()
        without = make_config(PANIC_EDGE_MQTT_URL=url, PANIC_EDGE_MQTT_CA_FILE=str(certs.ca))
        with pytest.raises(Exception, match=r"(?i)certificate|handshake|reset|closed|did not accept"):
            send_command(without, "press", {"network": "demo"}, 5)
