"""Every request a Replicate catalogue entry can make, checked against the excerpt of the model's
published input schema recorded in panic_edge/core/schemas/replicate.toml."""

from __future__ import annotations

import io
import tomllib
from importlib import resources
from typing import Any

import pytest
from PIL import Image

from panic_edge.core import picture_ref
from panic_edge.core.catalogue import CATALOGUE
from panic_edge.core.media import MediaType
from panic_edge.core.model import Model
from panic_edge.platforms.base import ModelInput
from panic_edge.platforms.replicate import for_input, prediction_input

SCHEMAS: dict[str, Any] = tomllib.loads(
    resources.files("panic_edge.core").joinpath("schemas/replicate.toml").read_text(encoding="utf-8"))

# The models the original PANIC! app lists as active (issue 15): each must have a recorded excerpt.
FROM_THE_ORIGINAL = ("qwen2-vl-7b-instruct", "llama-4-scout-instruct", "imagen-4-fast", "photon-flash",
                     "flux-2-klein-4b", "seedream-4.5", "z-image-turbo", "dreamina-3.1", "ideogram-v3-turbo",
                     "magnet", "flux-music", "lyria-2", "image-reproducer-i-flux", "claude-4-sonnet-caption",
                     "claude-4-sonnet", "sd-3.5-large-turbo", "molmo", "moondream", "whisper")
# Entries with no recorded excerpt: what was searched for, and what was found instead. None of
# them is in the original's active list.
LLAMA_3_70B = ("searched replicate.com meta/meta-llama-3-70b-instruct versions/*/api and /api: not found. "
               "A client generated from its schema (socaity 0.1.6 on PyPI) lists no system_prompt input, "
               "which this entry sends: unconfirmed, so the entry is left as it was")
UNCHECKED = {
    "flux-lora-tarot": "searched replicate.com fofr/flux-tarot versions/*/api and /api and a generated client "
                       "for it: not found",
    "flux-redux": "searched replicate.com black-forest-labs/flux-redux-schnell versions/*/api and /api: "
                  "found only community Redux models' pages, and another host's own API (eachlabs)",
    "llama-3-70b": LLAMA_3_70B,
    "rube-goldberg-helper": LLAMA_3_70B,
}
# Deprecated entries whose recorded excerpt shows they cannot be called: kept for history.
XTTS_LANGUAGES = SCHEMAS["lucataco/xtts-v2"]["fields"]["language"]["options"]
BROKEN = {"xtts-ja": [f"language = 'ja' is not one of {XTTS_LANGUAGES}"]}
PYTHON_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "enum": (str,), "integer": (int,),
                                             "number": (int, float), "boolean": (bool,), "array": (list,)}


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(out, format="PNG")
    return out.getvalue()


def _calls(model: Model) -> list[tuple[str, dict[str, Any]]]:
    """(owner/name, input body) of every request ``model`` can make."""
    samples = {MediaType.TEXT: ModelInput(MediaType.TEXT, text="a camel in the desert"),
               MediaType.IMAGE: ModelInput(MediaType.IMAGE, data=_png(), mime="image/png", file="n/1.png"),
               MediaType.AUDIO: ModelInput(MediaType.AUDIO, data=b"RIFF....WAVE", mime="audio/wav")}
    givens = [samples[model.input]]
    if "picture_field" in model.params:  # the reproducer: handed a text that carries a picture
        givens.append(ModelInput(MediaType.TEXT, text=picture_ref.PASSED_ON, data=_png(), mime="image/png"))
    calls = []
    for given in givens:
        called = for_input(model, given)
        calls.append((called.ref.partition(":")[0], prediction_input(called, given)))
    return calls


