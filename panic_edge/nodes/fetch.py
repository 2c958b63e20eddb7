"""What a display node fetches: media under its own appliance's ``media_base``, bounded.

Anyone on a venue network may publish to an open broker, so an invocation message can carry any
URL. A node therefore trusts one address, the appliance's ``media_base``: ``http.public_url`` when
the node's config sets it, else the ``media_base`` of the appliance's retained status, else the
config's default. A URL is **under** it when it has the same scheme, host and port, no user
info, query or fragment, and a path below ``<base path>/media/`` with no dot segments and no
encoded slashes (``media_scope``; parsed with httpx, the parser that fetches it). Everything else
is refused before a connection is made. A fetch follows no redirect, stops at ``max_bytes`` and
ends after ``deadline`` seconds in all, however slowly the bytes come.

Residual risk: a forged retained *status* can name another ``media_base``; set
``http.public_url`` on the node (or lock the broker down, docs/security.md) to close that.
"""

from __future__ import annotations

import asyncio
import re

import httpx

from panic_edge.errors import MediaGone, PayloadError

MAX_MEDIA_BYTES = 64 * 1024 * 1024  # the archive's own limit: nothing larger is ever served
FETCH_DEADLINE = 60.0
MAX_URL = 2048
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\\]|%2[eEfF]|%5[cC]")


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80)


def media_scope(url: str, base: str) -> str | None:
    """None when ``url`` is under ``base``'s ``/media/`` (see the module docstring); else why not."""
    if len(url) > MAX_URL:
        return "the URL is too long"
    if _UNSAFE.search(url):
        return "the URL holds spaces, control characters, backslashes or encoded dots or slashes"
    try:
        target, home = httpx.URL(url), httpx.URL(base)
    except (httpx.InvalidURL, ValueError, TypeError):
        return "the URL does not parse"
    if target.scheme not in ("http", "https"):
        return "only http and https are fetched"
    if target.userinfo or target.query or target.fragment:
        return "the URL carries user info, a query or a fragment"
    if _origin(target) != _origin(home):
        return "it is not on the appliance's media server"
    prefix = home.path.rstrip("/") + "/media/"
    path = target.path
    if not path.startswith(prefix) or len(path) == len(prefix):
        return "it is not under the appliance's /media/"
    if any(part in (".", "..") for part in path.split("/")):
        return "the path has dot segments"
    return None


async def fetch_media(client: httpx.AsyncClient, url: str, base: str | None,
                      max_bytes: int = MAX_MEDIA_BYTES, deadline: float = FETCH_DEADLINE) -> bytes:
    """The bytes at ``url``, if it is under ``base``. Raises PayloadError (refused, redirected,
    too large), MediaGone (retention pruned it), TimeoutError (past ``deadline``) or httpx.HTTPError."""
    why = "the appliance's address is not known yet" if base is None else media_scope(url, base)
    if why is not None:
        raise PayloadError(f"not fetched: {why}")
    return await bounded_get(client, url, max_bytes, deadline)


async def bounded_get(client: httpx.AsyncClient, url: str, max_bytes: int, deadline: float,
                      params: dict[str, str | int] | None = None) -> bytes:
    """GET ``url`` with no redirect, at most ``max_bytes``, within ``deadline`` seconds in all."""
    async with asyncio.timeout(deadline):
        async with client.stream("GET", url, params=params, follow_redirects=False) as response:
            if response.is_redirect:
                raise PayloadError(f"not fetched: the media server redirected ({response.status_code})")
            if response.status_code == 410:
                raise MediaGone(f"{url[:200]} was archived away to make room (410 Gone)")
            response.raise_for_status()
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise PayloadError(f"not fetched: {length} bytes, the limit is {max_bytes}")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadError(f"gave up: more than {max_bytes} bytes")
                chunks.append(chunk)
    return b"".join(chunks)
