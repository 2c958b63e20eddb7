"""Screen node: decode and show a 1024x1024 webp; re-layout a 4x4 grid; RSS of a real screen node.

In-process, with SDL's dummy video driver and the screen node's own code: ``decode_image`` (the
media path a fetched output takes), ``NodeState``/``View`` and ``render(surface, view, media)``
onto a 1920x1080 surface. Frames are drawn into memory; flipping to a real display (KMS/DRM on a
Pi) is not in these figures.

- *decode and show*: a 1024x1024 webp decoded, put in a fresh media cache and one frame rendered
  (a single cell: scaling to the cell is part of it, as it is for the first frame of a new picture).
- *re-layout 4x4*: a grid of 16 invocations (half text, half 1024x1024 pictures already decoded)
  takes a new invocation, so every cell moves one place; one frame rendered from the new view.
- *node RSS* (``node_rss``, reported under footprint): a real ``panic-edge display --grid 4x4``
  process with the dummy driver, idle after start.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import latency_stats, mib, rss_kib, stop_process
from panic_edge.broker import LocalBroker

SIZE = (1920, 1080)
TEXT = ("**A camel in the desert**, crossing dunes of sandy gold under a silver moon; "
        "the wind writes slow lines in the sand and erases them again.")


def _webp(side: int = 1024) -> bytes:
    """A photo-like 1024x1024 webp: a gradient with noise (a flat colour would decode unrealistically fast)."""
    from PIL import Image

    gradient = Image.linear_gradient("L").resize((side, side))
    noise = Image.effect_noise((side, side), 64)
    img = Image.merge("RGB", (gradient, noise, gradient.rotate(90)))
    out = io.BytesIO()
    img.save(out, "WEBP", quality=80)
    return out.getvalue()


def _message(sequence: int, output_type: str, output: str) -> dict[str, Any]:
    at = 1000.0 + sequence
    return {"id": f"r1.{sequence}", "run_id": "r1", "network": "bench", "sequence": sequence,
            "model": "bench-painter", "model_name": "Bench Painter", "state": "completed",
            "input_type": "text", "output_type": output_type, "input": "a camel", "output": output,
            "output_mime": "image/webp" if output_type == "image" else None, "flags": [], "error": None,
            "created_at": at, "started_at": at, "finished_at": at + 0.5, "meta": {}}


def _measure(repeats: int) -> dict[str, Any]:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # stdout carries the JSON document
    import pygame

    from panic_edge.nodes.feed import Grid, Single
    from panic_edge.nodes.messages import Appliance, Connection, parse_invocation
    from panic_edge.nodes.screen.media import Loaded, MediaCache, decode_image
    from panic_edge.nodes.screen.render import render
    from panic_edge.nodes.screen.text import font
    from panic_edge.nodes.view import NodeState

    data = _webp()
    pygame.display.init()
    pygame.font.init()
    try:
        surface = pygame.Surface(SIZE)

        # decode and show: one picture, a fresh cache each time (no scaled copy to reuse)
        single = NodeState("bench", Single())
        for event in (Connection(True), Appliance(True)):
            single.apply(event, 0.0)
        single.apply(parse_invocation(_message(1, "image", "http://x/media/1.webp")), 0.0)
        show: list[float] = []
        decode: list[float] = []
        for i in range(repeats + 2):
            began = time.perf_counter()
            media = MediaCache()
            media.put("http://x/media/1.webp", Loaded(image=decode_image(data)))
            decoded = time.perf_counter()
            render(surface, single.view(2000.0), media)
            if i >= 2:  # the first frames warm fonts and placeholders
                show.append(time.perf_counter() - began)
                decode.append(decoded - began)

        # re-layout: 16 cells, a new invocation shifts each one place
        grid = NodeState("bench", Grid(4, 4))
        for event in (Connection(True), Appliance(True)):
            grid.apply(event, 0.0)
        media = MediaCache()
        picture = decode_image(data)
        relayout: list[float] = []
        for sequence in range(1, 17 + repeats + 2):
            url = f"http://x/media/{sequence}.webp"
            kind = "image" if sequence % 2 else "text"
            if kind == "image":
                media.put(url, Loaded(image=picture))
            began = time.perf_counter()
            grid.apply(parse_invocation(_message(sequence, kind, url if kind == "image" else TEXT)), 2000.0)
            render(surface, grid.view(2000.0), media)
            if sequence > 18:  # the grid is full and the fonts are warm
                relayout.append(time.perf_counter() - began)
    finally:
        font.cache_clear()
        pygame.quit()
    return {"webp_bytes": len(data), "show": show, "decode": decode, "relayout": relayout}


def node_rss(broker: LocalBroker, work: Path, settle: float, mode: tuple[str, ...] = ("--grid", "4x4")) -> dict[str, Any]:
    """RSS of a real ``panic-edge display --grid 4x4`` (or ``mode``; dummy SDL driver), idle ``settle`` s
    after start."""
    script = Path(sys.executable).parent / "panic-edge"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "panic_edge"]
    home = work / ("screen-node" if mode == ("--grid", "4x4") else f"screen-node-{mode[-1].strip('-')}")
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy",
           "PANIC_EDGE_DATA_DIR": str(home), "PANIC_EDGE_MQTT_URL": broker.url,
           "PANIC_EDGE_APPLIANCE_ID": f"bench-screen-{os.getpid()}", "PANIC_EDGE_HTTP_PORT": "9"}
    env.pop("PANIC_EDGE_CONFIG", None)
    with open(home / "display.log", "wb") as log:
        process = subprocess.Popen(
            [*command, "display", "--network", "bench", *mode, "--windowed", "--size", "1920x1080",
             "--node-id", f"bench-screen-{os.getpid()}"], env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT)
        try:
            time.sleep(settle)
            if process.poll() is not None:
                raise RuntimeError(f"the screen node exited with {process.returncode}; see {home / 'display.log'}")
            rss = rss_kib(process.pid)
        finally:
            stop_process(process)
    return {"what": f"a real `panic-edge display {' '.join(mode)}` (SDL dummy driver, 1920x1080, 20 fps), "
                    f"idle {settle:g} s after start", "rss_mib": mib(rss)}


def run(broker: LocalBroker, work: Path, quick: bool) -> dict[str, Any]:
    figures = _measure(10 if quick else 200)
    return {
        "what": f"the screen node's own code in-process (decode_image, NodeState, render) onto a "
                f"{SIZE[0]}x{SIZE[1]} surface, SDL dummy video driver; no display flip",
        "webp_bytes": figures["webp_bytes"],
        "decode_and_show_webp_1024": {
            "what": "decode a 1024x1024 webp (Pillow) and render one frame showing it (scaled to the cell)",
            **latency_stats(figures["show"]),
            "of_which_decode": latency_stats(figures["decode"])},
        "relayout_grid_4x4": {
            "what": "a new invocation shifts 16 cells (8 text, 8 decoded pictures); one frame rendered",
            **latency_stats(figures["relayout"])},
    }
