"""Links other machines follow: a daemon listening on every interface gives its LAN address,
never 127.0.0.1 (display nodes elsewhere, visitors' phones and Home Assistant follow them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request

import pytest

from panic_edge.config import load_config
from panic_edge.lan import lan_address
from tests.live import ThreadedDaemon
from tests.mqtt_probe import Probe

LAN = lan_address()


def test_links_name_the_public_url_then_the_listening_address_then_the_lan_address():
    def base(lan: str | None = None, **env: str) -> str:
        return load_config(None, env).media_base(8750, lan)

    assert base(PANIC_EDGE_HTTP_PUBLIC_URL="http://panic.local:8750/") == "http://panic.local:8750"
    assert base(PANIC_EDGE_HTTP_HOST="192.168.1.20") == "http://192.168.1.20:8750"
    assert base("192.168.1.20", PANIC_EDGE_HTTP_HOST="0.0.0.0") == "http://192.168.1.20:8750"
    assert base(None, PANIC_EDGE_HTTP_HOST="0.0.0.0") == "http://127.0.0.1:8750"  # no network yet
    assert base(PANIC_EDGE_HTTP_HOST="fd00::20") == "http://[fd00::20]:8750"
    assert load_config(None, {"PANIC_EDGE_HTTP_HOST": "0.0.0.0"}).serves_other_machines
    assert not load_config(None, {}).serves_other_machines  # the default: loopback only


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare")
def test_a_machine_with_no_network_has_no_lan_address():
    # a network namespace of its own: loopback only, no route anywhere
    code = "from panic_edge.lan import lan_address; print(lan_address())"
    out = subprocess.run(["unshare", "--net", sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30, check=False)
    if out.returncode != 0 and "Operation not permitted" in out.stderr:
        pytest.skip("this sandbox refuses new network namespaces")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None"


@pytest.mark.skipif(LAN is None, reason="this machine has no LAN address")
def test_a_daemon_on_every_interface_links_its_lan_address_and_serves_it(make_config, admin_env, broker):
    assert LAN is not None
    live = ThreadedDaemon(make_config(**admin_env, PANIC_EDGE_HTTP_HOST="0.0.0.0")).start()
    try:
        probe = Probe(broker.url, f"panic/{live.config.appliance_id}/status")
        try:
            body = probe.wait_for(lambda _, b: isinstance(b, dict) and "visit_url" in
                                  b.get("networks", {}).get("demo", {}))
        finally:
            probe.close()
        base = body["media_base"]
        assert base.startswith(f"http://{LAN}:") and "127.0.0.1" not in base
        visit = body["networks"]["demo"]["visit_url"]
        assert visit.startswith(f"{base}/visit/demo?t=")
        with urllib.request.urlopen(f"{base}/api/status", timeout=10) as answer:  # as a phone would
            assert json.load(answer)["appliance_id"] == live.config.appliance_id
    finally:
        live.stop()
