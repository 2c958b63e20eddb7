"""What a day of each SXSW network costs in disk: its archived files and its database rows.

    bench/run --only disk_per_day      the figures, as JSON
    python -m bench.disk               the table of docs/operations.md, as Markdown

All from the real code, per network file in config/networks:

- **the steps of a day**: the network's models (the catalogue's output types and typical_seconds)
  and its pacing (the network's own, or the default the runner gives its models), stepped through
  ``core.pacing.wait_before`` as the runner waits between one output and the next call. An
  *opening day* is OPEN_HOURS open with a visitor's press restarting the run every VISIT_EVERY
  seconds; the *worst case* is one run for 24 hours at full speed (pacing ``[[0, 0]]``, always open).
- **what one output costs in the archive**: a sample of what the model sends (bench.outputs) saved
  through ``Archive.save`` (pictures normalised as the archive keeps them; sounds kept as sent);
  the demo's local models make their real outputs.
- **what one step costs in the database**: a run of the network's steps written through the store's
  own write functions (``store/writes.py``), the file's growth per step. Rows are never pruned.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
from collections import Counter
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from bench.outputs import Picture, Sound, meta_of, picture_bytes, picture_of, sound_bytes, sound_of, text_of
from panic_edge.archive import Archive
from panic_edge.broker import LocalBroker
from panic_edge.config import ArchiveConfig, LocalModelsConfig, size_text
from panic_edge.core.catalogue import CATALOGUE
from panic_edge.core.invocation import Invocation, InvocationState, Run
from panic_edge.core.media import Content, MediaType
from panic_edge.core.model import Model
from panic_edge.core.network import Network
from panic_edge.core.pacing import Pacing, wait_before
from panic_edge.core.runner import RunnerState
from panic_edge.network_files import load_networks
from panic_edge.platforms.base import ModelInput
from panic_edge.platforms.local.client import MODELS as LOCAL_MODELS
from panic_edge.store import Store, writes

NETWORKS_DIR = Path(__file__).resolve().parent.parent / "config" / "networks"
OPEN_HOURS = 8.0
VISIT_EVERY = 30 * 60.0  # a visitor's press restarts the run
DAY = 24 * 3600.0
FULL_SPEED: Pacing = ((0.0, 0.0),)
DEFAULT_MAX_BYTES = ArchiveConfig().max_bytes or 0
LOCAL_SECONDS = LocalModelsConfig().latency  # what every local model takes (local_models.latency)


def seconds_of(model: Model) -> float:
    """One call's time: the catalogue's typical_seconds (a local model: local_models.latency)."""
    return LOCAL_SECONDS if model.is_local else model.hints.typical_seconds


def run_outputs(network: Network, models: Mapping[str, Model], pacing: Pacing, length: float) -> Counter[str]:
    """The outputs (per model) one run of ``network`` completes in ``length`` seconds, waiting
    before each call as the runner does. A call still in flight at the end is cancelled."""
    done: Counter[str] = Counter()
    now, sequence, finished = 0.0, 0, None
    while True:
        upcoming = network.model_at(sequence)
        now += wait_before(sequence, now, pacing, models, finished, upcoming)
        ends = now + seconds_of(models[upcoming])
        if ends > length:
            return done
        done[upcoming] += 1
        now, finished, sequence = ends, upcoming, sequence + 1


def day_outputs(network: Network, models: Mapping[str, Model], pacing: Pacing, hours: float,
                restart_every: float | None) -> Counter[str]:
    """The outputs of ``hours`` open, a new run every ``restart_every`` seconds (None: one run)."""
    total, left = Counter[str](), hours * 3600
    while left > 0:
        length = min(left, restart_every or left)
        total += run_outputs(network, models, pacing, length)
        left -= length
    return total


def archived_sizes(network: Network, models: Mapping[str, Model], root: Path,
                   cache: dict[Picture | Sound, tuple[int, int, str]]) -> dict[str, dict[str, Any]]:
    """Per model of ``network`` that makes a file: the bytes it sends, the bytes the archive keeps
    and as what. Local models run for real, twice round the cycle; the others send a sample."""
    archive = Archive(root)
    local: dict[str, list[tuple[int, int, str]]] = {}
    if all(models[m].is_local for m in network.models):
        given = ModelInput(MediaType.TEXT, text=network.prompts[0])
        for sequence in range(2 * len(network.models)):
            model = models[network.model_at(sequence)]
            out = LOCAL_MODELS[model.id](given)
            if out.data is None:
                given = ModelInput(MediaType.TEXT, text=out.text)
                continue
            content = archive.save(network.slug, f"{model.id}.{sequence}", out.data, model.output)
            assert content.file is not None and content.mime is not None
            local.setdefault(model.id, []).append((len(out.data), archive.path(content.file).stat().st_size,
                                                   content.mime))
            given = ModelInput(model.output, data=out.data, mime=content.mime, file=content.file)
    sizes: dict[str, dict[str, Any]] = {}
    for model_id in dict.fromkeys(network.models):
        model = models[model_id]
        if model.output is MediaType.TEXT:
            continue
        if model_id in local:
            made = local[model_id]
            sent, kept = sum(m[0] for m in made) // len(made), sum(m[1] for m in made) // len(made)
            sizes[model_id] = {"sends": f"the model's own {made[0][2].split('/')[1].upper()}",
                               "sent_bytes": sent, "archived_bytes": kept, "archived_as": made[0][2]}
            continue
        shape = picture_of(model) if model.output is MediaType.IMAGE else sound_of(model)
        if shape not in cache:
            data = picture_bytes(shape) if isinstance(shape, Picture) else sound_bytes(shape)
            content = archive.save(network.slug, f"sample-{len(cache)}", data, model.output)
            assert content.file is not None and content.mime is not None
            cache[shape] = (len(data), archive.path(content.file).stat().st_size, content.mime)
        sent, kept, mime = cache[shape]
        sizes[model_id] = {"sends": _shape_text(shape), "sent_bytes": sent, "archived_bytes": kept,
                           "archived_as": mime}
    return sizes


def _shape_text(shape: Picture | Sound) -> str:
    if isinstance(shape, Picture):
        return f"{'WebP' if shape.format == 'WEBP' else shape.format} {shape.size[0]}x{shape.size[1]}"
    return f"WAV {shape.rate / 1000:g} kHz {'mono' if shape.channels == 1 else 'stereo'}, {shape.seconds:g} s"


def _write_steps(conn: sqlite3.Connection, network: Network, models: Mapping[str, Model], steps: int) -> None:
    """``steps`` completed invocations of one run of ``network``, through the store's writes."""
    run_id = f"disk-{network.slug}"
    writes.begin_run(conn, Run(run_id, network.slug, network.prompts[0], 1.8e9))
    given = Content.of_text(network.prompts[0])
    for sequence in range(steps):
        model = models[network.model_at(sequence)]
        at = 1.8e9 + sequence * 10.0
        inv = Invocation(f"{run_id}.{sequence}", run_id, network.slug, sequence, model.id,
                         InvocationState.INVOKING, given, model.output, created_at=at, started_at=at)
        writes.add_invocation(conn, inv)
        if model.output is MediaType.TEXT:
            output = Content.of_text(text_of(sequence))
        else:
            ext, mime = ("jpg", "image/jpeg") if model.output is MediaType.IMAGE else ("wav", "audio/wav")
            output = Content(model.output, file=f"{network.slug}/{inv.id}.{ext}", mime=mime)
        writes.complete(conn, inv.id, output, at + seconds_of(model), meta_of(model, seconds_of(model)))
        given = output


