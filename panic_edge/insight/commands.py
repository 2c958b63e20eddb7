"""``panic-edge insight fetch | backfill | export | status``: the insight commands."""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

from panic_edge.config import Config
from panic_edge.errors import InsightError
from panic_edge.insight import missing_packages, model_dir, why_off


def add_actions(parser: argparse.ArgumentParser, with_config: Callable[[argparse.ArgumentParser], object]) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, func: Callable[[argparse.Namespace, Config], int], help: str) -> argparse.ArgumentParser:
        p = actions.add_parser(name, help=help, description=help)
        with_config(p)
        p.set_defaults(insight=func)
        return p

    from panic_edge.insight.fetch import DEFAULT_MODEL, FETCHABLE

    fetch = action("fetch", cmd_fetch, "download an embedding model once into <data_dir>/insight/models, check it "
                   "against its pinned checksums and print its size; --from DIR installs it from a copied folder")
    fetch.add_argument("model", nargs="?", default=DEFAULT_MODEL, choices=sorted(FETCHABLE), metavar="MODEL",
                       help=f"one of: {', '.join(sorted(FETCHABLE))} (default {DEFAULT_MODEL})")
    fetch.add_argument("--from", dest="source", metavar="DIR", type=Path,
                       help="install from this folder (a USB stick, a copy from another machine) instead of the hub")
    backfill = action("backfill", cmd_backfill, "embed the history that has no embeddings yet and compute its "
                      "insight (safe while the daemon runs)")
    backfill.add_argument("--run", metavar="RUN_ID", help="only this run")
    export = action("export", cmd_export, "write runs, invocations, embeddings, insight points and persistence "
                    "diagrams to DIR as Parquet (pyarrow) or CSV")
    export.add_argument("dir", metavar="DIR", type=Path)
    export.add_argument("--format", choices=("auto", "parquet", "csv"), default="auto",
                        help="auto: Parquet when pyarrow is installed, else CSV")
    action("status", cmd_status, "whether insight can run here, with which model, and what is stored")


def cmd_fetch(args: argparse.Namespace, config: Config) -> int:
    from panic_edge.insight.fetch import install, models_dir, spec_named

    spec = spec_named(args.model)
    origin = args.source or f"{spec.repo}@{spec.revision[:12]}"
    print(f"installing {spec.name} ({spec.size / 1e6:.1f} MB, {spec.dim}-d) from {origin}", file=sys.stderr)
    done = install(spec, models_dir(config.data_dir), args.source, say=lambda m: print(f"  {m}", file=sys.stderr))
    print(f"installed {spec.name}: {done.bytes / 1e6:.1f} MB ({done.bytes:,} bytes), checksums match, in {done.path}")
    configured = model_dir(config)
    if configured.resolve() != done.path.resolve():
        print(f"note: [insight] model_dir points at {configured}, so the daemon will not use this one", file=sys.stderr)
    elif missing_packages():
        print("note: insight also needs the extra: pip install 'panic-edge[insight]'", file=sys.stderr)
    else:
        print("restart the daemon (or the demo) to turn insight on", file=sys.stderr)
    return 0


def _need_extra() -> None:
    missing = missing_packages()
    if missing:
        raise InsightError(f"this needs the insight extra (missing {', '.join(missing)}): "
                           f"pip install 'panic-edge[insight]'")


def cmd_backfill(args: argparse.Namespace, config: Config) -> int:
    _need_extra()
    from panic_edge.core.catalogue import CATALOGUE
    from panic_edge.core.trajectory import Thresholds
    from panic_edge.insight import db
    from panic_edge.insight.changes import applier
    from panic_edge.insight.embedders import load_embedder
    from panic_edge.insight.tracker import Tracker, TrackerSettings
    from panic_edge.store.migrations import migrate

    if not config.database_path.exists():
        raise InsightError(f"no database at {config.database_path}: nothing to backfill")
    conn = db.connect(config.database_path)
    try:
        migrate(conn)
    except (sqlite3.Error, RuntimeError) as err:
        raise InsightError(f"cannot prepare {config.database_path}: {err}") from None
    text = load_embedder(model_dir(config))
    embedders = [text]
    if config.insight.image_model_dir is not None:
        embedders.append(load_embedder(config.insight.image_model_dir.expanduser()))
    ins = config.insight
    tracker = Tracker(conn, text if text.modality == "text" else None,
                      next((e for e in embedders if e.modality == "image"), None), config.archive_dir,
                      TrackerSettings(ins.window, Thresholds(ins.stuck_steps, ins.stuck_epsilon, ins.loop_epsilon),
                                      {m.id: m.label for m in CATALOGUE.values()}), sink=applier(conn))
    began = time.monotonic()
    for embedder in embedders:
        before = db.count_embeddings(conn, embedder.name)
        runs = db.runs_missing(conn, embedder.name, embedder.modality, args.run)
        for n, run_id in enumerate(runs, 1):
            tracker.update_run(run_id, embedder, similar=True, history=None)
            if n % 50 == 0:
                print(f"  {n}/{len(runs)} runs", file=sys.stderr)
        added = db.count_embeddings(conn, embedder.name) - before
        print(f"{embedder.name}: embedded {added} outputs, brought {len(runs)} runs up to date "
              f"({time.monotonic() - began:.1f} s)")
    conn.close()
    return 0


def cmd_export(args: argparse.Namespace, config: Config) -> int:
    from panic_edge.insight.export import export

    for path, rows in export(config.database_path, args.dir, args.format).items():
        print(f"{path}: {rows} rows")
    return 0


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    reason = why_off(config)
    print(f"insight: {'off: ' + reason if reason else 'can run'}")
    print(f"model folder: {model_dir(config)}")
    if config.database_path.exists():
        from panic_edge.insight import db

        conn = db.connect(config.database_path, readonly=True)
        try:
            for model, count, dim in conn.execute("SELECT model, count(*), max(dim) FROM embeddings GROUP BY model"):
                print(f"stored: {count} embeddings of {model} ({dim}-d)")
        except sqlite3.Error as err:  # an older database without the insight tables
            print(f"stored: nothing ({err})")
        finally:
            conn.close()
    return 0
