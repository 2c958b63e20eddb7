"""``panic-edge insight fetch [MODEL] [--from DIR]``: install an embedding model like a product.

A fetchable model is pinned: one revision of its repository on the Hugging Face hub and the
SHA-256 and size of every file the loader needs. The files are downloaded (huggingface_hub) or
copied from a folder (a USB stick, a laptop that fetched them) into a staging folder beside
the destination, checked, and only then moved into place; a file that does not match refuses
the whole install and leaves the previous model as it was.

Pins of ``potion-base-8M`` (revision bf8b0566...): taken from public projects that pin the same
revision and agree on every digest; this build machine cannot reach the hub to re-derive them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import socket
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from panic_edge.errors import InsightError

MANIFEST = "panic-edge-model.json"  # written beside an installed model: its name, repo, revision, digests


@dataclass(frozen=True)
class PinnedFile:
    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ModelSpec:
    name: str
    repo: str
    revision: str
    kind: str
    dim: int
    files: tuple[PinnedFile, ...]
    description: str = ""

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


POTION_BASE_8M = ModelSpec(
    "potion-base-8M", "minishlab/potion-base-8M", "bf8b056651a2c21b8d2565580b8569da283cab23", "model2vec", 256,
    (PinnedFile("config.json", "2a6ac0e9aaa356a68a5688070db78fc3a464fefe85d2f06a1905ce3718687553", 202),
     PinnedFile("tokenizer.json", "e67e803f624fb4d67dea1c730d06e1067e1b14d830e2c2202569e3ef0f70bb50", 683_666),
     PinnedFile("model.safetensors", "f65d0f325faadc1e121c319e2faa41170d3fa07d8c89abd48ca5358d9a223de2",
                30_236_760)),
    "model2vec static embeddings distilled from bge-base-en-v1.5: 256-d, ~0.1 ms per caption, MIT licence")

FETCHABLE: dict[str, ModelSpec] = {POTION_BASE_8M.name: POTION_BASE_8M}
DEFAULT_MODEL = POTION_BASE_8M.name


def models_dir(data_dir: Path) -> Path:
    return data_dir / "insight" / "models"


def spec_named(name: str) -> ModelSpec:
    try:
        return FETCHABLE[name]
    except KeyError:
        raise InsightError(f"no fetchable model {name!r}; known: {', '.join(FETCHABLE)}. Any other model "
                           f"folder can be used by pointing [insight] model_dir at it") from None


def digest(path: Path) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            sha.update(block)
            size += len(block)
    return sha.hexdigest(), size


def check(directory: Path, spec: ModelSpec) -> list[str]:
    """What in ``directory`` does not match the pins; empty when it is the pinned model."""
    problems = []
    for pinned in spec.files:
        path = directory / pinned.name
        if not path.is_file():
            problems.append(f"{pinned.name} is missing")
            continue
        sha, size = digest(path)
        if (sha, size) != (pinned.sha256, pinned.size):
            problems.append(f"{pinned.name} has sha256 {sha[:16]}… ({size:,} bytes), "
                            f"pinned {pinned.sha256[:16]}… ({pinned.size:,} bytes)")
    return problems


@dataclass(frozen=True)
class Installed:
    path: Path
    bytes: int
    spec: ModelSpec


def install(spec: ModelSpec, destination_root: Path, source: Path | None = None,
            say: Callable[[str], None] = lambda _: None, endpoint: str | None = None) -> Installed:
    """Put ``spec`` into ``destination_root/<name>``, downloaded (from ``endpoint``, default the hub
    or $HF_ENDPOINT) or copied from ``source``, checked against its pins. Raises InsightError (and
    installs nothing) on any mismatch."""
    destination_root.mkdir(parents=True, exist_ok=True)
    final = destination_root / spec.name
    staging = destination_root / f".{spec.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        if source is not None:
            _copy(spec, Path(source).expanduser(), staging, say)
        else:
            _download(spec, staging, say, endpoint)
        problems = check(staging, spec)
        if problems:
            origin = str(source) if source is not None else f"{spec.repo}@{spec.revision[:12]}"
            raise InsightError(f"refused {spec.name} from {origin}: " + "; ".join(problems)
                               + ". Nothing was installed; fetch it again, or copy it from a machine "
                                 "where `panic-edge insight fetch` succeeded")
        shutil.rmtree(staging / ".cache", ignore_errors=True)  # huggingface_hub's bookkeeping
        (staging / MANIFEST).write_text(json.dumps(
            {"name": spec.name, "repo": spec.repo, "revision": spec.revision, "kind": spec.kind, "dim": spec.dim,
             "files": {f.name: f.sha256 for f in spec.files}}, indent=2) + "\n", encoding="utf-8")
        old = destination_root / f".{spec.name}.old-{os.getpid()}"
        if final.exists():
            final.rename(old)
        staging.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Installed(final, spec.size, spec)


def _copy(spec: ModelSpec, source: Path, staging: Path, say: Callable[[str], None]) -> None:
    if not source.is_dir():
        raise InsightError(f"--from {source}: no such folder")
    for pinned in spec.files:
        found = source / pinned.name
        if not found.is_file():
            raise InsightError(f"--from {source}: {pinned.name} is missing; the folder must hold "
                               f"{', '.join(f.name for f in spec.files)}")
        say(f"copying {pinned.name} ({pinned.size / 1e6:.1f} MB)")
        shutil.copyfile(found, staging / pinned.name)


def _download(spec: ModelSpec, staging: Path, say: Callable[[str], None], endpoint: str | None) -> None:
    try:
        from huggingface_hub import constants, hf_hub_download
    except ImportError:
        raise InsightError("downloading needs huggingface_hub: install panic-edge[insight], or copy the "
                           "model in with --from DIR") from None
    reachable(endpoint or constants.ENDPOINT)
    with _one_line_per_retry():
        for pinned in spec.files:
            say(f"downloading {pinned.name} ({pinned.size / 1e6:.1f} MB)")
            try:
                hf_hub_download(spec.repo, pinned.name, revision=spec.revision, local_dir=staging, endpoint=endpoint)
            except Exception as err:  # noqa: BLE001 - huggingface_hub's HTTP, offline, not-found and disk errors
                raise InsightError(f"could not download {pinned.name} of {spec.repo}: {type(err).__name__}: {err}. "
                                   f"No internet here? Fetch it on another machine and use --from DIR") from None


def reachable(url: str, timeout: float = 10.0) -> None:
    """Raise InsightError at once when ``url``'s host (or the proxy that reaches it) cannot be
    connected to at all (no name resolution, no route, refused): huggingface_hub would retry five
    times over ~23 s first, for a failure no retry mends."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        through = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = through.hostname or "", through.port or 80
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        raise InsightError(f"cannot reach the model hub at {host}:{port} ({err.strerror or err}). No internet "
                           f"here? Run `panic-edge insight fetch` on a machine that has it (with "
                           f"PANIC_EDGE_DATA_DIR=/tmp/m), copy /tmp/m/insight/models/<model> over and install "
                           f"it with --from DIR") from None


