"""Fleets: the bridge section, the fleet model on hostile input, and two appliances on two real
Mosquitto brokers bridged on loopback, each in the other's fleet view (JSON and the page in Chromium).

Set PANIC_EDGE_SCREENSHOTS=1 to rewrite docs/screenshots/fleet.png."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from panic_edge.broker import LocalBroker
from panic_edge.broker_bridge import Bridge, render_bridge
from panic_edge.cli import main
from panic_edge.core.fleet import Fleet, parse_status
from panic_edge.errors import ConfigError
from tests.browser_fixtures import CHROMIUM
from tests.conftest import start_daemon
from tests.mqtt_probe import Probe

SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


# --- the bridge section -----------------------------------------------------------------------------


def test_the_bridge_sends_the_appliance_out_and_takes_commands_and_the_fleet_in():
    conf = render_bridge(Bridge("site-a", "mqtt://hq.example.net", username="site-a", password="s3cret"))
    lines = conf.splitlines()
    for line in ("connection uplink-site-a", "address hq.example.net:1883", "bridge_protocol_version mqttv50",
                 "cleansession true", "local_cleansession false", "notification_topic panic/site-a/bridge",
                 "remote_username site-a", "remote_password s3cret", "topic panic/site-a/# out 1",
                 "topic panic/site-a/cmd/+ in 1", "topic panic/+/status in 1", "topic panic/+/bridge in 1"):
        assert line in lines, line
    alone = render_bridge(Bridge("site-a", "mqtts://hq.example.net", fleet_view=False)).splitlines()
    assert "address hq.example.net:8883" in alone and "bridge_capath /etc/ssl/certs" in alone
    assert not [line for line in alone if line.startswith("topic panic/+")]


@pytest.mark.parametrize("bridge, message", [
    (Bridge("a", "http://hq"), "must look like mqtt://"),
    (Bridge("a", "mqtt://user:pw@hq"), "not in the URL"),
    (Bridge("a", "mqtt://hq:notaport"), "must look like"),
    (Bridge("a", "mqtt://hq", password="two words"), "spaces or line breaks"),
    (Bridge("a", "mqtt://hq", username="x\ntopic # both 2"), "spaces or line breaks"),
    (Bridge("a", "mqtt://hq", cafile=Path("/ca.pem")), "need an mqtts://"),
    (Bridge("a", "mqtts://hq", certfile=Path("/c.pem")), "both --bridge-certfile"),
])
def test_a_bridge_that_mosquitto_would_misread_is_refused(bridge, message):
    with pytest.raises(ConfigError, match=message):
        render_bridge(bridge)


def test_broker_config_writes_the_bridge_with_its_password_unreadable_to_others(tmp_path, capsys):
    secret = tmp_path / "pw"
    secret.write_text("hunter2-long\n")
    assert main(["broker-config", str(tmp_path / "broker"), "--bridge", "mqtt://hq:1884",
                 "--bridge-username", "site", "--bridge-password-file", str(secret)]) == 0
    path = tmp_path / "broker" / "bridge.conf"
    assert path.stat().st_mode & 0o077 == 0
    assert "remote_password hunter2-long" in path.read_text()
    assert "hunter2" not in capsys.readouterr().out


# --- the fleet model ---------------------------------------------------------------------------------


def status(**extra) -> bytes:
    return json.dumps({"version": "0.1.0", "media_base": "http://a.local:8750", "internet": "online",
                       "nodes_online": 1, "networks": {"demo": {"name": "Demo", "state": "running", "sequence": 3,
                                                                "online": True, "held": False, "nodes": 1}},
                       **extra}).encode()


def test_the_fleet_follows_retained_topics_and_forgets_what_is_cleared():
    fleet = Fleet(lambda: 100.0)
    assert fleet.apply("panic/a/availability", b"online")
    assert fleet.apply("panic/a/status", status(health={"disk_free_bytes": 5e9, "cpu_temp_c": 48.0, "warnings": ["hot"]}))
    fleet.apply("panic/a/nodes/lobby/availability", b"online")
    fleet.apply("panic/a/nodes/lobby/status", b'{"kind": "display", "network": "demo"}')
    fleet.apply("panic/a/bridge", b"0")
    [a] = fleet.snapshot("a")["appliances"]
    assert a["self"] and a["availability"] == "online" and a["uplink"] == "down" and not a["reachable"]
    assert a["admin_url"] == "http://a.local:8750/"
    assert a["networks"] == [{"slug": "demo", "name": "Demo", "state": "running", "sequence": 3, "online": True,
                              "held": False, "nodes": 1}]
    assert a["health"]["disk_free_bytes"] == 5e9 and a["health"]["warnings"] == ["hot"]
    assert a["nodes"] == [{"node_id": "lobby", "online": True, "kind": "display", "network": "demo", "screen": None}]
    for topic in ("panic/a/availability", "panic/a/status", "panic/a/bridge", "panic/a/nodes/lobby/availability",
                  "panic/a/nodes/lobby/status"):
        fleet.apply(topic, b"")
    assert fleet.snapshot()["appliances"] == []


def test_the_fleet_is_bounded_and_links_only_to_web_pages():
    fleet = Fleet(lambda: 0.0, max_appliances=3, max_nodes=2)
    for i in range(10):
        fleet.apply(f"panic/a{i}/availability", b"online")
        fleet.apply(f"panic/a0/nodes/n{i}/availability", b"online")
    snap = fleet.snapshot()
    assert len(snap["appliances"]) == 3 and len(snap["appliances"][0]["nodes"]) == 2 and snap["ignored"] == 15
    fleet.apply("panic/a1/status", status(media_base="javascript:alert(1)"))
    assert next(a for a in fleet.snapshot()["appliances"] if a["appliance_id"] == "a1")["admin_url"] is None


@given(topic=st.one_of(st.text(max_size=60), st.sampled_from(
    ["panic/a/status", "panic/a/availability", "panic/a/bridge", "panic/a/nodes/n/status", "panic/a/nodes/n/x"])),
    payload=st.one_of(st.binary(max_size=200), st.sampled_from(
        [b'{"networks": {"demo": []}}', b'{"health": {"load": "x", "warnings": [1, "\\ud800"]}}',
         b"[" * 5000, b'{"uptime": 1e999, "nodes_online": 10000000000000000000000, "version": "\\udfff"}',
         b'{"networks": {"UPPER": {}, "ok": {"name": 7, "sequence": true}}, "spend": {"today_usd": "1"}}'])))
def test_any_message_leaves_the_fleet_whole(topic, payload):
    fleet = Fleet(lambda: 0.0)
    fleet.apply("panic/a/availability", b"online")
    fleet.apply(topic, payload)
    snap = fleet.snapshot("a")
    json.dumps(snap, allow_nan=False).encode("utf-8")  # valid JSON, encodable, whatever came in


def test_a_status_keeps_only_checked_fields():
    parsed = parse_status(b'{"version": "1", "secret": "x", "networks": {"demo": {"name": "D", "state": "idle"}}}')
    assert parsed is not None and "secret" not in parsed and parsed["networks"][0]["state"] == "idle"
    assert parse_status(b"not json") is None and parse_status(b"[]") is None


# --- two appliances, two brokers, one bridge ---------------------------------------------------------


async def fleet_of(client: httpx.AsyncClient, url: str) -> dict[str, dict]:
    response = await client.get(f"{url}/api/fleet")
    assert response.status_code == 200
    return {a["appliance_id"]: a for a in response.json()["appliances"]}


async def until(check, timeout: float = 15.0):
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.1)


def look_at_the_fleet_page(url: str, a: str, b: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(f"{url}/fleet")
            expect(page.locator(f"[data-appliance='{a}']")).to_be_visible()
            expect(page.locator(f"[data-appliance='{b}'] [data-field=availability]")).to_have_text("online")
            expect(page.locator(f"[data-appliance='{a}'] [data-network=demo] [data-field=state]")).to_have_text("running")
            assert page.locator(f"[data-appliance='{b}'] h3 a").get_attribute("href", timeout=5000).endswith("/")
            assert not errors, errors
            if os.environ.get("PANIC_EDGE_SCREENSHOTS", "0") == "1":
                SHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SHOTS / "fleet.png"), full_page=True)
        finally:
            browser.close()


@dataclass
class Bridged:
    """Two appliances: ``a`` on site A's broker, bridged to the central broker ``b`` is on."""

    ids: tuple[str, str]
    central: LocalBroker
    site: LocalBroker
    a: Any
    b: Any
    client: httpx.AsyncClient

    @property
    def urls(self) -> tuple[str, str]:
        return self.a.daemon.media_base, self.b.daemon.media_base


