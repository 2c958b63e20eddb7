"""Replicate, through the ``replicate`` package.

Which endpoint a model uses follows from its catalogue entry:

- ``ref = "owner/name:<version>"``: a version-pinned prediction (``POST /v1/predictions``);
- ``params official=True``: an official model (``POST /v1/models/owner/name/predictions``);
- otherwise the model's latest version is looked up once (``GET /v1/models/owner/name``) and
  pinned for the life of the daemon, so a model does not change under a running show.

The create request asks Replicate to hold it open until the output is ready (``Prefer: wait``,
``platforms.replicate_wait`` seconds); a prediction still running after that is polled. A call
cancelled by a stopped run cancels its prediction (``POST /v1/predictions/<id>/cancel``), also
when the cancellation lands while the create request is still open: the request is left to
finish in the background and the prediction it made is cancelled then.

Output shapes: a URL, a list of URLs (the first is used), file objects with a ``url``, data
URIs, a dict (``output_key`` picks a field), plain text, or a list of tokens (joined: that is
what a streaming language model's output is once it has finished).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import replace
from typing import Any

import httpx
from pydantic import SecretStr
from replicate.client import Client
from replicate.exceptions import ReplicateError
from replicate.prediction import Prediction

from panic_edge.core.catalogue import replicate_cost
from panic_edge.core.clean import clean_text
from panic_edge.core.media import MediaType
from panic_edge.core.model import Model
from panic_edge.platforms import prompts
from panic_edge.platforms.base import ModelInput, ModelOutput
from panic_edge.platforms.egress import EgressPolicy, GuardedTransport
from panic_edge.platforms.errors import PermanentError, PlatformError, SafetyFilterError, TransientError
from panic_edge.platforms.files import DOWNLOAD_DEADLINE, data_uri, fetch
from panic_edge.platforms.http import MAX_ANSWER_BYTES, parse_retry_after, status_error, transport_error

log = logging.getLogger("panic_edge.platforms")

TERMINAL = ("succeeded", "failed", "canceled")
DEFAULT_FIELD = {MediaType.TEXT: "prompt", MediaType.IMAGE: "image", MediaType.AUDIO: "audio"}
# catalogue params the client reads; every other param is a literal input field of the model
RESERVED = {"field", "template", "output_key", "official", "system", "system_field", "picture_field",
            "picture_prompt", "genesis"}
SAFETY = re.compile(r"nsfw|safety|sensitive|flagged", re.I)
RETRYABLE = re.compile(r"interrupted|out of memory|CUDA|timed out|please retry|try again later", re.I)
TASK_WRAPPER = re.compile(r"^\{\s*'<[A-Z_]+>'\s*:\s*(['\"])(.*)\1\s*\}$", re.S)


def for_input(model: Model, given: ModelInput) -> Model:
    """The model to call for ``given``: a model with ``genesis`` params (the image reproducer) that is
    handed a text without a picture paints one with its genesis model instead."""
    genesis = model.params.get("genesis")
    if not isinstance(genesis, dict) or given.data is not None:
        return model
    params = dict(genesis)
    return replace(model, ref=str(params.pop("ref")), params=params)


def prediction_input(model: Model, given: ModelInput) -> dict[str, Any]:
    """The ``input`` object of a prediction of ``model`` on ``given`` (see docs/platforms.md)."""
    body = {k: v for k, v in model.params.items() if k not in RESERVED}
    field = str(model.params.get("field", DEFAULT_FIELD[given.type]))
    picture_field = model.params.get("picture_field")
    if given.type is MediaType.TEXT and picture_field and given.data is not None:
        # a text that carries a picture (Image Reproducer II's output): the picture, and the instruction
        body[str(picture_field)] = data_uri(given.data, given.mime)
        body[field] = str(model.params.get("picture_prompt", given.text or ""))
    elif given.type is MediaType.TEXT:
        body[field] = prompts.user_text(model, given)
        if model.output is MediaType.TEXT:
            system = prompts.system_prompt(model)
            if system:
                body[str(model.params.get("system_field", "system_prompt"))] = system
    else:
        if given.data is None:
            raise PermanentError(f"{model.id} takes a {given.type} file but was given text")
        body[field] = data_uri(given.data, given.mime)
    return body


def parse_output(model: Model, output: Any) -> str:
    """The text of a text model's output, or the URL of a file model's output."""
    key = model.params.get("output_key")
    if key is not None and isinstance(output, dict):  # another version may answer plainly: read below
        if key not in output:
            raise PermanentError(f"{model.id}: the output has no {key!r} field (got {_shape(output)})")
        output = output[key]
    if model.output is MediaType.TEXT:
        if isinstance(output, list):
            output = "".join(str(token) for token in output)
        elif isinstance(output, dict):
            output = next((output[k] for k in ("text", "transcription", "caption", "output")
                           if isinstance(output.get(k), str)), None)
        if not isinstance(output, str):
            raise PermanentError(f"{model.id}: expected text, got {_shape(output)}")
        wrapped = TASK_WRAPPER.match(output.strip())  # Florence-2's "{'<TASK>': 'caption'}"
        return wrapped.group(2) if wrapped else output
    if isinstance(output, dict):
        output = next((v for v in output.values() if _url(v)), None)
    if isinstance(output, list):
        output = next((item for item in output if _url(item)), None)
    url = _url(output)
    if url is None:
        if output is None:
            raise SafetyFilterError(f"{model.id} returned no file (Replicate returns none when its "
                                    "safety checker removed every output)")
        raise PermanentError(f"{model.id}: expected a file URL, got {_shape(output)}")
    return url


def _url(value: Any) -> str | None:
    value = getattr(value, "url", value)  # the replicate package's FileOutput
    if isinstance(value, str) and value.startswith(("http://", "https://", "data:")):
        return value
    return None


def _shape(value: Any) -> str:
    """What ``value`` is, never what it says (a platform's answer is not quoted in errors)."""
    return f"text of {len(value)} characters" if isinstance(value, str) else type(value).__name__


def failure(model: Model, prediction: Prediction) -> PlatformError:
    """The error for a prediction that did not succeed."""
    if prediction.status == "canceled":
        return PermanentError(f"{model.id}: the prediction {prediction.id} was cancelled on Replicate")
    message = clean_text(str(prediction.error or "no reason given"), 1000)
    if SAFETY.search(message):
        return SafetyFilterError(f"{model.id}: {message}")
    if RETRYABLE.search(message):
        return TransientError(f"{model.id} failed on Replicate, worth a retry: {message}")
    return PermanentError(f"{model.id} failed on Replicate: {message}")


def _api_error(err: Exception, what: str) -> PlatformError:
    if isinstance(err, PlatformError):
        return err
    if isinstance(err, ReplicateError):
        detail = err.detail or err.title or ""
        return status_error("replicate", err.status or 500, detail if isinstance(detail, str) else "",
                            what=what)
    if isinstance(err, httpx.TransportError):
        return transport_error("replicate", err)
    # the package's own parsing failed on an answer of the wrong shape: say which, quote nothing
    return TransientError(f"replicate gave an answer panic-edge cannot read ({type(err).__name__})")


async def _rate_limit_hook(response: httpx.Response) -> None:
    # the replicate package drops response headers from its errors: read Retry-After here
    if response.status_code == 429:
        await response.aread()
        try:
            detail = response.json().get("detail")
        except (ValueError, AttributeError, RecursionError):
            detail = None
        detail = clean_text(detail, 200) if isinstance(detail, str) else "no details given"
        raise TransientError(f"replicate is rate limited (429): {detail}",
                             parse_retry_after(response.headers.get("retry-after")))


class ReplicatePlatform:
    name = "replicate"

    def __init__(self, base_url: str, key: SecretStr, connect_timeout: float = 10.0,
                 read_timeout: float = 120.0, wait: int = 60, poll_interval: float = 1.0,
                 max_download_bytes: int = 32 * 1024 * 1024, download_timeout: float = DOWNLOAD_DEADLINE,
                 allow_private_downloads: bool = False, max_answer_bytes: int = MAX_ANSWER_BYTES) -> None:
        self._transport = GuardedTransport("the replicate answer", max_answer_bytes)
        self._client = Client(
            api_token=key.get_secret_value(), base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout), transport=self._transport,
            event_hooks={"response": [_rate_limit_hook]})
        # downloads go to a CDN: a separate client that never carries the API token, connects
        # only where the egress policy allows, and leaves redirects to files.fetch
        policy = EgressPolicy(self.name, base_url, allow_private_downloads)
        self._files = httpx.AsyncClient(
            timeout=httpx.Timeout(min(read_timeout, download_timeout), connect=connect_timeout),
            follow_redirects=False,
            transport=GuardedTransport("the replicate output file", max_download_bytes, policy))
        self.download_timeout = download_timeout
        self.wait = wait
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.poll_interval = poll_interval
        self.max_download_bytes = max_download_bytes
        self._versions: dict[str, str] = {}
        self._background: set[asyncio.Task[Any]] = set()

    async def invoke(self, model: Model, given: ModelInput) -> ModelOutput:
        began = time.perf_counter()
        model = for_input(model, given)
        body = prediction_input(model, given)
        prediction = await self._create(model, body)
        try:
            while prediction.status not in TERMINAL:
                await asyncio.sleep(self.poll_interval)
                prediction = await self._api(self._client.predictions.async_get(prediction.id), model)
        except asyncio.CancelledError:
            self._spawn(self._cancel(prediction.id))
            raise
        if prediction.status != "succeeded":
            raise failure(model, prediction)
        meta = self._meta(model, prediction, began)
        found = parse_output(model, prediction.output)
        if model.output is MediaType.TEXT:
            return ModelOutput(text=found.strip(), meta=meta)
        data = await fetch(self._files, self.name, found, model.output, self.max_download_bytes,
                           self.download_timeout)
        return ModelOutput(data=data, meta=meta)

    def _meta(self, model: Model, prediction: Prediction, began: float) -> dict[str, Any]:
        metrics = prediction.metrics or {}
        predict_time = metrics.get("predict_time")
        tokens_in, tokens_out = metrics.get("input_token_count"), metrics.get("output_token_count")
        return {"platform": self.name, "id": prediction.id, "version": prediction.version,
                "predict_time": predict_time, "wall_time": round(time.perf_counter() - began, 3),
                **({"input_tokens": tokens_in} if tokens_in is not None else {}),
                **({"output_tokens": tokens_out} if tokens_out is not None else {}),
                **replicate_cost(model, predict_time, tokens_in, tokens_out)}

    # --- talking to the API -------------------------------------------------------------------

    async def _api(self, call: Any, model: Model, deadline: float | None = None) -> Any:
        # the package sends a create without `Prefer: wait` with no timeout at all: bound it here
        try:
            async with asyncio.timeout(deadline or self.read_timeout):
                return await call
        except TimeoutError:
            raise TransientError("replicate did not answer in time (no response)") from None
        except (ReplicateError, httpx.HTTPError, ValueError, TypeError, AttributeError, KeyError,
                RecursionError, PlatformError) as err:  # the package chokes on odd shapes in kind
            raise _api_error(err, model.ref) from err

    async def _create(self, model: Model, body: dict[str, Any]) -> Prediction:
        """Create the prediction. If cancelled meanwhile, let the request finish in the background
        and cancel the prediction it made: Replicate would otherwise run (and bill) it."""
        task = asyncio.create_task(self._api(self._post(model, body), model,
                                             self.wait + self.read_timeout + self.connect_timeout))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            self._spawn(self._cancel_when_created(task))
            raise

    async def _post(self, model: Model, body: dict[str, Any]) -> Prediction:
        wait: int | bool = self.wait if self.wait else False
        owner_name, _, version = model.ref.partition(":")
        if model.params.get("official") and not version:
            return await self._client.models.predictions.async_create(model=owner_name, input=body,
                                                                      wait=wait)
        if not version:
            version = await self._latest_version(owner_name)
        return await self._client.predictions.async_create(version=version, input=body, wait=wait)

    async def _latest_version(self, owner_name: str) -> str:
        if owner_name not in self._versions:
            found = await self._client.models.async_get(owner_name)
            if found.latest_version is None:
                raise PermanentError(f"{owner_name} has no public version on Replicate; pin one in "
                                     "the catalogue (ref owner/name:version)")
            self._versions[owner_name] = found.latest_version.id
            log.info("replicate: %s is at version %s", owner_name, found.latest_version.id[:12])
        return self._versions[owner_name]

    async def _cancel_when_created(self, creating: asyncio.Task[Prediction]) -> None:
        try:
            prediction = await creating
        except Exception:  # noqa: BLE001 -- nothing was made, so nothing to cancel
            return
        if prediction.status not in TERMINAL:
            await self._cancel(prediction.id)

    async def _cancel(self, prediction_id: str) -> None:
        try:
            await self._client.predictions.async_cancel(prediction_id)
            log.info("replicate: cancelled prediction %s", prediction_id)
        except Exception as err:  # noqa: BLE001 -- the run has moved on; a failed cancel only costs money
            log.warning("replicate: could not cancel prediction %s: %s", prediction_id,
                        _api_error(err, prediction_id))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def settle(self) -> None:
        """Wait for background cancellations (tests and shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def aclose(self) -> None:
        try:
            async with asyncio.timeout(10):
                await self.settle()
        except TimeoutError:
            log.warning("replicate: gave up waiting for %d cancellations", len(self._background))
        await self._files.aclose()
        await self._transport.aclose()
