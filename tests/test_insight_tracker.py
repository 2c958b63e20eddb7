"""The insight worker's work on a real SQLite file written by the real store, with a tiny real model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from panic_edge.archive import Archive
from panic_edge.core.insight import parse_insight
from panic_edge.core.invocation import Invocation, InvocationState, Run
from panic_edge.core.media import Content, MediaType
from panic_edge.core.payloads import encode
from panic_edge.core.trajectory import Thresholds
from panic_edge.insight import db
from panic_edge.insight.changes import applier
from panic_edge.insight.embedders import load_embedder
from panic_edge.insight.tracker import Tracker, TrackerSettings, from_blob
from panic_edge.store import Store, writes
from tests.insight_fixtures import build_model2vec, build_onnx_image

LABELS = {"poet": "Drift Poet", "painter": "Pixel Painter", "captioner": "Colour Captioner"}


@pytest.fixture(scope="module")
def text_model(tmp_path_factory):
    return load_embedder(build_model2vec(tmp_path_factory.mktemp("m2v") / "tiny-m2v"))


async def add_run(store: Store, run_id: str, prompt: str, steps: list[tuple[str, str, str | bytes]],
                  archive: Archive | None = None, started: float = 1000.0) -> list[str]:
    """A run of completed invocations: (model, output type, output text or image bytes) each."""
    await store.begin_run(Run(run_id, "net", prompt, started))
    ids = []
    for seq, (model, kind, output) in enumerate(steps):
        inv_id = f"{run_id}.{seq}"
        await store.add_invocation(Invocation(inv_id, run_id, "net", seq, model, InvocationState.READY,
                                              Content.of_text("in"), MediaType(kind), created_at=started + seq))
        if isinstance(output, bytes):
            assert archive is not None
            content = archive.save("net", inv_id, output, MediaType.IMAGE)
        elif kind != "text":  # a file that is not on disk: fine for a text-only tracker
            content = Content(MediaType(kind), file=f"net/{inv_id}.{kind}", mime=f"{kind}/x")
        else:
            content = Content.of_text(output)
        await store.complete(inv_id, content, started + seq + 0.5)
        ids.append(inv_id)
    return ids


async def bulk_run(store: Store, run_id: str, captions: list[str], started: float = 1000.0) -> list[str]:
    """A long run of completed captions, written in one transaction (``add_run`` commits each step)."""
    def write(conn) -> None:
        writes.begin_run(conn, Run(run_id, "net", "a camel", started))
        for seq, caption in enumerate(captions):
            inv = Invocation(f"{run_id}.{seq}", run_id, "net", seq, "poet", InvocationState.INVOKING,
                             Content.of_text("in"), MediaType.TEXT, created_at=started + seq)
            writes.add_invocation(conn, inv)
            writes.complete(conn, inv.id, Content.of_text(caption), started + seq + 0.5)
    await store.write(write)
    return [f"{run_id}.{seq}" for seq in range(len(captions))]


def sentences(n: int, seed: int) -> list[str]:
    import random

    from tests.insight_fixtures import WORDS

    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=8)) for _ in range(n)]


@pytest.fixture
async def database(tmp_path: Path):
    path = tmp_path / "panic-edge.sqlite3"
    async with Store.open(path) as store:
        yield store, path


def tracker(path: Path, text, image=None, archive_dir=None, thresholds=None):
    """A tracker whose changes are applied at once, as the daemon's writer would."""
    conn = db.connect(path)
    return Tracker(conn, text, image, archive_dir, TrackerSettings(50, thresholds or Thresholds(), LABELS),
                   clock=lambda: 5000.0, sink=applier(conn))


CAPTIONS = ["a camel in the desert", "a silver sky over the desert", "a neon city street at night",
            "a red bicycle under cherry blossom", "a calm lake at dawn", "a lighthouse in a storm"]


