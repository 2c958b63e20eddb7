"""Safety-filter placeholders: a refused or filtered output completes as a marked placeholder.

A visitor's prompt that trips a filter must not end the run: the invocation completes with a
placeholder (a picture, a sound or a line of text shipped in the package) flagged ``nsfw``, and
the loop goes on from it.
"""

from __future__ import annotations

import logging
from importlib import resources

from panic_edge.core.media import MediaType
from panic_edge.core.model import Model
from panic_edge.platforms.base import ModelInput, ModelOutput, Platform
from panic_edge.platforms.errors import SafetyFilterError

log = logging.getLogger("panic_edge.platforms")

NSFW_FLAG = "nsfw"
PLACEHOLDER_TEXT = "[the model's safety filter withheld this output]"
_ASSETS = {MediaType.IMAGE: "nsfw.png", MediaType.AUDIO: "nsfw.wav"}


def placeholder(kind: MediaType, reason: str) -> ModelOutput:
    """The placeholder output for a ``kind`` model, flagged nsfw, with ``reason`` in its meta."""
    meta = {"safety": reason}
    if kind is MediaType.TEXT:
        return ModelOutput(text=PLACEHOLDER_TEXT, flags=(NSFW_FLAG,), meta=meta)
    data = resources.files("panic_edge.assets").joinpath(_ASSETS[kind]).read_bytes()
    return ModelOutput(data=data, flags=(NSFW_FLAG,), meta=meta)


class SafetyNet:
    """A Platform that turns another's SafetyFilterError into a placeholder output."""

    def __init__(self, inner: Platform) -> None:
        self.inner = inner
        self.name = inner.name

    async def invoke(self, model: Model, given: ModelInput) -> ModelOutput:
        try:
            return await self.inner.invoke(model, given)
        except SafetyFilterError as err:
            log.info("%s: safety filter: %s; showing the placeholder", model.id, err)
            return placeholder(model.output, str(err))

    async def aclose(self) -> None:
        await self.inner.aclose()
