"""The SQLite store: runs and invocations, the source of truth of the installation."""

from panic_edge.store.database import Store

__all__ = ["Store"]
