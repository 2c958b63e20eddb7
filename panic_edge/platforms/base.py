"""The interface every platform client implements, and the registry the daemon calls through.

Whatever a client returns or raises passes ``Platforms.invoke``, which cleans it
(panic_edge.core.clean): the engine, the database, MQTT and the screens never see a lone
surrogate, a control character or a NaN from a platform.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from panic_edge.core.clean import clean_meta, clean_text
from panic_edge.core.media import MediaType
from panic_edge.core.model import Model
from panic_edge.platforms.errors import PermanentError, PlatformError

MAX_TEXT_CHARS = 100_000  # read of a text answer at most; the engine keeps 20,000
MAX_FLAGS = 16
MAX_FLAG_CHARS = 200


@dataclass(frozen=True)
class ModelInput:
    """What a model is given: text, or the bytes of an archived file with its content type and its
    archive name (``file``). A text may carry a picture too (see core.picture_ref)."""

    type: MediaType
    text: str | None = None
    data: bytes | None = None
    mime: str | None = None
    file: str | None = None


@dataclass(frozen=True)
class ModelOutput:
    """What a model gave: text, or file bytes the daemon archives. ``meta`` carries platform ids,
    predict time, tokens and cost estimates; ``flags`` marks e.g. a safety placeholder."""

    text: str | None = None
    data: bytes | None = None
    flags: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


class Platform(Protocol):
    """A model platform client. A client may set ``needs_internet = False`` (local models do):
    offline mode then leaves its networks alone; without it, a client counts as remote."""

    name: str

    async def invoke(self, model: Model, given: ModelInput) -> ModelOutput:
        """Call ``model`` on ``given``. Raises a PlatformError subclass on failure; must be
        cancellable (a stopped run cancels the task awaiting it)."""
        ...

    async def aclose(self) -> None: ...


class Platforms:
    """Platform name -> client. A model whose platform is missing fails with a clear reason."""

    def __init__(self, clients: Mapping[str, Platform], missing: Mapping[str, str] | None = None) -> None:
        self._clients = dict(clients)
        self._missing = dict(missing or {})

    def available(self, platform: str) -> bool:
        return platform in self._clients

    def needs_internet(self, platform: str) -> bool:
        """Whether calls to ``platform`` go over the internet (missing platforms are cloud ones)."""
        client = self._clients.get(platform)
        return True if client is None else bool(getattr(client, "needs_internet", True))

    def why_missing(self, platform: str) -> str:
        return self._missing.get(platform, f"the {platform} platform is not available in this version")

    async def invoke(self, model: Model, given: ModelInput) -> ModelOutput:
        client = self._clients.get(model.platform)
        if client is None:
            raise PermanentError(f"cannot run {model.id}: {self.why_missing(model.platform)}")
        try:
            out = await client.invoke(model, given)
        except PlatformError as err:
            err.args = (clean_text(str(err), 2000),)
            raise
        text = None if out.text is None else clean_text(out.text, MAX_TEXT_CHARS)
        # a flag may name an archive file (core/picture_ref.py): long enough for a network's path
        flags = tuple(clean_text(str(f), MAX_FLAG_CHARS) for f in out.flags[:MAX_FLAGS])
        return replace(out, text=text, flags=flags, meta=clean_meta(out.meta) or {})

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
