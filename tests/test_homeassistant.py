"""Home Assistant discovery: every payload against Home Assistant's documented schema keys, the
templates against real statuses, and the device's life on a real Mosquitto (announce, re-announce
on Home Assistant's birth, the select, the prompt, the latest image, a network removed)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from pathlib import Path

import httpx
import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2.sandbox import ImmutableSandboxedEnvironment

from panic_edge.core.homeassistant import components, discovery, discovery_topic
from panic_edge.core.payloads import Command
from panic_edge.daemon.button_network import ButtonNetwork
from panic_edge.errors import CommandError
from tests.conftest import start_daemon
from tests.mqtt_probe import Probe

# --- Home Assistant's schema keys, written out from its docs --------------------------------------
# home-assistant/home-assistant.io, source/_integrations/<platform>.mqtt.markdown, the
# {% configuration %} block of each (button d7225566, select 23472596, text c833583f,
# binary_sensor fbc3a3b3, sensor 9e4a69ab, image 23472596), and mqtt.markdown 0a314403,
# "Device discovery payload" (root keys, `platform` in every component) and the abbreviation tables
# for device (`dev`) and origin (`o`).

ENTITY = {"availability", "availability_mode", "availability_template", "availability_topic", "device",
          "enabled_by_default", "encoding", "entity_category", "entity_picture", "json_attributes_template",
          "json_attributes_topic", "name", "object_id", "payload_available", "payload_not_available",
          "platform", "qos", "unique_id"}
ALLOWED = {
    "button": ENTITY | {"command_template", "command_topic", "device_class", "icon", "payload_press", "retain"},
    "select": ENTITY | {"command_template", "command_topic", "icon", "optimistic", "options", "retain",
                        "state_topic", "value_template"},
    "text": ENTITY | {"command_template", "command_topic", "max", "min", "mode", "pattern", "retain",
                      "state_topic", "value_template"},
    "binary_sensor": ENTITY | {"device_class", "expire_after", "force_update", "icon", "off_delay", "payload_off",
                               "payload_on", "state_topic", "value_template"},
    "sensor": ENTITY | {"device_class", "expire_after", "force_update", "icon", "last_reset_value_template",
                        "options", "suggested_display_precision", "state_class", "state_topic",
                        "unit_of_measurement", "value_template"},
    "image": (ENTITY - {"payload_available", "payload_not_available", "qos"})
    | {"content_type", "icon", "image_encoding", "image_topic", "url_template", "url_topic"},
}
REQUIRED = {"button": {"command_topic"}, "select": {"command_topic", "options"}, "text": {"command_topic"},
            "binary_sensor": {"state_topic"}, "sensor": {"state_topic"}, "image": set()}
ROOT = {"dev", "device", "o", "origin", "cmps", "components", "availability", "availability_topic",
        "availability_mode", "command_topic", "state_topic", "qos", "encoding"}
DEVICE = {"configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model", "model_id",
          "name", "serial_number", "suggested_area", "sw_version", "via_device"}
ORIGIN = {"name", "sw_version", "support_url"}
NETWORKS = {"demo": "Demo (local models)", "loop": "Painter loop"}

# --- and the values it accepts for them -----------------------------------------------------------
# home-assistant/core: homeassistant/components/sensor/const.py (SensorStateClass, DEVICE_CLASS_STATE_CLASSES,
# DEVICE_CLASS_UNITS with UnitOfInformation and UnitOfTemperature; monetary: an ISO 4217 code, and `total`
# only), components/mqtt/sensor.py (`last_reset_value_template` only with state class `total`; `options` only
# for `enum`), binary_sensor/__init__.py (BinarySensorDeviceClass), button/__init__.py (ButtonDeviceClass),
# const.py (EntityCategory), text.mqtt.markdown (`mode`, `min`/`max` within 0-255).
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
SENSOR_DEVICE_CLASSES: dict[str, tuple[set[str], set[str] | None]] = {  # the ones used here: state classes, units
    "monetary": ({"total"}, None),
    "data_size": (STATE_CLASSES, {"bit", "kbit", "Mbit", "Gbit", "B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB",
                                  "YB", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"}),
    "temperature": ({"measurement"}, {"°C", "°F", "K"}),
}
CURRENCY = re.compile(r"^[A-Z]{3}$")
BINARY_SENSOR_DEVICE_CLASSES = {
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door", "garage_door", "gas",
    "heat", "light", "lock", "moisture", "motion", "moving", "occupancy", "opening", "plug", "power", "presence",
    "problem", "running", "safety", "smoke", "sound", "tamper", "update", "vibration", "window"}
BUTTON_DEVICE_CLASSES = {"identify", "restart", "update"}
ENTITY_CATEGORIES = {"config", "diagnostic"}


def check_values(key: str, comp: dict) -> None:
    """The values of one component are ones Home Assistant accepts together."""
    platform = comp["platform"]
    assert comp.get("entity_category", "config") in ENTITY_CATEGORIES, key
    if platform == "sensor":
        state_class, device_class = comp.get("state_class"), comp.get("device_class")
        unit = comp.get("unit_of_measurement")
        assert state_class is None or state_class in STATE_CLASSES, (key, state_class)
        if device_class is not None:
            assert device_class in SENSOR_DEVICE_CLASSES, f"{key}: add {device_class}'s row from Home Assistant's table"
            classes, units = SENSOR_DEVICE_CLASSES[device_class]
            assert state_class is None or state_class in classes, (key, device_class, state_class)
            assert (CURRENCY.match(unit or "") if units is None else unit in units), (key, device_class, unit)
        assert "last_reset_value_template" not in comp or state_class == "total", key
        assert "options" not in comp or device_class == "enum", key
        precision = comp.get("suggested_display_precision", 0)
        assert isinstance(precision, int) and precision >= 0, key
    elif platform == "binary_sensor":
        assert comp.get("device_class", "running") in BINARY_SENSOR_DEVICE_CLASSES, key
    elif platform == "button":
        assert comp.get("device_class", "update") in BUTTON_DEVICE_CLASSES, key
    elif platform == "text":
        low, high = comp.get("min", 0), comp.get("max", 255)
        assert comp.get("mode", "text") in ("text", "password") and 0 <= low <= high <= 255, key


def check_discovery(body: dict) -> dict[str, dict]:
    """Every key of a device discovery body is one Home Assistant documents; returns the components."""
    assert set(body) <= ROOT, set(body) - ROOT
    assert {"dev", "o", "cmps"} <= set(body)
    assert set(body["dev"]) <= DEVICE and body["dev"]["identifiers"]
    assert set(body["o"]) <= ORIGIN and body["o"]["name"] == "panic-edge"
    assert all(set(a) <= {"topic", "payload_available", "payload_not_available", "value_template"}
               for a in body["availability"])
    uids = set()
    for key, comp in body["cmps"].items():
        platform = comp["platform"]
        assert set(comp) <= ALLOWED[platform], (key, set(comp) - ALLOWED[platform])
        if len(comp) == 1:
            continue  # a removal step: {"platform": ...}
        assert REQUIRED[platform] <= set(comp), (key, REQUIRED[platform] - set(comp))
        if platform == "image":
            assert ("url_topic" in comp) != ("image_topic" in comp)
        assert comp["unique_id"] not in uids
        uids.add(comp["unique_id"])
        check_values(key, comp)
    return body["cmps"]


def test_every_component_uses_only_keys_home_assistant_documents():
    body = discovery("gallery-1", "0.1.0", NETWORKS, "http://panic.local:8750")
    cmps = check_discovery(body)
    platforms = {c["platform"] for c in cmps.values()}
    assert platforms == {"button", "select", "text", "binary_sensor", "sensor", "image"}
    assert body["availability"] == [{"topic": "panic/gallery-1/availability"}]
    assert body["dev"]["configuration_url"] == "http://panic.local:8750/"
    for slug in NETWORKS:  # per network: its button, whether it runs, its latest image
        assert cmps[f"press_{slug}"]["payload_press"] == json.dumps({"network": slug})
        assert cmps[f"running_{slug}"]["state_topic"] == f"panic/gallery-1/networks/{slug}/state"
        assert cmps[f"latest_image_{slug}"]["url_topic"] == f"panic/gallery-1/networks/{slug}/latest_image"
    assert cmps["button_network"]["options"] == ["demo", "loop"]
    assert cmps["button_network"]["command_topic"] == "panic/gallery-1/cmd/button-network"
    assert cmps["prompt"]["command_topic"] == "panic/gallery-1/cmd/start"
    assert {"stop_all", "internet", "invocations_per_minute", "spend_today", "nodes_online", "disk_free",
            "temperature"} <= set(cmps)
    assert discovery_topic("homeassistant", "gallery-1") == "homeassistant/device/gallery-1/config"


@pytest.mark.parametrize("key, change", [
    ("spend_today", {"state_class": "total_increasing"}),    # monetary takes `total` only
    ("spend_today", {"state_class": "measurement"}),
    ("spend_today", {"unit_of_measurement": "dollars"}),     # not an ISO 4217 code
    ("temperature", {"last_reset_value_template": "{{ 0 }}"}),  # a last_reset on a measurement
    ("temperature", {"state_class": "total"}),
    ("disk_free", {"unit_of_measurement": "bytes"}),
    ("internet", {"device_class": "online"}),
    ("stop_all", {"entity_category": "diagnostics"}),
])
def test_the_check_refuses_values_home_assistant_refuses(key, change):
    body = discovery("g", "1", NETWORKS, "http://h")
    body["cmps"][key].update(change)
    with pytest.raises(AssertionError):
        check_discovery(body)


def test_spend_today_starts_from_zero_at_the_day_start_the_status_gives():
    """A daily total: Home Assistant reads its last_reset from the status, so statistics count each day
    from zero instead of booking midnight as money coming back."""
    spend = discovery("g", "1", NETWORKS, "http://h")["cmps"]["spend_today"]
    assert (spend["device_class"], spend["state_class"], spend["unit_of_measurement"]) == ("monetary", "total", "USD")
    reset = render(spend["last_reset_value_template"], STATUS_WITH_HEALTH)
    assert dt.datetime.fromisoformat(reset) == dt.datetime(2026, 11, 26, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert render(spend["last_reset_value_template"], STATUS_TODAY) == ""  # no spend yet: ignored, not a warning


def test_the_status_says_when_the_local_day_began_across_a_clock_change():
    from zoneinfo import ZoneInfo

    from panic_edge.core.spending import Caps
    from panic_edge.daemon.spending import Ledger

    london = ZoneInfo("Europe/London")
    noon = dt.datetime(2026, 3, 29, 12, tzinfo=london).timestamp()  # summer time began at 01:00 that day

    class Noon:
        def now(self) -> float:
            return noon

    status = Ledger(Caps(), london, Noon(), lambda slug: True).status()  # type: ignore[arg-type]
    assert status["day_start"] == "2026-03-29T00:00:00+00:00"  # midnight was still GMT
    assert dt.datetime.fromisoformat(status["day_start"]).timestamp() == noon - 11 * 3600


def test_a_removal_step_reduces_the_component_to_its_platform():
    body = discovery("g", "1", {"demo": "Demo"}, "http://h", removed={"press_old": "button", "stop_all": "button"})
    check_discovery(body)
    assert body["cmps"]["press_old"] == {"platform": "button"}
    assert len(body["cmps"]["stop_all"]) > 1  # still there: not removed


def render(template: str, payload: dict | bytes | str) -> str:
    """As Home Assistant does: ``value`` is the payload, ``value_json`` its JSON; strictly undefined."""
    env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    value = payload if isinstance(payload, str) else json.dumps(payload)
    try:
        variables = {"value": value, "value_json": json.loads(value)}
    except ValueError:  # a command template's value is the text itself
        variables = {"value": value}
    return env.from_string(template).render(**variables)


STATUS_TODAY = {"appliance_id": "g", "internet": "not needed", "nodes_online": 2, "button_network": "demo",
                "invocations_per_minute": 12}
STATUS_WITH_HEALTH = {**STATUS_TODAY, "internet": "offline", "open": True, "next_change": None,
                      "health": {"disk_free_bytes": 123456789, "archive_bytes": 5, "memory_available_bytes": 9,
                                 "cpu_temp_c": 51.5, "throttled": None, "load": None, "warnings": []},
                      "spend": {"today_usd": 1.25, "day_start": "2026-11-26T00:00:00+01:00", "hour_usd": 0.1,
                                "cap_usd": None}}


@pytest.mark.parametrize("key, today, with_health", [
    ("internet", "ON", "OFF"), ("nodes_online", "2", "2"), ("button_network", "demo", "demo"),
    ("invocations_per_minute", "12", "12"), ("spend_today", "None", "1.25"),
    ("disk_free", "None", "123456789"), ("temperature", "None", "51.5"),
])
def test_status_templates_read_the_status_before_and_after_health_and_spend(key, today, with_health):
    comp = discovery("g", "1", NETWORKS, "http://h")["cmps"][key]
    assert render(comp["value_template"], STATUS_TODAY) == today  # "None": Home Assistant's unknown
    assert render(comp["value_template"], STATUS_WITH_HEALTH) == with_health
    assert render(comp["value_template"], {}) in ("None", "OFF")  # a status without the field at all


def test_state_command_and_image_templates():
    cmps = discovery("g", "1", NETWORKS, "http://h")["cmps"]
    assert render(cmps["running_demo"]["value_template"], {"state": "running"}) == "ON"
    assert render(cmps["running_demo"]["value_template"], {"state": "idle"}) == "OFF"
    assert render(cmps["latest_image_demo"]["url_template"], {"url": "http://h/media/x.png"}) == "http://h/media/x.png"
    assert render(cmps["internet"]["value_template"], {"internet": "unknown"}) == "None"
    prompt = 'a "quoted" camel\n</script> ünïcode'
    sent = render(cmps["prompt"]["command_template"], prompt)
    assert json.loads(sent) == {"prompt": prompt}
    assert json.loads(render(cmps["button_network"]["command_template"], "loop")) == {"network": "loop"}


@given(names=st.dictionaries(st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True), st.text(max_size=80),
                             max_size=5))
def test_any_network_names_give_a_documented_payload(names):
    body = discovery("g", "1", names, "http://h")
    check_discovery(json.loads(json.dumps(body)))
    assert components(body) == {k: v["platform"] for k, v in body["cmps"].items()}


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c, max_size=4)
                    | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=30))
def test_reading_back_any_json_never_raises(body):
    found = components({"cmps": body}) if not isinstance(body, dict) else components(body)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in found.items())


# --- on a real Mosquitto --------------------------------------------------------------------------


@pytest.fixture
def two_networks(tmp_path: Path) -> Path:
    folder = tmp_path / "networks"
    folder.mkdir()
    (folder / "loop.toml").write_text('name = "Painter loop"\nmodels = ["local-painter", "local-captioner"]\n'
                                      'lockout_seconds = 0\n')
    return folder


@pytest.fixture
def ha_config(make_config, two_networks, config):
    prefix = f"ha-{config.appliance_id}"
    return make_config(PANIC_EDGE_HOMEASSISTANT_ENABLED="true", PANIC_EDGE_HOMEASSISTANT_PREFIX=prefix,
                       PANIC_EDGE_NETWORKS_DIR=str(two_networks))


async def wait_for(probe, predicate, timeout=10.0, since=0):
    return await asyncio.to_thread(probe.wait_for, predicate, timeout, since)


async def test_the_device_is_announced_retained_and_again_when_home_assistant_comes_online(ha_config, broker):
    cfg = ha_config
    prefix = cfg.homeassistant.prefix
    topic = discovery_topic(prefix, cfg.appliance_id)
    running = await start_daemon(cfg)
    try:
        ha = running.daemon.homeassistant
        assert ha is not None
        ha.delay = (0.05, 0.2)
        late = Probe(broker.url, f"{prefix}/#")  # subscribes after the announcement: gets it retained
        try:
            body = await wait_for(late, lambda t, b: t == topic)
            assert next(m for m in late.messages if m[0] == topic)[2], "the config must be retained"
            cmps = check_discovery(body)
            assert {"press_demo", "press_loop", "running_loop", "latest_image_demo"} <= set(cmps)
            assert body["dev"]["configuration_url"] == f"{running.daemon.media_base}/"
            state = Probe(broker.url, f"panic/{cfg.appliance_id}/networks/demo/state")
            try:
                await wait_for(state, lambda t, b: True)  # the retained one
                # the broker forgets the config: only a new announcement can bring it back
                late.publish(topic, b"", retain=True)
                await wait_for(late, lambda t, b: t == topic and b == "")
                mark = len(late.messages)
                late.publish(f"{prefix}/status", b"online")  # Home Assistant's birth message
                again = await wait_for(late, lambda t, b: t == topic and isinstance(b, dict), since=mark)
                assert check_discovery(again) == cmps
                fresh = Probe(broker.url, topic)  # and it was retained again: a later subscriber gets it
                try:
                    assert await wait_for(fresh, lambda t, b: t == topic) == again and fresh.messages[0][2]
                finally:
                    fresh.close()
                # ... and the states again, after the configs (an idle network's state changes otherwise never)
                await wait_for(state, lambda t, b: len(state.bodies(t)) >= 2, 10)
            finally:
                state.close()
            late.publish(f"{prefix}/status", b"offline")  # its last will: nothing to do
        finally:
            late.close()
    finally:
        await running.stop()


async def test_the_select_the_prompt_the_latest_image_and_a_removed_network(ha_config, broker):
    cfg = ha_config
    prefix, base = cfg.homeassistant.prefix, f"panic/{cfg.appliance_id}"
    topic = discovery_topic(prefix, cfg.appliance_id)
    running = await start_daemon(cfg)
    probe = Probe(broker.url, f"{base}/#", f"{prefix}/#")
    try:
        # the select: Home Assistant sends its command_template's output
        probe.publish(f"{base}/cmd/button-network", json.dumps({"network": "loop", "request_id": "s1"}))
        reply = await wait_for(probe, lambda t, b: t.endswith("cmd/reply") and b.get("request_id") == "s1")
        assert reply["ok"], reply
        await wait_for(probe, lambda t, b: t == f"{base}/status" and b.get("button_network") == "loop")
        assert json.loads((cfg.data_dir / "button-network.json").read_text())["network"] == "loop"
        probe.publish(f"{base}/cmd/button-network", json.dumps({"network": "nope", "request_id": "s2"}))
        reply = await wait_for(probe, lambda t, b: t.endswith("cmd/reply") and b.get("request_id") == "s2")
        assert not reply["ok"] and "unknown network" in reply["message"]

        # the prompt: a start without a network starts the button's network
        probe.publish(f"{base}/cmd/start", json.dumps({"prompt": "a lighthouse", "request_id": "p1"}))
        reply = await wait_for(probe, lambda t, b: t.endswith("cmd/reply") and b.get("request_id") == "p1")
        assert reply["ok"] and running.engine.states["loop"].run is not None

        # the latest image, retained, a URL Home Assistant can fetch
        image = await wait_for(probe, lambda t, b: t == f"{base}/networks/loop/latest_image")
        async with httpx.AsyncClient() as client:
            response = await client.get(image["url"])
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        assert image["run_id"] == reply["run_id"] and image["sequence"] == 0
        await wait_for(probe, lambda t, b: t == f"{base}/status" and b.get("invocations_per_minute", 0) >= 2)

        # a removed network leaves Home Assistant in two steps
        await running.engine.stop("loop")
        await running.engine.remove_network("loop")
        step = await wait_for(probe, lambda t, b: t == topic and b["cmps"].get("press_loop") == {"platform": "button"})
        assert step["cmps"]["running_loop"] == {"platform": "binary_sensor"}
        assert step["cmps"]["latest_image_loop"] == {"platform": "image"}
        final = await wait_for(probe, lambda t, b: t == topic and "press_loop" not in b["cmps"])
        assert check_discovery(final)["button_network"]["options"] == ["demo"]
        await wait_for(probe, lambda t, b: t == f"{base}/networks/loop/latest_image" and b == "")
        await wait_for(probe, lambda t, b: t == f"{base}/status" and b.get("button_network") == "demo")
    finally:
        probe.close()
        await running.stop()


async def test_a_chosen_button_network_survives_a_restart_until_the_config_changes(make_config, two_networks):
    (two_networks / "loop2.toml").write_text('name = "Another loop"\nmodels = ["local-painter", "local-captioner"]\n')
    cfg = make_config(PANIC_EDGE_NETWORKS_DIR=str(two_networks))
    running = await start_daemon(cfg)
    outcome = await running.daemon.handler.handle(Command("button-network", "loop"))
    assert outcome.ok and running.daemon.status()["button_network"] == "loop"
    await running.stop()
    running = await start_daemon(cfg)
    try:
        assert running.daemon.status()["button_network"] == "loop"
    finally:
        await running.stop()
    edited = make_config(PANIC_EDGE_NETWORKS_DIR=str(two_networks), PANIC_EDGE_BUTTON_NETWORK="loop2")
    running = await start_daemon(edited)
    try:
        assert running.daemon.status()["button_network"] == "loop2"  # the config's edit is newer
    finally:
        await running.stop()


@given(raw=st.one_of(st.binary(max_size=300), st.sampled_from(
    [b'{"network": "loop", "configured": "demo"}', b'{"network": "gone", "configured": "demo"}',
     b'{"network": 7}', b"[" * 3000, b'{"network": "loop", "configured": "other"}'])))
def test_a_kept_button_network_file_with_anything_in_it_never_breaks_the_button(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("button") / "button-network.json"
    path.write_bytes(raw)
    button = ButtonNetwork("demo", path, lambda slug: slug in ("demo", "loop"))
    assert button.current in ("demo", "loop")
    assert button.current == "demo" or raw == b'{"network": "loop", "configured": "demo"}'
    with pytest.raises(CommandError, match="unknown network"):
        button.choose("gone")
    button.choose("loop")
    assert ButtonNetwork("demo", path, lambda slug: True).current == "loop"
    button.choose("demo")  # back to the config's: nothing kept
    assert not path.exists()
