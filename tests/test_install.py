"""`panic-edge install` / `uninstall` under --root: every unit passes systemd's own verifier, every
launchd agent parses and names a program that exists, uninstall takes back what install wrote."""

from __future__ import annotations

import os
import plistlib
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from panic_edge.cli import build_parser, main

CONFIG = """
appliance_id = "gallery1"
networks_dir = "networks"
data_dir = "/var/lib/panic-edge"
[nodes.lobby]
kind = "display"
args = ["--grid", "2x2", "--reel", "/var/lib/panic-edge/reel.mp4"]
[nodes.hall]
kind = "speaker"
[nodes.board]
kind = "vestaboard"
args = ["--api", "rw"]
"""
NODES = ["panic-edge-display@lobby.service", "panic-edge-speaker@hall.service",
         "panic-edge-vestaboard@board.service"]
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed (scripts/setup "
                                   "installs the systemd package on Debian)")


def root_with_config(tmp_path: Path, config_dir: str = "etc/panic-edge", text: str = CONFIG) -> Path:
    root = tmp_path / "root"
    folder = root / config_dir
    (folder / "credentials").mkdir(parents=True)
    (folder / "networks").mkdir()
    (folder / "panic-edge.toml").write_text(text)
    (folder / "credentials" / "replicate").write_text("r8_secret\n")
    (folder / "credentials" / "mqtt-password").write_text("broker secret\n")
    (folder / "credentials" / "vestaboard-key").write_text("vb secret\n")
    return root


def verify(unit_dir: Path, units: list[str], user: bool = False, tmp: Path | None = None) -> None:
    """systemd-analyze verify: exit 0 and not one complaint (unknown keys are only warnings)."""
    env = {**os.environ, "SYSTEMD_UNIT_PATH": f"{unit_dir}:", "SYSTEMD_LOG_LEVEL": "notice"}
    short = None
    if user:
        # the user manager wants a runtime dir, even to verify, and puts socket paths in it: keep it
        # short (a unix socket path has 108 bytes; pytest's tmp paths can be longer than that)
        short = tempfile.TemporaryDirectory(prefix="pe-")
        os.chmod(short.name, 0o700)
        env["XDG_RUNTIME_DIR"] = short.name
    result = subprocess.run([ANALYZE, *(["--user"] if user else []), "verify", *units], check=False, env=env,  # type: ignore[list-item]
                            capture_output=True, text=True, timeout=60)
    if short is not None:
        short.cleanup()
    assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), (
        result.stdout + result.stderr)


@needs_analyze
def test_system_install_writes_units_that_systemd_verifies(tmp_path, capsys):
    root = root_with_config(tmp_path)
    assert main(["install", "--root", str(root), "--config", "/etc/panic-edge/panic-edge.toml"]) == 0
    out = capsys.readouterr().out
    unit_dir = root / "etc/systemd/system"
    assert sorted(p.name for p in unit_dir.iterdir()) == [
        "panic-edge-display@.service", "panic-edge-speaker@.service", "panic-edge-vestaboard@.service",
        "panic-edge.service"]
    verify(unit_dir, ["panic-edge.service", *NODES])
    # nothing ran; what would have is printed
    assert f"would run: systemctl enable panic-edge.service {' '.join(sorted(NODES))}" in out
    assert "would run: systemd-sysusers /etc/sysusers.d/panic-edge.conf" in out
    sysusers = (root / "etc/sysusers.d/panic-edge.conf").read_text()
    assert 'u panic - "PANIC! appliance"' in sysusers and "m panic video" in sysusers and "m panic gpio" in sysusers

    daemon = (unit_dir / "panic-edge.service").read_text()
    assert "--config /etc/panic-edge/panic-edge.toml" in daemon and "WatchdogSec=30" in daemon
    assert "LoadCredential=replicate:/etc/panic-edge/credentials/replicate" in daemon
    assert "vestaboard-key" not in daemon  # each service gets the secrets it uses, no more
    assert "ReadWritePaths=-/etc/panic-edge/networks" in daemon and "StateDirectory=panic-edge" in daemon
    display = (unit_dir / "panic-edge-display@.service").read_text()
    assert "display --config /etc/panic-edge/panic-edge.toml --node %i" in display
    assert "TTYPath=/dev/tty1" in display and "Conflicts=getty@tty1.service" in display
    assert "WatchdogSec=30" in display and "ReadWritePaths" not in display and "replicate" not in display
    board = (unit_dir / "panic-edge-vestaboard@.service").read_text()
    assert "LoadCredential=vestaboard-key:/etc/panic-edge/credentials/vestaboard-key" in board
    assert "secret" not in daemon + display + board + out  # paths to secrets, never a secret


