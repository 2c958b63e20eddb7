"""What a hostile or broken platform serves: image bombs of each format, endless and drip-fed
downloads, redirects to loopback and in circles, text with lone surrogates and control characters.

The bombs are real files Pillow opens (small to send, huge to decode), made once per session:
a 38-byte lossless WebP of 12000 x 12000 (the issue's was 5.5 KB, lossy), a 0.5 MB 13000 x 13000
PNG (zlib at its best ratio, as in the issue), a 13000 x 13000 GIF and a 13000 x 13000 JPEG.
"""

from __future__ import annotations

import functools
import io
import itertools
import struct
import zlib
from collections.abc import Callable

from tests.fakes.server import Reply

# a 12000 x 12000 WebP, lossless, one colour: Pillow took 1.4 GB and 3 s to make it, so it is kept
WEBP_BOMB = bytes.fromhex("524946461e00000057454250565038 4c110000002fdfeeb70b07508a2ad4a3ff8188e87f0000"
                          .replace(" ", ""))
HOSTILE_TEXT = "a lone \ud800 surrogate,\x00 a NUL, \x1b[2J an escape,\r\nand\tsome \x7f\x85 controls"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.cache
def png_bomb(side: int = 13000) -> bytes:
    """An RGB PNG of ``side`` x ``side`` black pixels, about side^2 * 3 / 1000 bytes.

    After a full flush deflate starts afresh, so a block of zero rows compresses to the same
    bytes every time: compressed once and repeated (with the checksum kept over all of it)."""
    rows, line = 100, 1 + 3 * side
    block, rest = bytes(line * rows), bytes(line * (side % rows))
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    once = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    tail = packer.compress(rest) + packer.flush(zlib.Z_FINISH)
    checksum = 1
    for _ in range(side // rows):
        checksum = zlib.adler32(block, checksum)
    checksum = zlib.adler32(rest, checksum)
    parts = [b"\x78\xda", once * (side // rows), tail, struct.pack(">I", checksum)]
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts))
            + _chunk(b"IEND", b""))


@functools.cache
def gif_bomb(side: int = 13000) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("P", (side, side), 0).save(out, format="GIF")
    return out.getvalue()


@functools.cache
def jpeg_bomb(side: int = 13000) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (side, side), 128).save(out, format="JPEG", quality=50)
    return out.getvalue()


def endless(mime: str = "image/png") -> Callable[[], Reply]:
    """A file that never ends: a PNG signature, then zeros for as long as anyone reads."""
    return lambda: Reply(200, body=b"\x89PNG\r\n\x1a\n", content_type=mime,
                         chunks=itertools.repeat(bytes(64 * 1024)))


def drip(interval: float = 1.0) -> Callable[[], Reply]:
    """A file sent one byte every ``interval`` seconds, forever."""
    return lambda: Reply(200, body=b"\x89", content_type="image/png",
                         chunks=itertools.repeat(b"\x00"), interval=interval)


def redirect(to: str) -> Callable[[], Reply]:
    return lambda: Reply(302, body=b"", content_type="text/plain", headers={"Location": to})


BOMBS: dict[str, tuple[str, Callable[[], bytes]]] = {
    "webp": ("image/webp", lambda: WEBP_BOMB), "png": ("image/png", png_bomb),
    "gif": ("image/gif", gif_bomb), "jpeg": ("image/jpeg", jpeg_bomb)}
