"""Embedding models loaded by the real loading code from folders the tests build, and the worker's
line protocol driven in-process."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from panic_edge.errors import InsightError
from panic_edge.insight.embedders import load_embedder, model_kind
from panic_edge.insight.worker import serve
from panic_edge.store import Store
from tests.insight_fixtures import build_model2vec, build_onnx_image, build_onnx_text
from tests.test_insight_tracker import add_run

REPO = Path(__file__).resolve().parent.parent


def png(colour: tuple[int, int, int], size: tuple[int, int] = (48, 32)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def assert_unit_float32(rows: np.ndarray, usable: list[bool]) -> None:
    assert rows.dtype == np.float32
    norms = np.linalg.norm(rows, axis=1)
    assert [bool(abs(n - 1) < 1e-5) for n in norms] == usable
    assert all(n == 0 for n, ok in zip(norms, usable) if not ok)


def test_a_model2vec_folder_round_trips_and_gives_unit_float32_rows(tmp_path):
    model = load_embedder(build_model2vec(tmp_path / "m2v"))
    assert (model.name, model.dim, model.modality) == ("m2v", 16, "text")
    rows = model.embed(["a camel in the desert", "a camel in the desert", "", "qqq zzz"])
    assert_unit_float32(rows, [True, True, False, False])  # no known word: no direction
    assert np.array_equal(rows[0], rows[1])


TEXTS = ["a camel in the desert", "The  CAMEL, in the desert!", "qqq zzz", "", "a " + "silver sky " * 40,
         "a camel qqq beside the neon sea", "é"]


def model2vec_own(folder: Path, texts: list[str]) -> np.ndarray:
    from model2vec import StaticModel

    vectors = StaticModel.from_pretrained(str(folder), normalize=True, force_download=False).encode(texts)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.where(norms > 0, vectors / np.maximum(norms, 1e-12), 0.0)


@pytest.mark.parametrize("max_length", [512, 6, None])
def test_a_model2vec_model_is_read_from_its_files_as_model2vec_reads_it(tmp_path, max_length):
    """The worker reads model2vec's layout itself (no model2vec import, the vectors mapped from the
    file); the vectors are model2vec's own, truncation and unknown words included."""
    from model2vec import StaticModel

    from tests.insight_fixtures import tokenizer, vocabulary

    folder = tmp_path / "m2v"
    vectors = np.random.default_rng(5).standard_normal((len(vocabulary()), 24)).astype(np.float32)
    StaticModel(vectors, tokenizer(), normalize=True, max_length=max_length).save_pretrained(str(folder))
    model = load_embedder(folder)
    assert isinstance(getattr(model, "vectors", None), np.memmap), "mapped from model.safetensors, not copied"
    assert np.allclose(model.embed(TEXTS), model2vec_own(folder, TEXTS), atol=1e-6)


def test_a_model2vec_model_with_weights_is_loaded_by_model2vec_itself(tmp_path):
    from model2vec import StaticModel

    from tests.insight_fixtures import tokenizer, vocabulary

    folder = tmp_path / "quantized"
    rng = np.random.default_rng(6)
    vectors = rng.standard_normal((len(vocabulary()), 8)).astype(np.float32)
    weights = rng.uniform(0.5, 2.0, len(vocabulary())).astype(np.float32)
    StaticModel(vectors, tokenizer(), normalize=True, weights=weights).save_pretrained(str(folder))
    model = load_embedder(folder)
    assert not hasattr(model, "vectors") and model.dim == 8
    assert np.allclose(model.embed(TEXTS), model2vec_own(folder, TEXTS), atol=1e-6)


def test_an_onnx_text_encoder_is_mean_pooled_over_its_tokens(tmp_path):
    model = load_embedder(build_onnx_text(tmp_path / "minilm-ish"))
    assert (model.dim, model.modality, model_kind(tmp_path / "minilm-ish")) == (12, "text", "onnx-text")
    rows = model.embed(["a camel", "the camel", "a camel"])
    assert_unit_float32(rows, [True, True, True])
    assert np.allclose(rows[0], rows[2]) and not np.allclose(rows[0], rows[1])


