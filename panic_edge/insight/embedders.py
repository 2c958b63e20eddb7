"""Embedding models, loaded from a directory: model2vec (the default), or ONNX text and image.

A model is a folder, never a download: ``insight fetch`` (or a copy) puts it on disk and this
module loads it offline. Every embedder returns float32 rows of unit length; a row it cannot
give a direction (no known token, an undecodable picture) comes back as zeros and is skipped
by the caller.

- **model2vec** (``model.safetensors`` + ``tokenizer.json``): static token vectors averaged, no
  torch, ~0.1 ms per caption (potion-base-8M, 256-d).
- **ONNX text** (``model.onnx`` + ``tokenizer.json``): a transformer encoder (MiniLM, bge ...)
  through onnxruntime, mean-pooled over the attention mask; tens of ms per caption.
- **ONNX image** (``model.onnx`` with a ``pixel_values`` input, optional
  ``preprocessor_config.json``): a CLIP-style vision tower; ~0.3 s per picture on 2 cores.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from panic_edge.core.trajectory import unit_rows
from panic_edge.errors import InsightError
from panic_edge.insight.fetch import MANIFEST

TEXT_MAX_TOKENS = 256
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
MAX_PIXELS = 40_000_000  # a picture larger than this is not decoded


class Embedder(Protocol):
    name: str
    dim: int
    modality: str  # "text" or "image"

    def embed(self, items: Sequence[Any]) -> np.ndarray:
        """(len(items), dim) float32, unit rows (zeros where an item has no embedding)."""
        ...


def model_name(directory: Path) -> str:
    """The name the model's vectors are stored under: from its manifest, else its folder's name."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        if isinstance(manifest.get("name"), str) and manifest["name"]:
            return str(manifest["name"])[:100]
    except (OSError, ValueError, AttributeError):
        pass
    return directory.resolve().name[:100] or "model"


def model_kind(directory: Path) -> str:
    """``model2vec``, ``onnx-text`` or ``onnx-image``; raises InsightError for anything else."""
    if not directory.is_dir():
        raise InsightError(f"no embedding model at {directory}: the folder does not exist; run "
                           f"`panic-edge insight fetch` or set [insight] model_dir")
    onnx = _onnx_file(directory)
    if onnx is not None:
        if (directory / "preprocessor_config.json").exists() or not (directory / "tokenizer.json").exists():
            return "onnx-image"
        return "onnx-text"
    if (directory / "model.safetensors").exists() and (directory / "tokenizer.json").exists():
        return "model2vec"
    raise InsightError(f"{directory} holds no embedding model: expected model.safetensors + tokenizer.json "
                       f"(model2vec) or model.onnx (ONNX)")


def _onnx_file(directory: Path) -> Path | None:
    for candidate in (directory / "model.onnx", directory / "onnx" / "model.onnx"):
        if candidate.is_file():
            return candidate
    return None


def load_embedder(directory: Path, threads: int = 2) -> Embedder:
    """Load the model in ``directory`` (offline). Raises InsightError saying what is wrong."""
    directory = Path(directory).expanduser()
    kind = model_kind(directory)
    name = model_name(directory)
    try:
        if kind == "model2vec":
            return Model2VecEmbedder(directory, name)
        if kind == "onnx-text":
            return OnnxTextEmbedder(directory, name, threads)
        return OnnxImageEmbedder(directory, name, threads)
    except InsightError:
        raise
    except ImportError as err:
        raise InsightError(f"cannot load {directory}: {err.name or err} is not installed; install "
                           f"panic-edge[insight] (and panic-edge[insight-onnx] for ONNX models)") from None
    except Exception as err:  # noqa: BLE001 - each library has its own errors for a corrupt or foreign file
        raise InsightError(f"cannot load the embedding model in {directory}: {type(err).__name__}: {err}") from None


class Model2VecEmbedder:
    modality = "text"

    def __init__(self, directory: Path, name: str) -> None:
        from model2vec import StaticModel

        self.model = StaticModel.from_pretrained(str(directory), normalize=True, force_download=False)
        self.name = name
        self.dim = int(self.model.dim)

    def embed(self, items: Sequence[Any]) -> np.ndarray:
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode([str(t) for t in items], show_progress_bar=False, use_multiprocessing=False)
        return unit_rows(np.asarray(vectors).reshape(len(items), self.dim))[0]


