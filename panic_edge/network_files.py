"""Networks from config/networks/<slug>.toml, plus the built-in ``demo``."""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from panic_edge.core.model import Model
from panic_edge.core.network import DEFAULT_SAFETY_PROMPT, SLUG, Network, chain_errors
from panic_edge.core.pacing import parse_pacing
from panic_edge.errors import ConfigError

DEMO = Network(
    slug="demo",
    name="Demo (local models)",
    description="A loop of small local models that needs no internet and no keys: words become a "
                "verse, the verse a picture, the picture a caption, the caption a voice, and the voice "
                "words again.",
    models=("local-poet", "local-painter", "local-captioner", "local-voice", "local-listener"),
    lockout_seconds=10,
    prompts=("a camel in the desert", "a lighthouse in a storm", "a red bicycle under cherry blossom"),
)


class NetworkFile(BaseModel):
    """The keys of a network file."""

    model_config = ConfigDict(extra="forbid")
    slug: str | None = Field(None, description="Defaults to the file name without .toml.")
    name: str = Field(description="The network's name as people see it.")
    description: str = Field("", description="A sentence or two for visitors.")
    models: list[str] = Field(min_length=1, description="Model ids in order; the last feeds the first.")
    lockout_seconds: float = Field(60.0, ge=0, description="How long a run is safe from a visitor's "
                                   "new start.")
    prompts: list[str] = Field(default_factory=lambda: ["a camel in the desert"], min_length=1,
                               description="What the panic button starts runs with, in turn.")
    offline_policy: str = Field("pause", pattern="^(pause|replay|stop)$", description="What a run does "
                                "while the platforms are unreachable: pause, replay or stop.")
    about_url: str = Field("", description="A page about the network (the screens' QR code links here).")
    safety_prompt: str = Field(DEFAULT_SAFETY_PROMPT, max_length=2000,
                               description="What a text model refused by its safety filter is called "
                               "with instead, once, before the placeholder is shown; \"\" shows the "
                               "placeholder at once.")
    pacing: list[list[float]] | None = Field(None, description="`[[run_age_seconds, delay_seconds], ...]`: "
                                             "the wait before each next call, by the run's age; unset: "
                                             "`[[0, 1], [600, 15], [3600, 600]]` for networks with a cloud "
                                             "model, `[[0, 0], [600, 5], [3600, 60]]` for local ones.")

    @field_validator("pacing", mode="before")
    @classmethod
    def _pacing(cls, value: object) -> object:
        return None if value is None else [list(step) for step in parse_pacing(value)]

    def to_network(self, slug: str, source: str = "") -> Network:
        return Network(slug=slug, name=self.name, description=self.description, models=tuple(self.models),
                       lockout_seconds=self.lockout_seconds, prompts=tuple(self.prompts),
                       offline_policy=self.offline_policy, about_url=self.about_url,
                       safety_prompt=self.safety_prompt,
                       pacing=parse_pacing(self.pacing) if self.pacing else None, source=source)


def read_network(path: Path) -> Network:
    """Parse one network file. Raises ConfigError naming the file and key."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"network file {path}: cannot read it: {err}") from None
    try:
        spec = NetworkFile.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"network file {path}: {problems}") from None
    slug = spec.slug or path.stem
    if slug != path.stem:
        raise ConfigError(f"network file {path}: slug {slug!r} must match the file name {path.stem!r}")
    return spec.to_network(slug, str(path))


@dataclass(frozen=True)
class LoadedNetworks:
    """What was found: the networks that can run, and the problems with the others."""

    networks: dict[str, Network]
    problems: dict[str, str]  # slug or file -> message


def load_networks(directory: Path | None, catalogue: Mapping[str, Model]) -> LoadedNetworks:
    """The demo, plus every valid network file in ``directory``. Invalid ones are reported, not fatal."""
    networks: dict[str, Network] = {DEMO.slug: DEMO}
    problems: dict[str, str] = {}
    if directory is None:
        return LoadedNetworks(networks, problems)
    if not directory.is_dir():
        problems[str(directory)] = f"networks folder {directory} does not exist"
        return LoadedNetworks(networks, problems)
    for path in sorted(directory.glob("*.toml")):
        try:
            network = read_network(path)
        except ConfigError as err:
            problems[path.stem] = str(err)
            continue
        errors = chain_errors(network, catalogue)
        if errors:
            problems[network.slug] = f"network {network.slug!r} ({path}) cannot run: " + "; ".join(errors)
        else:
            networks[network.slug] = network
    return LoadedNetworks(networks, problems)


def network_toml(network: Network) -> str:
    """``network`` as the text of its file. Strings are written as JSON strings, which are valid
    TOML basic strings, so any text round-trips through read_network."""
    def s(value: str) -> str:
        # JSON escapes every control character TOML forbids but DEL
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")

    lines = [f"name = {s(network.name)}"]
    if network.description:
        lines.append(f"description = {s(network.description)}")
    lines += [f"models = [{', '.join(s(m) for m in network.models)}]",
              f"lockout_seconds = {network.lockout_seconds!r}",
              f"prompts = [{', '.join(s(p) for p in network.prompts)}]",
              f"offline_policy = {s(network.offline_policy)}"]
    if network.about_url:
        lines.append(f"about_url = {s(network.about_url)}")
    if network.safety_prompt != DEFAULT_SAFETY_PROMPT:
        lines.append(f"safety_prompt = {s(network.safety_prompt)}")
    if network.pacing is not None:
        lines.append(f"pacing = [{', '.join(f'[{age!r}, {delay!r}]' for age, delay in network.pacing)}]")
    return "# written by the panic-edge admin page\n" + "\n".join(lines) + "\n"


def write_network(directory: Path, network: Network) -> Path:
    """Write ``network`` to ``directory/<slug>.toml`` atomically (a reader never sees half a file)."""
    if not SLUG.match(network.slug):
        raise ConfigError(f"slug {network.slug!r} must be lowercase letters, digits and dashes")
    return write_atomically(directory / f"{network.slug}.toml", network_toml(network))


def write_atomically(target: Path, text: str) -> Path:
    """Write ``text`` to ``target`` through a temporary file in the same folder, then rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def network_files(directory: Path | None) -> dict[str, Network | ConfigError]:
    """Every ``*.toml`` in ``directory`` by slug: the network, or why it cannot be read."""
    found: dict[str, Network | ConfigError] = {}
    if directory is None or not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.toml")):
        try:
            found[path.stem] = read_network(path)
        except ConfigError as err:
            found[path.stem] = err
    return found
