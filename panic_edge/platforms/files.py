"""Output files from platforms: fetched at once, bounded, checked, and made displayable.

A platform's file URL expires within hours and may be served with a type browsers download
instead of show, so nothing downstream ever sees one: the bytes come back in ModelOutput.data.

Decision: the archive keeps images as PNG or JPEG only. Anything else a model returns (WebP,
GIF) is converted to PNG here, because PNG and JPEG are the two formats every display decodes:
browsers, Pillow, and pygame built without SDL_image's WebP support (as on some Pi images).
Audio is kept as the platform made it (WAV, MP3, FLAC, Ogg: all sniffed by the archive).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io

import httpx

from panic_edge.archive import sniff
from panic_edge.core.media import MediaType
from panic_edge.platforms.errors import PermanentError, TransientError
from panic_edge.platforms.http import transport_error

DISPLAYABLE = ("image/png", "image/jpeg")
TOLERATED_TYPES = ("application/octet-stream", "binary/octet-stream", "")


def data_uri(data: bytes, mime: str | None) -> str:
    return f"data:{mime or 'application/octet-stream'};base64,{base64.b64encode(data).decode('ascii')}"


def decode_data_uri(uri: str) -> bytes:
    header, _, payload = uri.partition(",")
    try:
        if header.endswith(";base64"):
            return base64.b64decode(payload, validate=False)
        from urllib.parse import unquote_to_bytes

        return unquote_to_bytes(payload)
    except (binascii.Error, ValueError) as err:
        raise PermanentError(f"the model returned a data URI that does not decode: {err}") from None


def check(data: bytes, expected: MediaType, source: str) -> str:
    """The sniffed mime of ``data``; PermanentError unless it is a known ``expected`` file."""
    found = sniff(data)
    if found is None:
        raise PermanentError(f"{source} is not a file format panic-edge knows (first bytes {data[:12]!r})")
    mime, _, kind = found
    if kind is not expected:
        raise PermanentError(f"{source} is {mime}, but the model should give {expected}")
    return mime


def displayable(data: bytes, mime: str) -> bytes:
    """PNG/JPEG unchanged; any other image re-encoded as PNG (see the module docstring)."""
    if not mime.startswith("image/") or mime in DISPLAYABLE:
        return data
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        out = io.BytesIO()
        image.convert("RGBA" if "A" in image.getbands() else "RGB").save(out, format="PNG")
    return out.getvalue()


async def fetch(client: httpx.AsyncClient, platform: str, url: str, expected: MediaType,
                max_bytes: int) -> bytes:
    """Download one output file; stop at ``max_bytes``; check the declared and the real type."""
    if url.startswith("data:"):
        data = decode_data_uri(url)
    else:
        data = await _download(client, platform, url, expected, max_bytes)
    if len(data) > max_bytes:
        raise PermanentError(f"the {platform} output file is larger than {max_bytes} bytes")
    mime = check(data, expected, f"the {platform} output file")
    return await asyncio.to_thread(displayable, data, mime)


async def _download(client: httpx.AsyncClient, platform: str, url: str, expected: MediaType,
                    max_bytes: int) -> bytes:
    try:
        async with client.stream("GET", url) as response:
            if response.status_code in (404, 410):
                raise PermanentError(f"the {platform} output file is gone ({response.status_code}) "
                                     "before it could be downloaded")
            if response.status_code >= 500 or response.status_code == 429:
                raise TransientError(f"downloading the {platform} output failed ({response.status_code})")
            if response.status_code >= 400:
                raise PermanentError(f"downloading the {platform} output was refused "
                                     f"({response.status_code})")
            declared = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if declared not in TOLERATED_TYPES and not declared.startswith(f"{expected}/"):
                raise PermanentError(f"the {platform} output file is served as {declared}, but the "
                                     f"model should give {expected}")
            length = response.headers.get("content-length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise PermanentError(f"the {platform} output file is {length} bytes; the limit is "
                                     f"{max_bytes} (platforms.max_download_bytes)")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise PermanentError(f"the {platform} output file is larger than {max_bytes} "
                                         "bytes (platforms.max_download_bytes)")
                chunks.append(chunk)
    except httpx.TransportError as err:
        raise transport_error(platform, err) from err
    return b"".join(chunks)
