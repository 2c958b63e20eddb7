"""The appliance's locked-down Mosquitto: ``panic-edge broker-config DIR`` writes it, every client reads it.

DIR gets four files:

- ``mosquitto.conf``: the listeners, ``allow_anonymous false``, the password and ACL files. It holds
  only options an include file may hold, so it works both as ``mosquitto -c DIR/mosquitto.conf``
  and linked into ``/etc/mosquitto/conf.d/`` (no ``pid_file``, ``persistence``, ``log_dest``,
  ``user``: the main file sets those, and Mosquitto refuses a second value).
- ``passwd``: Mosquitto's hashed format (``$7$``: PBKDF2-SHA512, 101 iterations, 12-byte salt),
  made by the real ``mosquitto_passwd -U`` when it is installed, else by ``hash_password`` here.
- ``acl``: the daemon may do everything under ``panic/<appliance_id>/``; control clients read it
  and publish the four commands; display nodes read it; every client may write only
  ``nodes/<its client id>/<leaf>`` (Mosquitto's ``%c``; a node that logs in uses its node id as its
  client id: ``core.topics.node_client_id``).
- ``credentials.toml`` (chmod 600): ``[daemon]``, ``[node]``, ``[control]``, each a username
  and a password made with ``secrets``. Running again keeps them (``rotate`` makes new ones).
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import secrets
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from panic_edge.config import MqttConfig
from panic_edge.core.topics import COMMANDS, NODE_LEAVES, ROOT, Topics
from panic_edge.errors import ConfigError

ROLES = ("daemon", "node", "control")
MAX_PACKET_BYTES = 1024 * 1024  # the broker's cap; panic-edge's own limits are far lower (docs/mqtt.md)
ITERATIONS = 101  # what mosquitto_passwd uses
SALT_BYTES = 12


@dataclass(frozen=True)
class Login:
    username: str
    password: str


@dataclass(frozen=True)
class BrokerSetup:
    """What ``panic-edge broker-config`` is asked for."""

    directory: Path
    appliance_id: str
    port: int = 1883
    bind: str | None = None  # None: every interface, or 127.0.0.1 when TLS is on
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_port: int = 8883
    tls_bind: str = ""  # every interface
    ha_prefix: str = "homeassistant"  # Home Assistant's discovery prefix ([homeassistant] prefix)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def plain_bind(self) -> str:
        return self.bind if self.bind is not None else ("127.0.0.1" if self.tls else "")


# --- the files' text (pure) -----------------------------------------------------------------------


def render_conf(setup: BrokerSetup) -> str:
    d = setup.directory.resolve()
    lines = [f"# Mosquitto for panic-edge appliance {setup.appliance_id!r}, written by `panic-edge broker-config`.",
             "# Use it as `mosquitto -c <this file>`, or link it into /etc/mosquitto/conf.d/ (see docs/security.md).",
             "# Re-run broker-config rather than editing it.",
             f"listener {setup.port} {setup.plain_bind}".rstrip()]
    if setup.tls:
        assert setup.tls_cert is not None and setup.tls_key is not None
        lines += [f"listener {setup.tls_port} {setup.tls_bind}".rstrip(), f"certfile {setup.tls_cert.resolve()}",
                  f"keyfile {setup.tls_key.resolve()}", "tls_version tlsv1.2"]
    lines += ["allow_anonymous false", f"password_file {d / 'passwd'}", f"acl_file {d / 'acl'}",
              "set_tcp_nodelay true",  # a reply right after a PUBACK must not wait 40 ms for a delayed ACK
              f"max_packet_size {MAX_PACKET_BYTES}"]  # a bigger message disconnects its sender
    return "\n".join(lines) + "\n"


def render_acl(appliance_id: str, logins: dict[str, Login], ha_prefix: str = "homeassistant") -> str:
    base = Topics(appliance_id).base
    fleet = [f"topic read {ROOT}/+/{leaf}" for leaf in ("availability", "status", "bridge", "nodes/+/+")]
    return "\n".join([
        f"# Who may do what under {base}/, written by `panic-edge broker-config`. Anonymous clients are refused.",
        "", f"user {logins['daemon'].username}", f"topic readwrite {base}/#",
        "# the fleet view reads the other appliances' retained state (bridged in from a central broker)",
        *fleet,
        "# Home Assistant discovery (when [homeassistant] enabled): the device config, and HA's birth",
        f"topic readwrite {ha_prefix}/#",
        "", f"user {logins['control'].username}", f"topic read {base}/#",
        *(f"topic write {base}/cmd/{name}" for name in COMMANDS),
        "# Home Assistant logs in as control: it reads discovery and announces itself on <prefix>/status",
        f"topic read {ha_prefix}/#", f"topic write {ha_prefix}/status",
        "", f"user {logins['node'].username}", f"topic read {base}/#",
        "", "# every client may announce itself, and only itself: nodes/<its client id>/<leaf>, for the",
        "# leaves a node sends (a client id such as victim/status must not reach nodes/victim/status;",
        "# the daemon clears anything retained there that it refuses)",
        *(f"pattern write {base}/nodes/%c/{leaf}" for leaf in NODE_LEAVES), ""])


def hash_password(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """Mosquitto's ``$7$`` hash of ``password`` (what ``mosquitto_passwd`` writes after the colon)."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, 64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def render_credentials(appliance_id: str, logins: dict[str, Login]) -> str:
    lines = [f"# MQTT logins for panic-edge appliance {appliance_id!r}, written by `panic-edge broker-config`.",
             "# Secret: keep it chmod 600. The daemon's and the nodes' [mqtt] credentials_file points here;",
             "# a display node on another machine needs only the [node] table (or control, with a button)."]
    for role in ROLES:
        login = logins[role]
        lines += ["", f"[{role}]", f"username = {_toml_string(login.username)}",
                  f"password = {_toml_string(login.password)}"]
    return "\n".join(lines) + "\n"


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- reading -------------------------------------------------------------------------------------


