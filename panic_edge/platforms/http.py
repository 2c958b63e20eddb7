"""What every HTTP platform client shares: the client, and turning failures into the error tree.

The classification is the policy of the issue, in one place:

- no connection at all (refused, DNS failure, no route) -> UnreachableError;
- timeouts, resets, 5xx (and Anthropic's 529), 408, 429 -> TransientError (429 with its Retry-After);
- 401/403 -> PermanentError saying which key to fix; 404 -> the model is gone; 400/422 and other
  4xx -> PermanentError with the platform's own explanation.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from panic_edge.platforms.credentials import ENV_NAMES
from panic_edge.platforms.errors import PermanentError, PlatformError, TransientError, UnreachableError

MAX_MESSAGE = 300


def new_client(base_url: str, connect_timeout: float, read_timeout: float,
               headers: Mapping[str, str] | None = None) -> httpx.AsyncClient:
    """An httpx client for one platform. The platform's own retries are ours (see retry.py)."""
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    return httpx.AsyncClient(base_url=base_url.rstrip("/") + "/", timeout=timeout,
                             headers=dict(headers or {}), follow_redirects=True)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def transport_error(platform: str, err: httpx.TransportError) -> PlatformError:
    """A failure below HTTP: no connection at all is 'unreachable'; the rest is worth a retry."""
    if isinstance(err, httpx.TimeoutException):
        return TransientError(f"{platform} did not answer in time ({type(err).__name__})")
    if isinstance(err, httpx.ConnectError):
        return UnreachableError(f"cannot reach {platform}: {err or type(err).__name__}; "
                                "check the network connection")
    return TransientError(f"the connection to {platform} broke ({type(err).__name__}: {err})")


def status_error(platform: str, status: int, detail: str, headers: Mapping[str, str] | None = None,
                 what: str = "") -> PlatformError:
    """The error for an HTTP error status, with the platform's ``detail`` and an actionable hint."""
    detail = " ".join(detail.split())[:MAX_MESSAGE] or "no details given"
    subject = f"{platform}{' ' + what if what else ''}"
    if status == 429:
        retry_after = parse_retry_after((headers or {}).get("retry-after"))
        return TransientError(f"{subject} is rate limited (429): {detail}", retry_after)
    if status in (408, 409, 425) or status >= 500:
        return TransientError(f"{subject} had a server error ({status}): {detail}")
    if status in (401, 403):
        env = ENV_NAMES.get(platform, "the key")
        return PermanentError(f"{subject} refused the API key ({status}): {detail}; set a valid "
                              f"{env} (or the {platform} entry of the credentials file)")
    if status == 404:
        return PermanentError(f"{subject} was not found (404): {detail}; the model may be gone or "
                              "renamed: check its ref in the catalogue")
    return PermanentError(f"{subject} refused the request ({status}): {detail}")


def error_detail(response: httpx.Response, pick: Callable[[Any], str | None]) -> str:
    """The human part of an error body: ``pick`` reads the platform's JSON; else the raw text."""
    try:
        found = pick(response.json())
    except (ValueError, AttributeError, TypeError, KeyError):
        found = None
    return found or response.text[:MAX_MESSAGE] or response.reason_phrase


async def post_json(client: httpx.AsyncClient, platform: str, path: str, body: dict[str, Any],
                    pick_error: Callable[[Any], str | None],
                    classify: Callable[[int, Any], PlatformError | None] | None = None,
                    headers: Mapping[str, str] | None = None, what: str = "") -> dict[str, Any]:
    """POST ``body`` as JSON and return the JSON answer, or raise the classified error.

    ``classify(status, json)`` may claim an error body first (e.g. a safety refusal sent as 400).
    """
    try:
        response = await client.post(path, json=body, headers=dict(headers or {}))
    except httpx.TransportError as err:
        raise transport_error(platform, err) from err
    if response.status_code >= 400:
        if classify is not None:
            try:
                claimed = classify(response.status_code, response.json())
            except ValueError:
                claimed = None
            if claimed is not None:
                raise claimed
        raise status_error(platform, response.status_code, error_detail(response, pick_error),
                           response.headers, what)
    try:
        answer = response.json()
    except json.JSONDecodeError:
        raise TransientError(f"{platform} answered with something that is not JSON: "
                             f"{response.text[:80]!r}") from None
    if not isinstance(answer, dict):
        raise TransientError(f"{platform} answered with JSON that is not an object")
    return answer
