"""Insight: embedding time per output, persistence per window, RSS of the worker, the daemon and a HUD
node, and the loop rate and press latency with insight on against off.

The model is built here with random weights in the shape and format of ``minishlab/potion-base-8M``
(a 29,528-word WordPiece vocabulary x 256 float32, saved by model2vec): its speed and memory are
those of the real model; its geometry means nothing. Nothing is downloaded.

- *embedding*: ``load_embedder(...).embed([caption])`` for one ~50-word caption at a time.
- *per output*: the worker's whole job for one completed output on a real SQLite file (read the
  run back, embed, measure, project, H0/H1 of the window, store), at several run lengths.
- *persistence*: ``core.persistence.persistence`` on 256-d trajectories with revisits (a 12-state
  Markov chain plus noise: real runs revisit ideas, and revisits are what make H1 bars).
- *RSS*: a real worker process (ready, after jobs, and after captions using every word of the
  model: its vectors are mapped from the file, resident as they are used); a real ``panic-edge
  run`` with insight off and on: what insight adds is the daemon's growth plus the worker's
  whole RSS; a real ``display --hud`` beside ``display --grid 4x4``.
- *loop rate, press latency*: bench/loop.py and bench/press.py with insight on, against off; for
  the presses the worker is kept busy all along (a 200-output run re-measured over and over).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import loop, press
from bench.common import NETWORK, daemon_process, goal, latency_stats, mib, rss_kib, stop_process
from bench.footprint import _command, _count
from bench.screen import node_rss
from panic_edge.broker import LocalBroker

VOCAB, DIM = 29_528, 256
WORDS_TEXT = ("a the of and in on with under over beside bright dark calm busy silver gold sandy neon blue red green "
         "violet orange camel desert sky city street night lighthouse storm sea boat lake dawn forest path "
         "mountain cloud river bridge house window door garden flower tree bird cat dog horse child man woman "
         "music song dance light shadow fire water ice stone glass picture painting photograph colour shape")
WORDS = tuple(WORDS_TEXT.split())
EMBED_GOAL_MS, PERSISTENCE_GOAL_S, RSS_GOAL_MIB = 5.0, 1.0, 60.0


def build_model(folder: Path) -> Path:
    """A potion-base-8M-shaped model2vec model with random weights (30 MB)."""
    from model2vec import StaticModel
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocab = {"[PAD]": 0, "[UNK]": 1}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    for i in range(VOCAB - len(vocab)):
        vocab[f"w{i}"] = len(vocab)
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    vectors = np.random.default_rng(0).standard_normal((len(vocab), DIM)).astype(np.float32)
    StaticModel(vectors, tok, normalize=True).save_pretrained(str(folder))
    return folder


def captions(n: int, seed: int = 1) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(35, 60)))).capitalize() + "." for _ in range(n)]


def markov_walk(n: int, dim: int = DIM, seed: int = 2) -> np.ndarray:
    """Unit vectors from a 12-state Markov chain plus noise: a run that keeps revisiting ideas."""
    rng = np.random.default_rng(seed)
    states = rng.standard_normal((12, dim))
    chain = [0]
    for _ in range(n - 1):
        chain.append(chain[-1] if rng.random() < 0.3 else int(rng.integers(12)))
    points = states[chain] + 0.35 * rng.standard_normal((n, dim))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def _database(path: Path, run_id: str, texts: list[str]) -> list[str]:
    """A run of completed text outputs, written as the daemon's store writes them."""
    import sqlite3

    from panic_edge.store.migrations import migrate

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    migrate(conn)
    conn.execute("INSERT INTO runs (id, network, prompt, started_at) VALUES (?, 'bench', ?, 0)",
                 (run_id, "a camel in the desert"))
    ids = [f"{run_id}.{i}" for i in range(len(texts))]
    conn.executemany("INSERT INTO invocations (id, run_id, network, sequence, model, state, input_type, input_text, "
                     "output_type, output_text, created_at, finished_at) VALUES (?, ?, 'bench', ?, 'local-poet', "
                     "'completed', 'text', 'x', 'text', ?, ?, ?)",
                     [(inv, run_id, i, t, float(i), float(i)) for i, (inv, t) in enumerate(zip(ids, texts))])
    conn.commit()
    conn.close()
    return ids


