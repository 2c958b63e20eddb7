"""OpenAI-compatible chat completions over httpx: OpenAI, or any server speaking its API.

``POST {base}/chat/completions`` with ``Authorization: Bearer <key>``. The base URL is a config
entry (``platforms.openai_url``), so Ollama (``http://127.0.0.1:11434/v1``), llama.cpp's server
or inference.net are one line away; those need no key. Images go in as ``image_url`` parts with a
data URI. A ``content_filter`` finish or a ``content_policy_violation`` error is the safety
filter; ``insufficient_quota`` (a 429) is permanent: waiting does not buy credit.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import SecretStr

from panic_edge.core.media import MediaType
from panic_edge.core.model import Model
from panic_edge.platforms import prompts
from panic_edge.platforms.base import ModelInput, ModelOutput
from panic_edge.platforms.errors import PermanentError, PlatformError, SafetyFilterError, TransientError
from panic_edge.platforms.files import data_uri
from panic_edge.platforms.http import MAX_ANSWER_BYTES, new_client, post_json

SAFETY_CODES = {"content_policy_violation", "content_filter"}


def _error(body: Any) -> str | None:
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return str(err.get("message") or err.get("code") or "") or None
    return str(err) if err else None


def _classify(status: int, body: Any) -> PlatformError | None:
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return None
    code = err.get("code") or err.get("type")
    if code in SAFETY_CODES:
        return SafetyFilterError(f"openai content filter: {err.get('message', code)}")
    if code == "insufficient_quota":
        return PermanentError(f"openai says the account is out of credit: {err.get('message', '')}; "
                              "add credit or use another key")
    return None


class OpenAIPlatform:
    name = "openai"

    def __init__(self, base_url: str, key: SecretStr | None, connect_timeout: float = 10.0,
                 read_timeout: float = 120.0, max_answer_bytes: int = MAX_ANSWER_BYTES) -> None:
        headers = {"Authorization": f"Bearer {key.get_secret_value()}"} if key is not None else {}
        self._client = new_client(base_url, connect_timeout, read_timeout, headers, platform=self.name,
                                  max_answer_bytes=max_answer_bytes)

    def request(self, model: Model, given: ModelInput) -> dict[str, Any]:
        """The JSON body for ``model`` on ``given``."""
        messages: list[dict[str, Any]] = []
        system = prompts.system_prompt(model)
        if system:
            messages.append({"role": "system", "content": system})
        text = prompts.user_text(model, given)
        if given.type is MediaType.IMAGE:
            assert given.data is not None
            messages.append({"role": "user", "content": [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": data_uri(given.data, given.mime)}}]})
        elif given.type is MediaType.AUDIO:
            raise PermanentError(f"{model.id}: chat completions take no sound; use a speech model first")
        else:
            messages.append({"role": "user", "content": text})
        body: dict[str, Any] = {"model": model.ref, "messages": messages,
                                "max_completion_tokens": prompts.max_tokens(model)}
        if "temperature" in model.params:
            body["temperature"] = model.params["temperature"]
        return body

    async def invoke(self, model: Model, given: ModelInput) -> ModelOutput:
        began = time.perf_counter()
        answer = await post_json(self._client, self.name, "chat/completions", self.request(model, given),
                                 _error, _classify, what=model.ref)
        choices = answer.get("choices") or []
        if not choices:
            raise TransientError("openai answered with no choices")
        choice = choices[0]
        if choice.get("finish_reason") == "content_filter":
            raise SafetyFilterError("openai content filter stopped the answer")
        message = choice.get("message") or {}
        if message.get("refusal"):
            raise SafetyFilterError(f"openai refused: {message['refusal']}")
        text = message.get("content")
        if not isinstance(text, str):
            raise TransientError("openai answered without text")
        usage = answer.get("usage") or {}
        tokens_in, tokens_out = usage.get("prompt_tokens"), usage.get("completion_tokens")
        meta = prompts.token_meta(self.name, model, answer.get("id"), began, tokens_in, tokens_out)
        return ModelOutput(text=text.strip(), meta=meta)

    async def aclose(self) -> None:
        await self._client.aclose()
