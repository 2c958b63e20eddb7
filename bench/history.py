"""Windowed reads on a month of history: the admin run page, dashboard, history, ``/api/runs``, the
node backfill, the replay candidate search and the run page's insight data, on a database of 1M
invocations holding one running 100k-step run.

The big run has an insight point and a 256-d embedding for every text output, stored in an
older projection than the current one, so ``/api/runs/<id>/insight`` places every point it
shows again from its embedding: the worst case of that read.

The database is built by the store's own code (``Store.open`` and the write functions of
store/writes.py, in transactions of a few thousand invocations each), never by hand-written
SQL, and cached between runs under the system's temporary folder: the cache's name carries the
schema and this builder's version, so a new migration or a new builder makes a new one. The
pages are timed through Flask's test client (the view, the queries and the template, not the
HTTP server); the replay search through the store's read function, as the engine calls it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import goal, latency_stats
from panic_edge.broker import LocalBroker
from panic_edge.core.invocation import Invocation, InvocationState, Run
from panic_edge.core.media import Content, MediaType
from panic_edge.store import Store, queries, writes
from panic_edge.store.migrations import MIGRATIONS
from panic_edge.store.reader import connect_reader

BUILDER = 2  # bump when the data below changes: the cache is rebuilt
MONTH = 30 * 24 * 3600.0
BIG_NETWORK = "gallery"
OTHER_NETWORKS = tuple(f"room-{n}" for n in range(7))
CYCLE = (("local-poet", MediaType.TEXT, MediaType.TEXT), ("local-painter", MediaType.TEXT, MediaType.IMAGE),
         ("local-captioner", MediaType.IMAGE, MediaType.TEXT))
VERSE = "A silver desert hums beside a neon sky, the camel counts the stars and hums along, {n}."
GOALS_MS = {"run_page": 100.0, "run_page_scrolled_back": 100.0, "dashboard": 100.0, "history": 50.0,
            "api_runs": 50.0, "api_run": 50.0, "node_backfill": 10.0, "replay_candidates": 20.0,
            "api_run_insight": 100.0, "api_run_insight_new": 50.0}
EMBEDDING_DIM = 256


def _cache_path(total: int, big: int) -> Path:
    schema = hashlib.sha256("".join(MIGRATIONS).encode()).hexdigest()[:10]
    folder = Path(tempfile.gettempdir()) / "panic-edge-bench-cache"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"history-{total}-{big}-s{len(MIGRATIONS)}-{schema}-b{BUILDER}.sqlite3"


def _plan(total: int, big: int, seed: int = 7) -> list[tuple[str, str, int, bool]]:
    """(run id, network, steps, still running) for every run, oldest first; the big run last."""
    rng = random.Random(seed)
    runs: list[tuple[str, str, int, bool]] = []
    left = total - big
    n = 0
    while left > 0:
        steps = min(left, rng.randint(3, 200))
        runs.append((f"run{n:06d}", OTHER_NETWORKS[n % len(OTHER_NETWORKS)], steps, False))
        left -= steps
        n += 1
    runs.append(("big-run", BIG_NETWORK, big, True))
    return runs


def _write_run(conn: sqlite3.Connection, run_id: str, network: str, first: int, last: int, started: float,
               step_seconds: float, running: bool, total_steps: int) -> None:
    """Steps ``first``..``last - 1`` of a run, through the store's write functions."""
    if first == 0:
        writes.begin_run(conn, Run(run_id, network, VERSE.format(n=run_id), started))
    given = Content.of_text(VERSE.format(n=run_id))
    for seq in range(first, last):
        model, takes, gives = CYCLE[seq % len(CYCLE)]
        at = started + seq * step_seconds
        if takes is MediaType.IMAGE:
            given = Content(MediaType.IMAGE, file=f"{network}/{run_id}.{seq - 1}.png", mime="image/png")
        inv = Invocation(f"{run_id}.{seq}", run_id, network, seq, model, InvocationState.INVOKING, given, gives,
                         created_at=at, started_at=at)
        writes.add_invocation(conn, inv)
        output = (Content.of_text(VERSE.format(n=seq)) if gives is MediaType.TEXT
                  else Content(MediaType.IMAGE, file=f"{network}/{run_id}.{seq}.png", mime="image/png"))
        if running and seq == total_steps - 1:
            break  # the running run's last step is in flight
        writes.complete(conn, inv.id, output, at + step_seconds * 0.8,
                        {"predict_time": round(step_seconds * 0.8, 2), "cost_usd": 0.0012})
        given = output
    if not running and last == total_steps:
        writes.end_run(conn, run_id, "stopped", started + total_steps * step_seconds)


