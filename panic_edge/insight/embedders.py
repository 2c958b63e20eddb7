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
    """model2vec's static embeddings: the mean of the text's token vectors.

    A model in model2vec's own layout (one ``embeddings`` tensor, float32 or float16, in
    ``model.safetensors``, and ``tokenizer.json``) is read straight from its files, as model2vec's
    ``StaticModel.encode`` reads it (the same tokens, truncation and mean; the tests check the
    vectors are the same): without importing model2vec (and joblib, tqdm, multiprocessing behind
    it) and with the vectors mapped from the file rather than copied, so the worker holds only
    the pages of the words it has met, as page cache the kernel can take back. Anything else
    (vocabulary-quantized models with weights or a token mapping, other dtypes, the
    sentence-transformers layout) is loaded by model2vec itself."""

    modality = "text"

    def __init__(self, directory: Path, name: str) -> None:
        self.name = name
        mapped = _mapped_embeddings(directory / "model.safetensors")
        if mapped is None:
            self._model: Any = _static_model(directory)
            self.dim = int(self._model.dim)
            return
        from tokenizers import Tokenizer

        self._model = None
        self.vectors = mapped
        self.dim = int(mapped.shape[1])
        config = _json(directory / "config.json")
        self.max_length: int | None = config.get("max_length", M2V_MAX_LENGTH)
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        if self.max_length is not None:
            self.tokenizer.enable_truncation(self.max_length)
        vocab = self.tokenizer.get_vocab()
        if len(vocab) != len(mapped):
            raise InsightError(f"{directory}: the tokenizer has {len(vocab)} tokens and model.safetensors "
                               f"{len(mapped)} vectors")
        self.median_token_length = int(np.median([len(token) for token in vocab]))
        if hasattr(self.tokenizer.model, "unk_token"):  # WordPiece, BPE, WordLevel; as model2vec finds it
            unk = self.tokenizer.model.unk_token
            self.unk_id = self.tokenizer.token_to_id(unk) if isinstance(unk, str) else None
        else:  # Unigram
            unk_id = _json(directory / "tokenizer.json").get("model", {}).get("unk_id")
            self.unk_id = unk_id if isinstance(unk_id, int) else None

    def embed(self, items: Sequence[Any]) -> np.ndarray:
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._model is not None:
            vectors = self._model.encode([str(t) for t in items], show_progress_bar=False, use_multiprocessing=False)
            return unit_rows(np.asarray(vectors).reshape(len(items), self.dim))[0]
        texts = [str(t) for t in items]
        if self.max_length is not None:  # as model2vec does: characters first, then tokens
            texts = [t[: self.max_length * self.median_token_length] for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, encoding in enumerate(self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)):
            ids = [t for t in encoding.ids if t != self.unk_id]
            if ids:
                out[i] = self.vectors[np.asarray(ids, dtype=np.int64)].astype(np.float32).mean(axis=0)
        return unit_rows(out)[0]


M2V_MAX_LENGTH = 512  # model2vec's default when a model's config names none (model2vec.model.DEFAULT_MAX_LENGTH)
SAFETENSORS_DTYPES = {"F32": "<f4", "F16": "<f2"}


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _mapped_embeddings(path: Path) -> np.ndarray | None:
    """The ``embeddings`` tensor of a safetensors file mapped read-only from it, when the file holds
    only that (no weights, no token mapping) as float32 or float16; None otherwise."""
    try:
        with path.open("rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            if not 2 <= size <= 1 << 20:
                return None
            header = json.loads(fh.read(size))
    except (OSError, ValueError):
        return None
    tensors = {k: v for k, v in header.items() if k != "__metadata__"} if isinstance(header, dict) else {}
    spec = tensors.get("embeddings")
    if set(tensors) != {"embeddings"} or not isinstance(spec, dict):
        return None
    dtype, shape, offsets = spec.get("dtype"), spec.get("shape"), spec.get("data_offsets")
    if dtype not in SAFETENSORS_DTYPES or not isinstance(shape, list) or len(shape) != 2 \
            or not isinstance(offsets, list) or len(offsets) != 2:
        return None
    rows, dim = shape
    itemsize = np.dtype(SAFETENSORS_DTYPES[dtype]).itemsize
    if not (isinstance(rows, int) and isinstance(dim, int) and rows > 0 and dim > 0) \
            or offsets[1] - offsets[0] != rows * dim * itemsize or path.stat().st_size < 8 + size + offsets[1]:
        return None
    return np.memmap(path, dtype=SAFETENSORS_DTYPES[dtype], mode="r", offset=8 + size + offsets[0], shape=(rows, dim))


def _static_model(directory: Path) -> Any:
    from model2vec import StaticModel

    return StaticModel.from_pretrained(str(directory), normalize=True, force_download=False)


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
