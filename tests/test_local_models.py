"""The local models: each gives its declared type, and each one's output reflects its input."""

from __future__ import annotations

import io
import shutil

import pytest
from PIL import Image

from panic_edge.archive import sniff
from panic_edge.core.catalogue import CATALOGUE
from panic_edge.core.media import MediaType
from panic_edge.platforms.base import ModelInput
from panic_edge.platforms.errors import PermanentError
from panic_edge.platforms.local import LocalPlatform, pictures, sounds, words


def test_the_poet_keeps_some_of_the_words_and_is_deterministic():
    verse = words.drift_verse("a camel in the desert")
    assert verse == words.drift_verse("a camel in the desert")
    assert "camel" in verse and "desert" in verse
    assert verse != words.drift_verse("a lighthouse in a storm")


def test_the_painter_paints_the_colours_it_is_told():
    image = Image.open(io.BytesIO(pictures.paint("red red red blood"))).convert("RGB")
    pixel = image.resize((1, 1)).getpixel((0, 0))
    assert isinstance(pixel, tuple)
    r, g, b = pixel
    assert r > g + 40 and r > b + 40


def test_the_captioner_names_the_main_colour_of_a_picture():
    picture = io.BytesIO()
    Image.new("RGB", (64, 64), (30, 90, 170)).save(picture, "PNG")
    assert "ocean blue" in pictures.caption(picture.getvalue())


def test_the_tone_voice_gives_one_tone_per_word_and_the_listener_hears_its_length():
    wav = sounds.tones("one two three four five six seven eight nine ten")
    assert sniff(wav)[0] == "audio/wav"  # type: ignore[index]
    assert "2.2 seconds" in sounds.describe(wav)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_the_voice_speaks_with_espeak_where_installed():
    wav = sounds.speak("hello gallery", use_espeak=True)
    assert sniff(wav)[0] == "audio/wav"  # type: ignore[index]
    assert "seconds" in sounds.describe(wav)


@pytest.mark.parametrize("model_id", ["local-poet", "local-painter", "local-captioner", "local-voice",
                                      "local-listener"])
async def test_each_local_model_gives_its_declared_output_type(model_id: str):
    model = CATALOGUE[model_id]
    given = {MediaType.TEXT: ModelInput(MediaType.TEXT, text="a camel in the desert"),
             MediaType.IMAGE: ModelInput(MediaType.IMAGE, data=pictures.paint("x"), mime="image/png"),
             MediaType.AUDIO: ModelInput(MediaType.AUDIO, data=sounds.tones("x y"), mime="audio/wav")}
    out = await LocalPlatform(latency=0).invoke(model, given[model.input])
    if model.output is MediaType.TEXT:
        assert out.text
    else:
        assert sniff(out.data or b"")[2] is model.output  # type: ignore[index]
    assert out.meta["cost_usd"] == 0.0


async def test_a_local_model_given_garbage_fails_permanently_with_a_reason():
    with pytest.raises(PermanentError, match="could not read its input"):
        await LocalPlatform(latency=0).invoke(CATALOGUE["local-captioner"],
                                              ModelInput(MediaType.IMAGE, data=b"not a picture"))


def test_local_models_say_so_in_their_names():
    assert CATALOGUE["local-poet"].label == "Drift Poet (local)"
    assert CATALOGUE["flux-schnell"].label == "FLUX.1 [schnell]"
