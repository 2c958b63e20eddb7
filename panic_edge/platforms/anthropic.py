"""Anthropic's Messages API over httpx.

``POST {base}/v1/messages`` with ``x-api-key`` and ``anthropic-version: 2023-06-01``. Images go
in as base64 ``image`` blocks. ``stop_reason: "refusal"`` is the safety filter; 529
``overloaded_error`` and 429 ``rate_limit_error`` are transient (the http module says so).
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import SecretStr

from panic_edge.core.media import MediaType
from panic_edge.core.model import Model
from panic_edge.platforms import prompts
from panic_edge.platforms.base import ModelInput, ModelOutput
from panic_edge.platforms.errors import PermanentError, SafetyFilterError, TransientError
from panic_edge.platforms.http import MAX_ANSWER_BYTES, new_client, post_json

API_VERSION = "2023-06-01"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")


def _error(body: Any) -> str | None:
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return f"{err.get('type', 'error')}: {err.get('message', '')}"
    return None


class AnthropicPlatform:
    name = "anthropic"

    def __init__(self, base_url: str, key: SecretStr, connect_timeout: float = 10.0,
                 read_timeout: float = 120.0, max_answer_bytes: int = MAX_ANSWER_BYTES) -> None:
        headers = {"x-api-key": key.get_secret_value(), "anthropic-version": API_VERSION}
        self._client = new_client(base_url, connect_timeout, read_timeout, headers, platform=self.name,
                                  max_answer_bytes=max_answer_bytes)

    def request(self, model: Model, given: ModelInput) -> dict[str, Any]:
        text = prompts.user_text(model, given)
        content: list[dict[str, Any]] = []
        if given.type is MediaType.IMAGE:
            import base64

            assert given.data is not None
            if given.mime not in IMAGE_TYPES:
                raise PermanentError(f"{model.id}: Claude reads {', '.join(IMAGE_TYPES)}, not {given.mime}")
            content.append({"type": "image", "source": {
                "type": "base64", "media_type": given.mime,
                "data": base64.b64encode(given.data).decode("ascii")}})
        elif given.type is MediaType.AUDIO:
            raise PermanentError(f"{model.id}: Claude takes no sound; use a speech model first")
        content.append({"type": "text", "text": text})
        body: dict[str, Any] = {"model": model.ref, "max_tokens": prompts.max_tokens(model),
                                "messages": [{"role": "user", "content": content}]}
        system = prompts.system_prompt(model)
        if system:
            body["system"] = system
        return body

    async def invoke(self, model: Model, given: ModelInput) -> ModelOutput:
        began = time.perf_counter()
        answer = await post_json(self._client, self.name, "v1/messages", self.request(model, given),
                                 _error, what=model.ref)
        if answer.get("stop_reason") == "refusal":
            raise SafetyFilterError("Claude declined to answer (stop_reason refusal)")
        text = "".join(block.get("text", "") for block in answer.get("content") or []
                       if isinstance(block, dict) and block.get("type") == "text")
        if not text.strip():
            raise TransientError(f"Claude answered with no text (stop_reason {answer.get('stop_reason')})")
        usage = answer.get("usage") or {}
        tokens_in, tokens_out = usage.get("input_tokens"), usage.get("output_tokens")
        meta = prompts.token_meta(self.name, model, answer.get("id"), began, tokens_in, tokens_out)
        return ModelOutput(text=text.strip(), meta=meta)

    async def aclose(self) -> None:
        await self._client.aclose()
