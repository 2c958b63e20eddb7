"""MQTT fuzz: a real ``panic-edge run`` process under 10,000 hostile payloads on the topics it reads.

The payloads come from the fuzz suite's strategies (``tests/hostile.py``: arbitrary bytes, unicode
with lone surrogates, JSON nested thousands deep, integers with thousands of digits, commands with
hostile fields) on ``cmd/*`` and ``nodes/+/+``: DISTINCT generated messages, each sent REPEATS
times. They go out in bursts of BURST; after each burst a valid ``stop-all`` with a request_id is
timed to its reply (it queues behind the burst: the figure is what a visitor's command costs while
the appliance is being flooded). The same command is timed on the idle daemon first. RSS is read
from /proc before, along the way and after each pass (the same messages again: a leak keeps
climbing, a high-water mark does not); the daemon must still be running and have logged no
``bug:`` (a last-resort guard firing) at the end.

Then a flood: FLOOD status messages of 3 KB on ``nodes/+/status`` (QoS 0, 50 node ids, as fast as
one client sends them; issue 10 measured 43 s for a ``stop-all`` behind 100,000 of them), and a
``stop-all`` timed once the broker holds them all.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from hypothesis import HealthCheck, given, settings
from paho.mqtt.enums import CallbackAPIVersion

from bench.common import NETWORK, daemon_process, goal, latency_stats, mib, rss_kib
from panic_edge.broker import LocalBroker
from tests import hostile
from tests.fuzz_client import FuzzClient

BURST = 100
GROWTH_GOAL_MIB = 8  # the allocator's high-water mark after parsing thousands of 16 KB payloads
LEAK_GOAL_MIB = 1  # from the end of the first pass to the end of the last
REPLY_GOAL_MS = 250  # p99 of a command answered behind a burst of 100 hostile payloads
FLOOD_GOAL_MS = 1000  # a command behind a flood of status messages


def generate(count: int) -> list[tuple[str, bytes, bool]]:
    """``count`` messages for the daemon's topics, the same ones on every run (derandomized)."""
    out: list[tuple[str, bytes, bool]] = []

    @settings(max_examples=count, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(hostile.message(hostile.daemon_suffix))
    def collect(message: tuple[str, bytes, bool]) -> None:
        out.append(message)

    collect()
    return out


def run(broker: LocalBroker, work: Path, quick: bool) -> dict[str, Any]:
    distinct, repeats = (200, 2) if quick else (2_500, 4)
    began = time.monotonic()
    messages = generate(distinct)
    generate_s = time.monotonic() - began
    appliance = f"bench-fuzz-{os.getpid()}"
    home = work / "fuzz"
    with daemon_process(broker.url, home, appliance, NETWORK) as (process, _, _):
        client = FuzzClient(broker.url, f"panic/{appliance}")
        try:
            idle = [client.command("stop-all", {}, 30)[1] for _ in range(50)]
            rss_before = rss_kib(process.pid)
            under_fuzz: list[float] = []
            rss_peak = rss_before
            sent = 0
            fuzz_began = time.monotonic()
            per_pass: list[float] = []  # RSS after each pass over the same messages: a leak keeps climbing
            for _ in range(repeats):
                for start in range(0, len(messages), BURST):
                    batch = messages[start:start + BURST]
                    client.fuzz(batch, wait=False)
                    sent += len(batch)
                    under_fuzz.append(client.command("stop-all", {}, 30)[1])
                    rss_peak = max(rss_peak, rss_kib(process.pid))
                per_pass.append(mib(rss_kib(process.pid)))
            fuzz_s = time.monotonic() - fuzz_began
            rss_after = rss_kib(process.pid)
            flood = 5_000 if quick else 100_000
            behind_flood = _behind_a_flood(broker, appliance, client, flood)
            rss_flood = rss_kib(process.pid)
            alive = process.poll() is None
        finally:
            client.close()
    log_path = home / "daemon.log"
    bugs = sum(1 for line in log_path.read_text(errors="replace").splitlines() if "bug:" in line)
    growth = round(mib(rss_after) - mib(rss_before), 1)
    after_first = round(per_pass[-1] - per_pass[0], 1)
    replies = latency_stats(under_fuzz)
    return {
        "what": "a real `panic-edge run` under hostile MQTT payloads on cmd/* and nodes/+/+ "
                "(tests/hostile.py strategies), a timed stop-all after every burst of 100",
        "payloads": sent, "distinct_payloads": len(messages), "generate_s": round(generate_s, 1),
        "fuzz_seconds": round(fuzz_s, 1), "payloads_per_second": round(sent / fuzz_s) if fuzz_s else None,
        "reply_idle": latency_stats(idle), "reply_after_a_burst": replies,
        "rss_before_mib": mib(rss_before), "rss_peak_mib": mib(rss_peak), "rss_after_mib": mib(rss_after),
        "growth_mib": growth, "rss_after_each_pass_mib": per_pass, "growth_after_the_first_pass_mib": after_first,
        "daemon_alive": alive, "bugs_logged": bugs,
        "flood": {"status_messages": flood, "bytes_each": 3000, "reply_behind_it_ms": round(behind_flood * 1000, 1),
                  "rss_after_mib": mib(rss_flood)},
        **goal(alive and bugs == 0 and growth <= GROWTH_GOAL_MIB and after_first <= LEAK_GOAL_MIB
               and (replies["p99_ms"] or 0) < REPLY_GOAL_MS and behind_flood * 1000 < FLOOD_GOAL_MS,
               f"alive, no bug logged, RSS grows at most {GROWTH_GOAL_MIB} MB and at most {LEAK_GOAL_MIB} MB once "
               f"every message has been seen (the same again is no leak), and a command behind a burst of "
               f"{BURST} hostile payloads is answered within {REPLY_GOAL_MS} ms (p99), and one behind a flood "
               f"of status messages within {FLOOD_GOAL_MS} ms"),
    }


def _behind_a_flood(broker: LocalBroker, appliance: str, client: FuzzClient, count: int) -> float:
    """Seconds from a stop-all to its answer, sent once the broker holds ``count`` status messages."""
    host, port = broker.url.removeprefix("mqtt://").split(":")
    flooder = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-flood-{os.getpid()}")
    flooder.connect(host, int(port))
    flooder.loop_start()
    try:
        body = json.dumps({"kind": "display", "network": NETWORK, "pad": "x" * 2950}).encode()
        for n in range(count):
            flooder.publish(f"panic/{appliance}/nodes/flood-{n % 50}/status", body, qos=0)
        # QoS 1 behind them on the same connection: acknowledged once the broker has read the flood
        flooder.publish(f"panic/{appliance}/nodes/flood-0/availability", b"offline", qos=1).wait_for_publish(120)
        return client.command("stop-all", {}, 120)[1]
    finally:
        flooder.disconnect()
        flooder.loop_stop()
