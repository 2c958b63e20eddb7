"""Home Assistant MQTT discovery: the appliance as one device-based discovery message.

Pure: ``discovery(appliance_id, version, networks, media_base)`` is the JSON body published
(retained, QoS 1) on ``<prefix>/device/<appliance_id>/config``. The root holds ``dev`` (the
device), ``o`` (the origin), the shared ``availability`` (the appliance's own ``availability``
topic, whose ``online``/``offline`` are Home Assistant's defaults) and ``qos``; the entities are
under ``cmps``, in Home Assistant's full key names (the schema tables in its docs,
``source/_integrations/<platform>.mqtt.markdown``; tests/test_homeassistant.py checks every key).

Entities read the topics the appliance already publishes. Templates tolerate a field that is
missing (an older or newer status): they give ``None``, which Home Assistant shows as unknown.

A component that is no longer there (a removed network) is removed the way Home Assistant
documents (mqtt.markdown, "Device discovery payload"): the config is published once with that
component reduced to ``{"platform": ...}``, then again without it. ``removed`` gives those.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from panic_edge.core.topics import Topics

ORIGIN = "panic-edge"
TEXT_MAX = 255  # Home Assistant's own limit for a text entity (text.mqtt.markdown, `max`)
COMPONENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def discovery_topic(prefix: str, appliance_id: str) -> str:
    return f"{prefix}/device/{appliance_id}/config"


def status_topic(prefix: str) -> str:
    """Home Assistant's birth (``online``) and last will (``offline``)."""
    return f"{prefix}/status"


def _from_status(*path: str) -> str:
    """A template reading ``status.<path>``, giving None when any step is missing."""
    expr = "value_json"
    for i, key in enumerate(path):
        expr = f"({expr}.get('{key}') or {{}})" if i < len(path) - 1 else f"{expr}.get('{key}')"
    return "{{ " + expr + " }}"


def discovery(appliance_id: str, version: str, networks: Mapping[str, str], media_base: str, *,
              removed: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The device discovery body. ``networks``: slug -> name, in display order. ``removed``:
    component id -> platform of components to remove (the first step of a removal)."""
    topics = Topics(appliance_id)
    uid = f"panic_{appliance_id}"
    cmps: dict[str, dict[str, Any]] = {}

    def add(key: str, platform: str, name: str, **options: Any) -> None:
        cmps[key] = {"platform": platform, "unique_id": f"{uid}_{key}", "name": name, **options}

    for slug, name in networks.items():
        add(f"press_{slug}", "button", f"Panic button: {name}", command_topic=topics.cmd("press"),
            payload_press=json.dumps({"network": slug}), icon="mdi:alert-octagon")
    add("stop_all", "button", "Stop all", command_topic=topics.cmd("stop-all"), payload_press="{}",
        icon="mdi:stop-circle")
    add("button_network", "select", "Button network", options=list(networks),
        command_topic=topics.cmd("button-network"),
        command_template='{"network": {{ value | tojson }}}', state_topic=topics.status,
        value_template=_from_status("button_network"), entity_category="config",
        icon="mdi:gesture-tap-button")
    add("prompt", "text", "Prompt", command_topic=topics.cmd("start"),
        command_template='{"prompt": {{ value | tojson }}}', min=1, max=TEXT_MAX)
    add("internet", "binary_sensor", "Internet", state_topic=topics.status, device_class="connectivity",
        entity_category="diagnostic",
        value_template="{% set i = value_json.get('internet') %}"
                       "{{ 'ON' if i in ('online', 'not needed') else ('OFF' if i == 'offline' else 'None') }}")
    for slug, name in networks.items():
        add(f"running_{slug}", "binary_sensor", f"Running: {name}", state_topic=topics.network_state(slug),
            device_class="running",
            value_template="{{ 'ON' if value_json.get('state') == 'running' else 'OFF' }}")
    add("invocations_per_minute", "sensor", "Invocations per minute", state_topic=topics.status,
        value_template=_from_status("invocations_per_minute"), state_class="measurement",
        unit_of_measurement="invocations/min", icon="mdi:repeat")
    # a total that starts from zero at local midnight: without last_reset, Home Assistant's long-term
    # statistics would book each midnight as money coming back (sensor.mqtt: last_reset_value_template
    # goes with state_class total, and monetary allows no other state class)
    add("spend_today", "sensor", "Spend today", state_topic=topics.status,
        value_template=_from_status("spend", "today_usd"), device_class="monetary",
        unit_of_measurement="USD", state_class="total", suggested_display_precision=2,
        last_reset_value_template="{{ (value_json.get('spend') or {}).get('day_start') or '' }}")
    add("nodes_online", "sensor", "Display nodes online", state_topic=topics.status,
        value_template=_from_status("nodes_online"), state_class="measurement", icon="mdi:monitor-multiple")
    add("disk_free", "sensor", "Disk free", state_topic=topics.status,
        value_template=_from_status("health", "disk_free_bytes"), device_class="data_size",
        unit_of_measurement="B", state_class="measurement", entity_category="diagnostic")
    add("temperature", "sensor", "CPU temperature", state_topic=topics.status,
        value_template=_from_status("health", "cpu_temp_c"), device_class="temperature",
        unit_of_measurement="°C", state_class="measurement", entity_category="diagnostic")
    for slug, name in networks.items():
        add(f"latest_image_{slug}", "image", f"Latest image: {name}", url_topic=topics.latest_image(slug),
            url_template="{{ value_json.get('url') }}")
    for key, platform in (removed or {}).items():
        if key not in cmps:
            cmps[key] = {"platform": platform}
    return {
        "dev": {"identifiers": [uid], "name": f"PANIC! {appliance_id}", "manufacturer": "PANIC!",
                "model": "panic-edge", "sw_version": version, "configuration_url": f"{media_base.rstrip('/')}/"},
        "o": {"name": ORIGIN, "sw_version": version},
        "availability": [{"topic": topics.availability}],
        "qos": 1,
        "cmps": cmps,
    }


def components(body: Mapping[str, Any]) -> dict[str, str]:
    """Component id -> platform of a discovery body (ours, or one read back from the broker).

    Total: anything that is not a well-formed component is skipped, so a junk retained message
    cannot break the appliance."""
    found = body.get("cmps", body.get("components")) if isinstance(body, Mapping) else None
    if not isinstance(found, Mapping):
        return {}
    out: dict[str, str] = {}
    for key, value in list(found.items())[:1000]:
        platform = value.get("platform", value.get("p")) if isinstance(value, Mapping) else None
        if isinstance(key, str) and COMPONENT_ID.match(key) and isinstance(platform, str) and len(platform) < 40:
            out[key] = platform
    return out
