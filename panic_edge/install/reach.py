"""Whether a node's service can reach the files its options name (a display's ``--reel`` and
``--screenshot``), under the hardening of the unit ``panic-edge install`` writes. Pure.

A system unit runs as the ``panic`` user with ``ProtectSystem=strict`` (everything read-only but
its ``StateDirectory``, ``/var/lib/panic-edge``), ``ProtectHome`` (home folders hidden, or read-only
when the program or the config lives in one) and ``PrivateTmp`` (an empty ``/tmp`` of its own). A
reel kept in ``/home/pi`` is simply not there for the service: the screen would log a warning at
start and stay live, and the night the daemon fails there would be nothing to show. So install
refuses such a path, before anything is written, and says where the file goes. The state folder is
the place for both: ``panic-edge record`` writes reels there, and a screen-only Pi has one too.

User services (``--user``) and launchd agents run as their user without these walls: only a
relative path is refused there (a service does not start in the folder install was typed in).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

FILE_OPTIONS = {"reel": ("--reel", False), "screenshot": ("--screenshot", True)}  # argparse dest -> option, writes
HOMES = (PurePosixPath("/home"), PurePosixPath("/root"), PurePosixPath("/run/user"))  # what ProtectHome= hides
PRIVATE_TMP = (PurePosixPath("/tmp"), PurePosixPath("/var/tmp"))  # what PrivateTmp= replaces


@dataclass(frozen=True)
class NodeFile:
    """A file named by a ``[nodes.<name>] args`` option."""

    node: str
    option: str                 # "--reel"
    path: PurePosixPath
    writes: bool = False        # the node writes it (a screenshot) rather than reads it


def _under(path: PurePosixPath, folders: Iterable[PurePosixPath]) -> bool:
    return any(path == folder or folder in path.parents for folder in folders)


def in_home(path: PurePosixPath) -> bool:
    """Whether ``path`` is in a folder ``ProtectHome=`` hides (its ``..`` resolved)."""
    return _under(_normal(path), HOMES)


def _normal(path: PurePosixPath) -> PurePosixPath:
    parts: list[str] = []
    for part in path.parts[1:]:
        if part == "..":
            parts = parts[:-1]
        elif part != ".":
            parts.append(part)
    return PurePosixPath("/", *parts)


def problems(files: Iterable[NodeFile], *, hardened: bool, protect_home: str, state_dir: PurePosixPath) -> list[str]:
    """One sentence per file the service could not reach, saying where to put it instead.
    ``hardened``: a system unit (``ProtectSystem=strict``, ``PrivateTmp``, ``ProtectHome=protect_home``)."""
    out = []
    for file in files:
        where = f"nodes.{file.node}.args: {file.option} {file.path}"
        instead = state_dir / file.path.name
        if not file.path.is_absolute():
            out.append(f"{where}: give the full path (a service does not start in this folder), e.g. {instead}")
            continue
        if not hardened:
            continue
        path = _normal(file.path)
        if _under(path, PRIVATE_TMP):
            reason = "the service has an empty /tmp of its own (PrivateTmp=yes)"
        elif in_home(path) and protect_home == "yes":
            reason = "the service cannot see home folders (ProtectHome=yes)"
        elif file.writes and not _under(path, (state_dir,)):  # (a node unit opens no other folder)
            reason = f"the service may write only in {state_dir} (ProtectSystem=strict)"
        else:
            continue
        how = ("" if file.writes else f" (`panic-edge record` writes there; or copy it: sudo install -o panic -g panic "
                                      f"-m 640 {file.path} {state_dir}/)")
        out.append(f"{where}: {reason}; put it in {state_dir}/, e.g. {instead}{how}")
    return out
