"""`panic-edge insight backfill` and `insight export` on a real history, end to end through the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from panic_edge.cli import main
from panic_edge.insight import db
from panic_edge.store import Store
from tests.insight_fixtures import build_model2vec, module_blocker
from tests.test_insight_tracker import CAPTIONS, add_run

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
async def history(tmp_path: Path, monkeypatch):
    data = tmp_path / "data"
    async with Store.open(data / "panic-edge.sqlite3") as store:
        await add_run(store, "r1", "a camel in the desert", [("poet", "text", c) for c in CAPTIONS])
        await add_run(store, "r2", "a lighthouse", [("poet", "text", c) for c in CAPTIONS[::-1]], started=2000.0)
        await add_run(store, "r3", "a calm sea", [("voice", "audio", "ignored")], started=3000.0)
    monkeypatch.setenv("PANIC_EDGE_DATA_DIR", str(data))
    monkeypatch.setenv("PANIC_EDGE_INSIGHT_MODEL_DIR", str(build_model2vec(tmp_path / "tiny-m2v")))
    monkeypatch.delenv("PANIC_EDGE_CONFIG", raising=False)
    return data / "panic-edge.sqlite3"


async def test_backfill_embeds_what_has_no_embedding_and_a_second_run_finds_nothing_to_do(history, capsys):
    assert main(["insight", "backfill"]) == 0
    assert "tiny-m2v: embedded 12 outputs, brought 3 runs up to date" in capsys.readouterr().out
    conn = db.connect(history, readonly=True)
    assert conn.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 12
    assert conn.execute("SELECT count(*) FROM prompt_embeddings").fetchone()[0] == 3
    assert conn.execute("SELECT count(*) FROM insight_points").fetchone()[0] == 12
    assert [s["run_id"] for s in db.similar_runs(conn, "r2")] == ["r1"]
    assert main(["insight", "backfill"]) == 0
    assert "embedded 0 outputs, brought 0 runs up to date" in capsys.readouterr().out


async def test_export_writes_parquet_tables_a_notebook_loads(history, tmp_path, capsys):
    import pyarrow.parquet as pq

    assert main(["insight", "backfill"]) == 0
    assert main(["insight", "export", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    runs = pq.read_table(out / "runs.parquet")
    assert runs.num_rows == 3 and runs.column_names[:3] == ["id", "network", "prompt"]
    emb = pq.read_table(out / "embeddings.parquet").to_pylist()
    assert len(emb) == 15 and sum(1 for r in emb if r["sequence"] == -1 and r["invocation_id"] is None) == 3
    assert all(len(r["vector"]) == 16 and r["dim"] == 16 for r in emb)
    assert abs(sum(v * v for v in emb[0]["vector"]) - 1) < 1e-5
    diagrams = pq.read_table(out / "persistence_diagrams.parquet").to_pylist()
    assert {r["homology_dim"] for r in diagrams} <= {0, 1} and any(r["death"] is None for r in diagrams)
    assert pq.read_table(out / "insight_points.parquet").num_rows == 12
    assert pq.read_table(out / "invocations.parquet").num_rows == 13
    assert "embeddings.parquet: 15 rows" in capsys.readouterr().out


async def test_export_as_csv_keeps_vectors_as_json_arrays(history, tmp_path):
    assert main(["insight", "backfill"]) == 0
    assert main(["insight", "export", str(tmp_path / "csv"), "--format", "csv"]) == 0
    rows = list(csv.DictReader((tmp_path / "csv" / "embeddings.csv").read_text().splitlines()))
    assert len(rows) == 15 and len(json.loads(rows[0]["vector"])) == 16
    header = next(csv.reader((tmp_path / "csv" / "similar_runs.csv").read_text().splitlines()))
    assert header == ["run_id", "other_run_id", "embedding_model", "distance"]


async def test_export_names_the_files_it_wrote_not_what_else_is_in_the_folder(history, tmp_path):
    """Without pyarrow, auto is CSV: the listing says .csv even where old .parquet files lie about."""
    import asyncio
    import os
    import subprocess
    import sys

    assert main(["insight", "backfill"]) == 0
    out = tmp_path / "out"
    out.mkdir()
    (out / "runs.parquet").write_bytes(b"an older export")
    env = {**os.environ, "PYTHONPATH": f"{module_blocker(tmp_path / 'block', 'pyarrow')}{os.pathsep}{REPO}"}
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "panic_edge", "insight", "export", str(out)],
                                   env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    listed = [line.split(":")[0] for line in done.stdout.splitlines()]
    assert listed and all(name.endswith(".csv") for name in listed), done.stdout
    assert all(Path(name).exists() for name in listed) and f"{out / 'runs.csv'}" in listed


def test_export_of_a_missing_database_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PANIC_EDGE_DATA_DIR", str(tmp_path / "nowhere"))
    assert main(["insight", "export", str(tmp_path / "out")]) == 2
    assert "no database at" in capsys.readouterr().err


async def test_status_says_whether_insight_can_run_and_what_is_stored(history, capsys, monkeypatch, tmp_path):
    assert main(["insight", "backfill"]) == 0
    capsys.readouterr()
    assert main(["insight", "status"]) == 0
    out = capsys.readouterr().out
    assert "insight: can run" in out and "stored: 12 embeddings of tiny-m2v (16-d)" in out
    monkeypatch.setenv("PANIC_EDGE_INSIGHT_MODEL_DIR", str(tmp_path / "gone"))
    assert main(["insight", "status"]) == 0
    assert "insight: off: no embedding model in" in capsys.readouterr().out
