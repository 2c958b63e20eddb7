"""Local models: no network, no keys. They run the demo and the tests."""

from panic_edge.platforms.local.client import LocalPlatform

__all__ = ["LocalPlatform"]
