"""What an insight job changes, as data: read-only trackers, chunks, and the worker's write lines parsed strictly."""

from __future__ import annotations

import json

import pytest

from panic_edge.insight import db
from panic_edge.insight.changes import CHUNK, Changes, ProjectionRow, RunRow, SimilarRow, applier
from panic_edge.insight.embedders import load_embedder
from panic_edge.insight.tracker import Tracker
from panic_edge.store import Store
from tests.insight_fixtures import build_model2vec
from tests.test_insight_tracker import CAPTIONS, add_run


def vector(dim: int = 4, value: float = 0.5) -> bytes:
    import array

    return array.array("f", [value] * dim).tobytes()


def point(n: int) -> dict:
    return {"invocation_id": f"r.{n}", "model": "m", "run_id": "r", "sequence": n, "hop": "poet", "drift": 0.5,
            "step": 0.25, "x": 0.1, "y": -0.2, "projection": 1, "flags": '["loop"]', "loop_period": 4,
            "nearest_sequence": None, "nearest_distance": None}


def sample(points: int = 3) -> Changes:
    return Changes(12.5, tuple((f"r.{n}", "m", 4, vector()) for n in range(points)), (("r", "m", 4, vector()),),
                   tuple(point(n) for n in range(points)),
                   (RunRow("r", "m", points, vector(), (0.5, -0.5), 1, {"points": 3, "h0": [[0.0, None]], "h1": []}),),
                   (SimilarRow("r", "m", (("q", 0.75),), points),),
                   (ProjectionRow("m", 1, 90, 4, vector(), vector(8), 1.5),))


def test_changes_survive_the_wire_as_they_were():
    original = sample()
    line = json.dumps({"kind": "write", **original.to_json()})
    assert Changes.from_json(json.loads(line)) == original


def test_a_big_job_comes_in_chunks_the_projection_first_the_runs_summary_last():
    chunks = sample(points=CHUNK * 2).chunks()
    assert len(chunks) == 4 and all(c.rows <= CHUNK for c in chunks)
    assert chunks[0].projections and not any(c.projections for c in chunks[1:])
    assert chunks[-1].runs and chunks[-1].similar and not any(c.runs for c in chunks[:-1])
    assert sum(len(c.embeddings) for c in chunks) == sum(len(c.points) for c in chunks) == CHUNK * 2
    assert Changes(1.0).chunks() == []


@pytest.mark.parametrize("change, problem", [
    (lambda b: b.update(embeddings=[["r.0", "m", 4, "not base64!"]]), "base64"),
    (lambda b: b.update(embeddings=[["r.0", "m", 5, b["embeddings"][0][3]]]), "float32"),
    (lambda b: b.update(points=[b["points"][0][:-1]]), "a point"),
    (lambda b: b["points"][0].__setitem__(5, "far"), "finite"),
    (lambda b: b.update(at=float("nan")), "finite"),
    (lambda b: b.update(runs=[["r", "m", 1, None, [1], 1, None]]), "prompt point"),
    (lambda b: b.update(projections=[["m", 1, 9, 4, b["projections"][0][4], b["projections"][0][4], 1.0]]), "axes"),
    (lambda b: b.update(embeddings=b["embeddings"] * 200), "more than"),
    (lambda b: b.update(similar="none"), "must be a list"),
    (lambda b: b["runs"][0].__setitem__(2, 2**63), "SQLite can store"),  # sqlite3 raises OverflowError
])
def test_a_malformed_write_line_is_refused_naming_what_is_wrong(change, problem):
    body = sample().to_json()
    change(body)
    with pytest.raises(ValueError, match=problem):
        Changes.from_json(body)


async def test_the_tracker_reads_on_a_read_only_connection_and_only_hands_its_changes_on(tmp_path):
    path = tmp_path / "panic-edge.sqlite3"
    async with Store.open(path) as store:
        ids = await add_run(store, "r1", "a camel", [("poet", "text", c) for c in CAPTIONS[:4]])
    model = load_embedder(build_model2vec(tmp_path / "tiny-m2v"))
    handed: list[Changes] = []
    tracker = Tracker(db.connect(path, readonly=True), model, sink=handed.append, clock=lambda: 5.0)
    insight = tracker.handle(ids[-1])
    assert insight is not None and len(insight.path) == 4
    changes, = handed
    assert len(changes.embeddings) == 4 and len(changes.prompts) == 1 and len(changes.points) == 4
    assert changes.projections and changes.runs[0].points == 4
    check = db.connect(path, readonly=True)
    assert check.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 0, "nothing written by the tracker"
    applier(db.connect(path))(changes)
    assert check.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 4
    assert check.execute("SELECT points FROM insight_runs").fetchone()[0] == 4