def _session(model_file: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])


class OnnxTextEmbedder:
    modality = "text"

    def __init__(self, directory: Path, name: str, threads: int) -> None:
        from tokenizers import Tokenizer

        model_file = _onnx_file(directory)
        assert model_file is not None
        self.session = _session(model_file, threads)
        self.inputs = {i.name for i in self.session.get_inputs()}
        if "input_ids" not in self.inputs:
            raise InsightError(f"{model_file} is not a text encoder: it has no input_ids input")
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(TEXT_MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.name = name
        self.dim = 0
        self.dim = int(self._run(["dimension probe"]).shape[1])

    def _run(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids}
        if "attention_mask" in self.inputs:
            feed["attention_mask"] = mask
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        out = np.asarray(self.session.run(None, feed)[0], dtype=np.float32)
        if out.ndim == 3:  # token states: mean over the real tokens
            weights = mask[:, :, None].astype(np.float32)
            out = (out * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        return out

    def embed(self, items: Sequence[Any]) -> np.ndarray:
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = [self._run([str(t) or " "])[0] for t in items]  # one at a time: no padding cost
        return unit_rows(np.stack(rows))[0]


class OnnxImageEmbedder:
    modality = "image"

    def __init__(self, directory: Path, name: str, threads: int) -> None:
        model_file = _onnx_file(directory)
        assert model_file is not None
        self.session = _session(model_file, threads)
        first = self.session.get_inputs()[0]
        self.input = next((i.name for i in self.session.get_inputs() if i.name == "pixel_values"), first.name)
        config = self._preprocessor(directory)
        size = config.get("crop_size", config.get("size", 224))
        if isinstance(size, dict):
            size = size.get("height") or size.get("shortest_edge") or 224
        fixed = first.shape[-1] if isinstance(first.shape[-1], int) else None
        self.size = int(fixed or size)
        self.mean = np.array(config.get("image_mean", CLIP_MEAN), dtype=np.float32)[:, None, None]
        self.std = np.array(config.get("image_std", CLIP_STD), dtype=np.float32)[:, None, None]
        self.name = name
        self.dim = 0
        probe = np.zeros((1, 3, self.size, self.size), dtype=np.float32)
        self.dim = int(self._pool(self.session.run(None, {self.input: probe})[0]).shape[1])

    @staticmethod
    def _preprocessor(directory: Path) -> dict[str, Any]:
        try:
            config = json.loads((directory / "preprocessor_config.json").read_text(encoding="utf-8"))
            return config if isinstance(config, dict) else {}
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _pool(out: Any) -> np.ndarray:
        array = np.asarray(out, dtype=np.float32)
        pooled: np.ndarray = array[:, 0] if array.ndim == 3 else array.reshape(array.shape[0], -1)
        return pooled

    def pixels(self, data: bytes | bytearray) -> np.ndarray | None:
        """CLIP preprocessing: shortest side to ``size`` (bicubic), centre crop, normalise."""
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data)) as opened:
                if opened.width * opened.height > MAX_PIXELS:
                    return None
                img = opened.convert("RGB")
                scale = self.size / min(img.width, img.height)
                w, h = max(self.size, round(img.width * scale)), max(self.size, round(img.height * scale))
                img = img.resize((w, h), Image.Resampling.BICUBIC)
                left, top = (w - self.size) // 2, (h - self.size) // 2
                img = img.crop((left, top, left + self.size, top + self.size))
                array = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0
        except (OSError, ValueError, Image.DecompressionBombError):
            return None
        return (array - self.mean) / self.std

    def embed(self, items: Sequence[Any]) -> np.ndarray:
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        for i, data in enumerate(items):
            pixels = self.pixels(data) if isinstance(data, bytes | bytearray) else None
            if pixels is not None:
                out[i] = self._pool(self.session.run(None, {self.input: pixels[None]})[0])[0]
        return unit_rows(out)[0]
