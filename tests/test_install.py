"""`panic-edge install` / `uninstall` under --root: every unit passes systemd's own verifier, every
launchd agent parses and names a program that exists, uninstall takes back what install wrote."""

from __future__ import annotations

import json
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
SYSTEMCTL = shutil.which("systemctl")
needs_systemctl = pytest.mark.skipif(SYSTEMCTL is None, reason="systemctl is not installed (the systemd package)")
UNIT_DIR = "etc/systemd/system"
WANTS = f"{UNIT_DIR}/multi-user.target.wants"


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


def unit_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def links(folder: Path) -> dict[str, str]:
    """The enabling links in ``folder`` (a ``*.wants`` folder): name -> what it points at."""
    return {p.name: os.readlink(p) for p in folder.iterdir()} if folder.is_dir() else {}


def is_enabled(root: Path, *units: str) -> list[str]:
    """What systemd's own systemctl says of the units in the tree at ``root`` (offline: --root)."""
    result = subprocess.run([SYSTEMCTL, f"--root={root}", "is-enabled", *units], check=False,  # type: ignore[list-item]
                            capture_output=True, text=True, timeout=60)
    return [line.strip() for line in result.stdout.splitlines()]


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
    unit_dir = root / UNIT_DIR
    assert unit_files(unit_dir) == [
        "panic-edge-display@.service", "panic-edge-speaker@.service", "panic-edge-vestaboard@.service",
        "panic-edge.service"]
    verify(unit_dir, ["panic-edge.service", *NODES])
    # enabled as `systemctl enable` does it: a link per unit in the target's .wants folder
    assert links(root / WANTS) == {
        "panic-edge.service": "/etc/systemd/system/panic-edge.service",
        "panic-edge-display@lobby.service": "/etc/systemd/system/panic-edge-display@.service",
        "panic-edge-speaker@hall.service": "/etc/systemd/system/panic-edge-speaker@.service",
        "panic-edge-vestaboard@board.service": "/etc/systemd/system/panic-edge-vestaboard@.service"}
    assert "enabled panic-edge-display@lobby.service: /etc/systemd/system/multi-user.target.wants/" in out
    # nothing ran; what would have is printed
    assert f"would run: systemctl restart panic-edge.service {' '.join(sorted(NODES))}" in out
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
    assert unit_files(unit_dir) == [
        "panic-edge-display@.service", "panic-edge-speaker@.service", "panic-edge-vestaboard@.service"]
    verify(unit_dir, NODES, user=True, tmp=tmp_path)
    display = (unit_dir / "panic-edge-display@.service").read_text()
    assert "User=" not in display and "TTYPath" not in display and "WantedBy=default.target" in display
    assert not (root / "etc").exists()
    assert sorted(links(unit_dir / "default.target.wants")) == sorted(NODES)
    assert "would run: systemctl --user restart" in capsys.readouterr().out


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


def test_a_launchd_agent_finds_the_keys_in_the_credentials_folder_and_homebrew_on_its_path(tmp_path, monkeypatch):
    """launchd starts an agent with nothing but the plist's environment: the keys install keeps in
    ~/.config/panic-edge/credentials must reach it as systemd's LoadCredential= reaches a unit."""
    home = tmp_path / "Users" / "gallery"
    monkeypatch.setenv("HOME", str(home))
    root = root_with_config(tmp_path, str(home.relative_to("/") / ".config/panic-edge"))
    assert main(["install", "--root", str(root), "--init", "launchd"]) == 0
    agent = root / home.relative_to("/") / "Library/LaunchAgents/org.panic-edge.daemon.plist"
    body = plistlib.loads(agent.read_bytes())
    env = body["EnvironmentVariables"]
    assert env["CREDENTIALS_DIRECTORY"] == str(home / ".config/panic-edge/credentials")
    path = env["PATH"].split(":")
    assert path.index("/opt/homebrew/bin") < path.index("/usr/bin") and "/usr/local/bin" in path  # espeak-ng
    program, _run, *options = body["ProgramArguments"]
    # the program, with the agent's environment and nothing else (as launchd starts it; under --root the
    # folders are inside the root), asked which platforms it has keys for
    on_root = {k: str(root / Path(v).relative_to("/")) if k == "CREDENTIALS_DIRECTORY" else v for k, v in env.items()}
    config = str(root / Path(options[options.index("--config") + 1]).relative_to("/"))

    def models(environment):
        result = subprocess.run([program, "models", "--json", "--config", config], env=environment, check=True,
                                capture_output=True, text=True, timeout=60)
        return {m["platform"]: m["available"] for m in json.loads(result.stdout)}

    assert models(on_root)["replicate"] is True  # the key from credentials/replicate
    assert models({k: v for k, v in on_root.items() if k != "CREDENTIALS_DIRECTORY"})["replicate"] is False


