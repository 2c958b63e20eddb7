"""Which platform clients this appliance has, built from the config."""

from __future__ import annotations

from panic_edge.config import Config
from panic_edge.platforms.base import Platforms
from panic_edge.platforms.local import LocalPlatform

CLOUD = ("replicate", "openai", "anthropic", "gemini")


def build_platforms(config: Config) -> Platforms:
    missing = {name: f"the {name} platform is not implemented in this version of panic-edge"
               for name in CLOUD}
    return Platforms({"local": LocalPlatform(config.local_models.latency)}, missing)
