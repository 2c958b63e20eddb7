"""A gallery's day and night, 24 hours in a few minutes: the daemon's memory, its archive, the disk,
and whether anything was lost.

The daemon (bench/day_daemon.py, a process of its own) is the real one, configured from the
environment as ``panic-edge run`` is, running the SXSW network ``rapid-fire`` from config/networks
with its real catalogue entries; only the cloud is a stand-in, whose outputs have the models' real
shapes (1024 x 1024 WebP and PNG pictures, captions) and cost what the catalogue says. A gallery's
settings: open 10:00-18:00 with an attract run at opening, the network's own pacing (the
original's ``[[0, 1], [600, 15], [3600, 600]]``), a visitor's press restarting the run every half
hour, a daily budget that runs out in the afternoon (the run then holds), closing ending the run,
and an archive limited to a few dozen pictures, so retention prunes all day.

Time: the daemon's clock starts at 09:00 on a Monday and ends at 09:00 on Tuesday; the open hours
pass ``open_speed`` times faster than real time, the closed ones ``closed_speed`` times. What the
daemon times in real seconds (retention's ``check_interval``, health's ``interval``) is divided by
``open_speed``, so it happens as often per simulated hour as on a real day.

Sampled from outside the process every ``sample_every`` simulated seconds: its RSS (/proc), the
archive's bytes (the files' sizes, as retention counts them), the disk's free bytes and the
completed invocations (the database, read-only). At the end (SIGTERM: a clean stop) it checks
that nothing was lost: every call the stand-in answered is a completed invocation in the
database, except calls whose run a press replaced (or closing time ended) while they were in
flight, whose invocations the runner fails as "cancelled"; every completed invocation reached
MQTT; every run's sequences are consecutive; every archived file that was not pruned is there;
and the archive is within its limit. The curves go
into a PNG (bench/chart.py) beside the scratch files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.chart import Chart, Panel, Series, draw
from bench.common import goal, mib, rss_kib, stop_process
from bench.day_daemon import POOL_SEEDS, DayClock
from bench.disk import NETWORKS_DIR, VISIT_EVERY, run_outputs
from bench.footprint import GROWTH_GOAL_MIB
from bench.outputs import write_pool
from panic_edge.broker import LocalBroker
from panic_edge.config import Config, load_config
from panic_edge.core.catalogue import CATALOGUE
from panic_edge.core.media import MediaType
from panic_edge.core.network import Network
from panic_edge.core.runner import RunnerState
from panic_edge.errors import PanicEdgeError
from panic_edge.network_files import read_network
from panic_edge.remote import send_command

REPO = Path(__file__).resolve().parent.parent
SLUG = "rapid-fire"
HOUR = 3600.0
MONDAY = dt.datetime(2026, 11, 23, tzinfo=dt.UTC).timestamp()
START, OPENS, CLOSES, END = MONDAY + 9 * HOUR, MONDAY + 10 * HOUR, MONDAY + 18 * HOUR, MONDAY + 33 * HOUR
HOURS = "mon-sun 10:00-18:00"
CHECK_INTERVAL, HEALTH_INTERVAL = 60.0, 30.0  # the defaults, in a real day's seconds


@dataclass(frozen=True)
class Plan:
    open_speed: float
    closed_speed: float
    budget_usd: float  # the appliance's daily cap
    archive_max_bytes: int
    keep_newest: int
    sample_every: float  # simulated seconds
    picture_side: int | None  # None: the models' real sizes

    @property
    def legs(self) -> list[tuple[float, float]]:
        """The day's clock: closed until opening, open until closing, closed to the end."""
        return [(OPENS, self.closed_speed), (CLOSES, self.open_speed), (END, self.closed_speed)]


FULL = Plan(open_speed=160, closed_speed=2400, budget_usd=7.0, archive_max_bytes=24 * 1024**2, keep_newest=64,
            sample_every=300, picture_side=None)
QUICK = Plan(open_speed=14400, closed_speed=72000, budget_usd=0.5, archive_max_bytes=200 * 1024, keep_newest=4,
             sample_every=1800, picture_side=256)