def test_installing_again_after_nodes_left_the_config_takes_them_out(tmp_path, capsys):
    """A node removed from the config would restart every 5 s forever (no [nodes.board] table), and a
    renamed screen would fight the new one for tty1: installing again stops, disables and removes them."""
    root = root_with_config(tmp_path)
    config = ["--root", str(root), "--config", "/etc/panic-edge/panic-edge.toml"]
    assert main(["install", *config]) == 0
    (root / "etc/panic-edge/panic-edge.toml").write_text(
        CONFIG.replace("[nodes.lobby]", "[nodes.foyer]").partition("[nodes.board]")[0])  # renamed; board gone
    capsys.readouterr()
    assert main(["install", *config]) == 0
    out = capsys.readouterr().out
    assert links(root / WANTS) == {
        "panic-edge.service": "/etc/systemd/system/panic-edge.service",
        "panic-edge-display@foyer.service": "/etc/systemd/system/panic-edge-display@.service",
        "panic-edge-speaker@hall.service": "/etc/systemd/system/panic-edge-speaker@.service"}
    assert unit_files(root / UNIT_DIR) == ["panic-edge-display@.service", "panic-edge-speaker@.service",
                                           "panic-edge.service"]  # no Vestaboard left: its template goes too
    stop = "would run: systemctl disable --now panic-edge-display@lobby.service panic-edge-vestaboard@board.service"
    assert stop in out and out.index(stop) < out.index("would run: systemctl restart")  # tty1 is free first
    for gone in (f"/{WANTS}/panic-edge-display@lobby.service", f"/{WANTS}/panic-edge-vestaboard@board.service",
                 f"/{UNIT_DIR}/panic-edge-vestaboard@.service"):
        assert f"removed {gone}\n" in out
    assert ("note: no longer in the config, so stopped, disabled and removed: panic-edge-display@lobby.service, "
            "panic-edge-vestaboard@board.service (the config and the data stay)") in out
    assert (root / "etc/panic-edge/credentials/vestaboard-key").exists()
    capsys.readouterr()
    assert main(["install", *config]) == 0  # and again: nothing more to take out
    assert "removed" not in capsys.readouterr().out


def test_installing_again_unloads_and_removes_the_agent_of_a_node_that_left(tmp_path, monkeypatch, capsys):
    home = tmp_path / "Users" / "gallery"
    monkeypatch.setenv("HOME", str(home))
    root = root_with_config(tmp_path, str(home.relative_to("/") / ".config/panic-edge"))
    assert main(["install", "--root", str(root), "--init", "launchd"]) == 0
    (root / home.relative_to("/") / ".config/panic-edge/panic-edge.toml").write_text(CONFIG.partition("[nodes.hall]")[0])
    capsys.readouterr()
    assert main(["install", "--root", str(root), "--init", "launchd"]) == 0
    out = capsys.readouterr().out
    agents = root / home.relative_to("/") / "Library/LaunchAgents"
    assert unit_files(agents) == ["org.panic-edge.daemon.plist", "org.panic-edge.display.lobby.plist"]
    uid = os.getuid()
    for label in ("org.panic-edge.speaker.hall", "org.panic-edge.vestaboard.board"):
        assert f"would run: launchctl bootout gui/{uid}/{label}\n" in out
        assert f"removed {home}/Library/LaunchAgents/{label}.plist" in out


@needs_systemctl
def test_install_enables_every_unit_in_the_tree_and_uninstall_takes_it_all_back(tmp_path, capsys):
    root = root_with_config(tmp_path)
    (root / "var/lib/panic-edge").mkdir(parents=True)
    config = ["--root", str(root), "--config", "/etc/panic-edge/panic-edge.toml"]
    assert main(["install", *config]) == 0
    assert is_enabled(root, "panic-edge.service", *NODES) == ["enabled"] * 4  # systemd's own reading
    old = root / WANTS / "panic-edge-display@old.service"  # left by hand, or by a version before reconciling
    old.symlink_to("/etc/systemd/system/panic-edge-display@.service")
    capsys.readouterr()
    assert main(["uninstall", *config]) == 0
    out = capsys.readouterr().out
    assert not list((root / UNIT_DIR).glob("panic-edge*")) and not links(root / WANTS)
    assert f"removed /{WANTS}/panic-edge-display@lobby.service" in out
    assert not (root / "etc/sysusers.d/panic-edge.conf").exists()
    assert ("would run: systemctl disable --now panic-edge-display@lobby.service panic-edge-display@old.service "
            "panic-edge-speaker@hall.service panic-edge-vestaboard@board.service panic-edge.service") in out
    assert is_enabled(root, "panic-edge.service") == []  # no such unit any more (systemctl says so on stderr)
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


