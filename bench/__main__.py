"""``python -m bench [--quick] [--only NAME ...]``: every benchmark, one JSON document on stdout.

One private Mosquitto (``LocalBroker``, free loopback port) and one scratch folder serve every
benchmark. Progress goes to stderr, the daemons' own logs to files in the scratch folder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench import (
    day,
    disk,
    fanout,
    footprint,
    fuzz,
    history,
    images,
    insight,
    loop,
    networks,
    offline,
    press,
    screen,
    spend,
)
from bench.common import machine
from panic_edge import __version__
from panic_edge.broker import LocalBroker

Bench = Callable[[LocalBroker, Path, bool], Awaitable[dict[str, Any]]]


async def _sync(run: Callable[[LocalBroker, Path, bool], dict[str, Any]], broker: LocalBroker, work: Path,
                quick: bool) -> dict[str, Any]:
    return await asyncio.to_thread(run, broker, work, quick)


BENCHMARKS: dict[str, Bench] = {
    "loop_overhead": loop.run,
    "windowed_reads": history.run,
    "network_scaling": networks.run,
    "fanout_latency": fanout.run,
    "press_to_dispatch": press.run,
    "offline_notice": offline.run,
    "footprint": lambda b, w, q: _sync(footprint.run, b, w, q),
    "screen_node": lambda b, w, q: _sync(screen.run, b, w, q),
    "mqtt_fuzz": lambda b, w, q: _sync(fuzz.run, b, w, q),
    "archived_images": lambda b, w, q: _sync(images.run, b, w, q),
    "insight": insight.run,
    "spend_query": lambda b, w, q: _sync(spend.run, b, w, q),
    "disk_per_day": disk.run,
    "gallery_day": lambda b, w, q: _sync(day.run, b, w, q),
}


async def run_all(names: list[str], quick: bool, keep: Path | None) -> dict[str, Any]:
    began = time.monotonic()
    report: dict[str, Any] = {"panic_edge": __version__, "quick": quick,
                              "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="panic-bench-") as scratch, LocalBroker() as broker:
        work = keep or Path(scratch)
        logging.basicConfig(filename=work / "bench.log", level=logging.INFO,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
        for name in names:
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            started = time.monotonic()
            try:
                (work / name).mkdir(parents=True, exist_ok=True)
                result = await BENCHMARKS[name](broker, work / name, quick)
            except Exception as err:  # one broken benchmark must not hide the others' figures
                logging.getLogger("bench").exception("%s failed", name)
                result = {"error": f"{type(err).__name__}: {err}"}
                print(f"bench: {name} failed: {result['error']}", file=sys.stderr, flush=True)
            result["bench_seconds"] = round(time.monotonic() - started, 1)
            report[name] = result
            print(f"bench: {name} done in {result['bench_seconds']} s", file=sys.stderr, flush=True)
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["seconds"] = round(time.monotonic() - began, 1)
    report["goals_met"] = {name: report[name].get("met") for name in names if "met" in report[name]}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run", description="panic-edge's own overhead, as JSON")
    parser.add_argument("--quick", action="store_true", help="small counts: checks the suite runs (~20 s)")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), metavar="NAME",
                        help=f"run only these: {', '.join(BENCHMARKS)}")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the scratch files (logs, databases) in DIR")
    args = parser.parse_args(argv)
    names = [n for n in BENCHMARKS if not args.only or n in args.only]
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    report = asyncio.run(run_all(names, args.quick, args.keep))
    print(json.dumps(report, indent=2))
    return 1 if any("error" in report[n] for n in names) else 0


if __name__ == "__main__":
    sys.exit(main())