@dataclass(frozen=True)
class Sample:
    at: float  # simulated epoch seconds
    rss_kib: int
    archive_bytes: int
    disk_free_bytes: int
    completed: int
    cpu_s: float  # the daemon's CPU time so far (user + system)
    real: float  # time.monotonic() when taken


class Watcher:
    """A bare paho client on the appliance's invocations and status: what reached MQTT."""

    def __init__(self, broker: LocalBroker, appliance: str) -> None:
        self.completed: dict[str, int] = {}  # invocation id -> sequence, from `completed` messages
        self.statuses: list[tuple[float, dict[str, Any]]] = []  # (monotonic arrival, status)
        self.changed = threading.Condition()
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-day-watch-{os.getpid()}")
        self.client.on_connect = lambda c, *_: c.subscribe([(f"panic/{appliance}/networks/+/invocations", 1),
                                                             (f"panic/{appliance}/status", 1)])
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("the day's watcher could not subscribe")

    def _message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        with self.changed:
            if msg.topic.endswith("/status"):
                self.statuses.append((time.monotonic(), body))
            elif body.get("state") == "completed":
                self.completed[body["id"]] = body["sequence"]
            self.changed.notify_all()

    def wait_for(self, test: Callable[[], bool], timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(test, timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _archive_bytes(root: Path) -> int:
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except FileNotFoundError:  # pruned while we looked
                pass
    return total


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _check_interval(plan: Plan) -> float:
    """Retention's check_interval in real seconds: a real day's, on the open hours' clock."""
    return max(0.05, CHECK_INTERVAL / plan.open_speed)


def _env(plan: Plan, broker: LocalBroker, appliance: str, data: Path) -> dict[str, str]:
    env = {**os.environ,
           "PANIC_EDGE_DATA_DIR": str(data), "PANIC_EDGE_MQTT_URL": broker.url, "PANIC_EDGE_APPLIANCE_ID": appliance,
           "PANIC_EDGE_HTTP_PORT": "0", "PANIC_EDGE_NETWORKS_DIR": str(NETWORKS_DIR),
           "PANIC_EDGE_DEFAULT_NETWORK": SLUG, "PANIC_EDGE_KEYBOARD_ENABLED": "false",
           "PANIC_EDGE_BUTTON_PIN_FACTORY": "mock", "PANIC_EDGE_LIMITS_STARTS_PER_MINUTE": "0",
           "PANIC_EDGE_SCHEDULE_HOURS": HOURS, "PANIC_EDGE_SCHEDULE_TIMEZONE": "UTC",
           "PANIC_EDGE_SCHEDULE_ON_OPEN": "attract", "PANIC_EDGE_SCHEDULE_CLOSED_POLICY": "stop",
           "PANIC_EDGE_BUDGET_APPLIANCE_PER_DAY": str(plan.budget_usd), "PANIC_EDGE_BUDGET_POLICY": "pause",
           "PANIC_EDGE_ARCHIVE_MAX_BYTES": str(plan.archive_max_bytes),
           "PANIC_EDGE_ARCHIVE_KEEP_NEWEST": str(plan.keep_newest),
           "PANIC_EDGE_ARCHIVE_CHECK_INTERVAL": str(_check_interval(plan)),
           "PANIC_EDGE_HEALTH_INTERVAL": str(max(0.1, HEALTH_INTERVAL / plan.open_speed)),
           "PANIC_EDGE_OFFLINE_PROBE": f"127.0.0.1:{broker.port}",  # "the internet" is up all day
           "PANIC_EDGE_PREWARM_ENABLED": "false", "PANIC_EDGE_INSIGHT_ENABLED": "false"}
    env.pop("PANIC_EDGE_CONFIG", None)
    env.pop("NOTIFY_SOCKET", None)
    return env


def _line(process: subprocess.Popen[str], expected: str) -> None:
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if line != expected:
        raise RuntimeError(f"the day's daemon said {line!r}, not {expected!r} (its log: day-daemon.log)")


def run(broker: LocalBroker, work: Path, quick: bool) -> dict[str, Any]:
    plan = QUICK if quick else FULL
    network = read_network(NETWORKS_DIR / f"{SLUG}.toml")
    models = [CATALOGUE[m] for m in dict.fromkeys(network.models)]
    write_pool(work / "pool", models, POOL_SEEDS, side=plan.picture_side)
    appliance = f"bench-day-{os.getpid()}"
    data = work / "data"
    command = [sys.executable, "-m", "bench.day_daemon", "--start", repr(START), "--pool", str(work / "pool"),
               "--legs", ",".join(f"{until!r}:{speed!r}" for until, speed in plan.legs)]
    watcher = Watcher(broker, appliance)
    try:
        day = _live(plan, command, _env(plan, broker, appliance, data), work, watcher,
                    load_config(None, {"PANIC_EDGE_MQTT_URL": broker.url, "PANIC_EDGE_APPLIANCE_ID": appliance}))
        completed = {row[0]: row[1] for row in _query(data / "panic-edge.sqlite3",
                                                      "SELECT id, sequence FROM invocations WHERE state = 'completed'")}
        watcher.wait_for(lambda: completed.keys() <= watcher.completed.keys(), 10)
    finally:
        watcher.close()
    report = _report(plan, network, day, completed, watcher, data)
    plot = work / "gallery-day.png"
    draw(_chart(plan, day.samples, report), plot)
    report["plot"] = str(plot)
    return report


@dataclass
class Day:
    """What the benchmark saw of the day, live."""

    clock: DayClock
    ready_at: float  # simulated
    samples: list[Sample]
    presses: list[tuple[float, dict[str, Any]]]  # (simulated time, the daemon's reply)
    peak_rss_kib: int
    answered: dict[str, int]  # calls the stand-in answered, per model


def _live(plan: Plan, command: list[str], env: dict[str, str], work: Path, watcher: Watcher,
          control: Config) -> Day:
    """Start the daemon, hand it the clock, press and sample through the day, stop it."""
    data = Path(env["PANIC_EDGE_DATA_DIR"])
    presses: list[tuple[float, Future[dict[str, Any]]]] = []
    samples: list[Sample] = []
    with open(work / "day-daemon.log", "wb") as log, ThreadPoolExecutor(2) as pool:
        process = subprocess.Popen(command, env=env, cwd=REPO, text=True, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=log)
        try:
            _line(process, "imported")
            clock = DayClock(START, time.monotonic() + 1.0, plan.legs)  # a second to start in, time standing
            assert process.stdin is not None
            process.stdin.write(f"{clock.real(START)!r}\n")
            process.stdin.flush()
            _line(process, "ready")
            ready_at = clock.now()
            visits = [OPENS + k * VISIT_EVERY for k in range(1, int((CLOSES - OPENS) / VISIT_EVERY))]
            sample_at = [START + k * plan.sample_every for k in range(int((END - START) / plan.sample_every) + 1)]
            for when, what in sorted([(t, "press") for t in visits] + [(t, "sample") for t in sample_at]):
                time.sleep(max(0.0, clock.real(when) - time.monotonic()))
                if process.poll() is not None:
                    raise RuntimeError(f"the day's daemon exited ({process.returncode}); see day-daemon.log")
                if what == "press":
                    presses.append((clock.now(), pool.submit(send_command, control, "press", {"network": SLUG})))
                else:
                    samples.append(_sample(process.pid, data, clock))
            peak = rss_kib(process.pid, "VmHWM")
        finally:
            stop_process(process, 30)
        assert process.stdout is not None
        tail = process.stdout.read().strip().splitlines()
        replies = [(at, _reply(future)) for at, future in presses]
    return Day(clock, ready_at, samples, replies, peak, json.loads(tail[-1])["answered"] if tail else {})


def _sample(pid: int, data: Path, clock: DayClock) -> Sample:
    completed = _query(data / "panic-edge.sqlite3", "SELECT count(*) FROM invocations WHERE state = 'completed'")
    return Sample(clock.now(), rss_kib(pid), _archive_bytes(data / "archive"), shutil.disk_usage(data).free,
                  completed[0][0], _cpu_seconds(pid), time.monotonic())


def _reply(future: Future[dict[str, Any]]) -> dict[str, Any]:
    try:
        return future.result(timeout=30)
    except PanicEdgeError as err:
        return {"ok": False, "message": f"no answer: {err}"}


def _runs(db: Path) -> tuple[list[dict[str, Any]], bool]:
    """Each run (start, steps, how it ended) and whether every run's sequences are 0..n-1."""
    steps: dict[str, list[int]] = {}
    for run_id, sequence in _query(db, "SELECT run_id, sequence FROM invocations ORDER BY run_id, sequence"):
        steps.setdefault(run_id, []).append(sequence)
    runs = [{"started_at": started, "completed": completed, "steps": len(steps.get(run_id, [])), "ended": reason}
            for run_id, started, reason, completed in _query(
                db, "SELECT r.id, r.started_at, r.end_reason, (SELECT count(*) FROM invocations i WHERE "
                    "i.run_id = r.id AND i.state = 'completed') FROM runs r ORDER BY r.started_at")]
    return runs, all(seqs == list(range(len(seqs))) for seqs in steps.values())


def _files(data: Path) -> dict[str, Any]:
    """Archived files against the rows that name them: nothing missing that was not pruned."""
    rows = _query(data / "panic-edge.sqlite3",
                  "SELECT output_file, output_flags LIKE '%\"pruned\"%' FROM invocations WHERE output_file IS NOT NULL")
    root = data / "archive"
    sizes = {str(Path(folder, name).relative_to(root)): os.stat(Path(folder, name)).st_size
             for folder, _, names in os.walk(root) for name in names}
    kept = {file for file, pruned in rows if not pruned}
    return {"outputs_with_files": len(rows), "pruned": sum(1 for _, pruned in rows if pruned),
            "kept": len(kept), "kept_but_missing": len(kept - sizes.keys()),
            "files_without_a_row": len(sizes.keys() - kept), "largest_file_bytes": max(sizes.values(), default=0)}


def _at(samples: list[Sample], when: float) -> Sample:
    """The last sample at or before ``when``."""
    return [s for s in samples if s.at <= when + 1][-1]


def _clock_text(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%a %H:%M")


def _report(plan: Plan, network: Network, day: Day, completed: dict[str, int], watcher: Watcher,
            data: Path) -> dict[str, Any]:
    samples, answered, replies, clock = day.samples, day.answered, day.presses, day.clock
    db = data / "panic-edge.sqlite3"
    runs, consecutive = _runs(db)
    files = _files(data)
    statuses = [(clock.at(at), s) for at, s in watcher.statuses]
    held = [at for at, s in statuses if s["networks"][SLUG]["held_reason"] == "budget"]
    spend = max((s["spend"]["today_usd"] for _, s in statuses if s.get("spend")), default=None)
    health = statuses[-1][1].get("health") if statuses else None
    opened, closing, last = _at(samples, OPENS), _at(samples, CLOSES), samples[-1]
    hourly = {h: [s.rss_kib for s in samples if OPENS + h * HOUR <= s.at < OPENS + (h + 1) * HOUR]
              for h in range(int((CLOSES - OPENS) / HOUR))}
    # the lows are what the daemon keeps; the highs are pictures being decoded and encoded
    growth = mib(max(min(hourly[len(hourly) - 1]), last.rss_kib) - min(hourly[1]))
    open_real = closing.real - opened.real
    open_cpu = closing.cpu_s - opened.cpu_s
    per_step_ms = round(1000 * last.cpu_s / len(completed), 1) if completed else None
    archive_max = max(s.archive_bytes for s in samples)
    # retention prunes down to max_bytes at each check; until the next one the archive grows by what
    # one check_interval writes: at most the files of the pacing model's youngest run (the fastest
    # pace) in one interval, each at most the largest file archived
    pacing = RunnerState(network, models=CATALOGUE).pacing
    interval = _check_interval(plan) * plan.open_speed
    in_one_check = sum(n for m, n in run_outputs(network, CATALOGUE, pacing, interval).items()
                       if CATALOGUE[m].output is not MediaType.TEXT)
    slack = in_one_check * files["largest_file_bytes"]
    visits = [r for r in runs if r["ended"] and r["ended"].startswith("replaced")]
    expected = sum(run_outputs(network, CATALOGUE, pacing, VISIT_EVERY).values())
    answered_total = sum(answered.values())
    # A call answered just as its run was replaced (or the gallery closed) has no completed
    # invocation, by the runner's rule: its invocation fails "cancelled: ..." while invoking, and
    # its result is dropped (logged "discarded a late result" if it had reached the runner).
    cancelled = {row[0] for row in _query(db, "SELECT id FROM invocations WHERE state = 'failed' AND "
                                              "error LIKE 'cancelled: %' AND started_at IS NOT NULL")}
    late = re.findall(r"discarded a late result for (\S+)", (data.parent / "day-daemon.log").read_text())
    checks = {
        "every_answered_call_completed_or_cancelled": (len(completed) <= answered_total
                                                       <= len(completed) + len(cancelled)
                                                       and set(late) <= cancelled),
        "every_completed_invocation_published": completed.keys() <= watcher.completed.keys(),
        "sequences_consecutive": consecutive,
        "no_kept_file_missing": files["kept_but_missing"] == 0 and files["files_without_a_row"] == 0,
        "archive_within_limit_at_the_end": last.archive_bytes <= plan.archive_max_bytes,
        "archive_within_limit_plus_one_check": archive_max <= plan.archive_max_bytes + slack,
        "memory_flat": growth <= GROWTH_GOAL_MIB,
    }
    return {
        "what": f"a gallery's day and night of `{SLUG}` (config/networks) through the real daemon in its own "
                "process on an accelerated clock; the cloud a stand-in with the models' real output shapes",
        "simulated": {"from": _clock_text(START), "to": _clock_text(END), "open": HOURS,
                      "open_speed": plan.open_speed, "closed_speed": plan.closed_speed,
                      "ready_at": _clock_text(day.ready_at),
                      "pacing": [list(step) for step in pacing], "visit_every_s": VISIT_EVERY,
                      "budget_usd_per_day": plan.budget_usd, "archive_max_bytes": plan.archive_max_bytes,
                      "keep_newest": plan.keep_newest, "pictures": f"{plan.picture_side}px" if plan.picture_side
                      else "the models' own sizes (1024x1024 WebP and PNG)"},
        "invocations": {"completed": len(completed), "answered_by_the_stand_in": answered_total,
                        "cancelled_while_invoking": len(cancelled), "late_results_discarded": len(late),
                        "published_completed": len(watcher.completed), "by_model": answered,
                        "runs": len(runs), "steps_per_visit": {
                            "median": statistics.median(r["completed"] for r in visits) if visits else None,
                            "pacing_model": expected, "what": "completed steps of the runs a press replaced, "
                            "beside what a real-time day makes (bench.disk's pacing model): the difference is the "
                            "daemon's own work per step, stretched by the fast clock (see cpu)"}},
        "presses": {"sent": len(replies), "started": sum(1 for _, r in replies if r.get("ok")),
                    "refused": sorted({str(r.get("message")) for _, r in replies if not r.get("ok")})},
        "budget": {"held_from": _clock_text(held[0]) if held else None, "spent_usd_max": spend},
        "memory": {"rss_idle_before_opening_mib": mib(opened.rss_kib),
                   "rss_by_open_hour_min_median_max_mib": {
                       _clock_text(OPENS + h * HOUR).split()[1]: [mib(min(v)), mib(int(statistics.median(v))),
                                                                   mib(max(v))] for h, v in hourly.items()},
                   "rss_at_closing_mib": mib(closing.rss_kib), "rss_at_the_end_mib": mib(last.rss_kib),
                   "peak_rss_mib": mib(day.peak_rss_kib), "growth_mib": growth,
                   "growth_what": "the lowest RSS of the last open hour (or the RSS at the end, if higher) "
                                  "minus the lowest of the second open hour"},
        "cpu": {"open_hours_cpu_s": round(open_cpu, 1), "open_hours_real_s": round(open_real, 1),
                "ms_per_completed_step": per_step_ms,
                "simulated_s_per_step": round(per_step_ms / 1000 * plan.open_speed, 1) if per_step_ms else None,
                "what": "the daemon's own CPU (user + system) per completed step, mostly normalising a picture; "
                        "the fast clock makes each step's own work open_speed times longer in simulated time"},
        "archive": {"max_bytes": plan.archive_max_bytes, "max_sampled_bytes": archive_max,
                    "at_the_end_bytes": last.archive_bytes, "check_interval_simulated_s": interval,
                    "allowed_over_the_limit": slack, "daemon_says": health.get("archive_bytes") if health else None,
                    **files},
        "disk_free": {"min_bytes": min(s.disk_free_bytes for s in samples),
                      "max_bytes": max(s.disk_free_bytes for s in samples),
                      "what": "the machine's disk, shared with other work: it moves with what else runs"},
        "samples": [[round((s.at - MONDAY) / HOUR, 3), mib(s.rss_kib), round(s.archive_bytes / 2**20, 2),
                     round(s.disk_free_bytes / 2**30, 2), s.completed] for s in samples],
        "samples_columns": ["hour (from Monday 00:00)", "rss_mib", "archive_mib", "disk_free_gib", "completed"],
        "checks": checks,
        "goals": {"memory": goal(checks["memory_flat"], f"RSS grows no more than {GROWTH_GOAL_MIB} MB from the "
                                                        "second open hour to the end"),
                  "archive": goal(checks["archive_within_limit_at_the_end"]
                                  and checks["archive_within_limit_plus_one_check"],
                                  "the archive within max_bytes (plus what one retention check_interval writes)"),
                  "nothing_lost": goal(all(v for k, v in checks.items()
                                           if k not in ("memory_flat", "archive_within_limit_at_the_end",
                                                        "archive_within_limit_plus_one_check")),
                                       "every answered call completed (or its run was replaced or closed "
                                       "during the call), every completed one published, every run in "
                                       "sequence, every kept file there")},
        **goal(all(checks.values()), "memory flat, archive within its limit, no invocation lost"),
    }


def _chart(plan: Plan, samples: list[Sample], report: dict[str, Any]) -> Chart:
    def series(value: Callable[[Sample], float]) -> list[tuple[float, float]]:
        return [((s.at - MONDAY) / HOUR, value(s)) for s in samples]

    held = report["budget"]["held_from"]
    marks = []
    if held:
        hour, minute = held.split()[1].split(":")
        marks.append((int(hour) + int(minute) / 60, f"budget spent: held ({held.split()[1]})", "#c0392b"))
    memory = report["memory"]
    machine = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
    return Chart(
        title=f"A gallery's day of {SLUG}: the real daemon on an accelerated clock",
        subtitle=(f"{report['invocations']['completed']:,} invocations completed, "
                  f"{'none lost' if report['goals']['nothing_lost']['met'] else 'SOME LOST (see the checks)'}; "
                  f"RSS {memory['rss_idle_before_opening_mib']} MB idle, {memory['rss_at_the_end_mib']} MB at "
                  f"the end (growth {memory['growth_mib']} MB); archive limit "
                  f"{plan.archive_max_bytes / 2**20:.3g} MiB; {machine}; open hours {plan.open_speed:g}x, "
                  f"closed {plan.closed_speed:g}x real time"),
        panels=[Panel("Daemon RSS (MB)", [Series("RSS", series(lambda s: s.rss_kib / 1024), "#2c6fbb")],
                      y_max=None),
                Panel("Archive on disk (MiB)", [Series("archive", series(lambda s: s.archive_bytes / 2**20),
                                                       "#1e8449")],
                      rules=[(plan.archive_max_bytes / 2**20, "[archive] max_bytes")]),
                Panel("Invocations completed", [Series("completed", series(lambda s: s.completed), "#7d3c98")])],
        x_range=((START - MONDAY) / HOUR, (END - MONDAY) / HOUR),
        x_ticks=[(h, f"{h % 24:02d}:00") for h in range(9, 34, 3)],
        bands=[((OPENS - MONDAY) / HOUR, (CLOSES - MONDAY) / HOUR, "open")],
        marks=marks)
