"""``python -m panic_edge.insight.worker``: the insight worker process, started by the daemon.

A separate process so that numpy, the embedding model and ripser never share the daemon's
interpreter: the loop never waits on them (the GIL included), their memory is not the daemon's,
and a crash of a native library ends this process, not the appliance. It runs at a lower
priority (nice 10): it yields the CPU to the loop.

It never writes the database: it reads on a read-only connection and sends what is to be
stored to the daemon, whose one writer commits it (``insight.changes``). A worker that is
stopped, starved or slow therefore holds no lock anything else waits for.

Protocol, one JSON object per line. The first line on stdin is the settings; then jobs
``{"invocation_id": "..."}``, one at a time (the daemon sends the next only after an answer).
On stdout: ``{"kind": "ready", "model", "dim", "image_model"}`` once the model is loaded, or
``{"kind": "off", "reason"}`` and exit when it cannot be; then for every job, zero or more
``{"kind": "write", ...}`` lines (``Changes``, a chunk each, committed by the daemon in order
before it publishes), then ``{"kind": "done", "invocation_id", "seconds", "payload", ...}``
followed, when ``payload`` is true, by one more line: the insight message to publish, exactly as
it goes out (the daemon never decodes it), or ``{"kind": "error", "invocation_id", "error"}``.
Anything a library prints goes to stderr, never into the protocol. End of stdin ends the
process. The daemon owns its lifetime: the worker ignores SIGINT (the daemon starts it in a
process group of its own, so a terminal's Ctrl-C reaches only the daemon, which then closes the
worker's stdin), and SIGTERM ends it quietly.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("panic_edge.insight")


def _send(out: IO[str], message: dict[str, Any]) -> None:
    out.write(json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n")
    out.flush()


def serve(settings: dict[str, Any], jobs: IO[str], out: IO[str]) -> int:
    from panic_edge.core.trajectory import Thresholds
    from panic_edge.errors import InsightError
    from panic_edge.insight import db
    from panic_edge.insight.changes import Changes
    from panic_edge.insight.embedders import load_embedder
    from panic_edge.insight.tracker import Tracker, TrackerSettings

    threads = int(settings.get("threads", 2))
    try:
        text = load_embedder(Path(settings["model_dir"]), threads)
    except InsightError as err:
        _send(out, {"kind": "off", "reason": str(err)})
        return 0
    image, image_error = None, None
    if settings.get("image_model_dir"):
        try:
            image = load_embedder(Path(settings["image_model_dir"]), threads)
            if image.modality != "image":
                image, image_error = None, f"{settings['image_model_dir']} is not an image model"
        except InsightError as err:
            image_error = str(err)
    try:
        conn = db.connect(Path(settings["database"]), readonly=True)
        conn.execute("PRAGMA cache_size = -1024")  # 1 MiB of pages: a job reads a run's newest 500 rows
    except sqlite3.Error as err:
        _send(out, {"kind": "off", "reason": f"cannot read the database {settings['database']}: {err}"})
        return 0

    def sink(changes: Changes) -> None:
        for chunk in changes.chunks():
            _send(out, {"kind": "write", **chunk.to_json()})

    thresholds = Thresholds(int(settings.get("stuck_steps", 3)), float(settings.get("stuck_epsilon", 0.2)),
                            float(settings.get("loop_epsilon", 0.25)))
    tracker = Tracker(conn, text if text.modality == "text" else None, image,
                      Path(settings["archive"]) if settings.get("archive") else None,
                      TrackerSettings(int(settings.get("window", 200)), thresholds, dict(settings.get("labels", {}))),
                      sink=sink)
    _send(out, {"kind": "ready", "model": text.name, "dim": text.dim, "image_model": image.name if image else None,
                "image_error": image_error, "pid": os.getpid()})
    for line in jobs:
        invocation_id = None
        try:
            job = json.loads(line)
            invocation_id = job["invocation_id"]
            if not isinstance(invocation_id, str):
                raise TypeError("invocation_id must be a string")
        except (ValueError, KeyError, TypeError) as err:
            _send(out, {"kind": "error", "invocation_id": None, "error": f"bad job: {err}"})
            continue
        began = time.perf_counter()
        try:
            insight = tracker.handle(invocation_id)
        except sqlite3.Error as err:
            _send(out, {"kind": "error", "invocation_id": invocation_id, "error": f"database: {err}"})
            continue
        except Exception as err:  # a bug or a library's surprise: this output stays without insight
            log.warning("insight: %s failed", invocation_id, exc_info=True)
            _send(out, {"kind": "error", "invocation_id": invocation_id, "error": f"{type(err).__name__}: {err}"})
            continue
        header: dict[str, Any] = {"kind": "done", "invocation_id": invocation_id,
                                  "seconds": round(time.perf_counter() - began, 4), "payload": insight is not None}
        if insight is None:
            _send(out, header)
            continue
        header.update(network=insight.network, run_id=insight.run_id, sequence=insight.sequence,
                      embedding_model=insight.embedding_model)
        payload = json.dumps(insight.to_json(), ensure_ascii=False, separators=(",", ":"))
        out.write(json.dumps(header, separators=(",", ":")) + "\n" + payload + "\n")  # one line each
        out.flush()
    conn.close()
    return 0


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the daemon's: it ends us by closing stdin
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # a library's print() lands in the log, not in the protocol
    sys.stdout = sys.stderr
    try:
        os.nice(10)
    except OSError:
        pass
    from panic_edge.logs import setup_logging

    setup_logging()
    first = sys.stdin.readline()
    try:
        settings = json.loads(first)
    except ValueError:
        _send(protocol, {"kind": "off", "reason": "the worker got no settings"})
        return 2
    return serve(settings, sys.stdin, protocol)


if __name__ == "__main__":
    sys.exit(main())
