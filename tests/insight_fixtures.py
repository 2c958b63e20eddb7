"""Tiny embedding models built by the tests in the libraries' own formats: nothing downloads weights.

- a model2vec model: a WordPiece tokenizer over a small vocabulary and random (seeded) vectors,
  saved with ``StaticModel.save_pretrained`` and loaded back by the real loading code;
- an ONNX text encoder (token vectors out, mean-pooled by the loader) built with ``onnx``;
- an ONNX image encoder (CLIP-shaped input, an embedding out) built with ``onnx``.
"""

from __future__ import annotations

from pathlib import Path

WORDS_TEXT = ("a an the of and in on with at by beside under over camel desert silver neon sky bright picture gold "
         "sandy calm centred dark blue violet busy edges lighthouse storm sea rock red bicycle cherry blossom "
         "city street night sign forest path leaves mountain cloud boat lake dawn old man child cat dog bird "
         "sun moon star fire water ice stone glass tree flower river road house window door music song")
WORDS = tuple(WORDS_TEXT.split())


def vocabulary() -> dict[str, int]:
    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    return vocab


def tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    tok = Tokenizer(models.WordPiece(vocabulary(), unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tok


def build_model2vec(folder: Path, dim: int = 16, seed: int = 0) -> Path:
    import numpy as np
    from model2vec import StaticModel

    vectors = np.random.default_rng(seed).standard_normal((len(vocabulary()), dim)).astype(np.float32)
    StaticModel(vectors, tokenizer(), normalize=True).save_pretrained(str(folder))
    return folder


def build_onnx_text(folder: Path, dim: int = 12, seed: int = 1) -> Path:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    table = np.random.default_rng(seed).standard_normal((len(vocabulary()), dim)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"], axis=0)], "tiny-text",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", dim])],
        [numpy_helper.from_array(table, "table")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8),
              str(folder / "model.onnx"))
    tokenizer().save(str(folder / "tokenizer.json"))
    return folder


def build_onnx_image(folder: Path, dim: int = 8, size: int = 32, seed: int = 2) -> Path:
    import json

    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    weights = np.random.default_rng(seed).standard_normal((3 * 4, dim)).astype(np.float32)
    nodes = [helper.make_node("AveragePool", ["pixel_values"], ["pooled"], kernel_shape=[size // 2, size // 2],
                              strides=[size // 2, size // 2]),  # 3 x 2 x 2: colour by quadrant
             helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
             helper.make_node("MatMul", ["flat", "weights"], ["image_embeds"])]
    graph = helper.make_graph(
        nodes, "tiny-vision", [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, [1, dim])],
        [numpy_helper.from_array(weights, "weights")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8),
              str(folder / "model.onnx"))
    (folder / "preprocessor_config.json").write_text(json.dumps({"crop_size": size, "size": size}))
    return folder


def module_blocker(folder: Path, *names: str) -> Path:
    """A folder to put first on PYTHONPATH: its sitecustomize makes ``names`` (top-level packages)
    impossible to import, as on a machine where they are not installed. Returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {names!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r} (blocked by the test)', name=name)\n"
        "sys.meta_path.insert(0, Block())\n")
    return folder
