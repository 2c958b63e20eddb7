"""The limit for the loop benchmark: the least durable work that keeps the appliance's promise.

    python -m bench.minimal --db FILE --files DIR --url mqtt://127.0.0.1:PORT --topic T --n 3000 --publishes 3

Nothing is published before it is durable, so per invocation, in one plain loop: for every
other invocation write an image file atomically and durably, as the bench network's painter
does and as ``Archive.write`` writes it (a private temporary file, fsync, rename, fsync of the
folder); then ONE transaction (synchronous=FULL) that completes this invocation and creates the
next one, already invoking; then the QoS 1 messages of that step: completed, and the next one's
ready and invoking (``--publishes`` beyond 3 add the network state). Same schema, indexes,
triggers and pragmas (WAL, synchronous=FULL, foreign keys) as the daemon's store; no framework,
no threads of its own. Prints one JSON line: invocations, seconds, per_second.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.common import CAPTION, TINY_PNG
from panic_edge.private_files import fsync_dir, open_private  # Archive.write's own primitives
from panic_edge.store.migrations import migrate  # the schema only: the same tables and indexes


def invocation_body(inv_id: str, run_id: str, sequence: int, state: str) -> bytes:
    """A message the size and shape of the daemon's invocation message."""
    return json.dumps({
        "id": inv_id, "run_id": run_id, "network": "bench", "sequence": sequence, "model": "bench-painter",
        "model_name": "Bench Painter", "state": state, "input_type": "text", "output_type": "image",
        "input": "A bright picture of sandy gold and silver, calm, centred.",
        # the media base the bench's display nodes are told (port 9: their backfill fails at once)
        "output": f"http://127.0.0.1:9/media/bench/{inv_id}.png" if state == "completed" else None,
        "output_mime": "image/png" if state == "completed" else None, "flags": [], "error": None,
        "created_at": time.time(), "started_at": time.time(), "finished_at": None,
        "meta": {"predict_time": 0.0, "cost_usd": 0.0}}).encode()


def state_body(run_id: str, sequence: int) -> bytes:
    return json.dumps({"network": "bench", "state": "running", "run_id": run_id, "sequence": sequence,
                       "model": "bench-captioner", "lockout_until": time.time(),
                       "updated_at": time.time()}).encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--files", type=Path, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--publishes", type=int, default=3, help="QoS 1 messages per invocation (>= 1)")
    args = parser.parse_args()

    args.db.parent.mkdir(parents=True, exist_ok=True)
    args.files.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(args.db, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    migrate(db)
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")

    host, port = args.url.removeprefix("mqtt://").rsplit(":", 1)
    connected = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-minimal-{os.getpid()}")
    client.max_queued_messages_set(0)
    client.on_connect = lambda *_: connected.set()
    client.connect(host, int(port))
    client.loop_start()
    if not connected.wait(10):
        raise SystemExit("minimal: could not reach the broker")

    run_id = uuid.uuid4().hex
    insert = ("INSERT INTO invocations (id, run_id, network, sequence, model, state, input_type, input_text, "
              "input_file, output_type, created_at, started_at) "
              "VALUES (?, ?, 'bench', ?, ?, 'invoking', ?, ?, ?, ?, ?, ?)")
    models = (("bench-painter", "text", "image"), ("bench-captioner", "image", "text"))

    def values(sequence: int) -> tuple[object, ...]:
        model, given, gives = models[sequence % 2]
        now = time.time()
        text = CAPTION if given == "text" else None
        file = None if text is not None else f"bench/{run_id}.{sequence - 1}.png"
        return (f"{run_id}.{sequence}", run_id, sequence, model, given, text, file, gives, now, now)

    with db:
        db.execute("INSERT INTO runs (id, network, prompt, started_at) VALUES (?, ?, ?, ?)",
                   (run_id, "bench", "a camel", time.time()))
        db.execute(insert, values(0))
    extra = max(0, args.publishes - 3)  # beyond completed, ready and invoking: the network state
    began = time.perf_counter()
    info = None
    for sequence in range(args.n):
        inv_id = f"{run_id}.{sequence}"
        output_file, output_text = None, None
        if sequence % 2 == 0:
            target = args.files / f"{inv_id}.png"
            tmp = target.with_suffix(".png.part")
            with os.fdopen(open_private(tmp), "wb") as fh:
                fh.write(TINY_PNG)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            fsync_dir(args.files)  # the rename durable too, as the archive makes it
            output_file = target.name
        else:
            output_text = CAPTION
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE invocations SET state = 'completed', output_text = ?, output_file = ?, "
                   "finished_at = ?, meta = '{}' WHERE id = ? AND state IN ('ready', 'invoking')",
                   (output_text, output_file, time.time(), inv_id))
        db.execute(insert, values(sequence + 1))
        db.execute("COMMIT")
        info = client.publish(args.topic, invocation_body(inv_id, run_id, sequence, "completed"), qos=1)
        if args.publishes >= 2:
            info = client.publish(args.topic, invocation_body(f"{run_id}.{sequence + 1}", run_id, sequence + 1,
                                                              "ready"), qos=1)
        if args.publishes >= 3:
            info = client.publish(args.topic, invocation_body(f"{run_id}.{sequence + 1}", run_id, sequence + 1,
                                                              "invoking"), qos=1)
        for _ in range(extra):
            info = client.publish(args.topic + "/state", state_body(run_id, sequence), qos=1, retain=True)
    if info is not None:
        info.wait_for_publish(30)
    seconds = time.perf_counter() - began
    client.disconnect()
    client.loop_stop()
    db.close()
    print(json.dumps({"invocations": args.n, "seconds": round(seconds, 4),
                      "per_second": round(args.n / seconds, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
