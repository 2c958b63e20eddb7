"""Safety-filter placeholders: a refused or filtered output completes as a marked placeholder.

A visitor's prompt that trips a filter must not end the run. The runner first calls a text model
once more with the network's safety prompt (core.runner); refused again, or for a model that takes
a picture or a sound, the invocation completes with a placeholder (a picture, a sound or a line of
text shipped in the package) flagged ``nsfw``, and the loop goes on from it.
"""

from __future__ import annotations

from importlib import resources

from panic_edge.core.media import MediaType
from panic_edge.platforms.base import ModelOutput

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
