"""Insight: an embedding of every output, each run's geometry, published live (docs/insight.md).

The shell around the pure metrics in ``panic_edge.core.trajectory`` and ``core.persistence``:

- ``service``: the daemon's side, a bounded queue feeding a worker process; the loop never waits;
- ``worker`` / ``tracker``: the worker process, which loads the model, embeds, measures, stores;
- ``embedders``: model2vec, ONNX text and ONNX image models, loaded from a folder;
- ``fetch``: pinned models installed from the hub or a copied folder;
- ``db``: the insight tables; ``export``: Parquet or CSV for notebooks; ``commands``: the CLI.

This module imports nothing heavy: the daemon asks it whether insight can run at all without
importing numpy or a model library (they live in the optional ``insight`` extra).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the worker process imports this package: it needs no config (nor pydantic)
    from panic_edge.config import Config

NEEDED = ("numpy", "model2vec", "pyRipser")  # pyRipser: the compiled core of the ripser package


def missing_packages(names: tuple[str, ...] = NEEDED) -> list[str]:
    """The packages of the ``insight`` extra that are not importable here (none are imported)."""
    missing = []
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append("ripser" if name == "pyRipser" else name)
    return missing


def model_dir(config: Config) -> Path:
    """Where the text model is: ``[insight] model_dir``, else where ``insight fetch`` puts the default."""
    from panic_edge.insight.fetch import DEFAULT_MODEL, models_dir

    if config.insight.model_dir is not None:
        return config.insight.model_dir.expanduser()
    return models_dir(config.data_dir) / DEFAULT_MODEL


def why_off(config: Config) -> str | None:
    """Why insight cannot run on this machine with this config, in one sentence; None if it can."""
    if not config.insight.enabled:
        return "turned off in the config ([insight] enabled = false)"
    missing = missing_packages()
    if missing:
        return (f"the insight extra is not installed (missing {', '.join(missing)}): "
                f"pip install 'panic-edge[insight]'")
    folder = model_dir(config)
    if not folder.is_dir():
        return (f"no embedding model in {folder}: run `panic-edge insight fetch` (or `--from DIR`), "
                f"or set [insight] model_dir")
    return None
