"""The service files ``panic-edge install`` writes, as text: systemd units, a sysusers.d file and
launchd property lists. Pure: every path and choice comes in as an argument.

- ``panic-edge.service``: the daemon (``Type=notify``, watchdog, ``StateDirectory``).
- ``panic-edge-<kind>@.service``: one template per node kind; the instance name is the node's
  name in the config (``[nodes.<name>]``), passed as ``--node %i``.
- On the Pi console a display node owns ``tty1`` and draws through KMS/DRM (``kmsdrm``).
- As system services everything runs as the ``panic`` user, made by ``sysusers.d`` with the
  groups the hardware needs (gpio, video, render, input, audio).
"""

from __future__ import annotations

import plistlib
from dataclasses import dataclass, replace
from pathlib import Path

KINDS = ("display", "speaker", "vestaboard")
USER = "panic"
GROUPS = ("gpio", "video", "render", "input", "audio")
HEADER = ("# Written by `panic-edge install`: change the config and run it again rather than editing this\n"
          "# file (`panic-edge uninstall` removes it). docs/operations.md explains every line.\n")
WATCHDOG_SEC = 30
# launchd's own PATH is /usr/bin:/bin:/usr/sbin:/sbin: Homebrew (Apple silicon, then Intel) goes first
LAUNCHD_PATH = ("/opt/homebrew/bin", "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin")


@dataclass(frozen=True)
class UnitSettings:
    """What every unit needs to know about the machine it is written for."""

    exe: Path                     # the panic-edge executable
    config: Path                  # the config file the services read
    user_mode: bool = False       # systemd --user units (a desktop session) instead of system ones
    notify: bool = True           # systemd-python is there: Type=notify and a watchdog
    credentials: tuple[tuple[str, Path], ...] = ()  # (id, file) for LoadCredential=
    read_write: tuple[Path, ...] = ()               # extra writable paths (the networks folder)
    protect_home: str = "yes"     # "read-only" when the venv or the config lives under /home
    docs: str = "file:///opt/panic-edge/docs/operations.md"


def quote(arg: str) -> str:
    """One word of an ExecStart= line: quoted when it has spaces or quotes, % doubled."""
    arg = arg.replace("%", "%%")
    if any(c.isspace() or c in "\"'\\;" for c in arg) or not arg:
        arg = '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return arg


def _exec(settings: UnitSettings, *args: str, instance: bool = False) -> str:
    words = [quote(str(settings.exe)), *(quote(a) for a in args), "--config", quote(str(settings.config))]
    if instance:
        words += ["--node", "%i"]  # the template's instance name: a [nodes.<name>] table
    return "ExecStart=" + " ".join(words)


def _lifecycle(settings: UnitSettings) -> list[str]:
    lines = ["Type=notify", "NotifyAccess=main", f"WatchdogSec={WATCHDOG_SEC}"] if settings.notify else [
        "Type=exec", "# no systemd-python: no readiness or watchdog (pip install 'panic-edge[systemd]')"]
    return [*lines, "Restart=always", "RestartSec=5", "TimeoutStopSec=15", "KillSignal=SIGTERM",
            "Environment=PYTHONUNBUFFERED=1"]


def _hardening(settings: UnitSettings) -> list[str]:
    if settings.user_mode:
        return ["NoNewPrivileges=yes"]
    lines = [f"User={USER}", f"Group={USER}",
             "# hardening that leaves GPIO, the screen, input devices and the data dir reachable",
             "NoNewPrivileges=yes", "ProtectSystem=strict", f"ProtectHome={settings.protect_home}",
             "PrivateTmp=yes", "ProtectKernelTunables=yes", "ProtectKernelModules=yes",
             "ProtectControlGroups=yes", "RestrictSUIDSGID=yes", "LockPersonality=yes"]
    lines += [f"ReadWritePaths=-{path}" for path in settings.read_write]
    return lines


def _credentials(settings: UnitSettings, wanted: set[str] | None = None) -> list[str]:
    return [f"LoadCredential={cid}:{path}" for cid, path in settings.credentials
            if wanted is None or cid in wanted]


def _environment_file(settings: UnitSettings) -> str:
    return f"EnvironmentFile=-{settings.config.parent / 'environment'}"


def wanted_by(user_mode: bool) -> str:
    """The target every unit is enabled into (its ``[Install] WantedBy=``)."""
    return "default.target" if user_mode else "multi-user.target"


def _install(settings: UnitSettings) -> list[str]:
    return ["", "[Install]", f"WantedBy={wanted_by(settings.user_mode)}"]


