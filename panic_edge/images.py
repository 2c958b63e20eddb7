"""Images: opened lazily, bounded before a pixel is decoded, kept small and displayable everywhere.

One code path for every image the appliance keeps (a platform's output, the local painter's, a
safety placeholder, a replay) and for every image a display node decodes:

- ``decode`` opens the bytes lazily (PNG, JPEG, WebP, GIF, BMP and TIFF only; the first frame of
  an animation) and reads the size from the header. More than ``max_pixels`` is refused before
  anything is decoded, except a JPEG, which libjpeg decodes at 1/2, 1/4 or 1/8 scale for the
  same cost as a small one. A 38-byte WebP that claims 12000 x 12000 costs nothing.
- ``normalise`` is the archive's format decision (below): the image downscaled to fit
  ``max_side`` and encoded compactly.

**Decision: JPEG for opaque images, PNG where transparency is really used or where PNG is the
smaller.** Every browser, Pillow and every pygame/SDL_image build decodes both; some Pi images'
pygame lacks WebP, so WebP is out (and converting a WebP to PNG, as before, grew a model's output
several-fold). A model's picture is almost always an opaque, photographic one: JPEG at quality 85
(``images.jpeg_quality``) keeps it at a fraction of PNG's bytes (docs/performance.md has the
figures). An image with real transparency (an alpha channel with any pixel below 255) stays PNG;
so does flat, synthetic art whose PNG (or a GIF's PNG) is smaller than its JPEG, like the local
painter's. A JPEG that already fits, or a PNG kept by those rules, is kept byte for byte:
normalising is idempotent and never recompresses a JPEG twice (a replay copies an archived file
through here too). Metadata is dropped (the EXIF orientation is applied first).

Decoding holds a process-wide lock: two networks finishing at once decode one after the other,
so the peak memory is one image's, and Pillow's global warning filters are touched by one thread.
"""

from __future__ import annotations

import io
import math
import threading
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from panic_edge.errors import ImageError

FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ImageLimits:
    """``max_pixels`` decoded at most; archived images fit ``max_side``; JPEG ``jpeg_quality``."""

    max_pixels: int = 16_777_216
    max_side: int = 1600
    jpeg_quality: int = 85


DEFAULT_LIMITS = ImageLimits()


def _megapixels(width: int, height: int) -> str:
    return f"{width}x{height} ({width * height / 1e6:.1f} Mpx)"


def _jpeg_shrink(size: tuple[int, int], max_pixels: int, max_side: int | None) -> int:
    """k for a JPEG decoded at 1/2^k (k <= 3): as small as still fills ``max_side``, and small
    enough for ``max_pixels`` when it can be."""
    width, height = size
    fill = int(math.log2(max(size) / max_side)) if max_side and max(size) > max_side else 0
    fit = math.ceil(math.log2(width * height / max_pixels) / 2) if width * height > max_pixels else 0
    return max(0, min(3, max(fill, fit)))


def _open(data: bytes, max_pixels: int, max_side: int | None) -> tuple[Image.Image, tuple[int, int]]:
    """The image, not yet decoded, drafted down (JPEG) and checked against ``max_pixels``; and
    its size as the file says."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit is lower
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError:
        raise ImageError(f"the image has more than {2 * (Image.MAX_IMAGE_PIXELS or 0)} pixels; "
                         f"the limit is {max_pixels} (images.max_pixels)") from None
    except Exception as err:  # noqa: BLE001 -- Pillow's plugins raise many kinds on hostile bytes
        raise ImageError(f"the file cannot be read as an image ({type(err).__name__})") from None
    width, height = size = image.size
    if image.format == "JPEG":
        shrink = _jpeg_shrink(size, max_pixels, max_side)
        if shrink:  # libjpeg decodes at 1/2, 1/4 or 1/8 scale for the cost of the smaller picture
            image.draft(image.mode if image.mode in ("RGB", "L") else None,
                        (max(1, width >> shrink), max(1, height >> shrink)))
    if image.size[0] * image.size[1] > max_pixels:
        image.close()
        raise ImageError(f"the image is {_megapixels(width, height)}; the limit is {max_pixels / 1e6:.1f} "
                         "Mpx (images.max_pixels), so it is not decoded")
    return image, size


def _loaded(image: Image.Image, max_side: int | None) -> Image.Image:
    """Decode the first frame, as RGB, RGBA or L, downscaled to fit ``max_side``."""
    try:
        image.load()
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            image = image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
        elif image.mode == "1":
            image = image.convert("L")
        elif image.mode not in ("RGB", "RGBA", "L"):
            transparent = "A" in image.getbands() or "transparency" in image.info
            image = image.convert("RGBA" if transparent else "RGB")
        elif "transparency" in image.info:  # an RGB or L picture with one transparent colour
            image = image.convert("RGBA")
        if max_side is not None:
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        return ImageOps.exif_transpose(image)
    except Exception as err:  # noqa: BLE001 -- a truncated or corrupt stream, in any plugin's words
        raise ImageError(f"the image cannot be decoded ({type(err).__name__})") from None


def decode(data: bytes, max_pixels: int, max_side: int | None = None) -> Image.Image:
    """The first frame of ``data``, decoded (see the module docstring) as RGB, RGBA or L and
    downscaled to fit ``max_side``. Raises ImageError when it is too large or not an image."""
    with _LOCK:
        return _loaded(_open(data, max_pixels, max_side)[0], max_side)


def _is_transparent(image: Image.Image) -> bool:
    if image.mode != "RGBA":
        return False
    lowest = image.getchannel("A").getextrema()[0]  # one band: (min, max)
    return isinstance(lowest, (int, float)) and lowest < 255


def normalise(data: bytes, limits: ImageLimits) -> tuple[bytes, str]:
    """(bytes, mime) of ``data`` as the archive keeps it: fit to ``max_side``, JPEG unless the
    image uses transparency (then PNG). Raises ImageError when it is too large or not an image."""
    with _LOCK:
        image, size = _open(data, limits.max_pixels, limits.max_side)
        fits = max(size) <= limits.max_side
        source = image.format
        if (source == "JPEG" and fits and image.mode in ("RGB", "L")
                and image.getexif().get(0x0112, 1) == 1):
            _loaded(image, None)  # proves it decodes; a broken file is refused here, not on a screen
            return data, "image/jpeg"  # already what we would make: never recompress a JPEG
        image = _loaded(image, limits.max_side)
        out = io.BytesIO()
        if _is_transparent(image):
            if source == "PNG" and fits:
                return data, "image/png"
            image.save(out, format="PNG")
            return out.getvalue(), "image/png"
        if image.mode == "RGBA":
            image = image.convert("RGB")
        image.save(out, format="JPEG", quality=limits.jpeg_quality, optimize=True)
        jpeg = out.getvalue()
        if source == "PNG" and fits and len(data) <= len(jpeg):
            return data, "image/png"  # flat, synthetic art: PNG is the smaller
        if source == "GIF":
            lossless = io.BytesIO()
            image.save(lossless, format="PNG")
            if lossless.tell() <= len(jpeg):
                return lossless.getvalue(), "image/png"
        return jpeg, "image/jpeg"