def read_credentials(path: Path) -> dict[str, Login]:
    """The role tables of a credentials.toml that are complete. Raises ConfigError if unreadable."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"MQTT credentials file {path} does not exist; make it with "
                          f"`panic-edge broker-config DIR`") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"MQTT credentials file {path} cannot be read: {err}") from None
    out = {}
    for role, table in data.items():
        if isinstance(table, dict) and isinstance(table.get("username"), str) \
                and isinstance(table.get("password"), str) and table["username"] and table["password"]:
            out[role] = Login(table["username"], table["password"])
    return out


def login_for(config: MqttConfig, role: str) -> Login | None:
    """Who a program in ``role`` logs in as: [mqtt] username/password, else its table of
    credentials_file ([mqtt] role overriding ``role``), else nobody (an anonymous broker)."""
    if config.username:
        return Login(config.username, config.password.get_secret_value())
    if config.credentials_file is None:
        return None
    role = config.role or role
    logins = read_credentials(config.credentials_file)
    if role not in logins:
        raise ConfigError(f"MQTT credentials file {config.credentials_file} has no [{role}] table with a "
                          f"username and password; run `panic-edge broker-config` again")
    return logins[role]


# --- writing -------------------------------------------------------------------------------------


def write(setup: BrokerSetup, *, rotate: bool = False, owner: str | None = None,
          use_mosquitto_passwd: bool = True) -> dict[str, Login]:
    """Write the four files into ``setup.directory``; returns the logins. Existing passwords are kept
    unless ``rotate``. Run as root, passwd and acl go to the ``mosquitto`` user (the broker reads
    them after dropping privileges) and credentials.toml to ``owner`` if given.
    ``use_mosquitto_passwd`` False hashes here even where the tool is installed (the tests)."""
    if setup.tls_cert is not None and (setup.tls_key is None or not setup.tls_cert.is_file()
                                       or not setup.tls_key.is_file()):
        raise ConfigError("TLS needs both --tls-cert and --tls-key, and both files must exist")
    directory = setup.directory
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)  # the broker's user must reach passwd and acl; the secrets inside are 0600
    credentials = directory / "credentials.toml"
    kept = read_credentials(credentials) if credentials.exists() and not rotate else {}
    logins = {role: kept.get(role) or Login(f"{setup.appliance_id}-{role}", secrets.token_urlsafe(24))
              for role in ROLES}
    _write(credentials, render_credentials(setup.appliance_id, logins))
    _write_passwd(directory / "passwd", logins, mosquitto_passwd() if use_mosquitto_passwd else None)
    _write(directory / "acl", render_acl(setup.appliance_id, logins, setup.ha_prefix))
    _write(directory / "mosquitto.conf", render_conf(setup), mode=0o644)
    if os.name == "posix" and os.geteuid() == 0:
        broker_user = _user("mosquitto")
        if broker_user is not None:
            for name in ("passwd", "acl"):
                os.chown(directory / name, broker_user.pw_uid, broker_user.pw_gid)
        if owner:
            user = _user(owner)
            if user is None:
                raise ConfigError(f"--owner {owner}: there is no such user")
            os.chown(credentials, user.pw_uid, user.pw_gid)
    return logins


def _user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _write(path: Path, text: str, mode: int = 0o600) -> None:
    """Atomically, with ``mode`` from the first byte (a secret is never readable by others)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _write_passwd(path: Path, logins: dict[str, Login], tool: str | None) -> None:
    """Hashed by the real ``mosquitto_passwd -U`` (the plain file never leaves DIR, mode 0600, and no
    password is ever on a command line), else by ``hash_password``."""
    plain = "".join(f"{login.username}:{login.password}\n" for login in logins.values())
    if tool is None:
        _write(path, "".join(f"{login.username}:{hash_password(login.password)}\n" for login in logins.values()))
        return
    staging = path.with_name(".passwd.plain")
    _write(staging, plain)
    try:
        done = subprocess.run([tool, "-U", str(staging)], capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0 or ":$7$" not in staging.read_text():
            raise ConfigError(f"mosquitto_passwd could not hash the passwords: {done.stderr.strip()[:200]}")
        staging.replace(path)
    finally:
        staging.unlink(missing_ok=True)


def mosquitto_passwd() -> str | None:
    return shutil.which("mosquitto_passwd") or next(
        (p for p in ("/usr/bin/mosquitto_passwd", "/usr/local/bin/mosquitto_passwd",
                     "/opt/homebrew/bin/mosquitto_passwd") if Path(p).exists()), None)