def _write_insight(conn: sqlite3.Connection, run_id: str, first: int, last: int, at: float) -> None:
    """Insight of the text outputs ``first``..``last - 1`` of a run (random unit vectors), as the
    daemon's writer stores a worker's results, in projection version 1 (the current one is 2)."""
    import numpy as np

    from panic_edge.insight.changes import Changes, apply

    rng = np.random.default_rng(first)
    seqs = [s for s in range(first, last) if CYCLE[s % len(CYCLE)][2] is MediaType.TEXT]
    vectors = rng.standard_normal((len(seqs), EMBEDDING_DIM)).astype("<f4")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    points = tuple({"invocation_id": f"{run_id}.{s}", "model": "bench-m2v", "run_id": run_id, "sequence": s,
                    "hop": "local-painter>local-captioner", "drift": 1.0, "step": 0.9, "x": 0.1, "y": 0.2,
                    "projection": 1, "flags": "[]", "loop_period": None, "nearest_sequence": None,
                    "nearest_distance": None} for s in seqs)
    apply(conn, Changes(at, tuple((f"{run_id}.{s}", "bench-m2v", EMBEDDING_DIM, v.tobytes())
                                  for s, v in zip(seqs, vectors)), points=points))


def _finish_insight(conn: sqlite3.Connection, run_id: str, points: int, at: float) -> None:
    import numpy as np

    from panic_edge.insight.changes import Changes, ProjectionRow, RunRow, apply

    rng = np.random.default_rng(0)
    mean = np.zeros(EMBEDDING_DIM, dtype="<f4")
    axes = rng.standard_normal((2, EMBEDDING_DIM)).astype("<f4")
    prompt = (axes[0] / np.linalg.norm(axes[0])).astype("<f4").tobytes()
    apply(conn, Changes(at, prompts=((run_id, "bench-m2v", EMBEDDING_DIM, prompt),),
                        runs=(RunRow(run_id, "bench-m2v", points, None, (0.0, 0.0), 1, None),),
                        projections=(ProjectionRow("bench-m2v", 2, 1000, EMBEDDING_DIM, mean.tobytes(),
                                                   axes.tobytes(), 3.0),)))


async def build(path: Path, total: int, big: int, batch: int = 4000) -> dict[str, Any]:
    """Fill ``path`` through the store: ``total`` invocations over a month, ``big`` of them one run."""
    began = time.monotonic()
    runs = _plan(total, big)
    step_seconds = MONTH / total
    now = time.time()
    async with Store.open(path) as store:
        clock = now - MONTH
        for run_id, network, steps, running in runs:
            for first in range(0, steps, batch):
                last = min(steps, first + batch)
                await store.write(partial(_write_run, run_id=run_id, network=network, first=first, last=last,
                                          started=clock, step_seconds=step_seconds, running=running,
                                          total_steps=steps))
            if not running:
                clock += steps * step_seconds
        big_run, _, steps, _ = runs[-1]
        for first in range(0, steps, batch):
            await store.write(partial(_write_insight, run_id=big_run, first=first, last=min(steps, first + batch),
                                      at=now))
        texts = sum(1 for s in range(steps) if CYCLE[s % len(CYCLE)][2] is MediaType.TEXT)
        await store.write(partial(_finish_insight, run_id=big_run, points=texts, at=now))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    conn.close()
    return {"seconds": round(time.monotonic() - began, 1), "runs": len(runs),
            "bytes": path.stat().st_size}