async def db_bytes_per_step(network: Network, models: Mapping[str, Model], folder: Path, steps: int) -> float:
    """The database's growth per completed step of ``network`` (rows, indexes, the run's totals)."""
    path = folder / f"{network.slug}.sqlite3"
    async with Store.open(path) as store:
        await store.write(lambda conn: None)
    empty = _checkpointed_size(path)
    async with Store.open(path) as store:
        await store.write(partial(_write_steps, network=network, models=models, steps=steps))
    return (_checkpointed_size(path) - empty) / steps


def _checkpointed_size(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return path.stat().st_size


def _day(counts: Counter[str], sizes: Mapping[str, Mapping[str, Any]], db_per_step: float) -> dict[str, Any]:
    steps = sum(counts.values())
    files = sum(n for m, n in counts.items() if m in sizes)
    archive = sum(n * sizes[m]["archived_bytes"] for m, n in counts.items() if m in sizes)
    return {"steps": steps, "files": files, "archive_bytes": archive, "db_bytes": round(steps * db_per_step),
            "by_model": dict(counts)}


async def measure(quick: bool = False, directory: Path = NETWORKS_DIR) -> dict[str, Any]:
    loaded = load_networks(directory, CATALOGUE)
    if loaded.problems:
        raise RuntimeError(f"the networks in {directory} do not all load: {loaded.problems}")
    cache: dict[Picture | Sound, tuple[int, int, str]] = {}
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="panic-bench-disk-") as scratch:
        for slug, network in sorted(loaded.networks.items()):
            if slug == "demo" and network.source == "":
                continue  # the built-in demo: its file in the folder is measured instead
            pacing = RunnerState(network, models=CATALOGUE).pacing
            sizes = archived_sizes(network, CATALOGUE, Path(scratch) / "archive", cache)
            per_step = await db_bytes_per_step(network, CATALOGUE, Path(scratch), 300 if quick else 3000)
            opening = _day(day_outputs(network, CATALOGUE, pacing, OPEN_HOURS, VISIT_EVERY), sizes, per_step)
            worst = _day(day_outputs(network, CATALOGUE, FULL_SPEED, 24.0, None), sizes, per_step)
            out[slug] = {"name": network.name, "models": list(network.models),
                         "pacing": [list(step) for step in pacing], "outputs": sizes,
                         "db_bytes_per_step": round(per_step), "opening_day": opening, "worst_case": worst,
                         "days_in_default_archive": (round(DEFAULT_MAX_BYTES / opening["archive_bytes"], 1)
                                                     if opening["archive_bytes"] else None)}
    return out


