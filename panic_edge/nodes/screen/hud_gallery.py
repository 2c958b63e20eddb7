"""The HUD screenshots in docs/screenshots/, drawn from made-up insight messages.

``python -m panic_edge.nodes.screen.hud_gallery [FOLDER]`` (SDL's dummy video driver is enough).
The path is a made-up walk that wanders off from the prompt, comes back near an earlier point
(a LOOP) and, in the second picture, settles (STUCK): the shapes a real run takes.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pygame

from panic_edge.core.insight import HopSteps, Insight, PathPoint, Persistence
from panic_edge.nodes.hud import HudState, HudView
from panic_edge.nodes.screen.hud import render_hud, render_with_hud

NOW = 1_764_140_000.0
HOPS = ("local-poet", "local-voice>local-listener", "local-painter>local-captioner")
NAMES = {"local-poet": "Drift Poet", "local-voice>local-listener": "Robot Voice \u2192 Tone Listener",
         "local-painter>local-captioner": "Pixel Painter \u2192 Colour Captioner"}


PROMPT = (0.1, -0.2)


def walk(n: int, settle: bool = False) -> list[PathPoint]:
    """A path that leaves the prompt in a wide arc and comes back near an earlier idea; with
    ``settle`` its last steps barely move. Drift is the distance from the prompt."""
    xy = []
    for i in range(n):
        t = i / max(1, n - 1)
        angle = -1.2 + 4.6 * t
        r = 0.35 + 0.75 * math.sin(math.pi * min(1.0, t * 0.9))
        xy.append((PROMPT[0] + r * math.cos(angle) + 0.05 * math.sin(3 * i), PROMPT[1] + 0.9 * r * math.sin(angle)))
    if settle:
        anchor = xy[n - 6]
        xy[n - 5:] = [(anchor[0] + 0.02 * k, anchor[1] - 0.015 * k) for k in range(1, 6)]
    else:
        xy[-1] = (xy[n - 9][0] + 0.04, xy[n - 9][1] - 0.03)  # back near an idea from eight steps ago
    return [PathPoint(2 * i + 2, HOPS[i % 3], x, y, round(min(1.4, 1.1 * math.dist((x, y), PROMPT)), 3))
            for i, (x, y) in enumerate(xy)]


def insight(n: int = 28, settle: bool = False) -> Insight:
    path = walk(n, settle)
    last = path[-1]
    recurrence = tuple(round(min(1.4, math.dist((p.x, p.y), (last.x, last.y)) * 1.1), 3) for p in path[:-1])
    nearest = min(range(len(path) - 2), key=lambda k: recurrence[k])
    h0 = ((0.0, None), *((0.0, round(0.12 + 0.035 * k, 3)) for k in range(14)))
    h1 = ((0.62, 1.18), (0.71, 0.83), (0.9, 0.97))
    step = round(math.dist((path[-2].x, path[-2].y), (last.x, last.y)) * 1.1, 3)
    return Insight(run_id="g", network="demo", sequence=last.sequence, invocation_id="g.x", model="local-captioner",
                   embedding_model="potion-base-8M", drift=last.drift, step=step, point=(last.x, last.y),
                   flags=("stuck",) if settle else ("loop",),
                   loop_period=None if settle else last.sequence - path[nearest].sequence,
                   nearest_sequence=path[nearest].sequence, nearest_distance=recurrence[nearest],
                   recurrence=recurrence, hop=last.hop,
                   hops=(HopSteps(HOPS[2], NAMES[HOPS[2]], 0.71, 9), HopSteps(HOPS[1], NAMES[HOPS[1]], 0.52, 9),
                         HopSteps(HOPS[0], NAMES[HOPS[0]], 0.23, 10)),
                   path=tuple(path), prompt_point=PROMPT, persistence=Persistence(n, h0, h1), created_at=NOW)


def pages() -> dict[str, tuple[HudView, tuple[int, int]]]:
    state = HudState("demo")
    state.apply(insight())
    looping = state.view(NOW, "Demo (local models)")
    state.apply(replace(insight(30, settle=True), created_at=NOW + 60))
    stuck = state.view(NOW + 60, "Demo (local models)")
    waiting = HudState("demo").view(NOW, "Demo (local models)")
    return {"hud": (looping, (1280, 720)), "hud-stuck": (stuck, (1280, 720)), "hud-waiting": (waiting, (1280, 720))}


def grid_with_hud(folder: Path) -> None:
    """``--grid 2x2 --hud``: the grid on the left, the HUD panel on the right."""
    from panic_edge.nodes.screen.gallery import views

    media, grid_pages = views()
    view, _ = grid_pages["grid-3x3"]
    surface = pygame.Surface((1920, 1080))
    state = HudState("demo")
    state.apply(insight())
    render_with_hud(surface, replace(view, rows=2, cols=2, cells=view.cells[1:5]), state, media,
                    grid=True)
    pygame.image.save(surface, str(folder / "grid-hud.png"))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0] if args else "docs/screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    pygame.init()
    pygame.display.set_mode((1, 1))
    shots = pages()
    for name, (view, size) in shots.items():
        surface = pygame.Surface(size)
        render_hud(surface, surface.get_rect(), view)
        pygame.image.save(surface, str(folder / f"{name}.png"))
    grid_with_hud(folder)
    print(f"wrote {len(shots) + 1} HUD screenshots to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