def embedding_and_jobs(model_dir: Path, work: Path, quick: bool) -> dict[str, Any]:
    from panic_edge.insight import db
    from panic_edge.insight.changes import applier
    from panic_edge.insight.embedders import load_embedder
    from panic_edge.insight.tracker import Tracker

    began = time.perf_counter()
    model = load_embedder(model_dir)
    load_s = time.perf_counter() - began
    texts = captions(200 if quick else 1000)
    model.embed(texts[:5])
    seconds = []
    for text in texts:
        t0 = time.perf_counter()
        model.embed([text])
        seconds.append(time.perf_counter() - t0)
    points = 40 if quick else 220
    ids = _database(work / "jobs.sqlite3", "bench-run", captions(points, seed=3))
    conn = db.connect(work / "jobs.sqlite3")
    tracker = Tracker(conn, model, sink=applier(conn))  # the daemon's writer applies them, in the daemon
    jobs: dict[int, float] = {}
    for i, inv in enumerate(ids, 1):
        t0 = time.perf_counter()
        tracker.handle(inv)
        jobs[i] = time.perf_counter() - t0
    marks = [m for m in (10, 50, 100, 200) if m <= points]
    return {"load_s": round(load_s, 3), "embedding_per_caption": latency_stats(seconds),
            "per_output": {str(m): latency_stats([jobs[k] for k in range(max(2, m - 9), m + 1)]) for m in marks},
            "embedding_goal": goal(latency_stats(seconds)["p99_ms"] < EMBED_GOAL_MS,
                                   f"embedding p99 under {EMBED_GOAL_MS:g} ms per text output")}


def persistence_times(quick: bool) -> dict[str, Any]:
    from panic_edge.core.persistence import persistence

    out: dict[str, Any] = {}
    for n in (100, 200) if quick else (100, 200, 500, 1000):
        points = markov_walk(n)
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            diagram = persistence(points, n)
            runs.append(time.perf_counter() - t0)
        out[str(n)] = {"median_ms": round(sorted(runs)[1] * 1e3, 1),
                       "h1_bars": len(diagram.h1) if diagram else 0}
    if "500" in out:
        out["goal"] = goal(out["500"]["median_ms"] / 1e3 < PERSISTENCE_GOAL_S,
                           f"H0+H1 of a 500-point window under {PERSISTENCE_GOAL_S:g} s")
    return out