def daemon_unit(settings: UnitSettings) -> str:
    lines = [HEADER + "[Unit]", "Description=PANIC! appliance (panic-edge daemon)", f"Documentation={settings.docs}",
             "Wants=network-online.target mosquitto.service", "After=network-online.target mosquitto.service",
             "StartLimitIntervalSec=0", "", "[Service]", *_lifecycle(settings),
             _exec(settings, "run"), _environment_file(settings)]
    if not settings.user_mode:
        lines += ["# $STATE_DIRECTORY (/var/lib/panic-edge) is the data dir: database, archive, backups",
                  "StateDirectory=panic-edge", "StateDirectoryMode=0750"]
    credentials = {cid for cid, _ in settings.credentials} - {"vestaboard-key"}
    lines += _credentials(settings, credentials) + _hardening(settings) + _install(settings)
    return "\n".join(lines) + "\n"


def node_unit(kind: str, settings: UnitSettings) -> str:
    """The template ``panic-edge-<kind>@.service``; ``%i`` names a ``[nodes.<name>]`` table."""
    if kind not in KINDS:
        raise ValueError(f"unknown node kind {kind!r}")
    what = {"display": "screen", "speaker": "speaker", "vestaboard": "Vestaboard bridge"}[kind]
    unit = [HEADER + "[Unit]", f"Description=PANIC! {what} %i (panic-edge {kind} node)", f"Documentation={settings.docs}",
            "Wants=network-online.target", "After=network-online.target panic-edge.service",
            "StartLimitIntervalSec=0"]
    service = ["", "[Service]", *_lifecycle(settings), _exec(settings, kind, instance=True),
               _environment_file(settings)]
    console = not settings.user_mode and kind == "display"
    if console:
        unit += ["# the Pi console: take tty1 from the login prompt, so nothing draws over the picture",
                 "Conflicts=getty@tty1.service", "After=getty@tty1.service systemd-user-sessions.service"]
        service += ["Environment=SDL_VIDEODRIVER=kmsdrm", "TTYPath=/dev/tty1", "TTYReset=yes",
                    "TTYVHangup=yes", "TTYVTDisallocate=yes", "StandardInput=tty-force",
                    "StandardOutput=journal", "StandardError=journal"]
    if not settings.user_mode:
        if kind == "speaker":
            service.append("Environment=SDL_AUDIODRIVER=alsa")
        # SDL and fontconfig want a writable home and runtime dir; the data dir stays the daemon's
        service += ["RuntimeDirectory=%p-%i", "Environment=XDG_RUNTIME_DIR=%t/%p-%i", "Environment=HOME=%t/%p-%i",
                    "# /var/lib/panic-edge: where a display's --reel file is kept, on a screen-only Pi too",
                    "StateDirectory=panic-edge", "StateDirectoryMode=0750"]
    wanted = {"mqtt-password"} | ({"vestaboard-key"} if kind == "vestaboard" else set())
    service += _credentials(settings, wanted) + _hardening(replace(settings, read_write=()))
    return "\n".join(unit + service + _install(settings)) + "\n"


def sysusers() -> str:
    """sysusers.d(5): the service user and the groups of the hardware it drives."""
    lines = ["# Written by `panic-edge install`: the user every panic-edge service runs as.",
             f'u {USER} - "PANIC! appliance" /var/lib/panic-edge']
    lines += [f"m {USER} {group}" for group in GROUPS]
    return "\n".join(lines) + "\n"


def launchd_label(kind: str, name: str = "") -> str:
    return "org.panic-edge.daemon" if kind == "daemon" else f"org.panic-edge.{kind}.{name}"


def launchd_plist(kind: str, name: str, exe: Path, config: Path, log_dir: Path, credentials: Path) -> bytes:
    """A LaunchAgent (~/Library/LaunchAgents): started at login, restarted whenever it exits.

    launchd starts it with a bare environment: ``CREDENTIALS_DIRECTORY`` points at the credentials
    folder (what systemd's ``LoadCredential=`` gives a unit: the API keys, ``mqtt-password``), and
    ``PATH`` has Homebrew's folders (``espeak-ng``, ``ffmpeg``)."""
    label = launchd_label(kind, name)
    args = [str(exe), "run", "--config", str(config)] if kind == "daemon" else [
        str(exe), kind, "--config", str(config), "--node", name]
    body = {"Label": label, "ProgramArguments": args, "RunAtLoad": True, "KeepAlive": True,
            "ThrottleInterval": 5, "ProcessType": "Interactive" if kind == "display" else "Standard",
            "StandardOutPath": str(log_dir / f"{label}.log"), "StandardErrorPath": str(log_dir / f"{label}.log"),
            "EnvironmentVariables": {"PYTHONUNBUFFERED": "1", "CREDENTIALS_DIRECTORY": str(credentials),
                                     "PATH": ":".join([str(exe.parent), *LAUNCHD_PATH])}}
    return plistlib.dumps(body, sort_keys=False)
