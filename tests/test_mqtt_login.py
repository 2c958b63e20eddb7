"""[mqtt]: URLs with TLS, and which login each program uses (credentials_file, role, username)."""

from __future__ import annotations

from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from panic_edge.broker_setup import BrokerSetup, Login, login_for, write
from panic_edge.bus import configure
from panic_edge.config import load_config
from panic_edge.errors import ConfigError
from panic_edge.nodes.link import NodeLink


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