def worker_rss(model_dir: Path, work: Path, quick: bool) -> dict[str, Any]:
    """A real worker process, started as the daemon starts it: RSS once its model is loaded, after a
    run's worth of jobs (whose results are stored here, as the daemon would), and (unless quick)
    after a run whose captions use every word of the model's vocabulary: the model's vectors are
    mapped from its file and become resident as words are met, so this is the ceiling."""
    from panic_edge.insight import db
    from panic_edge.insight.changes import Changes, apply
    from panic_edge.insight.service import worker_env

    points = 30 if quick else 200
    database = work / "worker.sqlite3"
    ids = _database(database, "bench-worker", captions(points, seed=4))
    settings = {"database": str(database), "archive": None, "model_dir": str(model_dir), "window": 200}
    conn = db.connect(database)
    began = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "panic_edge.insight.worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=worker_env(), text=True)
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def jobs(invocations: list[str]) -> None:
        for inv in invocations:
            stdin.write(json.dumps({"invocation_id": inv}) + "\n")
            stdin.flush()
            while (answer := json.loads(stdout.readline()))["kind"] == "write":
                with db.write(conn):  # what the daemon's writer does with it
                    apply(conn, Changes.from_json(answer))
            assert answer["kind"] == "done", answer
            if answer["payload"]:
                stdout.readline()  # the message the daemon would publish

    report: dict[str, Any] = {"what": "the insight worker process (python -m panic_edge.insight.worker)"}
    try:
        stdin.write(json.dumps(settings) + "\n")
        stdin.flush()
        hello = json.loads(stdout.readline())
        report.update(model=hello.get("model"), ready_s=round(time.monotonic() - began, 2),
                      ready_rss_mib=mib(rss_kib(proc.pid)))
        jobs(ids)
        report[f"rss_after_{points}_outputs_mib"] = mib(rss_kib(proc.pid))
        if not quick:  # one output a run: what is measured is the vectors met, not persistence
            vocab = list(json.loads((model_dir / "tokenizer.json").read_text())["model"]["vocab"])
            every = [" ".join(vocab[i:i + 50]) for i in range(0, len(vocab), 50)]
            jobs([_database(database, f"bench-vocabulary-{n}", [text])[0] for n, text in enumerate(every)])
            report["rss_after_every_word_mib"] = mib(rss_kib(proc.pid))
            report["every_word_outputs"] = len(every)
    finally:
        stdin.close()
        stop_process(proc)
        conn.close()
    return report


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def daemon_rss(broker: LocalBroker, work: Path, model_dir: Path | None, quick: bool) -> dict[str, Any]:
    """A real ``panic-edge run`` (poet loop at zero latency): the daemon's RSS idle and after N
    invocations, and its insight worker's."""
    target = 300 if quick else 2000
    home = work / ("daemon-on" if model_dir else "daemon-off")
    appliance = f"bench-insight-{os.getpid()}-{home.name}"
    model = str(model_dir or home / "no-model")
    with daemon_process(broker.url, home, appliance, NETWORK, PANIC_EDGE_INSIGHT_MODEL_DIR=model) as (
            process, data, _):
        deadline = time.monotonic() + 30
        while model_dir and b"insight on" not in (home / "daemon.log").read_bytes() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        idle, idle_workers = rss_kib(process.pid), [rss_kib(c) for c in _children(process.pid)]
        _command(broker.port, f"panic/{appliance}/cmd/start", {"network": "poet-loop", "prompt": "a camel"})
        deadline = time.monotonic() + 120
        while _count(data / "panic-edge.sqlite3") < target and time.monotonic() < deadline:
            time.sleep(0.25)
        _command(broker.port, f"panic/{appliance}/cmd/stop", {"network": "poet-loop"})
        time.sleep(1.0)
        after, after_workers = rss_kib(process.pid), [rss_kib(c) for c in _children(process.pid)]
        count = _count(data / "panic-edge.sqlite3")
    return {"invocations": count, "idle_rss_mib": mib(idle), "rss_after_mib": mib(after),
            "worker_idle_rss_mib": mib(sum(idle_workers)) if idle_workers else None,
            "worker_rss_after_mib": mib(sum(after_workers)) if after_workers else None}


async def _insight_on(daemon: Any) -> None:
    async with asyncio.timeout(60):
        while daemon.status()["insight"]["state"] == "starting":
            await asyncio.sleep(0.05)


async def _keep_worker_busy(daemon: Any) -> None:
    """A 200-output run whose outputs are offered to the worker again and again: it never idles."""
    from panic_edge.core.invocation import Invocation, InvocationState, Run
    from panic_edge.core.media import Content, MediaType

    await _insight_on(daemon)
    store, texts = daemon.engine.store, captions(200, seed=5)
    await store.begin_run(Run("busy", "bench", "a camel in the desert", 0.0))
    for i, text in enumerate(texts):
        inv = Invocation(f"busy.{i}", "busy", "bench", i, "bench-captioner", InvocationState.READY,
                         Content.of_text("x"), MediaType.TEXT, created_at=float(i))
        await store.add_invocation(inv)
        await store.complete(inv.id, Content.of_text(text), float(i))
    await store.end_run("busy", "bench", 0.0)
    service = daemon.insight
    while True:
        for i in range(200):
            while len(service.queue) >= 4:
                await asyncio.sleep(0.01)
            service.offer({"state": "completed", "output_type": "text", "id": f"busy.{i}"})