@asynccontextmanager
async def bridged_appliances(make_config, tmp_path: Path) -> AsyncIterator[Bridged]:
    """Both running, demo running on A, a display node of A's lobby announced, and each appliance in
    the other's fleet view (online, with its networks and nodes)."""
    central = LocalBroker().start()
    try:
        ids = "lobby", "east-wing"  # two private brokers: no other test's appliances on them
        site = LocalBroker(extra=render_bridge(Bridge(ids[0], central.url))).start()
        try:
            common = {"PANIC_EDGE_ADMIN_PUBLIC_READONLY": "true", "PANIC_EDGE_BACKUPS_INTERVAL_HOURS": "0"}
            cfg_a = make_config(**common, PANIC_EDGE_APPLIANCE_ID=ids[0], PANIC_EDGE_MQTT_URL=site.url,
                                PANIC_EDGE_DATA_DIR=str(tmp_path / "a"))
            cfg_b = make_config(**common, PANIC_EDGE_APPLIANCE_ID=ids[1], PANIC_EDGE_MQTT_URL=central.url,
                                PANIC_EDGE_DATA_DIR=str(tmp_path / "b"))
            a, b = await start_daemon(cfg_a), await start_daemon(cfg_b)
            url_a, url_b = a.daemon.media_base, b.daemon.media_base
            try:
                await a.engine.start("demo", "across the bridge")
                node = Probe(site.url, "none")  # a display node of the lobby, on the lobby's broker
                node.publish(f"panic/{ids[0]}/nodes/lobby-screen/status",
                             json.dumps({"node_id": "lobby-screen", "kind": "display", "network": "demo"}), retain=True)
                node.publish(f"panic/{ids[0]}/nodes/lobby-screen/availability", "online", retain=True)
                node.close()
                # no keep-alive: an open connection would hold a stopping daemon's HTTP server
                async with httpx.AsyncClient(timeout=5, limits=httpx.Limits(max_keepalive_connections=0)) as client:
                    async def both_see_both():
                        fa, fb = await fleet_of(client, url_a), await fleet_of(client, url_b)
                        ok = all(i in f and f[i]["availability"] == "online" and f[i]["networks"]
                                 for f in (fa, fb) for i in ids)
                        lobby = fb.get(ids[0], {})
                        running = lobby.get("networks", [{}])[0].get("state") == "running"
                        return (fa, fb) if ok and running and lobby.get("nodes_online") == 1 else None
                    await until(both_see_both)
                    yield Bridged(ids, central, site, a, b, client)
            finally:
                await a.stop()
                if not b.task.done():
                    await b.stop()
        finally:
            site.close()
    finally:
        central.close()


