"""Google Gemini ``generateContent`` over httpx, with image and audio input.

``POST {base}/v1beta/models/{model}:generateContent`` with ``x-goog-api-key``. Files go in as
``inline_data`` parts (base64). A blocked prompt (``promptFeedback.blockReason``) or a candidate
finished for ``SAFETY`` (and its relatives) is the safety filter. Google reports a bad key as 400
``INVALID_ARGUMENT`` with reason ``API_KEY_INVALID``: that is a key problem, said as such.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from pydantic import SecretStr

from panic_edge.core.media import MediaType
from panic_edge.core.model import Model
from panic_edge.platforms import prompts
from panic_edge.platforms.base import ModelInput, ModelOutput
from panic_edge.platforms.errors import PermanentError, PlatformError, SafetyFilterError, TransientError
from panic_edge.platforms.http import MAX_ANSWER_BYTES, new_client, post_json

SAFETY_REASONS = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY", "RECITATION"}
GEMINI_MIME = {"audio/mpeg": "audio/mp3"}


def _error(body: Any) -> str | None:
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return f"{err.get('status', '')}: {err.get('message', '')}".strip(": ")
    return None


def _classify(status: int, body: Any) -> PlatformError | None:
    err = body.get("error") if isinstance(body, dict) else None
    details = err.get("details") if isinstance(err, dict) else None
    reasons = {d.get("reason") for d in details or [] if isinstance(d, dict)}
    if "API_KEY_INVALID" in reasons and isinstance(err, dict):
        return PermanentError(f"gemini refused the API key ({status}): {err.get('message', '')}; "
                              "set a valid GEMINI_API_KEY (or the gemini entry of the credentials file)")
    return None


class GeminiPlatform:
    name = "gemini"

    def __init__(self, base_url: str, key: SecretStr, connect_timeout: float = 10.0,
                 read_timeout: float = 120.0, max_answer_bytes: int = MAX_ANSWER_BYTES) -> None:
        self._client = new_client(base_url, connect_timeout, read_timeout,
                                  {"x-goog-api-key": key.get_secret_value()},
                                  platform=self.name, max_answer_bytes=max_answer_bytes)

    def request(self, model: Model, given: ModelInput) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"text": prompts.user_text(model, given)}]
        if given.type is not MediaType.TEXT:
            assert given.data is not None
            if not given.mime:
                raise PermanentError(f"{model.id}: the input file has no known type")
            parts.append({"inline_data": {"mime_type": GEMINI_MIME.get(given.mime, given.mime),
                                          "data": base64.b64encode(given.data).decode("ascii")}})
        config: dict[str, Any] = {"maxOutputTokens": prompts.max_tokens(model)}
        if "thinking_budget" in model.params:
            config["thinkingConfig"] = {"thinkingBudget": int(model.params["thinking_budget"])}
        body: dict[str, Any] = {"contents": [{"role": "user", "parts": parts}], "generationConfig": config}
        system = prompts.system_prompt(model)
        if system:
            body["system_instruction"] = {"parts": [{"text": system}]}
        return body

    async def invoke(self, model: Model, given: ModelInput) -> ModelOutput:
        began = time.perf_counter()
        answer = await post_json(self._client, self.name, f"v1beta/models/{model.ref}:generateContent",
                                 self.request(model, given), _error, _classify, what=model.ref)
        blocked = (answer.get("promptFeedback") or {}).get("blockReason")
        if blocked:
            raise SafetyFilterError(f"Gemini blocked the prompt ({blocked})")
        candidates = answer.get("candidates") or []
        if not candidates:
            raise TransientError("Gemini answered with no candidates")
        first = candidates[0]
        if first.get("finishReason") in SAFETY_REASONS:
            raise SafetyFilterError(f"Gemini stopped the answer ({first['finishReason']})")
        text = "".join(p.get("text", "") for p in (first.get("content") or {}).get("parts") or []
                       if isinstance(p, dict) and not p.get("thought"))
        if not text.strip():
            raise TransientError(f"Gemini answered with no text (finishReason {first.get('finishReason')})")
        usage = answer.get("usageMetadata") or {}
        tokens_in, tokens_out = usage.get("promptTokenCount"), usage.get("candidatesTokenCount")
        meta = prompts.token_meta(self.name, model, answer.get("responseId"), began, tokens_in, tokens_out)
        return ModelOutput(text=text.strip(), meta=meta)

    async def aclose(self) -> None:
        await self._client.aclose()
