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
