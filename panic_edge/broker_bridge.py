"""A Mosquitto bridge from this appliance's broker to a fleet's central broker.

``panic-edge broker-config DIR --bridge mqtts://hq.example.net:8883`` writes ``DIR/bridge.conf``
(``render_bridge`` is the pure part): one ``connection`` section for Mosquitto's own bridge, so
several appliances (rooms, sites) share one view on the central broker with no code on the path.
Every panic-edge topic is already under ``panic/<appliance_id>/``, so the directions are:

=============================================  =====  ==================================================
topic                                          dir    why
=============================================  =====  ==================================================
``panic/<id>/#``                               out    everything this appliance and its nodes publish:
                                                      availability, status, states, invocations (with
                                                      their expiry), nodes, installations, replies
``panic/<id>/cmd/+``                           in     commands from the central side (an operator's
                                                      Home Assistant, ``mosquitto_rr``) reach it
``panic/+/availability``, ``status``,          in     the other appliances' retained picture, for this
``bridge``, ``nodes/+/availability|status``           appliance's fleet view (``fleet_view``); not their
                                                      invocations, which would cross every uplink
=============================================  =====  ==================================================

Overlapping ``in`` and ``out`` patterns do not loop: the bridge speaks MQTT 5 and Mosquitto
subscribes with *no local* on both sides, so a message never returns over the bridge it came by
(tests/test_fleet.py counts). Sessions: ``cleansession true`` on the central side, so a command sent
while the uplink is down is dropped rather than replayed hours later (the daemon's own rule for
commands), and ``local_cleansession false``, so what this appliance publishes while the uplink is down
is queued locally and delivered when it returns (invocations then expire as usual). Notifications go
to ``panic/<id>/bridge`` (retained ``1`` / ``0``, ``0`` also the bridge's will on the central side), so
the central fleet view tells an appliance that is down from one whose uplink is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from panic_edge.core.topics import ROOT, Topics
from panic_edge.errors import ConfigError

SYSTEM_CA_PATH = "/etc/ssl/certs"


@dataclass(frozen=True)
class Bridge:
    """What the bridge section is made from. ``password`` comes from a file, never a command line."""

    appliance_id: str
    url: str  # mqtt://host[:1883] or mqtts://host[:8883]
    name: str = ""  # the connection's name; default panic-<appliance_id>
    username: str = ""  # the login on the central broker
    password: str = ""
    cafile: Path | None = None  # mqtts: the CA that signed the central broker's certificate (else the system's)
    certfile: Path | None = None  # mqtts with client certificates
    keyfile: Path | None = None
    local_username: str = ""  # the bridge's own login on this broker, when it refuses anonymous clients
    local_password: str = ""
    fleet_view: bool = True  # bring the other appliances' retained picture to this broker

    @property
    def connection(self) -> str:
        return self.name or f"uplink-{self.appliance_id}"


def address(url: str) -> tuple[str, int, bool]:
    """``(host, port, tls)`` of ``mqtt://host:port`` or ``mqtts://host:port``. Raises ConfigError."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or port == -1 or parts.username \
            or parts.path not in ("", "/"):
        raise ConfigError(f"--bridge {url!r} must look like mqtt://host:1883 or mqtts://host:8883 (the login "
                          f"goes in --bridge-username and --bridge-password-file, not in the URL)")
    tls = parts.scheme == "mqtts"
    return parts.hostname, port or (8883 if tls else 1883), tls


def render_bridge(bridge: Bridge) -> str:
    """The ``connection`` section for mosquitto.conf (or a file in its ``include_dir``)."""
    host, port, tls = address(bridge.url)
    for label, value in (("name", bridge.connection), ("username", bridge.username),
                         ("password", bridge.password), ("local username", bridge.local_username),
                         ("local password", bridge.local_password),
                         *((f"{n} path", str(p)) for n, p in (("CA", bridge.cafile), ("certificate", bridge.certfile),
                                                              ("key", bridge.keyfile)) if p is not None)):
        if any(c.isspace() for c in value):
            raise ConfigError(f"the bridge's {label} may not contain spaces or line breaks (Mosquitto's "
                              f"config is one option per line)")
    if (bridge.certfile is None) != (bridge.keyfile is None):
        raise ConfigError("a client certificate needs both --bridge-certfile and --bridge-keyfile")
    if not tls and (bridge.cafile or bridge.certfile):
        raise ConfigError("certificates need an mqtts:// bridge URL")
    base = Topics(bridge.appliance_id).base
    lines = [f"# Bridge of {bridge.appliance_id!r} to its fleet's central broker (panic-edge broker-config).",
             "# Directions and sessions: panic_edge/broker_bridge.py and docs/operations.md (Fleets).",
             f"connection {bridge.connection}", f"address {host}:{port}",
             f"remote_clientid panic-bridge-{bridge.appliance_id}",
             f"local_clientid panic-bridge-{bridge.appliance_id}-local",
             "bridge_protocol_version mqttv50", "cleansession true", "local_cleansession false",
             "notifications true", "notifications_local_only false", f"notification_topic {base}/bridge",
             "restart_timeout 5 30"]
    if bridge.username:
        lines.append(f"remote_username {bridge.username}")
    if bridge.password:
        lines.append(f"remote_password {bridge.password}")
    if bridge.local_username:
        lines.append(f"local_username {bridge.local_username}")
    if bridge.local_password:
        lines.append(f"local_password {bridge.local_password}")
    if tls:
        lines.append(f"bridge_cafile {bridge.cafile.resolve()}" if bridge.cafile
                     else f"bridge_capath {SYSTEM_CA_PATH}")
        if bridge.certfile and bridge.keyfile:
            lines += [f"bridge_certfile {bridge.certfile.resolve()}", f"bridge_keyfile {bridge.keyfile.resolve()}"]
        lines.append("bridge_tls_version tlsv1.2")
    lines += [f"topic {base}/# out 1", f"topic {base}/cmd/+ in 1"]
    if bridge.fleet_view:
        lines += [f"topic {ROOT}/+/{leaf} in 1" for leaf in
                  ("availability", "status", "bridge", "nodes/+/availability", "nodes/+/status")]
    return "\n".join(lines) + "\n"


def write_bridge(directory: Path, bridge: Bridge) -> Path:
    """Write ``DIR/bridge.conf`` (chmod 600 from the first byte: it may hold a password)."""
    text = render_bridge(bridge)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "bridge.conf"
    tmp = path.with_name(".bridge.conf.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    tmp.replace(path)
    if os.name == "posix" and os.geteuid() == 0:  # the broker re-reads it as its own user on SIGHUP
        try:
            import pwd

            user = pwd.getpwnam("mosquitto")
            os.chown(path, user.pw_uid, user.pw_gid)
        except KeyError:
            pass
    return path


def read_secret(path: Path) -> str:
    """The first line of a password file. Raises ConfigError."""
    try:
        return path.read_text(encoding="utf-8").splitlines()[0].strip() if path.stat().st_size else ""
    except (OSError, UnicodeDecodeError, IndexError) as err:
        raise ConfigError(f"cannot read the bridge password from {path}: {err}") from None