def test_an_onnx_image_encoder_embeds_pictures_and_not_garbage(tmp_path):
    model = load_embedder(build_onnx_image(tmp_path / "clip-ish"))
    assert (model.dim, model.modality) == (8, "image")
    rows = model.embed([png((250, 20, 20)), png((20, 20, 250), (300, 90)), b"not a picture", "text"])
    assert_unit_float32(rows, [True, True, False, False])
    assert not np.allclose(rows[0], rows[1])


def test_a_missing_empty_or_broken_folder_is_a_clear_insight_error(tmp_path):
    with pytest.raises(InsightError, match="does not exist; run `panic-edge insight fetch`"):
        load_embedder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InsightError, match="holds no embedding model"):
        load_embedder(tmp_path / "empty")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.safetensors").write_bytes(b"\x00" * 10)
    (broken / "tokenizer.json").write_text("{}")
    with pytest.raises(InsightError, match="cannot load the embedding model"):
        load_embedder(broken)
    (tmp_path / "bad-onnx").mkdir()
    (tmp_path / "bad-onnx" / "model.onnx").write_bytes(b"not onnx")
    with pytest.raises(InsightError, match="cannot load"):
        load_embedder(tmp_path / "bad-onnx")


async def test_the_worker_answers_every_line_even_a_bad_one(tmp_path: Path):
    path = tmp_path / "panic-edge.sqlite3"
    async with Store.open(path) as store:
        ids = await add_run(store, "r", "a camel", [("poet", "text", "a dark lake"), ("poet", "text", "a red sun")])
    jobs = io.StringIO("\n".join([json.dumps({"invocation_id": ids[0]}), "not json", json.dumps({"nope": 1}),
                                  json.dumps({"invocation_id": 7}), json.dumps({"invocation_id": "unknown"}),
                                  json.dumps({"invocation_id": ids[1]})]) + "\n")
    out = io.StringIO()
    settings = {"database": str(path), "model_dir": str(build_model2vec(tmp_path / "m2v")), "window": 50}
    assert serve(settings, jobs, out) == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    lines = [line for line in lines if line.get("kind") != "write"]  # the results, for the daemon to store
    assert lines[0]["kind"] == "ready" and lines[0]["dim"] == 16
    kinds = [line.get("kind") for line in lines[1:]]
    assert kinds == ["done", None, "error", "error", "error", "done", "done", None]  # None: a published message
    assert lines[2]["run_id"] == "r" and lines[-1]["sequence"] == 1 and len(lines[-1]["path"]) == 2
    assert lines[6]["payload"] is False  # an unknown invocation: nothing to publish


def test_a_worker_whose_model_cannot_load_says_off_and_why(tmp_path):
    out = io.StringIO()
    assert serve({"database": str(tmp_path / "x.sqlite3"), "model_dir": str(tmp_path / "none")}, io.StringIO(), out) == 0
    answer = json.loads(out.getvalue())
    assert answer["kind"] == "off" and "does not exist" in answer["reason"]


def test_the_worker_loads_only_what_a_model2vec_model_needs(tmp_path):
    """Memory: a ready worker with the default kind of model has not loaded the config's pydantic,
    Pillow (images), onnxruntime, scipy or pyarrow; its model's vectors are mapped from the file."""
    import os
    import sqlite3
    import subprocess
    import sys

    model = build_model2vec(tmp_path / "m2v")
    database = tmp_path / "panic-edge.sqlite3"
    sqlite3.connect(database).close()
    proc = subprocess.Popen([sys.executable, "-m", "panic_edge.insight.worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps({"database": str(database), "archive": None, "model_dir": str(model)}) + "\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["kind"] == "ready"
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
    finally:
        proc.stdin.close()
        proc.wait(20)
    for library in ("pydantic_core", "PIL/_imaging", "onnxruntime", "site-packages/scipy/", "pyarrow"):
        assert library not in maps, f"{library} is loaded"
    assert str(model / "model.safetensors") in maps, "the vectors are mapped from the model's file"
