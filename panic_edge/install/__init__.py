"""``panic-edge install`` / ``uninstall``: the services for what this machine runs.

This is the shell: it looks at the machine (the config, the credentials folder, what is already
installed), asks ``plan`` what to do, then writes the files, the links that enable the units, and
runs the commands. With ``root`` it writes (and links, and removes) under that folder as if it were
``/`` and runs nothing (packaging, tests): it prints the commands it would have run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from panic_edge.config import Config, load_config
from panic_edge.errors import ConfigError, InstallError
from panic_edge.install.plan import Command, Plan, Target, install_plan, uninstall_plan
from panic_edge.install.reach import FILE_OPTIONS, NodeFile

SYSTEM_CONFIG = Path("/etc/panic-edge/panic-edge.toml")
CREDENTIAL_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class Options:
    root: Path | None = None
    user: bool = False
    init: str | None = None          # None: launchd on macOS, systemd elsewhere
    config: Path | None = None
    daemon: bool = True


def default_exe() -> Path:
    """The panic-edge beside this Python (the virtualenv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("panic-edge")
    if beside.exists():
        return beside.absolute()
    import shutil

    found = shutil.which("panic-edge")
    if found is None:
        raise InstallError("cannot find the panic-edge executable; run install from the virtualenv "
                           "(.venv/bin/panic-edge install)")
    return Path(found).absolute()


def _docs() -> str:
    page = Path(__file__).resolve().parent.parent.parent / "docs" / "operations.md"
    return page.as_uri() if page.exists() else "file:///opt/panic-edge/docs/operations.md"


def target_for(options: Options) -> Target:
    init = options.init or ("launchd" if sys.platform == "darwin" else "systemd")
    user = options.user or init == "launchd"
    home = Path.home()
    env_config = os.environ.get("PANIC_EDGE_CONFIG")
    config = options.config or (Path(env_config) if env_config else None) or (
        home / ".config" / "panic-edge" / "panic-edge.toml" if user else SYSTEM_CONFIG)
    notify = init == "systemd" and importlib.util.find_spec("systemd") is not None
    return Target(init, user, home, default_exe(), Path(os.path.abspath(config)), uid=os.getuid(),
                  daemon=options.daemon, notify=notify, docs=_docs())


def _on_root(root: Path | None, path: Path) -> Path:
    return path if root is None else root / path.relative_to(path.anchor)


def _read_config(target: Target, root: Path | None) -> tuple[Config, Path | None]:
    source = _on_root(root, target.config)
    if not source.exists() and root is not None and target.config.exists():
        source = target.config
    if not source.exists():
        raise InstallError(f"there is no config file at {target.config}: copy config/panic-edge.toml there "
                           f"(set appliance_id, mqtt.url and a [nodes.<name>] table per node this machine "
                           f"runs), then install again, or name one with --config FILE")
    config = load_config(source, {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"})
    data_dir_set = "data_dir" in tomllib.loads(source.read_text(encoding="utf-8")) or "PANIC_EDGE_DATA_DIR" in os.environ
    if root is not None and config.networks_dir is not None and config.networks_dir.is_relative_to(root):
        config = config.model_copy(update={"networks_dir": Path("/") / config.networks_dir.relative_to(root)})
    return config, config.data_dir if data_dir_set else None


def node_options(config: Config) -> dict[str, argparse.Namespace]:
    """Every ``[nodes.<name>] args`` parsed as its command parses them; options it does not take
    raise ConfigError now, not at boot."""
    from panic_edge.cli import build_parser

    parsed = {}
    for name, node in config.nodes.items():
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                parsed[name] = build_parser().parse_args([node.kind, *node.args])
        except SystemExit:
            problem = (err.getvalue().strip().splitlines()[-1:] or ["bad options"])[0]
            raise ConfigError(f"nodes.{name}.args: {problem.partition('error: ')[2] or problem}") from None
    return parsed


def node_files(options: dict[str, argparse.Namespace]) -> list[NodeFile]:
    """The files the nodes' options name (a display's --reel, --screenshot)."""
    return [NodeFile(name, option, PurePosixPath(value), writes)
            for name, args in sorted(options.items())
            for dest, (option, writes) in FILE_OPTIONS.items() if (value := getattr(args, dest, None))]


def _credentials(target: Target, root: Path | None) -> list[str]:
    folder = _on_root(root, target.credentials_dir)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and CREDENTIAL_ID.match(p.name))


def _require_root(target: Target, root: Path | None) -> None:
    if root is None and target.init == "systemd" and not target.user and os.geteuid() != 0:
        raise InstallError("system services need root: run it with sudo, or add --user for services "
                           "of this user (a desktop session)")


def install(options: Options, say: Callable[[str], None] = print) -> Plan:
    target = target_for(options)
    _require_root(target, options.root)
    config, data_dir = _read_config(target, options.root)
    files = node_files(node_options(config))
    credentials = _credentials(target, options.root)
    installed, enabled = _installed(target, options.root)
    plan = install_plan(target, {n: node.kind for n, node in config.nodes.items()}, credentials=credentials,
                        networks_dir=config.networks_dir, data_dir=data_dir, installed=installed, enabled=enabled,
                        files=files)
    if credentials:
        say(f"credentials from {target.credentials_dir}: {', '.join(credentials)}")
    apply(plan, options.root, say)
    for file in files:
        if not file.writes and not _on_root(options.root, Path(file.path)).exists():
            say(f"note: nodes.{file.node}: {file.option} {file.path} does not exist yet; make it with "
                f"`panic-edge record {file.path}` (the screen stays live without it)")
    return plan


def _installed(target: Target, root: Path | None) -> tuple[list[str], list[str]]:
    """The files of ours in the unit folder, and the links of ours in its ``*.wants`` folders
    (relative to it): what an earlier install left."""
    folder = _on_root(root, target.unit_dir)
    if not folder.is_dir():
        return [], []
    mine = sorted(p.name for p in folder.iterdir()
                  if p.name.startswith(("panic-edge", "org.panic-edge.")) and (p.is_symlink() or p.is_file()))
    enabled = sorted(str(p.relative_to(folder)) for p in folder.glob("*.wants/panic-edge*.service"))
    return mine, enabled


def uninstall(options: Options, say: Callable[[str], None] = print) -> Plan:
    target = target_for(options)
    _require_root(target, options.root)
    plan = uninstall_plan(target, *_installed(target, options.root))
    apply(plan, options.root, say)
    return plan


def apply(plan: Plan, root: Path | None, say: Callable[[str], None] = print) -> None:
    """Carry the plan out: under ``root`` only the files (the commands are printed, not run)."""
    for path, mode in plan.dirs:
        where = _on_root(root, path)
        if not where.exists():
            where.mkdir(parents=True, mode=mode)
            say(f"made {path}/")
    for path, data, mode in plan.writes:
        where = _on_root(root, path)
        where.parent.mkdir(parents=True, exist_ok=True)
        tmp = where.with_name(where.name + ".tmp")
        tmp.write_bytes(data)
        tmp.chmod(mode)
        tmp.replace(where)
        say(f"wrote {path}")
    for link, points_at in plan.links:
        where = _on_root(root, link)
        where.parent.mkdir(parents=True, exist_ok=True)
        tmp = where.with_name(where.name + ".tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(points_at)
        tmp.replace(where)
        say(f"enabled {link.name}: {link}")
    _commands(plan.commands, root, say)
    for path in plan.removes:
        where = _on_root(root, path)
        if where.exists() or where.is_symlink():
            where.unlink()
            say(f"removed {path}")
    _commands(plan.then, root, say)
    for note in plan.notes:
        say(f"note: {note}")


def _commands(commands: tuple[Command, ...], root: Path | None, say: Callable[[str], None]) -> None:
    for command in commands:
        if root is not None:
            say(f"would run: {' '.join(command.argv)}")
        else:
            _run(command.argv, command.check, say)


def _run(argv: tuple[str, ...], check: bool, say: Callable[[str], None]) -> None:
    say(f"running: {' '.join(argv)}")
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        if check:
            raise InstallError(f"{argv[0]} could not run: {err}") from None
        say(f"  (skipped: {err})")
        return
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [f"exit {result.returncode}"]
        if check:
            raise InstallError(f"`{' '.join(argv)}` failed: {detail[0]}")
        say(f"  ({detail[0]})")
