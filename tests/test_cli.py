"""The `panic-edge` command as a user runs it: a daemon process, commands from another shell,
systemd readiness, SIGTERM, kill -9 and the broker's last will."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.mqtt_probe import Probe

CLI = [sys.executable, "-m", "panic_edge"]


def env_for(config, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANIC_EDGE_")}
    env.update({"PANIC_EDGE_DATA_DIR": str(config.data_dir), "PANIC_EDGE_MQTT_URL": config.mqtt.url,
                "PANIC_EDGE_APPLIANCE_ID": config.appliance_id, "PANIC_EDGE_HTTP_PORT": "0",
                "PANIC_EDGE_LOCAL_MODELS_LATENCY": "0.05", "PANIC_EDGE_BUTTON_ENABLED": "false"})
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture
def notify_socket(tmp_path: Path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(15)
    yield path, sock
    sock.close()


def read_notifications(sock: socket.socket, until: str) -> list[str]:
    seen: list[str] = []
    while not any(until in s for s in seen):
        seen.append(sock.recv(4096).decode())
    return seen


@pytest.fixture
def daemon_process(config, notify_socket):
    path, sock = notify_socket
    pytest.importorskip("systemd.daemon", reason="systemd-python is Linux-only and optional")
    env = env_for(config, NOTIFY_SOCKET=str(path))
    proc = subprocess.Popen([*CLI, "run"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        ready = read_notifications(sock, "READY=1")
        yield proc, env, sock, ready
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)  # reaps it and closes its pipe


def test_the_daemon_tells_systemd_it_is_ready_and_stops_cleanly_on_sigterm(daemon_process):
    proc, _, sock, ready = daemon_process
    assert any("STATUS=1 networks" in n for n in ready)
    proc.send_signal(signal.SIGTERM)
    assert any("STOPPING=1" in n for n in read_notifications(sock, "STOPPING=1"))
    assert proc.wait(10) == 0


def test_commands_from_another_shell_start_and_stop_runs(daemon_process, config):
    proc, env, _, _ = daemon_process
    started = cli(env, "start", "demo", "a camel in the desert")
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "started demo"
    refused = cli(env, "start", "demo", "too soon")
    assert refused.returncode == 1 and "locked" in refused.stdout
    assert cli(env, "stop", "demo").stdout.strip() == "stopped demo"
    assert cli(env, "press").stdout.strip() == "started demo"
    assert cli(env, "stop-all").stdout.strip() == "stopped demo"
    unknown = cli(env, "stop", "nope")
    assert unknown.returncode == 1 and "unknown network 'nope'" in unknown.stdout
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "demo #0 Drift Poet (local): 'a camel in the desert' -> " in output
    conn = sqlite3.connect(config.database_path)
    reasons = [r[0] for r in conn.execute("SELECT end_reason FROM runs ORDER BY started_at")]
    assert reasons == ["stopped", "stopped (stop all)"]


def test_kill_9_leaves_the_last_will_and_a_database_that_recovers(daemon_process, config):
    proc, env, sock, _ = daemon_process
    probe = Probe(config.mqtt.url, f"panic/{config.appliance_id}/#")
    try:
        assert cli(env, "start", "demo", "crash test").returncode == 0
        probe.wait_for(lambda t, b: t.endswith("invocations") and b["sequence"] == 2)
        proc.kill()
        probe.wait_for(lambda t, b: t.endswith("availability") and b == "offline")
    finally:
        probe.close()
    proc.communicate(timeout=10)
    conn = sqlite3.connect(config.database_path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    restarted = subprocess.Popen([*CLI, "run"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
    try:
        read_notifications(sock, "READY=1")
        assert cli(env, "stop-all").returncode == 0
    finally:
        restarted.send_signal(signal.SIGTERM)
        output, _ = restarted.communicate(timeout=10)
    assert "resuming run" in output  # the loop takes up where it was killed
    conn = sqlite3.connect(config.database_path)
    assert conn.execute("SELECT count(*) FROM invocations WHERE state IN ('ready', 'invoking')"
                        ).fetchone()[0] == 0
    assert conn.execute("SELECT end_reason FROM runs").fetchone()[0] == "stopped (stop all)"
    sequences = [r[0] for r in conn.execute("SELECT sequence FROM invocations ORDER BY sequence")]
    assert sequences == list(range(len(sequences)))  # no gap, no duplicate: the run went on


def test_commands_without_a_daemon_say_so(config):
    env = env_for(config)
    result = cli(env, "stop-all", "--timeout", "1")
    assert result.returncode == 2
    assert "no answer from appliance" in result.stderr


def test_commands_without_a_broker_say_so(config):
    from panic_edge.broker import free_port

    result = cli(env_for(config, PANIC_EDGE_MQTT_URL=f"mqtt://127.0.0.1:{free_port()}"), "press")
    assert result.returncode == 2 and "cannot reach the MQTT broker" in result.stderr


def test_a_bad_config_is_reported_with_the_key_and_file(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[mqtt]\nport = 1883\n")
    result = cli({**os.environ, "PANIC_EDGE_CONFIG": str(bad)}, "run")
    assert result.returncode == 2
    assert f"mqtt.port ({bad}): is not a known key" in result.stderr


def test_models_lists_the_catalogue_and_marks_what_cannot_run():
    result = subprocess.run([*CLI, "models", "--json"], capture_output=True, text=True, timeout=30, check=False)
    models = {m["id"]: m for m in json.loads(result.stdout)}
    assert models["local-poet"]["available"] and models["local-poet"]["name"] == "Drift Poet (local)"
    assert models["flux-2-klein-4b"]["platform"] == "replicate"
    assert "flux-schnell" not in models  # deprecated: `panic-edge models --all` lists it


def test_networks_validate_fails_on_an_invalid_network(tmp_path: Path):
    (tmp_path / "bad.toml").write_text('name = "Bad"\nmodels = ["flux-schnell", "gpt-5-chat"]\n')
    conf = tmp_path / "c.toml"
    conf.write_text(f'networks_dir = "{tmp_path}"\n')
    result = subprocess.run([*CLI, "networks", "validate", "--config", str(conf)], capture_output=True,
                            text=True, timeout=30, check=False)
    assert result.returncode == 1
    assert "flux-schnell outputs image but gpt-5-chat takes text" in result.stdout


def test_the_demo_can_lock_its_private_broker_down(config):
    import time

    from panic_edge.broker import free_port, port_open

    port = free_port()
    env = env_for(config, PANIC_EDGE_MQTT_URL=f"mqtt://127.0.0.1:{port}", PANIC_EDGE_KEYBOARD_ENABLED="false")
    demo = subprocess.Popen([*CLI, "demo", "--no-start", "--lock-broker"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while not port_open("127.0.0.1", port, 0.2):
            assert demo.poll() is None and time.monotonic() < deadline, "the demo's broker did not start"
            time.sleep(0.1)
        anonymous = cli(env, "press", "--timeout", "5")
        assert anonymous.returncode == 2 and "refused the login" in anonymous.stderr
        logins = {**env, "PANIC_EDGE_MQTT_CREDENTIALS_FILE": str(config.data_dir / "broker" / "credentials.toml")}
        for _ in range(5):  # a command sent before the daemon subscribed is not kept (clean session)
            answered = cli(logins, "stop-all", "--timeout", "3")
            if answered.returncode == 0:
                break
        assert answered.returncode == 0 and answered.stdout.strip() == "all idle", answered.stderr
    finally:
        demo.send_signal(signal.SIGINT)
        output, _ = demo.communicate(timeout=15)
    assert "PANIC_EDGE_MQTT_CREDENTIALS_FILE=" in output  # the banner tells a screen how to log in
    assert "locked down" in output
