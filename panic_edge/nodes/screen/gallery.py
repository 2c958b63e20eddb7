"""The screenshots in docs/screenshots/: each screen mode drawn from a made-up View.

``python -m panic_edge.nodes.screen.gallery [FOLDER]`` (SDL's dummy video driver is enough).
The pictures and sounds come from the local models, so the gallery needs no network.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pygame

from panic_edge.nodes.feed import Feed, Grid
from panic_edge.nodes.gate import BUDGET_WORDS
from panic_edge.nodes.messages import Shown
from panic_edge.nodes.screen.media import Loaded, MediaCache, decode_audio, decode_image
from panic_edge.nodes.screen.render import render
from panic_edge.nodes.view import View
from panic_edge.platforms.local import pictures, sounds

NOW = 1_764_140_000.0
TEXT = ("**A silver desert** hums beside a neon sky,\nwhere a camel counts the *slow* constellations.\n\n"
        "The dunes remember every footstep:\n\n- the wind's long signature\n- a lantern's `amber` glow")


def _shown(seq: int, output_type: str, output: str | None, *, state: str = "completed",
           model: str = "Drift Poet (local)", flags: tuple[str, ...] = (), error: str | None = None) -> Shown:
    return Shown(id=f"g.{seq}", run_id="g", network="demo", sequence=seq, model="m", model_name=model,
                 state=state, input_type="text", output_type=output_type, input="", output=output,
                 flags=flags, error=error, created_at=NOW - 100 + seq, started_at=NOW - 23 if state ==
                 "invoking" else NOW - 100 + seq, finished_at=None if state == "invoking" else NOW - 99 + seq)


def samples(media: MediaCache) -> dict[str, Shown]:
    prompts = ["a camel in the desert at night", "a lighthouse in a storm", "red bicycle cherry blossom"]
    for n, prompt in enumerate(prompts):
        media.put(f"img{n}", Loaded(image=decode_image(pictures.paint(prompt))))
    peaks, seconds = decode_audio(sounds.tones("a bright picture of sandy gold and silver"))
    media.put("snd", Loaded(peaks=peaks, seconds=seconds))
    return {
        "text": _shown(8, "text", TEXT),
        "image": _shown(9, "image", "img0", model="Pixel Painter (local)"),
        "audio": _shown(10, "audio", "snd", model="Robot Voice (local)"),
        "waiting": _shown(11, "image", None, state="invoking", model="FLUX.1 [schnell]"),
        "nsfw": _shown(12, "image", "img1", model="Stable Diffusion XL", flags=("nsfw",)),
        "failed": _shown(13, "text", None, state="failed", model="Llama 3 8B Instruct",
                         error="replicate: the model timed out after 60 s"),
        "image2": _shown(7, "image", "img1", model="Pixel Painter (local)"),
        "image3": _shown(5, "image", "img2", model="Pixel Painter (local)"),
        "caption": _shown(6, "text", "A bright picture of sunflower yellow and ocean blue, busy at the "
                          "centre.", model="Colour Captioner (local)"),
        "paced": _shown(14, "image", None, state="ready", model="FLUX.1 [dev]"),
        "pruned": _shown(2, "image", "img0", model="Pixel Painter (local)", flags=("pruned",)),
    }


def views() -> tuple[MediaCache, dict[str, tuple[View, tuple[int, int]]]]:
    media = MediaCache()
    s = samples(media)
    base = View(network="demo", network_name="Demo (local models)", rows=1, cols=1, cells=(), now=NOW,
                appliance_online=True, broker_online=True, running=True)
    one = (1280, 720)
    grid_cells = (s["waiting"], s["audio"], s["image"], s["text"], s["image2"], s["caption"], s["image3"],
                  s["nsfw"], s["failed"])
    pages = {
        "single-text": (replace(base, cells=(s["text"],)), one),
        "single-image": (replace(base, cells=(s["image"],)), one),
        "single-audio": (replace(base, cells=(s["audio"],)), one),
        "single-waiting": (replace(base, cells=(s["waiting"],)), one),
        "single-nsfw": (replace(base, cells=(s["nsfw"],)), one),
        "single-failed": (replace(base, cells=(s["failed"],)), one),
        "grid-3x3": (replace(base, rows=3, cols=3, cells=grid_cells), (1920, 1080)),
        "grid-offline": (replace(base, rows=3, cols=3, cells=grid_cells, appliance_online=False), (1920, 1080)),
        "broker-offline": (replace(base, cells=(s["image"],), broker_online=False), one),
        "attract": (replace(base, rows=2, cols=2, running=False, cells=grid_cells[1:5],
                            about_url="https://panic.example.org/networks/demo"), (1920, 1080)),
        "terminal": (replace(base, cells=(s["image"],), terminal=True, prompt="a camel in the desert"), one),
        "terminal-locked": (replace(base, cells=(s["waiting"],), terminal=True, notice="locked",
                                    notice_until=NOW + 42), one),
    }
    pages["grid-by-sequence"] = (replace(base, rows=2, cols=3, cells=by_sequence(s)), (1920, 1080))
    pages["screen-waiting"] = (replace(base, cells=(None,), running=False, problem=(
        "waiting for the appliance to describe screen lobby-left")), one)
    pages["single-paced"] = (replace(base, cells=(s["paced"],), next_invocation_at=NOW + 487), one)
    pages["single-text-paced"] = (replace(base, cells=(s["text"],), next_invocation_at=NOW + 14), one)
    pages["single-pruned"] = (replace(base, cells=(s["pruned"],)), one)
    pages["closed"] = (replace(base, rows=2, cols=2, running=False, cells=grid_cells[1:5],
                               closed="opens Fri 10:00"), (1920, 1080))
    pages["budget-spent"] = (replace(base, rows=2, cols=2, running=False, cells=grid_cells[1:5],
                                     budget=BUDGET_WORDS), (1920, 1080))
    pages["grid-budget"] = (replace(base, rows=2, cols=2, cells=(s["paced"], *grid_cells[2:5]),
                                    pause="today's budget is spent: the run goes on after midnight"),
                            (1920, 1080))
    return media, pages


def by_sequence(s: dict[str, Shown]) -> tuple[Shown | None, ...]:
    """``--grid 2x3 --grid-order sequence`` nine steps into a run, by the real rule: steps 6 to 8
    have overwritten slots 0 to 2, and step 8 is still being made."""
    kinds = [s["caption"], s["image"], s["text"], s["image2"], s["caption"], s["image3"], s["image"],
             s["text"], s["waiting"]]
    feed = Feed("demo")
    for seq, like in enumerate(kinds):
        feed.apply(replace(like, id=f"g.{seq}", sequence=seq, created_at=NOW - 100 + seq))
    return Grid(2, 3, "sequence").select(feed)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0] if args else "docs/screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    pygame.init()
    pygame.display.set_mode((1, 1))
    media, pages = views()
    for name, (view, size) in pages.items():
        surface = pygame.Surface(size)
        render(surface, view, media)
        pygame.image.save(surface, str(folder / f"{name}.png"))
    print(f"wrote {len(pages)} screenshots to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
