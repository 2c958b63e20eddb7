"""What ``panic-edge install`` and ``uninstall`` do, as a plan: files to write or remove and commands
to run. Pure: the shell (``panic_edge.install``) looks at the machine, then carries the plan out.

Where things go:

| init | files | enabled with |
|---|---|---|
| systemd (system) | /etc/systemd/system/, /etc/sysusers.d/panic-edge.conf | a link in multi-user.target.wants/; restart |
| systemd --user | ~/.config/systemd/user/ | a link in default.target.wants/; systemctl --user restart |
| launchd (macOS) | ~/Library/LaunchAgents/org.panic-edge.*.plist; logs ~/Library/Logs/panic-edge/ | launchctl bootstrap |

The links (what ``systemctl enable`` makes) are written by the plan itself, so ``--root DIR`` leaves a
tree that boots with everything enabled (packaging), and the tests can see them. Installing again
reconciles: a node the config no longer names is stopped, disabled and removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from panic_edge.errors import ConfigError
from panic_edge.install import reach, units
from panic_edge.install.reach import NodeFile
from panic_edge.install.units import KINDS, UnitSettings

PREFIX = "panic-edge"
SYSUSERS = Path("/etc/sysusers.d/panic-edge.conf")
STATE_DIR = Path("/var/lib/panic-edge")  # StateDirectory=panic-edge


@dataclass(frozen=True)
class Target:
    """The machine's side of the plan: which init system, whose services, which files."""

    init: str                    # "systemd" or "launchd"
    user: bool                   # per-user services (always so with launchd)
    home: Path
    exe: Path
    config: Path
    uid: int = 0
    daemon: bool = True          # this machine runs the daemon (a screen-only Pi does not)
    notify: bool = True          # systemd-python is installed
    docs: str = "file:///opt/panic-edge/docs/operations.md"

    @property
    def unit_dir(self) -> Path:
        if self.init == "launchd":
            return self.home / "Library" / "LaunchAgents"
        return self.home / ".config" / "systemd" / "user" if self.user else Path("/etc/systemd/system")

    @property
    def credentials_dir(self) -> Path:
        return self.config.parent / "credentials"

    @property
    def log_dir(self) -> Path:
        return self.home / "Library" / "Logs" / "panic-edge"

    def systemctl(self, *args: str) -> tuple[str, ...]:
        return ("systemctl", "--user", *args) if self.user else ("systemctl", *args)


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    check: bool = True           # a failure stops the install (False: it is reported and skipped)


@dataclass(frozen=True)
class Plan:
    writes: tuple[tuple[Path, bytes, int], ...] = ()   # (path, content, mode)
    dirs: tuple[tuple[Path, int], ...] = ()            # made if missing, with this mode
    removes: tuple[Path, ...] = ()
    commands: tuple[Command, ...] = ()
    services: tuple[str, ...] = ()                     # units or launchd labels enabled / disabled
    then: tuple[Command, ...] = ()                     # run after the removes
    notes: tuple[str, ...] = field(default=())
    links: tuple[tuple[Path, Path], ...] = ()          # (symlink, what it points at): how a unit is enabled


def _in_home(path: Path) -> bool:
    return reach.in_home(PurePosixPath(path))


def unit_settings(target: Target, credentials: Iterable[str] = (), read_write: Iterable[Path] = ()) -> UnitSettings:
    read_write = tuple(read_write)
    if any(_in_home(p) for p in read_write):
        protect_home = "no"  # a data dir or networks folder in a home: reachable, so not protected
    else:
        protect_home = "read-only" if _in_home(target.exe) or _in_home(target.config) else "yes"
    return UnitSettings(target.exe, target.config, user_mode=target.user, notify=target.notify,
                        credentials=tuple((c, target.credentials_dir / c) for c in sorted(credentials)),
                        read_write=read_write, protect_home=protect_home, docs=target.docs)


