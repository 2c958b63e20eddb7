"""[mqtt]: URLs with TLS, and which login each program uses (credentials_file, role, username)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from panic_edge.broker_setup import BrokerSetup, Login, login_for, write
from panic_edge.bus import configure
from panic_edge.config import load_config
from panic_edge.errors import ConfigError
from panic_edge.nodes.link import NodeLink
from panic_edge.nodes.messages import ApplianceStatus, Connection
from tests.mqtt_probe import Probe


def test_mqtts_urls_mean_tls_on_8883_unless_a_port_is_given():
    tls = load_config(None, {"PANIC_EDGE_MQTT_URL": "mqtts://panic.local"}).mqtt
    assert (tls.tls, tls.host, tls.port) == (True, "panic.local", 8883)
    plain = load_config(None, {"PANIC_EDGE_MQTT_URL": "mqtt://panic.local"}).mqtt
    assert (plain.tls, plain.port) == (False, 1883)
    assert load_config(None, {"PANIC_EDGE_MQTT_URL": "mqtts://h:9999"}).mqtt.port == 9999
    with pytest.raises(ConfigError, match="mqtts://host:port"):
        load_config(None, {"PANIC_EDGE_MQTT_URL": "https://panic.local"})


def test_mqtt_files_are_read_beside_the_config_file(tmp_path):
    (tmp_path / "panic-edge.toml").write_text('[mqtt]\ncredentials_file = "broker/credentials.toml"\n'
                                              'ca_file = "ca.pem"\n')
    mqtt_config = load_config(tmp_path / "panic-edge.toml", {}).mqtt
    assert mqtt_config.credentials_file == tmp_path / "broker" / "credentials.toml"
    assert mqtt_config.ca_file == tmp_path / "ca.pem"


@pytest.fixture
def credentials(tmp_path) -> Path:
    write(BrokerSetup(tmp_path / "broker", "gallery-1"))
    return tmp_path / "broker" / "credentials.toml"


def test_each_program_logs_in_with_its_role_unless_told_otherwise(credentials):
    config = load_config(None, {"PANIC_EDGE_MQTT_CREDENTIALS_FILE": str(credentials)}).mqtt
    assert login_for(config, "daemon").username == "gallery-1-daemon"
    assert login_for(config, "node").username == "gallery-1-node"
    control = load_config(None, {"PANIC_EDGE_MQTT_CREDENTIALS_FILE": str(credentials),
                                 "PANIC_EDGE_MQTT_ROLE": "control"}).mqtt
    assert login_for(control, "node").username == "gallery-1-control"
    explicit = load_config(None, {"PANIC_EDGE_MQTT_CREDENTIALS_FILE": str(credentials),
                                  "PANIC_EDGE_MQTT_USERNAME": "me", "PANIC_EDGE_MQTT_PASSWORD": "pw"}).mqtt
    assert login_for(explicit, "daemon") == Login("me", "pw")
    assert login_for(load_config(None, {}).mqtt, "daemon") is None  # an open broker: no login


def test_a_missing_credentials_file_or_role_table_is_a_clear_config_error(tmp_path, credentials):
    missing = load_config(None, {"PANIC_EDGE_MQTT_CREDENTIALS_FILE": str(tmp_path / "nope.toml")}).mqtt
    with pytest.raises(ConfigError, match=r"does not exist.*broker-config"):
        login_for(missing, "daemon")
    partial = tmp_path / "partial.toml"
    partial.write_text('[node]\nusername = "n"\npassword = "p"\n')
    config = load_config(None, {"PANIC_EDGE_MQTT_CREDENTIALS_FILE": str(partial)}).mqtt
    with pytest.raises(ConfigError, match=r"no \[daemon\] table"):
        login_for(config, "daemon")


def test_a_tls_ca_file_that_is_not_there_is_a_config_error(tmp_path):
    config = load_config(None, {"PANIC_EDGE_MQTT_URL": "mqtts://localhost",
                                "PANIC_EDGE_MQTT_CA_FILE": str(tmp_path / "missing-ca.pem")}).mqtt
    with pytest.raises(ConfigError, match="TLS"):
        configure(mqtt.Client(CallbackAPIVersion.VERSION2), config, "daemon")


@pytest.mark.parametrize("node_id", ["", "a/b", "x" * 101, "caf\u00e9", "+"])
async def test_a_node_id_that_cannot_be_a_topic_level_and_client_id_is_refused(node_id, make_config):
    with pytest.raises(ConfigError, match="node id"):
        NodeLink(make_config(), kind="display", network="demo", mode="single", node_id=node_id)


async def test_a_node_names_its_client_after_its_appliance_unless_it_logs_in(make_config, credentials):
    anonymous = make_config()
    link = NodeLink(anonymous, kind="display", network="demo", mode="single", node_id="lobby")
    assert link.client_id == f"{anonymous.appliance_id}-lobby"
    # logged in: the locked-down broker's ACL lets a client write only nodes/<its client id>/
    for login in ({"PANIC_EDGE_MQTT_CREDENTIALS_FILE": str(credentials)},
                  {"PANIC_EDGE_MQTT_USERNAME": "gallery-1-node", "PANIC_EDGE_MQTT_PASSWORD": "pw"}):
        link = NodeLink(make_config(**login), kind="display", network="demo", mode="single", node_id="lobby")
        assert link.client_id == "lobby"


async def events_until(link: NodeLink, kind: type, timeout: float = 10.0) -> list:
    seen: list = []
    async with asyncio.timeout(timeout):
        while not seen or not isinstance(seen[-1], kind):
            seen.append(await link.events.get())
    return seen


async def test_two_appliances_on_one_open_broker_each_keep_their_lobby_connected(make_config, broker):
    """Each appliance has a [nodes.lobby]. A broker gives a client id to whoever connects last, so with
    the bare node id as the client id the second lobby pushes the first off (and back, all day)."""
    name = f"lobby-{uuid.uuid4().hex[:8]}"
    first_config, second_config = make_config(), make_config()
    async with NodeLink.open(first_config, kind="display", network=None, mode="single", node_id=name) as first:
        assert (await events_until(first, Connection))[-1] == Connection(True)
        async with NodeLink.open(second_config, kind="display", network=None, mode="single", node_id=name) as second:
            assert (await events_until(second, Connection))[-1] == Connection(True)
            # had the second taken the first's client id, the broker closed the first's connection while
            # the second connected: a message for the first, sent now, reaches it only after it noticed
            probe = Probe(broker.url, "none")
            probe.publish(first.topics.status, b"{}")
            probe.close()
            seen = await events_until(first, ApplianceStatus)
            assert Connection(False) not in seen, seen
            assert first.client_id != second.client_id
