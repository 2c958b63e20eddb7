"""Footprint: a real ``panic-edge run`` process: time to systemd-ready, idle RSS, RSS under load.

The daemon is started as systemd would start it, with NOTIFY_SOCKET pointing at a unix datagram
socket this benchmark holds; ready time runs from spawn to the ``READY=1`` datagram. It runs a
network of the local text->text model at zero latency (``local_models.latency = 0``) for
INVOCATIONS invocations, counted from its own SQLite file by a read-only connection; RSS is read
from /proc along the way. Last, the RSS of a real screen node (``bench.screen.node_rss``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.common import NETWORK, daemon_process, goal, mib, rss_kib
from bench.screen import node_rss
from panic_edge.broker import LocalBroker

RSS_GOAL_MIB = 60
READY_GOAL_S = 1.0
GROWTH_GOAL_MIB = 5  # "no growth beyond a few MB"


def _command(port: int, topic: str, body: dict[str, str]) -> None:
    """Publish one command to the daemon at QoS 1 and wait for the broker to take it."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-footprint-cmd-{time.monotonic_ns()}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, json.dumps(body), qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def _count(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT count(*) FROM invocations").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0



def run(broker: LocalBroker, work: Path, quick: bool) -> dict[str, Any]:
    target = 1_000 if quick else 100_000
    settle = 0.5 if quick else 2.0
    # The data folder goes on tmpfs where there is one: memory is the question here, and with
    # fsync near free the 100,000 invocations fit the suite's five minutes (fsync is measured
    # by loop_overhead). The daemon's log and the notify socket stay in the scratch folder.
    appliance = f"bench-footprint-{os.getpid()}"
    with daemon_process(broker.url, work / "footprint", appliance, NETWORK) as (process, data, ready_s):
        time.sleep(settle)  # idle: the HTTP and MQTT threads settled
        idle = rss_kib(process.pid)
        db = data / "panic-edge.sqlite3"
        _command(broker.port, f"panic/{appliance}/cmd/start",
                 {"network": "poet-loop", "prompt": "a camel in the desert"})
        samples: list[dict[str, Any]] = []
        began = time.monotonic()
        marks = sorted({target // 10, target // 4, target // 2, 3 * target // 4, target})
        count = 0
        deadline = began + (60 if quick else 240)
        while marks and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.25)
            count = _count(db)
            while marks and count >= marks[0]:
                marks.pop(0)
                samples.append({"invocations": count, "rss_mib": mib(rss_kib(process.pid)),
                                "seconds": round(time.monotonic() - began, 1)})
        seconds = time.monotonic() - began
        _command(broker.port, f"panic/{appliance}/cmd/stop", {"network": "poet-loop"})
        time.sleep(settle)
        after = rss_kib(process.pid)
        count = _count(db)
    try:
        screen_rss = node_rss(broker, work, 1.5 if quick else 3.0)
    except (OSError, RuntimeError) as err:  # the daemon's figures stand without it
        screen_rss = {"error": f"{type(err).__name__}: {err}"}
    first = samples[0]["rss_mib"] if samples else mib(idle)
    growth = round(mib(after) - first, 1)
    reached = count >= target
    return {
        "what": "a real `panic-edge run` (mock GPIO, HTTP thread, MQTT, SQLite) started with NOTIFY_SOCKET; "
                "then a loop of the local text->text model at zero latency",
        "data_dir_on": "tmpfs" if str(data).startswith("/dev/shm") else "disk",
        "ready_s": round(ready_s, 3),
        "idle_rss_mib": mib(idle),
        "invocations": count, "invocations_target": target, "loop_seconds": round(seconds, 1),
        "invocations_per_second": round(count / seconds, 1) if seconds else None,
        "rss_along_the_way": samples,
        "rss_after_mib": mib(after),
        "growth_mib": growth,
        "screen_node_rss": screen_rss,
        "goals": {"ready": goal(ready_s < READY_GOAL_S, f"systemd-ready under {READY_GOAL_S:g} s"),
                  "rss": goal(max(idle, after) / 1024 < RSS_GOAL_MIB, f"daemon RSS under {RSS_GOAL_MIB} MB"),
                  "growth": goal(reached and growth <= GROWTH_GOAL_MIB,
                                 f"RSS grows no more than {GROWTH_GOAL_MIB} MB from the first tenth "
                                 f"of the invocations to the last")},
        **goal(ready_s < READY_GOAL_S and max(idle, after) / 1024 < RSS_GOAL_MIB and reached
               and growth <= GROWTH_GOAL_MIB, "all of the above"),
    }
