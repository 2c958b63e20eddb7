"""A model: one step of the loop, and the operational hints the installation needs about it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from panic_edge.core.media import MediaType


class Warmth(str, enum.Enum):
    """Whether a model is usually loaded and answers quickly (warm) or needs a cold boot."""

    WARM = "warm"
    COLD = "cold"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Hints:
    """What running the model in a gallery taught us.

    ``typical_seconds`` is the usual wall time of one call; ``pre_wait``/``post_wait`` are
    seconds to hold before and after showing its output (a Vestaboard needs time to flip and
    a visitor time to read it).
    """

    warmth: Warmth = Warmth.WARM
    typical_seconds: float = 5.0
    pre_wait: float = 0.0
    post_wait: float = 0.0


@dataclass(frozen=True)
class Model:
    """A catalogue entry.

    ``platform`` names the client that calls it (``local``, ``replicate``, ``openai``,
    ``anthropic``, ``gemini``); ``ref`` is that platform's name for it (a Replicate
    ``owner/name`` or ``owner/name:version``, an OpenAI model id, ...); ``params`` are the fixed
    request parameters the platform client merges into every call.
    """

    id: str
    name: str
    platform: str
    input: MediaType
    output: MediaType
    description: str
    ref: str = ""
    hints: Hints = field(default_factory=Hints)
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def is_local(self) -> bool:
        return self.platform == "local"

    @property
    def label(self) -> str:
        """The name as shown to people: local models say so everywhere they appear."""
        return f"{self.name} (local)" if self.is_local else self.name

    def io(self) -> str:
        return f"{self.input}->{self.output}"
