"""The ``panic-edge`` command. `panic-edge --help` lists the subcommands; docs/cli.md is generated."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from panic_edge import __version__
from panic_edge.config import Config, load_config
from panic_edge.core.catalogue import CATALOGUE
from panic_edge.errors import ConfigError, PanicEdgeError
from panic_edge.network_files import load_networks

log = logging.getLogger("panic_edge")


def setup_logging(verbose: bool = False) -> None:
    under_systemd = "JOURNAL_STREAM" in os.environ or "INVOCATION_ID" in os.environ
    fmt = "%(levelname)s %(name)s: %(message)s" if under_systemd else "%(asctime)s %(message)s"
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=fmt, datefmt="%H:%M:%S",
                        stream=sys.stderr)
    for noisy in ("waitress", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _config(args: argparse.Namespace) -> Config:
    path = args.config or os.environ.get("PANIC_EDGE_CONFIG")
    return load_config(Path(path) if path else None)


# --- subcommands ------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:

    config = _config(args)
    networks = load_networks(config.networks_dir, CATALOGUE)
    asyncio.run(_run_daemon(config, networks))
    return 0


async def _run_daemon(config: Config, networks, autostart: bool = False) -> None:  # type: ignore[no-untyped-def]
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

    os.environ.setdefault("PANIC_EDGE_LOCAL_MODELS_LATENCY", str(args.latency))
    config = _config(args)
    broker = None
    if not port_open(config.mqtt.host, config.mqtt.port):
        try:
            broker = LocalBroker(config.mqtt.port if config.mqtt.host in ("127.0.0.1", "localhost") else None)
            broker.start()
        except PanicEdgeError:
            if broker is None:
                raise
            broker = LocalBroker().start()  # the configured port is taken by something else
        config = config.model_copy(update={"mqtt": config.mqtt.model_copy(update={"url": broker.url})})
        log.info("started a private Mosquitto at %s", broker.url)
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
    models = sorted(CATALOGUE.values(), key=lambda m: (m.io(), m.platform != "local", m.id))
    if args.json:
        print(json.dumps([{"id": m.id, "name": m.label, "platform": m.platform, "input": str(m.input),
                           "output": str(m.output), "warmth": str(m.hints.warmth),
                           "typical_seconds": m.hints.typical_seconds, "ref": m.ref,
                           "available": platforms.available(m.platform), "description": m.description}
                          for m in models], indent=2))
        return 0
    print(f"{'id':<22} {'io':<13} {'platform':<10} {'hints':<12} {'name'}")
    for m in models:
        mark = "" if platforms.available(m.platform) else "  [unavailable]"
        hints = f"{m.hints.warmth} ~{m.hints.typical_seconds:g}s"
        print(f"{m.id:<22} {m.io():<13} {m.platform:<10} {hints:<12} {m.label}{mark}")
    for name in sorted({m.platform for m in models if not platforms.available(m.platform)}):
        print(f"[unavailable] {name}: {platforms.why_missing(name)}")
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
    for name, problem in sorted(loaded.problems.items()):
        print(f"{name:<24} INVALID: {problem}")
    return 1 if (args.action == "validate" and loaded.problems) else 0


def cmd_backup(args: argparse.Namespace) -> int:
    from panic_edge.backup import rotate

    config = _config(args)
    made, dropped = rotate(config.database_path, config.backups_dir, config.backups.keep)
    print(f"backed up to {made}" + (f" ({len(dropped)} old ones removed)" if dropped else ""))
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


def cmd_display(args: argparse.Namespace) -> int:
    from panic_edge.nodes.feed import Single, parse_grid
    from panic_edge.nodes.screen.app import DisplayOptions, run_display

    try:
        selection = parse_grid(args.grid) if args.grid else Single(args.offset, args.stride, args.show_invoking
                                                                   or args.terminal)
        size = tuple(int(n) for n in args.size.lower().split("x")) if args.size else None
    except ValueError as err:
        raise ConfigError(str(err)) from None
    options = DisplayOptions(args.network or _config(args).default_network, selection, args.terminal,
                             bool(args.qr), None if args.qr in ("", "about") else args.qr, not args.windowed, size,  # type: ignore[arg-type]
                             args.fps, Path(args.screenshot) if args.screenshot else None, args.exit_after,
                             args.button_key, args.node_id)
    asyncio.run(run_display(_config(args), options))
    return 0


def cmd_speaker(args: argparse.Namespace) -> int:
    from panic_edge.nodes.speaker import run_speaker

    config = _config(args)
    asyncio.run(run_speaker(config, args.network or config.default_network, speak_text=args.speak_text,
                            max_behind=args.max_behind, stale_after=args.stale_after, node_id=args.node_id))
    return 0


def cmd_vestaboard(args: argparse.Namespace) -> int:
    from panic_edge.nodes.vestaboard import BoardOptions, read_key, run_vestaboard

    config = _config(args)
    options = BoardOptions(args.network or config.default_network, args.api, args.url, args.board,
                           args.min_interval, args.node_id)
    asyncio.run(run_vestaboard(config, options, read_key()))
    return 0


def _node_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--network", help="the network to follow (default: the configured default_network)")
    p.add_argument("--node-id", help="this node's stable id in MQTT (default: <host>-<kind>-<network>...); "
                   "give two identical nodes on one machine different ids")


# --- parser -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="panic-edge", description="The PANIC! appliance.")
    parser.add_argument("--version", action="version", version=f"panic-edge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help: str) -> argparse.ArgumentParser:  # type: ignore[no-untyped-def]
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--config", metavar="FILE", help="TOML config file (default: $PANIC_EDGE_CONFIG, "
                       "else built-in defaults)")
        p.set_defaults(func=func)
        return p

    add("run", cmd_run, "run the daemon")
    add("backup", cmd_backup, "take an online backup of the database now (safe while the daemon runs), "
        "into <data_dir>/backups")
    restore_cmd = add("restore", cmd_restore, "replace the database with FILE after checking it; the daemon "
                      "must be stopped (the admin page can restore while it runs)")
    restore_cmd.add_argument("file", metavar="FILE")
    demo = add("demo", cmd_demo, "run the daemon on embedded defaults with the demo network of local "
               "models, starting a private Mosquitto if no broker is running")
    demo.add_argument("--latency", type=float, default=1.0, help="seconds each local model takes")
    demo.add_argument("--no-start", action="store_true", help="wait for a press instead of starting a run")
    models = add("models", cmd_models, "list the model catalogue")
    models.add_argument("--json", action="store_true", help="as JSON")
    nets = add("networks", cmd_networks, "list the networks, or validate them (exit 1 if any is invalid)")
    nets.add_argument("action", nargs="?", choices=("list", "validate"), default="list")
    for name, func, help in (("start", cmd_start, "start a run of NETWORK from PROMPT"),
                             ("stop", cmd_stop, "stop NETWORK's run"),
                             ("stop-all", cmd_stop_all, "stop every network"),
                             ("press", cmd_press, "press the panic button (NETWORK defaults to the "
                              "configured default_network)")):
        p = add(name, func, help)
        if name in ("start", "stop"):
            p.add_argument("network")
        if name == "press":
            p.add_argument("network", nargs="?")
        if name == "start":
            p.add_argument("prompt")
        p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the daemon's answer")
    add("hash-password", cmd_hash_password, "print a hash of the admin page's password (asked for "
        "on the terminal, or one line on stdin) for [admin] password_hash")
    display = add("display", cmd_display, "a screen node: show a network's invocations (pygame; fullscreen "
                  "on KMS/DRM on a Pi console)")
    _node_args(display)
    display.add_argument("--grid", metavar="ROWSxCOLS", help="show the ROWS*COLS most recent invocations, "
                         "newest first")
    display.add_argument("--single", action="store_true", help="show one invocation (the default)")
    display.add_argument("--offset", type=int, default=0, help="single: show sequence %% stride == offset")
    display.add_argument("--stride", type=int, default=1, help="single: how many screens share the loop")
    display.add_argument("--show-invoking", action="store_true", help="single: show a running invocation's "
                         "model and waiting timer instead of keeping the last finished one")
    display.add_argument("--terminal", action="store_true", help="visitor console: type a prompt, Enter "
                         "starts a run (an empty line presses the button)")
    display.add_argument("--button-key", default="return", help="the key that presses the panic button "
                         "(a pygame key name; USB big red buttons send Enter)")
    display.add_argument("--qr", nargs="?", const="about", default="", metavar="URL",
                         help="show a QR code to the network's about page (or to URL)")
    display.add_argument("--windowed", action="store_true", help="a window instead of fullscreen")
    display.add_argument("--size", metavar="WxH", help="window or screenshot size, e.g. 1280x720")
    display.add_argument("--fps", type=float, default=20.0, help="frames per second")
    display.add_argument("--screenshot", metavar="PATH", help="write what it draws to this PNG (at most once "
                         "a second, and on exit)")
    display.add_argument("--exit-after", type=float, metavar="SECONDS", help="quit after this long")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(args.func(args))
    except PanicEdgeError as err:
        print(f"panic-edge: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