@needs_analyze
def test_user_install_verifies_as_user_units_without_the_system_parts(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    root = root_with_config(tmp_path, str(home.relative_to("/") / ".config/panic-edge"))
    assert main(["install", "--root", str(root), "--user", "--no-daemon"]) == 0
    unit_dir = root / home.relative_to("/") / ".config/systemd/user"
    assert sorted(p.name for p in unit_dir.iterdir()) == [
        "panic-edge-display@.service", "panic-edge-speaker@.service", "panic-edge-vestaboard@.service"]
    verify(unit_dir, NODES, user=True, tmp=tmp_path)
    display = (unit_dir / "panic-edge-display@.service").read_text()
    assert "User=" not in display and "TTYPath" not in display and "WantedBy=default.target" in display
    assert not (root / "etc").exists()
    assert "would run: systemctl --user enable" in capsys.readouterr().out


def test_launchd_agents_parse_and_run_a_program_that_exists_with_options_it_takes(tmp_path, monkeypatch):
    home = tmp_path / "Users" / "gallery"
    monkeypatch.setenv("HOME", str(home))
    root = root_with_config(tmp_path, str(home.relative_to("/") / ".config/panic-edge"))
    assert main(["install", "--root", str(root), "--init", "launchd"]) == 0
    agents = root / home.relative_to("/") / "Library/LaunchAgents"
    plists = sorted(agents.iterdir())
    assert [p.name for p in plists] == ["org.panic-edge.daemon.plist", "org.panic-edge.display.lobby.plist",
                                        "org.panic-edge.speaker.hall.plist", "org.panic-edge.vestaboard.board.plist"]
    for path in plists:
        body = plistlib.loads(path.read_bytes())
        assert body["Label"] == path.stem and body["KeepAlive"] is True and body["RunAtLoad"] is True
        program, *args = body["ProgramArguments"]
        assert Path(program).is_file() and os.access(program, os.X_OK)
        build_parser().parse_args(args)  # options the command takes (argparse exits otherwise)
        assert body["StandardErrorPath"].startswith(str(home / "Library/Logs/panic-edge/"))
    assert (root / home.relative_to("/") / "Library/Logs/panic-edge").is_dir()


def test_uninstall_removes_what_install_wrote_and_keeps_config_credentials_and_data(tmp_path, capsys):
    root = root_with_config(tmp_path)
    (root / "var/lib/panic-edge").mkdir(parents=True)
    main(["install", "--root", str(root), "--config", "/etc/panic-edge/panic-edge.toml"])
    enabled = root / "etc/systemd/system/multi-user.target.wants"
    enabled.mkdir()
    (enabled / "panic-edge-display@old.service").symlink_to("/etc/systemd/system/panic-edge-display@.service")
    capsys.readouterr()
    assert main(["uninstall", "--root", str(root), "--config", "/etc/panic-edge/panic-edge.toml"]) == 0
    out = capsys.readouterr().out
    assert not list((root / "etc/systemd/system").glob("panic-edge*"))
    assert not (root / "etc/sysusers.d/panic-edge.conf").exists()
    assert "would run: systemctl disable --now panic-edge-display@old.service panic-edge.service" in out
    assert (root / "etc/panic-edge/panic-edge.toml").exists() and (root / "etc/panic-edge/credentials/replicate").exists()
    assert (root / "var/lib/panic-edge").is_dir()


def test_install_refuses_a_missing_config_and_node_options_the_command_does_not_take(tmp_path, capsys):
    assert main(["install", "--root", str(tmp_path), "--config", "/etc/panic-edge/none.toml"]) == 2
    assert "there is no config file at /etc/panic-edge/none.toml: copy config/panic-edge.toml" in capsys.readouterr().err
    root = root_with_config(tmp_path, text='[nodes.lobby]\nkind = "display"\nargs = ["--gird", "2x2"]\n')
    assert main(["install", "--root", str(root), "--config", "/etc/panic-edge/panic-edge.toml"]) == 2
    err = capsys.readouterr().err
    assert "nodes.lobby.args" in err and "--gird" in err
    assert not (root / "etc/systemd").exists()


def test_a_node_command_names_a_missing_or_mismatched_table(tmp_path, capsys):
    config = root_with_config(tmp_path) / "etc/panic-edge/panic-edge.toml"
    assert main(["speaker", "--config", str(config), "--node", "lobby"]) == 2
    assert "[nodes.lobby] is a display node, not a speaker node" in capsys.readouterr().err
    assert main(["display", "--config", str(config), "--node", "attic"]) == 2
    assert "there is no [nodes.attic] table" in capsys.readouterr().err


def test_a_screen_tells_systemd_it_is_ready_and_pings_the_watchdog_from_its_frame_loop(config, tmp_path):
    """What WatchdogSec= in panic-edge-display@.service relies on: a frozen frame loop stops the pings."""
    pytest.importorskip("systemd.daemon", reason="systemd-python is Linux-only and optional")
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(15)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANIC_EDGE_")}
    env.update(PANIC_EDGE_MQTT_URL=config.mqtt.url, PANIC_EDGE_APPLIANCE_ID=config.appliance_id,
               SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", NOTIFY_SOCKET=str(path), WATCHDOG_USEC="200000")
    node = subprocess.Popen([sys.executable, "-m", "panic_edge", "display", "--windowed", "--size", "160x90",
                             "--node-id", f"test-watchdog-{os.getpid()}", "--exit-after", "20"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        seen: list[str] = []
        while sum("WATCHDOG=1" in s for s in seen) < 3:
            seen.append(sock.recv(4096).decode())
        assert "READY=1" in seen[0]
    finally:
        node.terminate()
        node.wait(15)
        sock.close()


def test_a_data_dir_of_its_own_is_writable_and_one_in_a_home_is_not_hidden():
    from panic_edge.install.plan import Target, install_plan

    target = Target("systemd", False, Path("/root"), Path("/opt/panic-edge/.venv/bin/panic-edge"),
                    Path("/etc/panic-edge/panic-edge.toml"))
    for data_dir, writable, home in ((Path("/var/lib/panic-edge"), None, "yes"),
                                     (Path("/srv/panic"), "/srv/panic", "yes"),
                                     (Path("/home/pi/panic-data"), "/home/pi/panic-data", "no")):
        plan = install_plan(target, {}, data_dir=data_dir)
        unit = next(data for path, data, _ in plan.writes if path.name == "panic-edge.service").decode()
        assert (f"ReadWritePaths=-{writable}" in unit) == (writable is not None) and f"ProtectHome={home}\n" in unit
        assert any("chown" in note for note in plan.notes) == (writable is not None)