async def test_two_appliances_on_bridged_brokers_see_each_other(make_config, tmp_path):
    async with bridged_appliances(make_config, tmp_path) as pair:
        ids, client, (url_a, url_b) = pair.ids, pair.client, pair.urls
        fa, fb = await fleet_of(client, url_a), await fleet_of(client, url_b)
        assert fa[ids[0]]["self"] and not fa[ids[1]]["self"]
        assert fa[ids[1]]["admin_url"] == f"{url_b}/" and fb[ids[0]]["admin_url"] == f"{url_a}/"
        assert fb[ids[0]]["uplink"] == "up"
        assert fb[ids[0]]["nodes"] == [{"node_id": "lobby-screen", "online": True, "kind": "display",
                                        "network": "demo", "screen": None}]

        # a command from the central broker reaches the appliance behind the bridge, once
        hq = Probe(pair.central.url, f"panic/{ids[0]}/cmd/reply")
        try:
            hq.publish(f"panic/{ids[0]}/cmd/stop", json.dumps({"network": "demo", "request_id": "hq"}))
            reply = await asyncio.to_thread(hq.wait_for, lambda t, body: body.get("request_id") == "hq")
            assert reply["ok"] and reply["message"] == "stopped demo"
            hq.publish(f"panic/{ids[0]}/cmd/stop", json.dumps({"network": "x", "request_id": "end"}))
            await asyncio.to_thread(hq.wait_for, lambda t, body: body.get("request_id") == "end")
            assert [body.get("request_id") for body in hq.bodies(f"panic/{ids[0]}/cmd/reply")] \
                == ["hq", "end"], "a message looped over the bridge"
        finally:
            hq.close()

        await pair.b.stop()
        await until(lambda: _availability(client, url_a, ids[1], "offline"))
        pair.site.stop()  # the uplink (and site A's broker) goes: the central side hears the bridge's will
        checker = FleetWatcherProbe(pair.central.url)
        try:
            await until(lambda: checker.uplink(ids[0], "down"))
        finally:
            checker.close()


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (the fleet page "
                    "in a browser is not checked)")
async def test_the_fleet_page_shows_both_appliances_in_chromium(make_config, tmp_path):
    pytest.importorskip("playwright.sync_api")
    async with bridged_appliances(make_config, tmp_path) as pair:
        # Playwright's sync API runs on a thread of its own: this one runs the daemons' loop
        await asyncio.to_thread(look_at_the_fleet_page, pair.urls[0], *pair.ids)


async def _availability(client: httpx.AsyncClient, url: str, appliance: str, value: str) -> bool:
    return (await fleet_of(client, url)).get(appliance, {}).get("availability") == value


class FleetWatcherProbe:
    """A Fleet fed by a plain subscriber, for the central side once appliance B is gone."""

    def __init__(self, url: str) -> None:
        self.fleet = Fleet(lambda: 0.0)
        self.probe = Probe(url, *self.fleet.filters)

    async def uplink(self, appliance: str, value: str) -> bool:
        for topic, payload, _ in list(self.probe.messages):
            self.fleet.apply(topic, payload)
        found = {a["appliance_id"]: a for a in self.fleet.snapshot()["appliances"]}.get(appliance, {})
        return found.get("uplink") == value and found.get("reachable") is False

    def close(self) -> None:
        self.probe.close()