async def test_each_output_is_embedded_unit_length_and_measured_from_the_prompt(database, text_model):
    store, path = database
    ids = await add_run(store, "r1", "a camel in the desert at night",
                        [("poet", "text", c) for c in CAPTIONS[:4]])
    t = tracker(path, text_model)
    insights = [t.handle(i) for i in ids]
    assert all(i is not None for i in insights)
    last = insights[-1]
    assert last is not None and (last.run_id, last.sequence, last.invocation_id) == ("r1", 3, "r1.3")
    assert last.embedding_model == "tiny-m2v" and len(last.path) == 4 and last.prompt_point is not None
    assert len(last.recurrence) == 3 and last.hop == "poet" and last.hops[0].name == "Drift Poet"
    assert last.persistence is not None and last.persistence.points == 4
    conn = db.connect(path, readonly=True)
    rows = conn.execute("SELECT model, dim, vector FROM embeddings ORDER BY invocation_id").fetchall()
    assert len(rows) == 4 and {(r["model"], r["dim"]) for r in rows} == {("tiny-m2v", 16)}
    for r in rows:
        v = from_blob(r["vector"])
        assert v.dtype == np.float32 and abs(float(np.linalg.norm(v)) - 1) < 1e-5
    assert conn.execute("SELECT count(*) FROM prompt_embeddings").fetchone()[0] == 1
    assert [p["sequence"] for p in conn.execute("SELECT sequence FROM insight_points ORDER BY sequence")] == [0, 1, 2, 3]
    # the message survives the wire and the node's strict parser
    parsed = parse_insight(encode(last.to_json()))
    assert parsed.drift == pytest.approx(last.drift, abs=1e-4) and len(parsed.path) == 4


async def test_a_dropped_job_only_delays_its_point_the_next_one_fills_the_gap(database, text_model):
    store, path = database
    ids = await add_run(store, "r2", "a lighthouse", [("poet", "text", c) for c in CAPTIONS])
    insight = tracker(path, text_model).handle(ids[-1])
    assert insight is not None and [p.sequence for p in insight.path] == [0, 1, 2, 3, 4, 5]
    conn = db.connect(path, readonly=True)
    assert conn.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 6
    assert conn.execute("SELECT count(*) FROM insight_points").fetchone()[0] == 6


async def test_a_repeated_caption_is_stuck_and_a_return_after_a_detour_is_a_loop(database, text_model):
    store, path = database
    stuck = await add_run(store, "stuck", "p", [("poet", "text", c) for c in
                                                ["a camel", "a dark lake", "the sun", "the sun", "The  sun", "the sun"]])
    t = tracker(path, text_model, thresholds=Thresholds(3, 0.01, 0.01))
    result = [t.handle(i) for i in stuck][-1]
    assert result is not None and result.flags == ("stuck",)
    looping = await add_run(store, "loop", "p", [("painter", "image", "unused"), ("captioner", "text", "a camel"),
                                                 ("painter", "image", "unused"), ("captioner", "text", "a blue sea"),
                                                 ("painter", "image", "unused"), ("captioner", "text", "a red star"),
                                                 ("painter", "image", "unused"), ("captioner", "text", "a blue sea")])
    result = [t.handle(i) for i in looping][-1]
    assert result is not None and result.flags == ("loop",) and result.loop_period == 4
    assert result.hop == "painter>captioner" and result.hops[0].name == "Pixel Painter \u2192 Colour Captioner"
    assert result.nearest_sequence == 3 and result.nearest_distance == pytest.approx(0, abs=1e-3)


async def test_images_are_embedded_with_an_image_model_and_skipped_without_one(database, text_model, tmp_path):
    import io

    from PIL import Image

    store, path = database
    archive = Archive(tmp_path / "archive")

    def png(colour: tuple[int, int, int]) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (40, 30), colour).save(buf, "PNG")
        return buf.getvalue()

    ids = await add_run(store, "img", "colours", [("painter", "image", png((250, 10, 10))),
                                                  ("captioner", "text", "a red picture"),
                                                  ("painter", "image", png((10, 10, 250)))], archive)
    assert tracker(path, text_model).handle(ids[0]) is None
    image = load_embedder(build_onnx_image(tmp_path / "tiny-vision"))
    t = tracker(path, text_model, image, tmp_path / "archive")
    first, last = t.handle(ids[0]), t.handle(ids[2])
    assert first is not None and last is not None and last.modality == "image"
    assert last.embedding_model == "tiny-vision" and len(last.path) == 2 and last.prompt_point is None
    conn = db.connect(path, readonly=True)
    assert {r[0] for r in conn.execute("SELECT model FROM embeddings")} == {"tiny-vision"}


