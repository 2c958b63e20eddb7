"""The SQLite store: runs and invocations, the source of truth of the installation."""

from panic_edge.store.database import Store
from panic_edge.store.queries import RunSummary, Window

__all__ = ["RunSummary", "Store", "Window"]
