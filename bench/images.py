"""Bytes per archived image, before and after the archive's format decision (panic_edge.images).

"Before" is what the archive kept until this change: PNG and JPEG as they came, anything else
(WebP, GIF) converted to PNG. "After" is ``images.normalise`` with the default limits. Sources:

- the local painter's picture (512 x 512 PNG, flat shapes and gradients);
- a cloud-sized 1024 x 1024 picture as Replicate's FLUX models send it (WebP, quality 80) and as
  models that send PNG do. Its content is synthetic but photographic in character (fractal colour
  noise and sharp edges): real generated pictures are not shipped here.
- a 2048 x 2048 upscale of it, as PNG: downscaled to ``images.max_side`` on the way in.

Also the milliseconds one normalise takes (median of a few), which bounds the archive's own cost.
"""

from __future__ import annotations

import io
import random
import statistics
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageFilter

from panic_edge.broker import LocalBroker
from panic_edge.images import DEFAULT_LIMITS, normalise
from panic_edge.platforms.local.pictures import paint


def photographic(side: int, seed: int = 7) -> Image.Image:
    """A deterministic picture with photographic statistics: fractal colour noise from soft to
    fine, a Mandelbrot's sharp edges, a little sharpening. Its WebP q80 / PNG / JPEG q85 sizes
    stand to each other as a real photograph's do (docs/performance.md)."""
    rng = random.Random(seed)

    def octave(n: int) -> Image.Image:
        noise = Image.frombytes("L", (n, n), rng.randbytes(n * n))
        return noise.resize((side, side), Image.Resampling.BICUBIC)

    def channel() -> Image.Image:
        image = octave(4)
        for n, weight in ((16, 0.45), (64, 0.3), (256, 0.15), (side, 0.07)):
            image = Image.blend(image, octave(n), weight)
        return image

    detail = Image.effect_mandelbrot((side, side), (-2.1, -1.3, 0.7, 1.3), 120)
    detail = detail.filter(ImageFilter.GaussianBlur(0.8))
    red, green, blue = channel(), channel(), channel()
    picture = Image.merge("RGB", (Image.blend(red, detail, 0.45), Image.blend(green, detail, 0.2),
                                  Image.blend(blue, detail, 0.3)))
    return picture.filter(ImageFilter.UnsharpMask(2, 80, 2))


def encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def before(data: bytes) -> int:
    """The old archive: PNG and JPEG as they came; any other image converted to PNG."""
    if data.startswith((b"\x89PNG", b"\xff\xd8\xff")):
        return len(data)
    with Image.open(io.BytesIO(data)) as image:
        return len(encoded(image.convert("RGB"), "PNG"))


def measure(data: bytes, repeat: int) -> dict[str, Any]:
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        out, mime = normalise(data, DEFAULT_LIMITS)
        timings.append((time.perf_counter() - began) * 1000)
    with Image.open(io.BytesIO(out)) as image:
        size = image.size
    return {"given_bytes": len(data), "before_bytes": before(data), "after_bytes": len(out),
            "after_mime": mime,
            "after_size": list(size), "after_vs_before": round(len(out) / before(data), 3),
            "normalise_ms": round(statistics.median(timings), 1)}


def run(broker: LocalBroker, work: Path, quick: bool) -> dict[str, Any]:
    repeat = 1 if quick else 5
    cloud = photographic(1024)
    sources = {
        "local_painter_png_512": paint("a camel in the desert under a neon sky"),
        "cloud_webp_q80_1024": encoded(cloud, "WEBP", quality=80),
        "cloud_png_1024": encoded(cloud, "PNG"),
        "upscaled_png_2048": encoded(cloud.resize((2048, 2048), Image.Resampling.BICUBIC), "PNG"),
    }
    return {"what": "bytes per archived image before (PNG/JPEG kept, other formats to PNG) and after "
                    "images.normalise (JPEG q85 unless transparency or a smaller PNG; fit to 1600 px)",
            "max_side": DEFAULT_LIMITS.max_side, "jpeg_quality": DEFAULT_LIMITS.jpeg_quality,
            **{name: measure(data, repeat) for name, data in sources.items()}}
