"""What a catalogue model hands the archive, at its real size: the stand-in outputs of the disk and
day benchmarks.

No model is called: each output is a sample of the shape the platform sends, so the archive's own
code (``Archive.plan``) decides what it costs on disk. The shapes, one line each (docs/operations.md
repeats them beside the table):

- a picture: 1024 x 1024 (or the model's ``width`` x ``height``, or FLUX's size for its
  ``aspect_ratio``), photographic in character (``bench.images.photographic``), encoded as the model
  is asked for (``output_format``: WebP at Replicate's default quality 80, or PNG; PNG when unset);
- XTTS speech: 16-bit mono WAV at 24 kHz (what Coqui TTS writes), SPEECH_SECONDS long;
- other sound models: 16-bit stereo WAV at 44.1 kHz (what stable-audio-tools writes), their
  ``seconds_total`` or ``duration`` long;
- a text: TEXT_CHARS characters (a caption, a translation, a transcript), kept in the database only.
"""

from __future__ import annotations

import io
import random
import uuid
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from bench.images import encoded, photographic
from panic_edge.core.catalogue import replicate_cost
from panic_edge.core.media import MediaType
from panic_edge.core.model import Model

SPEECH_SECONDS = 5.0  # a sentence of speech, with XTTS's pauses
TEXT_CHARS = 160
# FLUX's sizes for its aspect ratios (about a megapixel each)
ASPECT_SIZES = {"1:1": (1024, 1024), "16:9": (1344, 768), "9:16": (768, 1344), "4:3": (1152, 896),
                "3:4": (896, 1152), "3:2": (1216, 832), "2:3": (832, 1216)}
SENTENCE = ("A lighthouse hums beside a neon sky while a camel counts the stars on a crowded night market "
            "bridge of silver rain, and an astronaut tends a garden of glass under soft morning fog. ")


@dataclass(frozen=True)
class Picture:
    """How a model's picture arrives: its format (``WEBP`` or ``PNG``) and size."""

    format: str
    size: tuple[int, int]

    @property
    def ext(self) -> str:
        return self.format.lower()


@dataclass(frozen=True)
class Sound:
    """How a model's sound arrives: a 16-bit PCM WAV of ``rate`` Hz, ``channels``, ``seconds`` long."""

    rate: int
    channels: int
    seconds: float


def picture_of(model: Model) -> Picture:
    """The format and size of ``model``'s pictures, from its request parameters."""
    params = model.params
    fmt = "WEBP" if str(params.get("output_format", "png")).lower() == "webp" else "PNG"
    if isinstance(params.get("width"), int) and isinstance(params.get("height"), int):
        return Picture(fmt, (params["width"], params["height"]))
    return Picture(fmt, ASPECT_SIZES.get(str(params.get("aspect_ratio", "1:1")), (1024, 1024)))


def sound_of(model: Model) -> Sound:
    """The shape of ``model``'s sounds (see the module docstring)."""
    if model.ref.startswith("lucataco/xtts"):
        return Sound(24_000, 1, SPEECH_SECONDS)
    seconds = model.params.get("seconds_total", model.params.get("duration", 8))
    return Sound(44_100, 2, float(seconds))


def picture_bytes(picture: Picture, seed: int = 7, side: int | None = None) -> bytes:
    """A photographic picture of ``picture``'s shape (``side``: a square this size instead)."""
    width, height = (side, side) if side else picture.size
    image = photographic(max(width, height), seed)
    if (width, height) != image.size:
        image = image.resize((width, height), Image.Resampling.BICUBIC)
    return encoded(image, "WEBP", quality=80) if picture.format == "WEBP" else encoded(image, "PNG")


def sound_bytes(sound: Sound, seed: int = 7) -> bytes:
    """A WAV of ``sound``'s shape (noise: a PCM file's size does not depend on what it holds)."""
    frames = int(sound.rate * sound.seconds)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(sound.channels)
        wav.setsampwidth(2)
        wav.setframerate(sound.rate)
        wav.writeframes(random.Random(seed).randbytes(frames * sound.channels * 2))
    return out.getvalue()


def text_of(n: int, chars: int = TEXT_CHARS) -> str:
    """A sentence of ``chars`` characters, different for each ``n``."""
    start = n * 7 % len(SENTENCE)
    return (f"{n}: " + (SENTENCE[start:] + SENTENCE * (1 + chars // len(SENTENCE))))[:chars]


def meta_of(model: Model, seconds: float) -> dict[str, Any]:
    """The meta a Replicate prediction leaves (ids, times), with the cost the real client
    gives it (``replicate_cost``: the catalogue's price, else estimated from the seconds; imported
    from the pure catalogue, not the client, whose ``replicate`` package would add 15 MB to the
    daemon this stand-in runs in)."""
    return {"platform": model.platform, "id": uuid.uuid4().hex[:26], "version": uuid.uuid4().hex * 2,
            "predict_time": round(seconds, 3), "wall_time": round(seconds + 0.4, 3),
            **replicate_cost(model, seconds)}


def pool_path(folder: Path, picture: Picture, seed: int) -> Path:
    return folder / f"{picture.size[0]}x{picture.size[1]}-{seed}.{picture.ext}"


def write_pool(folder: Path, models: list[Model], seeds: int, side: int | None = None) -> None:
    """``seeds`` different pictures of each shape ``models`` paint, written once into ``folder``
    (``side``: squares this size instead, for a quick run). A stand-in reads one per call, as a
    download arrives: fresh bytes each time."""
    folder.mkdir(parents=True, exist_ok=True)
    for picture in {picture_of(m) for m in models if m.output is MediaType.IMAGE}:
        for seed in range(seeds):
            pool_path(folder, picture, seed).write_bytes(picture_bytes(picture, seed=seed, side=side))