def test_a_reel_the_service_could_not_read_is_refused_with_where_to_put_it(tmp_path, capsys):
    """ProtectHome=yes hides /home from a system unit: a reel kept there would never play."""
    root = root_with_config(tmp_path, text=CONFIG.replace("/var/lib/panic-edge/reel.mp4", "/home/pi/reel.mp4"))
    assert main(["install", "--root", str(root), "--config", "/etc/panic-edge/panic-edge.toml"]) == 2
    err = capsys.readouterr().err
    assert ("nodes.lobby.args: --reel /home/pi/reel.mp4: the service cannot see home folders (ProtectHome=yes); "
            "put it in /var/lib/panic-edge/, e.g. /var/lib/panic-edge/reel.mp4") in err
    assert not (root / "etc/systemd").exists()  # refused before anything is written


@pytest.mark.parametrize("option, path, home, problem", [
    ("--reel", "/var/lib/panic-edge/reel.mp4", "yes", None),
    ("--reel", "/opt/reels/opening.mp4", "yes", None),                  # read-only everywhere, but readable
    ("--reel", "/home/pi/reel.mp4", "read-only", None),                 # the venv is in a home: not hidden
    ("--reel", "/home/pi/reel.mp4", "yes", "cannot see home folders (ProtectHome=yes)"),
    ("--reel", "/root/reel.mp4", "yes", "cannot see home folders"),
    ("--reel", "/var/lib/panic-edge/../../../home/pi/r.mp4", "yes", "cannot see home folders"),
    ("--reel", "/tmp/reel.mp4", "no", "an empty /tmp of its own (PrivateTmp=yes)"),
    ("--reel", "/var/tmp/reel.mp4", "yes", "PrivateTmp=yes"),
    ("--reel", "reel.mp4", "yes", "give the full path"),
    ("--screenshot", "/var/lib/panic-edge/shots/lobby.png", "yes", None),
    ("--screenshot", "/srv/lobby.png", "yes", "may write only in /var/lib/panic-edge (ProtectSystem=strict)"),
    ("--screenshot", "/home/pi/lobby.png", "read-only", "may write only in /var/lib/panic-edge"),
    ("--screenshot", "/home/pi/lobby.png", "no", "may write only in"),  # the daemon's data dir is, not a node's
])
def test_what_a_system_unit_can_reach(option, path, home, problem):
    from pathlib import PurePosixPath

    from panic_edge.install.reach import NodeFile, problems

    found = problems([NodeFile("lobby", option, PurePosixPath(path), writes=option == "--screenshot")],
                     hardened=True, protect_home=home, state_dir=PurePosixPath("/var/lib/panic-edge"))
    assert (problem is None and not found) or (len(found) == 1 and problem in found[0]), found


def test_a_user_service_reads_its_reel_where_its_user_can(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home" / "pi"
    monkeypatch.setenv("HOME", str(home))
    reel = home / "reel.mp4"
    root = root_with_config(tmp_path, str(home.relative_to("/") / ".config/panic-edge"),
                            text=CONFIG.replace("/var/lib/panic-edge/reel.mp4", str(reel)))
    assert main(["install", "--root", str(root), "--user"]) == 0
    assert f"--reel {reel} does not exist yet; make it with `panic-edge record {reel}`" in capsys.readouterr().out


def test_the_install_output_in_the_operations_page_is_what_install_prints(tmp_path, capsys):
    """docs/operations.md shows a technician what install prints for its example config: run that
    config and compare, so the page cannot drift from the program."""
    import importlib.util
    import re

    page = (Path(__file__).resolve().parent.parent / "docs" / "operations.md").read_text()
    install_section = page.split("## Install on a Raspberry Pi", 1)[1].split("\n## ", 1)[0]
    config = re.search(r"```toml\n(.*?)```", install_section, re.S).group(1)
    first, second, refused = re.findall(r"```text\n(.*?)```", install_section, re.S)[:3]
    root = root_with_config(tmp_path, text=config)
    (root / "etc/panic-edge/credentials/vestaboard-key").unlink()
    args = ["install", "--root", str(root), "--config", "/etc/panic-edge/panic-edge.toml"]
    capsys.readouterr()
    assert main(args) == 0
    printed = capsys.readouterr().out.splitlines()
    if importlib.util.find_spec("systemd") is None:  # the page shows a machine with systemd-python
        printed = [line for line in printed if not line.startswith("note: systemd-python")]
    assert printed == first.splitlines()

    toml = root / "etc/panic-edge/panic-edge.toml"
    toml.write_text(config.replace("[nodes.lobby]", "[nodes.foyer]").split("[nodes.hall]", 1)[0])
    assert main(args) == 0
    printed = capsys.readouterr().out.splitlines()
    assert all(line in printed for line in second.splitlines()), printed

    toml.write_text(config.replace("/var/lib/panic-edge/reel.mp4", "/home/pi/reel.mp4"))
    assert main(args) == 2
    assert capsys.readouterr().err.splitlines() == refused.splitlines()
