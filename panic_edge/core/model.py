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
class Price:
    """What one call costs in US dollars, where the platform publishes a price: per call (e.g. per
    output image), per second of predict time (the hardware price), per million tokens in and out."""

    per_call: float = 0.0
    per_second: float = 0.0
    per_million_input: float = 0.0
    per_million_output: float = 0.0

    def estimate(self, predict_time: float | None = None, input_tokens: int | None = None,
                 output_tokens: int | None = None) -> float:
        """The dollar estimate of one call from its metered amounts (missing amounts count as 0)."""
        return round(self.per_call + self.per_second * (predict_time or 0.0)
                     + self.per_million_input * (input_tokens or 0) / 1e6
                     + self.per_million_output * (output_tokens or 0) / 1e6, 6)


@dataclass(frozen=True)
class Model:
    """A catalogue entry.

    ``platform`` names the client that calls it (``local``, ``replicate``, ``openai``,
    ``anthropic``, ``gemini``); ``ref`` is that platform's name for it (a Replicate
    ``owner/name`` or ``owner/name:version``, an OpenAI model id, ...); ``params`` are the fixed
    request parameters the platform client merges into every call (docs/platforms.md lists the
    keys each client reads); ``price`` is set where the platform publishes one.

    ``deprecated`` marks a model whose endpoint broke or was superseded: it stays resolvable, so
    history and old networks keep working, but the network editor's picker and `panic-edge
    models` leave it out (``--all`` shows it).
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
    price: Price | None = field(default=None, compare=False)
    deprecated: bool = field(default=False, compare=False)

    @property
    def is_local(self) -> bool:
        return self.platform == "local"

    @property
    def label(self) -> str:
        """The name as shown to people: local models say so everywhere they appear."""
        return f"{self.name} (local)" if self.is_local else self.name

    def io(self) -> str:
        return f"{self.input}->{self.output}"
