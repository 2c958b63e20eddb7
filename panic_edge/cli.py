"""The ``panic-edge`` command. `panic-edge --help` lists the subcommands; docs/cli.md is generated."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from panic_edge import __version__
from panic_edge.config import Config, load_config
from panic_edge.core.catalogue import CATALOGUE
from panic_edge.errors import ConfigError, PanicEdgeError
from panic_edge.logs import setup_logging
from panic_edge.network_files import LoadedNetworks, load_networks

log = logging.getLogger("panic_edge")


def _config(args: argparse.Namespace) -> Config:
    path = args.config or os.environ.get("PANIC_EDGE_CONFIG")
    return load_config(Path(path) if path else None)


# --- subcommands ------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:

    config = _config(args)
    networks = load_networks(config.networks_dir, CATALOGUE)
    asyncio.run(_run_daemon(config, networks))
    return 0


async def _run_daemon(config: Config, networks: LoadedNetworks, autostart: bool = False) -> None:
    from panic_edge.daemon.app import Daemon

    daemon = Daemon(config, networks)
    if not autostart:
        await daemon.run()
        return
    task = asyncio.create_task(daemon.run())
    ready = asyncio.create_task(daemon.ready.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if daemon.ready.is_set() and daemon.engine is not None:
        try:
            await daemon.engine.press(config.default_network)
        except PanicEdgeError as err:
            log.info("not starting a first run: %s", err)
    else:
        ready.cancel()
    await task


def cmd_demo(args: argparse.Namespace) -> int:
    """The appliance on embedded defaults, with a private Mosquitto if no broker is running."""
    from panic_edge.broker import LocalBroker, port_open
    from panic_edge.broker_setup import BrokerSetup

    os.environ.setdefault("PANIC_EDGE_LOCAL_MODELS_LATENCY", str(args.latency))
    config = _config(args)
    broker = None
    setup = BrokerSetup(config.data_dir / "broker", config.appliance_id) if args.lock_broker else None
    if not port_open(config.mqtt.host, config.mqtt.port):
        try:
            broker = LocalBroker(config.mqtt.port if config.mqtt.host in ("127.0.0.1", "localhost") else None,
                                 setup=setup)
            broker.start()
        except PanicEdgeError:
            if broker is None:
                raise
            broker = LocalBroker(setup=setup).start()  # the configured port is taken by something else
        mqtt: dict[str, object] = {"url": broker.url}
        if broker.credentials_file is not None:
            mqtt.update(credentials_file=broker.credentials_file, username="")
        config = config.model_copy(update={"mqtt": config.mqtt.model_copy(update=mqtt)})
        log.info("started a private Mosquitto at %s%s", broker.url,
                 f", locked down (logins in {broker.credentials_file})" if broker.credentials_file else "")
    elif args.lock_broker:
        log.warning("--lock-broker locks only the demo's private broker, and a broker already runs at %s; "
                    "lock that one with `panic-edge broker-config` (docs/security.md)", config.mqtt.url)
    if not config.admin.password_hash.get_secret_value() and config.http.host in ("127.0.0.1", "localhost"):
        # no password yet and only this machine can reach the page: let the demo user look at it
        config = config.model_copy(update={"admin": config.admin.model_copy(update={"public_readonly": True})})
    networks = load_networks(config.networks_dir, CATALOGUE)
    print(_demo_banner(config), file=sys.stderr, flush=True)
    try:
        asyncio.run(_run_daemon(config, networks, autostart=not args.no_start))
    finally:
        if broker is not None:
            broker.close()
    return 0


def _demo_banner(config: Config) -> str:
    env = "" if config.mqtt.url == "mqtt://127.0.0.1:1883" else f"PANIC_EDGE_MQTT_URL={config.mqtt.url} "
    if config.mqtt.credentials_file is not None:
        env += f"PANIC_EDGE_MQTT_CREDENTIALS_FILE={config.mqtt.credentials_file} "
    return (f"\nPANIC! demo: local models only, data in {config.data_dir}\n"
            f"  Enter            press the panic button (a typed line starts a run with it)\n"
            f"  {env}panic-edge start demo \"a camel in the desert\"   (from another terminal)\n"
            f"  {env}panic-edge stop-all                             Ctrl-C quits\n"
            f"  admin page       {config.media_base()}/"
            f"{'  (read-only until an admin password is set)' if config.admin.public_readonly else ''}\n"
            f"  a screen         {env}panic-edge display --network demo --grid 2x2 --windowed\n")


def cmd_models(args: argparse.Namespace) -> int:
    from panic_edge.platforms.registry import build_platforms

    platforms = build_platforms(_config(args))
    shown = CATALOGUE.values() if args.all else CATALOGUE.active()
    models = sorted(shown, key=lambda m: (m.io(), m.platform != "local", m.id))
    if args.json:
        print(json.dumps([{"id": m.id, "name": m.label, "platform": m.platform, "input": str(m.input),
                           "output": str(m.output), "warmth": str(m.hints.warmth),
                           "typical_seconds": m.hints.typical_seconds, "ref": m.ref,
                           "available": platforms.available(m.platform), "description": m.description,
                           "deprecated": m.deprecated}
                          for m in models], indent=2))
        return 0
    print(f"{'id':<24} {'io':<13} {'platform':<10} {'hints':<12} {'name'}")
    for m in models:
        mark = "" if platforms.available(m.platform) else "  [unavailable]"
        mark += "  [deprecated]" if m.deprecated else ""
        hints = f"{m.hints.warmth} ~{m.hints.typical_seconds:g}s"
        print(f"{m.id:<24} {m.io():<13} {m.platform:<10} {hints:<12} {m.label}{mark}")
    for name in sorted({m.platform for m in models if not platforms.available(m.platform)}):
        print(f"[unavailable] {name}: {platforms.why_missing(name)}")
    hidden = len(CATALOGUE) - len(CATALOGUE.active())
    if hidden and not args.all:
        print(f"({hidden} deprecated models hidden; `panic-edge models --all` lists them)")
    return 0


def cmd_networks(args: argparse.Namespace) -> int:
    from panic_edge.platforms.registry import build_platforms

    config = _config(args)
    loaded = load_networks(config.networks_dir, CATALOGUE)
    platforms = build_platforms(config)
    for slug, net in sorted(loaded.networks.items()):
        missing = sorted({CATALOGUE[m].platform for m in net.models if not platforms.available(
            CATALOGUE[m].platform)})
        runnable = "runnable" if not missing else f"valid; needs {', '.join(missing)}"
        print(f"{slug:<24} {net.name}  [{runnable}]\n{'':<24} {' -> '.join(net.models)} -> (again)")
        old = sorted({m for m in net.models if CATALOGUE[m].deprecated})
        if old:
            print(f"{'':<24} uses deprecated models: {', '.join(old)}")
    for name, problem in sorted(loaded.problems.items()):
        print(f"{name:<24} INVALID: {problem}")
    return 1 if (args.action == "validate" and loaded.problems) else 0


def cmd_backup(args: argparse.Namespace) -> int:
    from panic_edge.backup import rotate

    config = _config(args)
    made, dropped = rotate(config.database_path, config.backups_dir, config.backups.keep)
    print(f"backed up to {made}" + (f" ({len(dropped)} old ones removed)" if dropped else ""))
    return 0


def cmd_archive(args: argparse.Namespace) -> int:
    from panic_edge.daemon.archive_report import archive_report

    config = _config(args)
    if not config.database_path.exists():
        raise ConfigError(f"there is no database at {config.database_path} yet: nothing is archived")
    print(asyncio.run(archive_report(config, prune=args.prune)))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from panic_edge.backup import restore
    from panic_edge.daemon.lock import DataDirLock

    config = _config(args)
    with DataDirLock(config.data_dir):  # refuses while a daemon runs on this data dir
        info, kept = restore(Path(args.file), config.database_path, config.backups_dir)
    print(f"restored {info.runs} runs and {info.invocations} invocations from {args.file}")
    if kept is not None:
        print(f"the database as it was is kept at {kept}")
    return 0


def cmd_broker_config(args: argparse.Namespace) -> int:
    from panic_edge import broker_setup
    from panic_edge.broker_setup import BrokerSetup

    config = _config(args)
    directory = Path(args.dir)
    setup = BrokerSetup(directory, config.appliance_id, port=args.port, bind=args.bind,
                        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
                        tls_key=Path(args.tls_key) if args.tls_key else None, tls_port=args.tls_port,
                        ha_prefix=config.homeassistant.prefix)
    logins = broker_setup.write(setup, rotate=args.rotate, owner=args.owner)
    conf = (directory / "mosquitto.conf").resolve()
    print(f"wrote {conf}, passwd, acl and credentials.toml (chmod 600) in {directory.resolve()}")
    print(f"  logins: {', '.join(f'{role} {login.username}' for role, login in logins.items())}"
          f"{' (new passwords)' if args.rotate else ''}")
    print(f"  run it:         mosquitto -c {conf}")
    print(f"  or system-wide: sudo ln -sf {conf} /etc/mosquitto/conf.d/panic-edge.conf && "
          f"sudo systemctl restart mosquitto")
    print(f"  then in the config: [mqtt] credentials_file = \"{(directory / 'credentials.toml').resolve()}\"")
    if args.bridge:
        _write_bridge(args, directory)
    return 0


def _write_bridge(args: argparse.Namespace, directory: Path) -> None:
    """The bridge part of ``broker-config`` (panic_edge/broker_bridge.py): DIR/bridge.conf."""
    from panic_edge.broker_bridge import Bridge, read_secret, write_bridge

    def optional_path(value: str | None) -> Path | None:
        return Path(value) if value else None

    bridge = Bridge(_config(args).appliance_id, args.bridge, name=args.bridge_name or "",
                    username=args.bridge_username or "",
                    password=read_secret(Path(args.bridge_password_file)) if args.bridge_password_file else "",
                    cafile=optional_path(args.bridge_cafile), certfile=optional_path(args.bridge_certfile),
                    keyfile=optional_path(args.bridge_keyfile), fleet_view=not args.no_fleet_view)
    path = write_bridge(directory, bridge)
    print(f"wrote {path.resolve()} (chmod 600): the bridge {bridge.connection} to {args.bridge}")
    print(f"  add it to the broker:  sudo ln -sf {path.resolve()} /etc/mosquitto/conf.d/panic-edge-bridge.conf"
          " && sudo systemctl restart mosquitto")
    print("  (or append it to the end of the mosquitto.conf you run with `mosquitto -c`)")


def _bridge_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bridge", metavar="URL", help="bridge this broker to a fleet's central broker, "
                   "mqtt://host:1883 or mqtts://host:8883: writes DIR/bridge.conf (docs/operations.md, Fleets)")
    p.add_argument("--bridge-name", metavar="NAME", help="the bridge connection's name (default: "
                   "uplink-<appliance_id>)")
    p.add_argument("--bridge-username", metavar="USER", help="the bridge's login on the central broker")
    p.add_argument("--bridge-password-file", metavar="FILE", help="a file whose first line is that "
                   "login's password (never on the command line)")
    p.add_argument("--bridge-cafile", metavar="FILE", help="mqtts: the CA of the central broker's "
                   "certificate (default: the system's CAs)")
    p.add_argument("--bridge-certfile", metavar="FILE", help="mqtts: a client certificate for the bridge")
    p.add_argument("--bridge-keyfile", metavar="FILE", help="mqtts: the key of --bridge-certfile")
    p.add_argument("--no-fleet-view", action="store_true", help="send this appliance's topics only; do not "
                   "bring the other appliances' status here for this admin page's Fleet view")


def _remote(args: argparse.Namespace, name: str, body: dict[str, object]) -> int:
    from panic_edge.remote import send_command

    reply = send_command(_config(args), name, body, timeout=args.timeout)
    print(reply.get("message", reply))
    return 0 if reply.get("ok") else 1


def cmd_start(args: argparse.Namespace) -> int:
    return _remote(args, "start", {"network": args.network, "prompt": args.prompt})


def cmd_stop(args: argparse.Namespace) -> int:
    return _remote(args, "stop", {"network": args.network})


def cmd_stop_all(args: argparse.Namespace) -> int:
    return _remote(args, "stop-all", {})


def cmd_press(args: argparse.Namespace) -> int:
    return _remote(args, "press", {"network": args.network} if args.network else {})


def cmd_hash_password(args: argparse.Namespace) -> int:
    """Print a hash of the admin password for the config's [admin] password_hash."""
    import getpass

    from werkzeug.security import generate_password_hash

    if sys.stdin.isatty():
        password = getpass.getpass("admin password: ")
        if getpass.getpass("again: ") != password:
            print("panic-edge: the two passwords differ; nothing printed", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        print("panic-edge: use at least 8 characters", file=sys.stderr)
        return 1
    print(generate_password_hash(password))  # scrypt, salted
    print("put it in the config as:  [admin]  password_hash = \"<the line above>\"  "
          "(or $PANIC_EDGE_ADMIN_PASSWORD_HASH)", file=sys.stderr)
    return 0


def _screen(args: argparse.Namespace, layout: dict[str, object]) -> str | None:
    """``--screen NAME``, checked; its settings come from its installation, so the options that
    would say the same thing on the command line are refused beside it."""
    if not args.screen:
        return None
    from panic_edge.core.installation import NAME

    if not NAME.match(args.screen):
        raise ConfigError(f"--screen {args.screen!r}: a screen name is lowercase letters, digits and dashes")
    given = [f"--{k.replace('_', '-')}" for k, default in {"network": None, **layout}.items()
             if getattr(args, k) != default]
    if given:
        raise ConfigError(f"--screen {args.screen} takes its network and settings from its installation; "
                          f"drop {', '.join(given)} (or change the screen in [[installations]] or on the "
                          "admin page)")
    return str(args.screen)


def _size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` (``--size``) as two numbers. Raises ValueError."""
    width, height = (int(n) for n in text.lower().split("x"))
    return width, height


def cmd_display(args: argparse.Namespace) -> int:
    from panic_edge.nodes.feed import Single, parse_grid
    from panic_edge.nodes.screen.app import DisplayOptions, run_display

    screen = _screen(args, {"grid": None, "grid_order": None, "single": False, "offset": 0, "stride": 1,
                            "show_invoking": False, "terminal": False, "qr": ""})
    try:
        selection = parse_grid(args.grid, args.grid_order or "newest") if args.grid else Single(
            args.offset, args.stride, args.show_invoking or args.terminal)
        size = _size(args.size) if args.size else None
    except ValueError as err:
        raise ConfigError(str(err)) from None
    network = "" if screen else (args.network or _config(args).default_network)
    options = DisplayOptions(network, selection, args.terminal,
                             bool(args.qr), None if args.qr in ("", "about", "visit") else args.qr,
                             not args.windowed, size,
                             args.fps, Path(args.screenshot) if args.screenshot else None, args.exit_after,
                             args.button_key, args.node_id, screen, Path(args.reel) if args.reel else None,
                             args.reel_after, qr_visit=args.qr != "about", hud=args.hud)
    asyncio.run(run_display(_config(args), options))
    return 0


def cmd_speaker(args: argparse.Namespace) -> int:
    from panic_edge.nodes.speaker import run_speaker

    config = _config(args)
    screen = _screen(args, {"speak_text": False, "max_behind": 2, "stale_after": 120.0})
    asyncio.run(run_speaker(config, args.network or config.default_network, speak_text=args.speak_text,
                            max_behind=args.max_behind, stale_after=args.stale_after, node_id=args.node_id,
                            screen=screen))
    return 0


def cmd_vestaboard(args: argparse.Namespace) -> int:
    from panic_edge.nodes.vestaboard import BoardOptions, read_key, run_vestaboard

    config = _config(args)
    screen = _screen(args, {"api": "local", "url": None, "board": "flagship", "min_interval": None,
                            "stride": 1, "offset": 0, "show_prompt": False})
    options = BoardOptions(args.network or config.default_network, args.api, args.url, args.board,
                           args.min_interval, args.node_id, args.stride, args.offset, args.show_prompt)
    asyncio.run(run_vestaboard(config, options, read_key(), screen))
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    import time

    from panic_edge.nodes.feed import Single, parse_grid
    from panic_edge.nodes.screen.record import ReelOptions, load, record

    config = _config(args)
    try:
        selection = parse_grid(args.grid) if args.grid else Single()
        width, height = _size(args.size)
    except ValueError as err:
        raise ConfigError(f"{err} (--grid ROWSxCOLS, --size WxH)") from None
    options = ReelOptions(args.network or config.default_network, selection, (width, height),
                          args.seconds_per_step, args.fps, args.run, args.hours, args.max_steps)
    shown = load(config.database_path, options, {m.id: m.label for m in CATALOGUE.values()}, time.time())
    log.info("recording %d steps of %s at %dx%d, %g s each, to %s", len(shown), options.network, width, height,
             options.seconds_per_step, args.file)
    seconds = record(shown, options, config.archive_dir, Path(args.file))
    print(f"wrote {args.file}: {len(shown)} steps, {seconds:.0f} s")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    from panic_edge.install import Options, install

    install(Options(Path(args.root) if args.root else None, args.user, args.init,
                    Path(args.config) if args.config else None, not args.no_daemon))
    return 0


def cmd_uninstall(args: argparse.Namespace) -> int:
    from panic_edge.install import Options, uninstall

    uninstall(Options(Path(args.root) if args.root else None, args.user, args.init,
                      Path(args.config) if args.config else None))
    return 0


def _with_node(parser: argparse.ArgumentParser, args: argparse.Namespace,
               argv: list[str]) -> argparse.Namespace:
    """``panic-edge <kind> --node NAME``: the options of ``[nodes.NAME]`` first, then the command
    line's; the node id defaults to NAME."""
    node = _config(args).nodes.get(args.node)
    if node is None:
        raise ConfigError(f"there is no [nodes.{args.node}] table in the config; add one (kind, args) "
                          f"or start the node with its options on the command line")
    if node.kind != args.command:
        raise ConfigError(f"[nodes.{args.node}] is a {node.kind} node, not a {args.command} node: "
                          f"start it with `panic-edge {node.kind} --node {args.node}`")
    at = argv.index(args.command) + 1
    merged = parser.parse_args([*argv[:at], *node.args, *argv[at:]])
    if merged.node_id is None:
        merged.node_id = args.node
    return merged


def cmd_insight(args: argparse.Namespace) -> int:
    return int(args.insight(args, _config(args)))


def _node_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--node", metavar="NAME", help="take this node's options from the config's "
                   "[nodes.NAME] table (the services `panic-edge install` writes do); NAME is its node id")
    p.add_argument("--network", help="the network to follow (default: the configured default_network)")
    p.add_argument("--screen", metavar="NAME", help="be the installation screen NAME: its network and "
                   "settings come from the appliance ([[installations]]), and it follows a switch")
    p.add_argument("--node-id", help="this node's stable id in MQTT (default: <host>-<kind>-<network "
                   "or screen>...); give two identical nodes on one machine different ids")


# --- parser -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="panic-edge", description="The PANIC! appliance.")
    parser.add_argument("--version", action="version", version=f"panic-edge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--config", metavar="FILE", help="TOML config file (default: $PANIC_EDGE_CONFIG, "
                       "else built-in defaults)")
        p.set_defaults(func=func)
        return p

    add("run", cmd_run, "run the daemon")
    add("backup", cmd_backup, "take an online backup of the database now (safe while the daemon runs), "
        "into <data_dir>/backups")
    archive = add("archive", cmd_archive, "the output archive: its size per network, what retention pruned, the "
                  "free disk and the limits ([archive]); --prune deletes the oldest files now if a limit is passed")
    archive.add_argument("--prune", action="store_true", help="run one retention pass now (safe while the "
                         "daemon runs)")
    restore_cmd = add("restore", cmd_restore, "replace the database with FILE after checking it; the daemon "
                      "must be stopped (the admin page can restore while it runs)")
    restore_cmd.add_argument("file", metavar="FILE")
    demo = add("demo", cmd_demo, "run the daemon on embedded defaults with the demo network of local "
               "models, starting a private Mosquitto if no broker is running")
    demo.add_argument("--latency", type=float, default=1.0, help="seconds each local model takes")
    demo.add_argument("--no-start", action="store_true", help="wait for a press instead of starting a run")
    demo.add_argument("--lock-broker", action="store_true", help="lock the private broker down as "
                      "`panic-edge broker-config` does (logins in <data_dir>/broker/credentials.toml)")
    models = add("models", cmd_models, "list the model catalogue")
    models.add_argument("--json", action="store_true", help="as JSON")
    models.add_argument("--all", action="store_true",
                        help="include deprecated models (kept for history and old networks)")
    nets = add("networks", cmd_networks, "list the networks, or validate them (exit 1 if any is invalid)")
    nets.add_argument("action", nargs="?", choices=("list", "validate"), default="list")
    for name, func, help in (("start", cmd_start, "start a run of NETWORK from PROMPT"),
                             ("stop", cmd_stop, "stop NETWORK's run"),
                             ("stop-all", cmd_stop_all, "stop every network"),
                             ("press", cmd_press, ("press the panic button (NETWORK defaults to the "
                               "button's network: button.network, else default_network, or what "
                               "cmd/button-network chose)"))):
        p = add(name, func, help)
        if name in ("start", "stop"):
            p.add_argument("network")
        if name == "press":
            p.add_argument("network", nargs="?")
        if name == "start":
            p.add_argument("prompt")
        p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the daemon's answer")
    broker = add("broker-config", cmd_broker_config, "write a locked-down Mosquitto setup for this appliance "
                 "into DIR: mosquitto.conf, passwd, acl and credentials.toml (see docs/security.md); with "
                 "--bridge, also DIR/bridge.conf to a fleet's central broker")
    broker.add_argument("dir", metavar="DIR")
    broker.add_argument("--port", type=int, default=1883, help="port of the plain MQTT listener (default 1883)")
    broker.add_argument("--bind", metavar="ADDRESS", help="address of the plain listener (default: every "
                        "interface; 127.0.0.1 when TLS is on, so passwords never cross the network in clear)")
    broker.add_argument("--tls-cert", metavar="FILE", help="the broker's TLS certificate (PEM, with its chain): "
                        "adds a TLS listener")
    broker.add_argument("--tls-key", metavar="FILE", help="the private key of --tls-cert")
    broker.add_argument("--tls-port", type=int, default=8883, help="port of the TLS listener (default 8883)")
    broker.add_argument("--rotate", action="store_true", help="make new passwords (else the ones in "
                        "DIR/credentials.toml are kept)")
    broker.add_argument("--owner", metavar="USER", help="when run as root: give credentials.toml to USER "
                        "(the daemon's service user, e.g. panic)")
    _bridge_args(broker)
    add("hash-password", cmd_hash_password, "print a hash of the admin page's password (asked for "
        "on the terminal, or one line on stdin) for [admin] password_hash")
    from panic_edge.insight.commands import add_actions

    add_actions(add("insight", cmd_insight, ("insight: embeddings of every output, the geometry of each run "
                                             "(docs/insight.md)")),
                lambda p: p.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                                         help="TOML config file (default: $PANIC_EDGE_CONFIG, else built-in defaults)"))
    display = add("display", cmd_display, "a screen node: show a network's invocations (pygame; fullscreen "
                  "on KMS/DRM on a Pi console)")
    _node_args(display)
    display.add_argument("--grid", metavar="ROWSxCOLS", help="show the ROWS*COLS most recent invocations, "
                         "newest first")
    display.add_argument("--grid-order", choices=("newest", "sequence"), help="grid: newest first across "
                         "runs (the default), or the current run's step seq in slot seq %% (ROWS*COLS)")
    display.add_argument("--single", action="store_true", help="show one invocation (the default)")
    display.add_argument("--hud", action="store_true", help="show the run's path through meaning, its drift, "
                         "loops and persistence barcode (needs insight on the appliance); with --grid, as a panel "
                         "beside the grid")
    display.add_argument("--offset", type=int, default=0, help="single: show sequence %% stride == offset")
    display.add_argument("--stride", type=int, default=1, help="single: how many screens share the loop")
    display.add_argument("--show-invoking", action="store_true", help="single: show a running invocation's "
                         "model and waiting timer instead of keeping the last finished one")
    display.add_argument("--terminal", action="store_true", help="visitor console: type a prompt, Enter "
                         "starts a run (an empty line presses the button)")
    display.add_argument("--button-key", default="return", help="the key that presses the panic button "
                         "(a pygame key name; USB big red buttons send Enter)")
    display.add_argument("--qr", nargs="?", const="visit", default="", metavar="URL",
                         help="show a QR code: the visitors' prompt page with a fresh pass (or the "
                         "about page if visitors are off); `--qr about` the about page; or URL")
    display.add_argument("--windowed", action="store_true", help="a window instead of fullscreen")
    display.add_argument("--size", metavar="WxH", help="window or screenshot size, e.g. 1280x720")
    display.add_argument("--fps", type=float, default=20.0, help="frames per second")
    display.add_argument("--screenshot", metavar="PATH", help="write what it draws to this PNG (at most once "
                         "a second, and on exit)")
    display.add_argument("--exit-after", type=float, metavar="SECONDS", help="quit after this long")
    display.add_argument("--reel", metavar="FILE", help="the backup reel (made by `panic-edge record`): played "
                         "in a loop while the daemon is unreachable, until it is back")
    display.add_argument("--reel-after", type=float, default=60.0, metavar="SECONDS", help="how long the "
                         "daemon must be unreachable before the reel plays")
    speaker = add("speaker", cmd_speaker, "a speaker node: play a network's audio outputs in order")
    _node_args(speaker)
    speaker.add_argument("--speak-text", action="store_true", help="also speak text outputs (espeak-ng)")
    speaker.add_argument("--max-behind", type=int, default=2, help="clips kept waiting when behind; older "
                         "ones are skipped")
    speaker.add_argument("--stale-after", type=float, default=120.0, help="skip clips older than this many "
                         "seconds")
    board = add("vestaboard", cmd_vestaboard, "a Vestaboard bridge: show a network's text outputs "
                "(key in $PANIC_EDGE_VESTABOARD_KEY)")
    _node_args(board)
    board.add_argument("--api", choices=("local", "rw"), default="local", help="the board's Local API, or "
                       "the Read/Write cloud API")
    board.add_argument("--url", help="the API's base URL (default: http://vestaboard.local:7000 for local, "
                       "https://rw.vestaboard.com for rw)")
    board.add_argument("--board", choices=("flagship", "note"), default="flagship", help="6x22 flagship or "
                       "3x15 Note")
    board.add_argument("--min-interval", type=float, help="seconds between messages (default: 10 local, 15 rw)")
    board.add_argument("--stride", type=int, default=1, help="with several boards on one network: how many "
                       "share the loop")
    board.add_argument("--offset", type=int, default=0, help="show the text outputs with sequence %% stride "
                       "== offset")
    board.add_argument("--show-prompt", action="store_true", help="when a run starts, show its starting prompt")
    rec = add("record", cmd_record, "the backup reel: a run (the latest, --run, or the last --hours) drawn "
              "as a screen shows it, into a video file with its sound (.mp4: H.264/AAC, .webm: VP9/Opus)")
    rec.add_argument("file", metavar="FILE", help="the video to write, e.g. /var/lib/panic-edge/reel.mp4")
    rec.add_argument("--network", help="the network (default: the configured default_network)")
    rec.add_argument("--run", metavar="RUN_ID", help="this run (default: the network's latest)")
    rec.add_argument("--hours", type=float, help="the network's last HOURS, across runs")
    rec.add_argument("--grid", metavar="ROWSxCOLS", help="drawn as `display --grid` draws (default: one "
                     "output at a time)")
    rec.add_argument("--size", default="1280x720", metavar="WxH", help="the picture size (even numbers)")
    rec.add_argument("--seconds-per-step", type=float, default=6.0, help="how long each output is shown")
    rec.add_argument("--fps", type=int, default=10, choices=range(1, 61), metavar="N",
                     help="frames per second (1-60)")
    rec.add_argument("--max-steps", type=int, default=500, help="at most this many outputs (the newest)")
    install = add("install", cmd_install, "write and enable the services for what this machine runs: the "
                  "daemon and a node per [nodes.<name>] table (systemd; launchd agents on macOS); run again, "
                  "it takes out the nodes the config no longer names")
    uninstall = add("uninstall", cmd_uninstall, "disable and remove the services install wrote (the config, "
                    "credentials and data stay)")
    for p in (install, uninstall):
        p.add_argument("--root", metavar="DIR", help="write (the files, and the links that enable the units) "
                       "under DIR as if it were / and run nothing (packaging, tests): the commands are printed "
                       "instead")
        p.add_argument("--user", action="store_true", help="services of this user (systemd --user, e.g. "
                       "a desktop session) instead of system services")
        p.add_argument("--init", choices=("systemd", "launchd"), help="default: launchd on macOS, "
                       "systemd elsewhere")
    for p in (install, uninstall):
        p._option_string_actions["--config"].help = ("the config the services read (default: $PANIC_EDGE_CONFIG, "
                                                     "else /etc/panic-edge/panic-edge.toml, or "
                                                     "~/.config/panic-edge/panic-edge.toml for --user)")
    install.add_argument("--no-daemon", action="store_true", help="only the nodes: the daemon runs on "
                         "another machine")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        if getattr(args, "node", None):
            args = _with_node(parser, args, argv)
        return int(args.func(args))
    except PanicEdgeError as err:
        print(f"panic-edge: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