class _RetryLines(logging.Filter):
    """huggingface_hub says a retry in two records ("... thrown while requesting ...", then "Retrying
    in 2s [Retry 2/5]."): one line instead, the reason after the retry."""

    def __init__(self) -> None:
        super().__init__()
        self.why: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if " thrown while requesting " in message:
            self.why = message
            return False
        if message.startswith("Retrying in") and self.why:
            record.msg, record.args, self.why = f"{message} ({self.why})", (), None
        return True


@contextlib.contextmanager
def _one_line_per_retry() -> Iterator[None]:
    """While downloading: huggingface_hub's records once each (its own handler off: the CLI's
    logging prints them; with both, every line came twice), a retry in one line, and not a line
    per HTTP request (httpx's)."""
    library, http = logging.getLogger("huggingface_hub"), logging.getLogger("huggingface_hub.utils._http")
    requests = [logging.getLogger(name) for name in ("httpx", "httpx2")]  # huggingface_hub 1.x / 2.x
    handlers, levels, merge = library.handlers[:], [r.level for r in requests], _RetryLines()
    if logging.getLogger().handlers:
        library.handlers.clear()
    http.addFilter(merge)
    for r, level in zip(requests, levels):
        r.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        for r, level in zip(requests, levels):
            r.setLevel(level)
        http.removeFilter(merge)
        library.handlers[:] = handlers
