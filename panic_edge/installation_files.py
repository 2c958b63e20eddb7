"""Where installations are kept: the config's ``[[installations]]``, or the admin page's edits.

The config file is read-only to the daemon under systemd (``ProtectSystem=strict``), so the admin
page writes its edits (a switched network, a screen added) to ``<data_dir>/installations.toml``,
in the same ``[[installations]]`` form. Once that file exists it is what the daemon uses; delete
it (or press "Back to the config file" on the admin page) to return to the config's.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from panic_edge.core.installation import Installation, check_unique, parse_installation
from panic_edge.errors import ConfigError
from panic_edge.network_files import write_atomically

FILE_NAME = "installations.toml"


@dataclass(frozen=True)
class LoadedInstallations:
    installations: tuple[Installation, ...]
    source: str  # "config" or the path of the admin page's file
    problem: str | None = None  # why the admin page's file was not used


def installations_path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def read_installations(path: Path) -> tuple[Installation, ...]:
    """The installations in ``path``. Raises ConfigError naming the file and the key."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"installations file {path}: cannot read it: {err}") from None
    items = raw.get("installations", [])
    extra = sorted(set(raw) - {"installations"})
    if extra or not isinstance(items, list):
        raise ConfigError(f"installations file {path}: only [[installations]] tables belong here, not "
                          f"{', '.join(extra) or 'installations = ' + type(items).__name__}")
    try:
        found = tuple(parse_installation(item) for item in items)
    except ConfigError as err:
        raise ConfigError(f"installations file {path}: {err}") from None
    problems = check_unique(found)
    if problems:
        raise ConfigError(f"installations file {path}: " + "; ".join(problems))
    return found


def load_installations(config_installations: tuple[Installation, ...], data_dir: Path) -> LoadedInstallations:
    """The admin page's file if there is one and it reads, else the config's ``[[installations]]``."""
    path = installations_path(data_dir)
    if not path.exists():
        return LoadedInstallations(config_installations, "config")
    try:
        return LoadedInstallations(read_installations(path), str(path))
    except ConfigError as err:
        return LoadedInstallations(config_installations, "config", str(err))


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    # JSON escapes every control character TOML forbids but DEL
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


def installations_toml(installations: tuple[Installation, ...]) -> str:
    """The text of an installations file; it reads back as the same installations."""
    lines = ["# written by the panic-edge admin page; delete this file to use the config's [[installations]]"]
    for inst in installations:
        lines += ["", "[[installations]]", f"name = {_value(inst.name)}", f"network = {_value(inst.network)}"]
        for screen in inst.screens:
            lines += ["", "[[installations.screens]]"]
            fields = screen.model_dump(exclude_none=True)
            ordered = {"name": fields.pop("name"), "kind": fields.pop("kind"), **fields}
            lines += [f"{key} = {_value(value)}" for key, value in ordered.items()]
    return "\n".join(lines) + "\n"


def write_installations(data_dir: Path, installations: tuple[Installation, ...]) -> Path:
    """Write the admin page's file atomically (a reader never sees half of it)."""
    problems = check_unique(installations)
    if problems:
        raise ConfigError("; ".join(problems))
    return write_atomically(installations_path(data_dir), installations_toml(installations))
