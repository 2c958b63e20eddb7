"""What every HTTP platform client shares: the client, and turning failures into the error tree.

The classification is the policy of the issue, in one place:

- no connection at all (refused, DNS failure, no route) -> UnreachableError;
- timeouts, resets, 5xx (and Anthropic's 529), 408, 429 -> TransientError (429 with its Retry-After);
- 401/403 -> PermanentError saying which key to fix; 404 -> the model is gone; 400/422 and other
  4xx -> PermanentError with the platform's own explanation.

What a platform says is never copied raw: an explanation is taken from its JSON error body and
cleaned (panic_edge.core.clean); a body that is not JSON is described by its size and type only.
Every answer is capped in size (``GuardedTransport``) and every exchange has an overall deadline,
connect plus read timeout, so a server that drips one byte at a time ends too.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from panic_edge.core.clean import clean_text
from panic_edge.platforms.credentials import ENV_NAMES
from panic_edge.platforms.egress import GuardedTransport
from panic_edge.platforms.errors import PermanentError, PlatformError, TransientError, UnreachableError

MAX_MESSAGE = 300
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # the default cap on an answer (registry.answer_limit sets it)


def new_client(base_url: str, connect_timeout: float, read_timeout: float,
               headers: Mapping[str, str] | None = None, platform: str = "the platform",
               max_answer_bytes: int = MAX_ANSWER_BYTES) -> httpx.AsyncClient:
    """An httpx client for one platform. The platform's own retries are ours (see retry.py)."""
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    return httpx.AsyncClient(base_url=base_url.rstrip("/") + "/", timeout=timeout,
                             headers=dict(headers or {}), follow_redirects=False,
                             transport=GuardedTransport(f"the {platform} answer", max_answer_bytes))


def deadline(client: httpx.AsyncClient) -> float:
    """Seconds one whole exchange with ``client`` may take: connecting plus waiting for the answer."""
    return (client.timeout.connect or 0.0) + (client.timeout.read or 0.0)


def described(response: httpx.Response) -> str:
    """A body we will not quote, described: its size and declared type."""
    kind = clean_text(response.headers.get("content-type", "no type"), 60)
    return f"a {len(response.content)}-byte body of {kind}"


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
        why = clean_text(str(err), 200) or type(err).__name__
        return UnreachableError(f"cannot reach {platform}: {why}; check the network connection")
    return TransientError(f"the connection to {platform} broke ({type(err).__name__}: "
                          f"{clean_text(str(err), 200)})")


def status_error(platform: str, status: int, detail: str, headers: Mapping[str, str] | None = None,
                 what: str = "") -> PlatformError:
    """The error for an HTTP error status, with the platform's ``detail`` and an actionable hint."""
    detail = " ".join(clean_text(detail, 4 * MAX_MESSAGE).split())[:MAX_MESSAGE] or "no details given"
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
    """The human part of an error body: ``pick`` reads the platform's JSON; a body that is not
    the platform's JSON is described, never quoted."""
    try:
        found = pick(response.json())
    except (ValueError, AttributeError, TypeError, KeyError, RecursionError):
        found = None
    if found:
        return clean_text(str(found), 4 * MAX_MESSAGE)
    return described(response) if response.content else clean_text(response.reason_phrase, 100)


async def post_json(client: httpx.AsyncClient, platform: str, path: str, body: dict[str, Any],
                    pick_error: Callable[[Any], str | None],
                    classify: Callable[[int, Any], PlatformError | None] | None = None,
                    headers: Mapping[str, str] | None = None, what: str = "") -> dict[str, Any]:
    """POST ``body`` as JSON and return the JSON answer, or raise the classified error.

    ``classify(status, json)`` may claim an error body first (e.g. a safety refusal sent as 400).
    """
    try:
        async with asyncio.timeout(deadline(client)):
            response = await client.post(path, json=body, headers=dict(headers or {}))
    except TimeoutError:
        raise TransientError(f"{platform} did not finish answering within {deadline(client):.0f} s "
                             "(platforms.connect_timeout + read_timeout)") from None
    except httpx.TransportError as err:
        raise transport_error(platform, err) from err
    except httpx.HTTPError as err:  # e.g. a body that does not decode as its Content-Encoding says
        raise TransientError(f"{platform} sent an answer that cannot be read ({type(err).__name__})") from err
    if response.is_redirect:  # never followed: a custom key header would go along to the new host
        where = clean_text(response.headers.get("location", ""), 200)
        raise PermanentError(f"{platform} answered with a redirect ({response.status_code}) to {where!r}; "
                             "set the platform's URL in [platforms] to where it points")
    if response.status_code >= 400:
        if classify is not None:
            try:
                claimed = classify(response.status_code, response.json())
            except (ValueError, AttributeError, TypeError, KeyError, RecursionError):
                claimed = None
            if claimed is not None:
                raise claimed
        raise status_error(platform, response.status_code, error_detail(response, pick_error),
                           response.headers, what)
    try:
        answer = response.json()
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested beyond reason
        raise TransientError(f"{platform} answered with something that is not JSON "
                             f"({described(response)})") from None
    if not isinstance(answer, dict):
        raise TransientError(f"{platform} answered with JSON that is not an object")
    return answer