def install_plan(target: Target, nodes: Mapping[str, str], *, credentials: Iterable[str] = (),
                 networks_dir: Path | None = None, data_dir: Path | None = STATE_DIR,
                 installed: Iterable[str] = (), enabled: Iterable[str] = (), files: Iterable[NodeFile] = ()) -> Plan:
    """``nodes``: name -> kind, from the config's ``[nodes.<name>]`` tables; ``data_dir``: the one the
    config sets (None: it sets none, so a system daemon uses its StateDirectory). ``installed`` and
    ``enabled`` are what an earlier install left (as for ``uninstall_plan``): a node that is no longer
    in the config is stopped, disabled and removed, so it does not restart forever without its table
    (nor a renamed screen fight the new one for the console). ``files``: the files the nodes' options
    name; one the service could not reach is refused (``reach.py``), raising ConfigError."""
    installed, enabled = tuple(installed), tuple(enabled)
    notes: list[str] = []
    if not target.daemon and not nodes:
        notes.append("nothing to install: --no-daemon and no [nodes.<name>] tables in the config")
    writable = [networks_dir] if networks_dir else []
    own_data_dir = data_dir if data_dir is not None and data_dir != STATE_DIR and not target.user else None
    if own_data_dir is not None:
        writable.append(own_data_dir)
    settings = unit_settings(target, credentials, writable)
    hardened = target.init == "systemd" and not target.user
    unreachable = reach.problems(files, hardened=hardened, protect_home=settings.protect_home,
                                 state_dir=PurePosixPath(STATE_DIR))
    if unreachable:
        raise ConfigError("\n".join(unreachable))
    if target.init == "launchd":
        return _launchd_install(target, nodes, notes, installed)
    if own_data_dir is not None:
        notes.append(f"data_dir is {data_dir}, not {STATE_DIR}: the daemon may write there; make sure the "
                     f"panic user owns it (sudo chown -R panic:panic {data_dir})")
    writes: list[tuple[Path, bytes, int]] = []
    services: list[str] = []
    if target.daemon:
        writes.append((target.unit_dir / f"{PREFIX}.service", units.daemon_unit(settings).encode(), 0o644))
        services.append(f"{PREFIX}.service")
    elif f"{PREFIX}.service" in installed:
        notes.append(f"{PREFIX}.service from an earlier install is left as it is (--no-daemon does not take "
                     f"the daemon out: `panic-edge uninstall` does, or `systemctl disable --now {PREFIX}`)")
    for kind in KINDS:
        names = sorted(n for n, k in nodes.items() if k == kind)
        if names:
            writes.append((target.unit_dir / f"{PREFIX}-{kind}@.service",
                           units.node_unit(kind, settings).encode(), 0o644))
            services += [f"{PREFIX}-{kind}@{name}.service" for name in names]
    wants = target.unit_dir / f"{units.wanted_by(target.user)}.wants"
    links = tuple((wants / service, target.unit_dir / unit_file(service)) for service in services)
    dropped, removes = _leftovers(target, services, {path.name for path, _, _ in writes}, installed, enabled)
    commands: list[Command] = []
    if not target.user:
        writes.insert(0, (SYSUSERS, units.sysusers().encode(), 0o644))
        commands.append(Command(("systemd-sysusers", str(SYSUSERS))))
        if sum(1 for k in nodes.values() if k == "display") > 1:
            notes.append("more than one display node: only one can own the Pi console (tty1) and its "
                         "screen (KMS/DRM); run the others on their own machines or as --user services")
        if data_dir is None:
            notes.append(f"the config sets no data_dir: the daemon uses {STATE_DIR}; set data_dir = "
                         f"\"{STATE_DIR}\" in {target.config} so commands typed by hand "
                         f"(backup, record) find the same data")
    else:
        notes.append("user services start at login; `loginctl enable-linger` starts them at boot")
    if dropped:
        # stopped before the others restart: a renamed screen's old instance lets go of the console first
        commands.append(Command(target.systemctl("disable", "--now", *dropped), check=False))
        notes.append(f"no longer in the config, so stopped, disabled and removed: {', '.join(dropped)} "
                     f"(the config and the data stay)")
    if services or removes:
        commands.append(Command(target.systemctl("daemon-reload")))
    if services:
        commands.append(Command(target.systemctl("restart", *services)))
    if not target.notify:
        notes.append("systemd-python is not installed: the services have no readiness or watchdog "
                     "(pip install 'panic-edge[systemd]', then install again)")
    then = (Command(target.systemctl("daemon-reload"), check=False),) if removes else ()
    return Plan(writes=tuple(writes), dirs=((target.credentials_dir, 0o700),), removes=tuple(removes),
                commands=tuple(commands), services=tuple(services), then=then, notes=tuple(notes), links=links)