def _time(fn: Callable[[], Any], repeat: int) -> dict[str, Any]:
    fn()  # warm: the first call pays for opening files and compiling templates
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
    return latency_stats(samples)


def measure(path: Path, repeat: int) -> dict[str, Any]:
    from flask_ui.app import Settings, create_app
    from panic_edge.config import AdminConfig

    with connect_reader(path) as conn:
        invocations = queries.count_invocations(conn)
        big = queries.run_summary(conn, "big-run")
    assert big is not None
    status = {"networks": {BIG_NETWORK: {"name": "Gallery", "state": "running", "models": [m for m, _, _ in CYCLE],
                                         "run_id": "big-run", "sequence": big.invocations - 1}},
              "default_network": BIG_NETWORK}
    app = create_app(Settings(path.parent, path, status=lambda: status, admin=AdminConfig(public_readonly=True)))
    client = app.test_client()
    middle = big.invocations // 2

    def page(url: str) -> Callable[[], Any]:
        def get() -> None:
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")
        return get

    reads = connect_reader(path)  # the engine's read threads keep their connections open

    def replay() -> None:
        if len(queries.replay_candidates(reads, "local-poet")) != queries.REPLAY_CANDIDATES:
            raise RuntimeError("replay found too few candidates")

    timed = {
        "run_page": page("/runs/big-run"),
        "run_page_scrolled_back": page(f"/runs/big-run?before={middle}"),
        "dashboard": page("/"),
        "history": page("/history"),
        "api_runs": page("/api/runs"),
        "api_run": page("/api/runs/big-run"),
        "node_backfill": page(f"/api/networks/{BIG_NETWORK}/invocations?limit=16"),
        "replay_candidates": replay,
        "api_run_insight": page("/api/runs/big-run/insight"),
        "api_run_insight_new": page(f"/api/runs/big-run/insight?after={big.invocations - 4}"),
    }
    try:
        figures = {name: _time(fn, repeat) for name, fn in timed.items()}
    finally:
        reads.close()
    met = all(figures[name]["p99_ms"] < limit for name, limit in GOALS_MS.items())
    return {"invocations": invocations, "big_run_steps": big.invocations, "figures": figures,
            "goals_ms": GOALS_MS, **goal(met, "p99 under each goal (run page 100 ms, history and "
                                              "/api/runs 50 ms, node backfill 10 ms, replay search 20 ms, a run's "
                                              "insight window 100 ms, what is new of it 50 ms)")}


async def run(broker: LocalBroker, work: Path, quick: bool) -> dict[str, Any]:
    total, big = (20_000, 5_000) if quick else (1_000_000, 100_000)
    path = _cache_path(total, big)
    built: dict[str, Any] = {"cached": True}
    if not path.exists():
        for stale in path.parent.glob("*.building*"):  # left by a run that was killed
            if time.time() - stale.stat().st_mtime > 3600:
                stale.unlink(missing_ok=True)
        partial = path.parent / f"{path.name}.{os.getpid()}.building"  # two runs at once build apart
        built = {"cached": False, **await build(partial, total, big)}
        for suffix in ("-wal", "-shm"):
            Path(f"{partial}{suffix}").unlink(missing_ok=True)
        os.replace(partial, path)
    result = await asyncio.to_thread(measure, path, 20 if quick else 100)
    return {"what": "ms per read of the admin pages, /api lists, node backfill, the run page's insight window "
                    "(Flask test client) and the replay candidate search, on a database of "
                    f"{total:,} invocations over a month with one running {big:,}-step run",
            "database": {"path": str(path), **built}, **result,
            "median_of_medians_ms": round(statistics.median(f["median_ms"] for f in result["figures"].values()), 3)}
