"""Output files from platforms: fetched at once, bounded, checked.

A platform's file URL expires within hours and may be served with a type browsers download
instead of show, so nothing downstream ever sees one: the bytes come back in ModelOutput.data,
and the archive makes images displayable (panic_edge.images).

A download is bounded every way a hostile server could stretch it:

- **size**: at most ``max_bytes`` (``platforms.max_download_bytes``), by header and by count;
- **time**: per-read timeouts (the client's) and an overall ``deadline`` for the whole download,
  redirects included (``platforms.download_timeout``), so a server dripping a byte every few
  seconds ends. Running out of time fails the invocation rather than retrying it: a retry would
  pay for a new prediction and likely meet the same slow server;
- **place**: redirects are followed here, at most ``MAX_REDIRECTS``, http(s) only; every hop
  connects through the client's egress policy (panic_edge.platforms.egress);
- **words**: no byte of a wrong answer is quoted in an error; it is described by size and type.

Audio is kept as the platform made it (WAV, MP3, FLAC, Ogg: all sniffed by the archive).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from urllib.parse import unquote_to_bytes

import httpx

from panic_edge.archive import KNOWN_FORMATS, sniff
from panic_edge.core.clean import clean_text
from panic_edge.core.media import MediaType
from panic_edge.platforms.errors import PermanentError, TransientError

TOLERATED_TYPES = ("application/octet-stream", "binary/octet-stream", "")
MAX_REDIRECTS = 5
DOWNLOAD_DEADLINE = 120.0


def data_uri(data: bytes, mime: str | None) -> str:
    return f"data:{mime or 'application/octet-stream'};base64,{base64.b64encode(data).decode('ascii')}"


def decode_data_uri(uri: str) -> bytes:
    header, _, payload = uri.partition(",")
    try:
        if header.endswith(";base64"):
            return base64.b64decode(payload, validate=False)
        return unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise PermanentError("the model returned a data URI that does not decode") from None


def check(data: bytes, expected: MediaType, source: str) -> str:
    """The sniffed mime of ``data``; PermanentError unless it is a known ``expected`` file."""
    found = sniff(data)
    if found is None:
        raise PermanentError(f"{source} ({len(data)} bytes) is not a file format panic-edge knows "
                             f"({KNOWN_FORMATS})")
    mime, _, kind = found
    if kind is not expected:
        raise PermanentError(f"{source} is {mime}, but the model should give {expected}")
    return mime


async def fetch(client: httpx.AsyncClient, platform: str, url: str, expected: MediaType,
                max_bytes: int, deadline: float = DOWNLOAD_DEADLINE) -> bytes:
    """Download one output file (see the module docstring); check the declared and the real type.

    ``client`` must not follow redirects itself (they are followed and bounded here).
    """
    if url.startswith("data:"):
        data = decode_data_uri(url)
    else:
        try:
            async with asyncio.timeout(deadline):
                data = await _download(client, platform, url, expected, max_bytes)
        except TimeoutError:
            raise PermanentError(f"downloading the {platform} output took longer than {deadline:.0f} s "
                                 "(platforms.download_timeout)") from None
    if len(data) > max_bytes:
        raise PermanentError(f"the {platform} output file is larger than {max_bytes} bytes")
    check(data, expected, f"the {platform} output file")
    return data


async def _download(client: httpx.AsyncClient, platform: str, url: str, expected: MediaType,
                    max_bytes: int) -> bytes:
    try:
        target = httpx.URL(url)
        for _ in range(MAX_REDIRECTS + 1):
            if target.scheme not in ("http", "https"):
                raise PermanentError(f"the {platform} output file is at a {clean_text(target.scheme, 20)!r} "
                                     "URL; only http and https are fetched")
            async with client.stream("GET", target) as response:
                if response.has_redirect_location:
                    target = target.join(response.headers["location"])
                    continue
                return await _body(response, platform, expected, max_bytes)
    except httpx.TransportError as err:
        raise _transport_error(platform, err) from err
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as err:  # a Location that is no URL, ...
        raise PermanentError(f"the {platform} output file cannot be fetched ({type(err).__name__})") from None
    raise PermanentError(f"the {platform} output file redirects more than {MAX_REDIRECTS} times")


async def _body(response: httpx.Response, platform: str, expected: MediaType, max_bytes: int) -> bytes:
    status = response.status_code
    if status in (404, 410):
        raise PermanentError(f"the {platform} output file is gone ({status}) before it could be downloaded")
    if status >= 500 or status == 429:
        raise TransientError(f"downloading the {platform} output failed ({status})")
    if status >= 300:
        raise PermanentError(f"downloading the {platform} output was refused ({status})")
    declared = clean_text(response.headers.get("content-type", ""), 80).split(";")[0].strip().lower()
    if declared not in TOLERATED_TYPES and not declared.startswith(f"{expected}/"):
        raise PermanentError(f"the {platform} output file is served as {declared}, but the "
                             f"model should give {expected}")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise PermanentError(f"the {platform} output file is {length} bytes; the limit is "
                             f"{max_bytes} (platforms.max_download_bytes)")
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise PermanentError(f"the {platform} output file is larger than {max_bytes} "
                                 "bytes (platforms.max_download_bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def _transport_error(platform: str, err: httpx.TransportError) -> TransientError:
    # the platform answered a moment ago: a file host that cannot be reached does not mean the
    # appliance is offline, so this is never an UnreachableError
    if isinstance(err, httpx.TimeoutException):
        return TransientError(f"the {platform} output file did not arrive in time ({type(err).__name__})")
    return TransientError(f"downloading the {platform} output failed ({type(err).__name__})")
