"""Input marshalling shared by the chat platforms: what to say to the model, from its params.

Catalogue ``params`` keys read here (all optional):

- ``system``: the system prompt of a text model (default: continue the idea in one sentence);
- ``template``: how a text input becomes the user turn, with ``{text}`` (default ``{text}``);
- ``prompt``: the instruction sent with an image or a sound (default: describe it in a sentence);
- ``max_tokens``: the longest answer (default 200; an installation shows one sentence).
"""

from __future__ import annotations

import time
from typing import Any

from panic_edge.core.media import MediaType
from panic_edge.core.model import Model
from panic_edge.platforms.base import ModelInput
from panic_edge.platforms.errors import PermanentError

DEFAULT_SYSTEM = "Continue the idea in one vivid sentence. Reply with the sentence only."
DEFAULT_PROMPTS = {
    MediaType.IMAGE: "Describe this picture in one vivid sentence. Reply with the sentence only.",
    MediaType.AUDIO: "Transcribe the words in this recording; if there are none, describe the sound "
                     "in one sentence. Reply with that only.",
}
DEFAULT_MAX_TOKENS = 200


def system_prompt(model: Model) -> str | None:
    """The system prompt: the model's own, the default for text->text, or none for captions."""
    if "system" in model.params:
        return str(model.params["system"])
    return DEFAULT_SYSTEM if model.input is MediaType.TEXT else None


def user_text(model: Model, given: ModelInput) -> str:
    """The text of the user turn for ``given``."""
    if given.type is MediaType.TEXT:
        if given.text is None:
            raise PermanentError(f"{model.id} takes text but was given a file")
        return render(str(model.params.get("template", "{text}")), given.text)
    if given.data is None:
        raise PermanentError(f"{model.id} takes a {given.type} file but was given text")
    return str(model.params.get("prompt", DEFAULT_PROMPTS[given.type]))


def render(template: str, text: str) -> str:
    """``template`` with ``{text}`` replaced (literal braces elsewhere are left alone)."""
    return template.replace("{text}", text)


def max_tokens(model: Model) -> int:
    return int(model.params.get("max_tokens", DEFAULT_MAX_TOKENS))


def cost(model: Model, predict_time: float | None = None, input_tokens: int | None = None,
         output_tokens: int | None = None) -> dict[str, float]:
    """``{"cost_usd": ...}`` where the catalogue knows the model's price, else nothing."""
    if model.price is None:
        return {}
    return {"cost_usd": model.price.estimate(predict_time, input_tokens, output_tokens)}


def token_meta(platform: str, model: Model, answer_id: object, began: float, input_tokens: int | None,
               output_tokens: int | None) -> dict[str, Any]:
    """The metadata a chat-style answer leaves on its invocation: ids, time, tokens, cost."""
    return {"platform": platform, "id": answer_id, "predict_time": round(time.perf_counter() - began, 3),
            "input_tokens": input_tokens, "output_tokens": output_tokens,
            **cost(model, None, input_tokens, output_tokens)}