async def run(broker: LocalBroker, work: Path, quick: bool) -> dict[str, Any]:
    """With ``quick``, only the insight-on side of each A/B comparison runs (the off side is what
    loop_overhead, press_to_dispatch and footprint measure): enough to check it all works."""
    model_dir = await asyncio.to_thread(build_model, work / "potion-shaped")
    on = {"PANIC_EDGE_INSIGHT_MODEL_DIR": str(model_dir)}
    jobs = await asyncio.to_thread(embedding_and_jobs, model_dir, work, quick)
    persistence = await asyncio.to_thread(persistence_times, quick)
    worker = await asyncio.to_thread(worker_rss, model_dir, work, quick)
    rss_on = await asyncio.to_thread(daemon_rss, broker, work, model_dir, quick)
    hud = await asyncio.to_thread(node_rss, broker, work, 1.0 if quick else 3.0, ("--hud",))
    n = 150 if quick else 3000
    loop_on = await loop.daemon_rate(broker, work / "loop-on", n, on, _insight_on)
    press_on = await press.run(broker, work / "press-on", quick, on, _keep_worker_busy)
    report: dict[str, Any] = {
        "what": "insight with a potion-base-8M-shaped model2vec model (random weights, 29,528 x 256): "
                "embedding, the worker's job per output, persistence, RSS, and loop rate / press latency on vs off",
        "model_load_s": jobs["load_s"],
        "embedding_per_caption": jobs["embedding_per_caption"],
        "per_output_by_run_length": jobs["per_output"],
        "persistence_by_window": persistence,
        "worker": worker,
        "daemon_rss_on": rss_on,
        "hud_node_rss_mib": hud["rss_mib"],
        "loop_rate_on": loop_on["per_second"],
        "press_on_worker_busy": {k: press_on[k] for k in ("median_ms", "p99_ms", "max_ms")},
    }
    if quick:
        return report
    rss_off = await asyncio.to_thread(daemon_rss, broker, work, None, quick)
    grid = await asyncio.to_thread(node_rss, broker, work, 3.0)
    loop_off = await loop.daemon_rate(broker, work / "loop-off", n)
    press_off = await press.run(broker, work / "press-off", quick)
    added = round(rss_on["idle_rss_mib"] - rss_off["idle_rss_mib"], 1)
    # no worker found counts as none (the goal is then judged on the daemon alone, and the report says so)
    total = {when: round(rss_on[f"{key}_mib"] + (rss_on[f"worker_{key}_mib"] or 0.0) - rss_off[f"{key}_mib"], 1)
             for when, key in (("idle", "idle_rss"), ("after_the_loop", "rss_after"))}
    ratio = round(loop_on["per_second"] / loop_off["per_second"], 3)
    report.update({
        "daemon_rss_off": rss_off, "daemon_added_rss_mib": added, "daemon_and_worker_added_rss_mib": total,
        "grid_node_rss_mib": grid["rss_mib"],
        "loop_rate_off": loop_off["per_second"], "loop_ratio": ratio,
        "press_off": {k: press_off[k] for k in ("median_ms", "p99_ms", "max_ms")},
    })
    goals = {"embedding": jobs["embedding_goal"], "persistence_500": persistence["goal"],
             "daemon_rss": goal(max(total.values()) < RSS_GOAL_MIB,
                                f"insight on adds less than {RSS_GOAL_MIB:g} MB of RSS: the daemon's growth and its "
                                "worker's whole RSS, idle and after the ~2,000-invocation loop"),
             "loop": goal(ratio >= 0.9, "loop rate with insight on at least 90% of off"),
             "press": goal(press_on["p99_ms"] < 20.0, "press p99 under 20 ms with the worker busy")}
    return {**report, "goals": goals, **goal(all(g["met"] for g in goals.values()), "all of the above")}