async def run(broker: LocalBroker, work: Path, quick: bool) -> dict[str, Any]:
    return {"what": "disk per day of each network file in config/networks: an opening day "
                    f"({OPEN_HOURS:g} h, a press restarting the run every {VISIT_EVERY / 60:g} min, the "
                    "network's pacing) and the worst case (one run, 24 h, no pacing); files through "
                    "Archive.save, rows through the store's writes",
            "default_max_bytes": DEFAULT_MAX_BYTES, "networks": await measure(quick)}


def _size(n: float) -> str:
    """In the binary units `panic-edge archive` and df show (and the 8 GiB limit is in)."""
    return size_text(n)


def _files(outputs: Mapping[str, Mapping[str, Any]]) -> str:
    """"`flux-schnell`, `flux-dev`: 217 kB JPEG (sent as WEBP 1024x1024, 173 kB)": models that keep the same."""
    groups: dict[str, list[str]] = {}
    for model_id, o in outputs.items():
        kept = f"{_size(o['archived_bytes'])} {o['archived_as'].split('/')[1].upper()}"
        how = (f"kept as sent: {o['sends']}" if o["sent_bytes"] == o["archived_bytes"]
               else f"sent as {o['sends']}, {_size(o['sent_bytes'])}")
        groups.setdefault(f"{kept} ({how})", []).append(f"`{model_id}`")
    return "; ".join(f"{', '.join(models)}: {what}" for what, models in groups.items()) or "none: text only"


def table(networks: Mapping[str, Mapping[str, Any]]) -> str:
    """The Markdown table of docs/operations.md."""
    lines = [("| network | each archived file | opening day: steps, files | archive a day | database a day | "
              "worst case, 24 h at full speed: steps, archive | the default 8 GiB holds |"),
             "|---|---|---|---|---|---|---|"]
    for slug, n in networks.items():
        o, w = n["opening_day"], n["worst_case"]
        days = n["days_in_default_archive"]
        lines.append(f"| `{slug}` | {_files(n['outputs'])} | {o['steps']:,}, {o['files']:,} | "
                     f"**{_size(o['archive_bytes'])}** | {_size(o['db_bytes'])} | {w['steps']:,}, "
                     f"{_size(w['archive_bytes'])} | {f'{days:,.0f} opening days' if days else 'no limit needed'} |")
    return "\n".join(lines)


def main() -> int:
    print(table(asyncio.run(measure())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