def _problems(owner_name: str, body: dict[str, Any]) -> list[str]:
    excerpt = SCHEMAS.get(owner_name)
    if excerpt is None:
        return [f"no schema excerpt recorded for {owner_name}"]
    fields = excerpt["fields"]
    problems = [f"{name} is required by {owner_name} but not sent" for name, spec in fields.items()
                if spec.get("required") and name not in body]
    for name, value in body.items():
        spec = fields.get(name)
        if spec is None:
            problems.append(f"{name} is not an input of {owner_name} ({', '.join(fields)})")
            continue
        kinds = PYTHON_TYPES[spec["type"]]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            problems.append(f"{name} = {value!r} is not a {spec['type']}")
            continue
        if "options" in spec and value not in spec["options"]:
            problems.append(f"{name} = {value!r} is not one of {spec['options']}")
        if ("min" in spec and value < spec["min"]) or ("max" in spec and value > spec["max"]):
            problems.append(f"{name} = {value!r} is outside {spec.get('min')}..{spec.get('max')}")
    return problems


REPLICATE = sorted(m.id for m in CATALOGUE.values() if m.platform == "replicate")
# deprecated entries are checked where an excerpt was recorded (their endpoints broke; most have none)
CHECKED = [m for m in REPLICATE if m not in UNCHECKED and m not in BROKEN
           and (not CATALOGUE[m].deprecated or CATALOGUE[m].ref.partition(":")[0] in SCHEMAS)]


@pytest.mark.parametrize("model_id", CHECKED)
def test_every_request_of_the_entry_matches_its_recorded_schema_excerpt(model_id):
    for owner_name, body in _calls(CATALOGUE[model_id]):
        assert _problems(owner_name, body) == []


def test_the_originals_active_models_are_all_here_active_and_checked():
    for model_id in FROM_THE_ORIGINAL:
        model = CATALOGUE[model_id]
        assert not model.deprecated and model_id not in UNCHECKED
    assert set(REPLICATE) >= set(UNCHECKED) | set(BROKEN)
    assert not any(CATALOGUE[m].deprecated for m in UNCHECKED)


def test_a_deprecated_entry_known_to_be_refused_is_refused_for_the_reason_recorded():
    for model_id, problems in BROKEN.items():
        assert CATALOGUE[model_id].deprecated
        assert [p for owner_name, body in _calls(CATALOGUE[model_id])
                for p in _problems(owner_name, body)] == problems


def test_every_excerpt_names_its_source_and_how_strong_it_is():
    for owner_name, excerpt in SCHEMAS.items():
        assert excerpt["kind"] in ("replicate", "cog", "mirror", "client"), owner_name
        assert excerpt["source"].startswith("https://") and excerpt["fields"], owner_name


def test_weaker_evidence_says_what_stronger_evidence_was_searched_for():
    for owner_name, excerpt in SCHEMAS.items():
        if excerpt["kind"] in ("mirror", "client"):
            assert excerpt.get("searched", "").startswith("replicate.com "), owner_name
    assert all(why.startswith("searched ") for why in UNCHECKED.values())


def test_the_check_catches_a_field_the_schema_does_not_have():
    # the original app sent guidance_scale to Seedream 4.5; its published schema has no such field
    assert _problems("bytedance/seedream-4.5", {"prompt": "x", "guidance_scale": 2.5}) == [
        "guidance_scale is not an input of bytedance/seedream-4.5 (" + ", ".join(
            SCHEMAS["bytedance/seedream-4.5"]["fields"]) + ")"]
    assert _problems("anthropic/claude-4-sonnet", {"prompt": "x", "max_tokens": 200}) == [
        "max_tokens = 200 is outside 1024..64000"]
    assert _problems("black-forest-labs/flux-kontext-dev", {"prompt": "x"}) == [
        "input_image is required by black-forest-labs/flux-kontext-dev but not sent"]


def test_xtts_sends_the_speaker_recording_its_predictor_requires():
    # the entries sent only text and language until the Cog predictor's signature was recorded
    assert _problems("lucataco/xtts-v2", {"text": "x", "language": "en"}) == [
        "speaker is required by lucataco/xtts-v2 but not sent"]
    for model_id in ("xtts", "xtts-fr", "xtts-es", "xtts-ko"):
        (_, body), = _calls(CATALOGUE[model_id])
        assert body["speaker"].startswith("https://") and _problems("lucataco/xtts-v2", body) == []