def _leftovers(target: Target, services: list[str], written: set[str], installed: tuple[str, ...],
               enabled: tuple[str, ...]) -> tuple[list[str], list[Path]]:
    """What an earlier install left that this one does not write: the node instances it enabled
    that the config no longer names (to disable, and their links), and the templates no node uses
    any more. The daemon is never among them (--no-daemon leaves it, with a note)."""
    dropped = sorted({Path(link).name for link in enabled if "@" in link} - set(services))
    removes = [target.unit_dir / link for link in sorted(enabled) if Path(link).name in dropped]
    removes += [target.unit_dir / name for name in sorted(installed)
                if name.endswith("@.service") and name not in written]
    return dropped, removes


def unit_file(service: str) -> str:
    """The file a unit is loaded from: a template's instance (``panic-edge-display@lobby.service``)
    from the template (``panic-edge-display@.service``)."""
    name, at, _ = service.partition("@")
    return f"{name}@.service" if at else service


def _launchd_install(target: Target, nodes: Mapping[str, str], notes: list[str], installed: Iterable[str]) -> Plan:
    agents = ([("daemon", "")] if target.daemon else []) + sorted((k, n) for n, k in nodes.items())
    writes, commands, labels = [], [], []
    for kind, name in agents:
        label = units.launchd_label(kind, name)
        path = target.unit_dir / f"{label}.plist"
        writes.append((path, units.launchd_plist(kind, name, target.exe, target.config, target.log_dir,
                                                 target.credentials_dir), 0o644))
        labels.append(label)
        commands += [Command(("launchctl", "bootout", f"gui/{target.uid}/{label}"), check=False),
                     Command(("launchctl", "bootstrap", f"gui/{target.uid}", str(path)))]
    # an agent of a node the config no longer names: unloaded and removed (its log stays)
    dropped = sorted(n.removesuffix(".plist") for n in installed
                     if n.endswith(".plist") and n.startswith("org.panic-edge.") and n != "org.panic-edge.daemon.plist"
                     and n.removesuffix(".plist") not in labels)
    commands = [Command(("launchctl", "bootout", f"gui/{target.uid}/{label}"), check=False)
                for label in dropped] + commands
    if dropped:
        notes.append(f"no longer in the config, so unloaded and removed: {', '.join(dropped)} "
                     f"(the config, the data and the logs stay)")
    return Plan(writes=tuple(writes), dirs=((target.log_dir, 0o755), (target.credentials_dir, 0o700)),
                removes=tuple(target.unit_dir / f"{label}.plist" for label in dropped), commands=tuple(commands),
                services=tuple(labels), notes=tuple(notes))


def uninstall_plan(target: Target, installed: Iterable[str], enabled: Iterable[str] = ()) -> Plan:
    """``installed``: the file names of ours found in the unit folder; ``enabled``: the links of ours
    found in its ``*.wants`` folders, relative to it (``multi-user.target.wants/panic-edge.service``)."""
    ours = sorted(n for n in installed if n.startswith((PREFIX, "org.panic-edge.")))
    enabled = sorted(enabled)
    notes = (f"kept: the config ({target.config}), its credentials folder and the data",)
    if target.init == "launchd":
        labels = [n.removesuffix(".plist") for n in ours if n.endswith(".plist")]
        commands = tuple(Command(("launchctl", "bootout", f"gui/{target.uid}/{label}"), check=False)
                         for label in labels)
        return Plan(removes=tuple(target.unit_dir / n for n in ours), commands=commands, services=tuple(labels),
                    notes=notes)
    services = sorted({Path(link).name for link in enabled}
                      | {n for n in ours if n.endswith(".service") and not n.endswith("@.service")})
    disable = (Command(target.systemctl("disable", "--now", *services), check=False),) if services else ()
    removes = [target.unit_dir / link for link in enabled] + [target.unit_dir / n for n in ours]
    if not target.user:
        removes.append(SYSUSERS)
    return Plan(removes=tuple(removes), commands=disable, services=tuple(services),
                then=(Command(target.systemctl("daemon-reload"), check=False),), notes=notes)