async def test_runs_like_this_one_are_the_runs_that_shared_its_ideas(database, text_model):
    store, path = database
    t = tracker(path, text_model)
    runs = {"same": CAPTIONS[:5], "other": ["the moon", "a stone house", "a song", "old glass", "fire and ice"],
            "copy": CAPTIONS[:5][::-1]}
    for n, (run_id, captions) in enumerate(runs.items()):
        ids = await add_run(store, run_id, "x", [("poet", "text", c) for c in captions], started=1000.0 + n)
        for i in ids:
            t.handle(i)
    conn = db.connect(path, readonly=True)
    similar = db.similar_runs(conn, "same")
    assert [s["run_id"] for s in similar][:2] == ["copy", "other"]
    assert similar[0]["distance"] < similar[1]["distance"]
    report = db.run_insight(conn, "copy")
    assert report[0]["similar"][0]["run_id"] == "same" and len(report[0]["points"]) == 5


async def test_the_projection_is_stored_and_the_same_after_a_restart(database, text_model):
    store, path = database
    ids = await add_run(store, "r", "x", [("poet", "text", c) for c in CAPTIONS[:3]])
    before = tracker(path, text_model).handle(ids[-1])
    again = tracker(path, text_model).handle(ids[-1])
    assert before is not None and again is not None and before.point == pytest.approx(again.point)
    conn = db.connect(path, readonly=True)
    assert conn.execute("SELECT version FROM insight_projections").fetchone()[0] == 1
    assert json.loads(conn.execute("SELECT persistence FROM insight_runs").fetchone()[0])["points"] == 3


async def test_a_long_run_is_shown_in_one_projection_after_a_refit(database, text_model):
    """A refit does not rewrite stored points; the admin's read places every point of a run in the
    current projection, from its stored embedding, and its prompt too."""
    store, path = database
    t = tracker(path, text_model)
    await bulk_run(store, "long", sentences(520, seed=1))
    t.update_run("long", text_model, history=None)  # 520 points (a backfill), the projection's first fit
    conn = db.connect(path, readonly=True)
    assert conn.execute("SELECT version FROM insight_projections").fetchone()[0] == 1
    await bulk_run(store, "other", sentences(620, seed=2), started=5000.0)
    t.update_run("other", text_model, history=None)  # the history has doubled: refitted
    assert conn.execute("SELECT version FROM insight_projections").fetchone()[0] == 2
    more = await add_run(store, "long-more", "x", [("poet", "text", "a lighthouse in a storm")])
    await store.write(lambda c: c.execute("UPDATE invocations SET run_id = 'long', sequence = 520 WHERE id = ?",
                                          more))
    t.handle(more[0])  # the long run goes on under the new projection
    versions = {r[0]: r[1] for r in conn.execute(
        "SELECT projection, count(*) FROM insight_points WHERE run_id = 'long' GROUP BY projection")}
    assert versions == {1: 520, 2: 1}, "the old points stay as they were stored"
    row = conn.execute("SELECT mean, axes, scale FROM insight_projections").fetchone()
    mean, axes = from_blob(row["mean"]).astype(np.float64), from_blob(row["axes"]).astype(np.float64).reshape(2, -1)
    vectors = {r[0]: from_blob(r[1]) for r in conn.execute(
        "SELECT e.invocation_id, e.vector FROM embeddings e JOIN invocations i ON i.id = e.invocation_id "
        "WHERE i.run_id = 'long'")}

    def placed(vector: np.ndarray) -> np.ndarray:
        return ((vector - mean) @ axes.T) / row["scale"]

    newest, = db.run_insight(conn, "long", limit=500)
    assert newest["projection"] == 2 and newest["points_total"] == 521 and len(newest["points"]) == 500
    older, = db.run_insight(conn, "long", limit=500, before=newest["older"])
    assert older["older"] is None and len(older["points"]) == 21
    shown = older["points"] + newest["points"]
    assert [p["sequence"] for p in shown] == list(range(521))
    for p in shown:
        assert p["point"] == pytest.approx(placed(vectors[p["invocation_id"]]).tolist(), abs=1e-3), p["sequence"]
    prompt = from_blob(conn.execute("SELECT vector FROM prompt_embeddings WHERE run_id = 'long'").fetchone()[0])
    assert newest["prompt_point"] == pytest.approx(placed(prompt).tolist(), abs=1e-3)
