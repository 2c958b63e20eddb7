"""The ``local`` platform: runs the local models in a worker thread after a simulated latency."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from panic_edge.core import picture_ref
from panic_edge.core.model import Model
from panic_edge.platforms.base import ModelInput, ModelOutput
from panic_edge.platforms.errors import PermanentError
from panic_edge.platforms.local import pictures, sounds, words


def _text(given: ModelInput) -> str:
    if given.text is None:
        raise PermanentError("this local model takes text but was given a file")
    return given.text


def _data(given: ModelInput) -> bytes:
    if given.data is None:
        raise PermanentError("this local model takes a file but was given text")
    return given.data


def _pass_on(given: ModelInput) -> ModelOutput:
    if given.file is None:
        raise PermanentError("Image Reproducer II passes on an archived picture but was given none")
    return ModelOutput(text=picture_ref.PASSED_ON, flags=(picture_ref.flag(given.file),))


MODELS: dict[str, Callable[[ModelInput], ModelOutput]] = {
    "local-poet": lambda g: ModelOutput(text=words.drift_verse(_text(g))),
    "local-painter": lambda g: ModelOutput(data=pictures.paint(_text(g))),
    "local-captioner": lambda g: ModelOutput(text=pictures.caption(_data(g))),
    "local-voice": lambda g: ModelOutput(data=sounds.speak(_text(g))),
    "local-listener": lambda g: ModelOutput(text=sounds.describe(_data(g), g.mime)),
    "image-reproducer-ii-flux": _pass_on,
}


class LocalPlatform:
    name = "local"
    needs_internet = False

    def __init__(self, latency: float = 1.0) -> None:
        self.latency = latency

    async def invoke(self, model: Model, given: ModelInput) -> ModelOutput:
        run = MODELS.get(model.id)
        if run is None:
            raise PermanentError(f"{model.id} is not a local model")
        began = time.perf_counter()
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            out = await asyncio.to_thread(run, given)
        except PermanentError:
            raise
        except Exception as err:  # a local model choking on odd input is the input's fault
            raise PermanentError(f"{model.id} could not read its input: {err}") from err
        out.meta.update(predict_time=round(time.perf_counter() - began, 3), cost_usd=0.0)
        return out

    async def aclose(self) -> None:
        return None
