"""A network: a cycle of models whose output types chain into the next one's input."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from panic_edge.core.media import MediaType
from panic_edge.core.model import Model
from panic_edge.core.pacing import Pacing
from panic_edge.errors import NetworkError

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# what a call refused by a safety filter is tried once more with (the original installation's own)
DEFAULT_SAFETY_PROMPT = "a wombat holding a sign that says 'whoops!'"


@dataclass(frozen=True)
class Network:
    """A network definition as loaded from config/networks/<slug>.toml.

    ``prompts`` are what the panic button starts runs with, in turn. ``offline_policy`` says what
    a running network does while the platforms are unreachable (pause, replay or stop).
    ``safety_prompt`` is what a text model refused by its safety filter is called with instead,
    once, before the placeholder is shown ("" shows the placeholder at once).
    """

    slug: str
    name: str
    models: tuple[str, ...]
    description: str = ""
    lockout_seconds: float = 60.0
    prompts: tuple[str, ...] = ("a camel in the desert",)
    offline_policy: str = "pause"
    about_url: str = ""
    safety_prompt: str = DEFAULT_SAFETY_PROMPT
    pacing: Pacing | None = None  # None: panic_edge.core.pacing.default_pacing for its models
    source: str = field(default="", compare=False)  # the file it came from, for error messages

    def model_at(self, sequence: int) -> str:
        """The model that makes invocation number ``sequence`` (0 is the genesis)."""
        return self.models[sequence % len(self.models)]


def chain_errors(network: Network, catalogue: Mapping[str, Model]) -> list[str]:
    """Every reason ``network`` cannot run, as messages a person can act on; empty if it can."""
    problems: list[str] = []
    if not SLUG.match(network.slug):
        problems.append(f"slug {network.slug!r} must be lowercase letters, digits and dashes")
    if not network.models:
        return [*problems, "it has no models; list at least one in `models`"]
    if network.lockout_seconds < 0:
        problems.append("lockout_seconds must not be negative")
    if network.offline_policy not in ("pause", "replay", "stop"):
        problems.append(f"offline_policy {network.offline_policy!r} must be pause, replay or stop")
    if not network.prompts:
        problems.append("it has no prompts for the panic button; list at least one in `prompts`")
    unknown = [m for m in network.models if m not in catalogue]
    for model_id in dict.fromkeys(unknown):
        try:
            catalogue[model_id]
        except KeyError as err:
            problems.append(str(err))
    if unknown:
        return problems
    models = [catalogue[m] for m in network.models]
    if models[0].input is not MediaType.TEXT:
        problems.append(f"the first model, {models[0].id}, takes {models[0].input} but a run starts "
                        f"from a text prompt")
    for here, after in zip(models, models[1:] + models[:1]):
        if here.output is not after.input:
            problems.append(f"{here.id} outputs {here.output} but {after.id} takes {after.input}")
    return problems


def validate(network: Network, catalogue: Mapping[str, Model]) -> Network:
    """Return ``network`` if it can run, else raise NetworkError naming every problem."""
    problems = chain_errors(network, catalogue)
    if problems:
        where = f" ({network.source})" if network.source else ""
        raise NetworkError(f"network {network.slug!r}{where} cannot run: " + "; ".join(problems))
    return network
