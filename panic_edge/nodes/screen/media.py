"""Output files for the screen: fetched once from the daemon's media URL, decoded, kept.

Only URLs under the appliance's ``media_base`` are fetched, bounded in bytes and time
(panic_edge.nodes.fetch). Images are decoded with Pillow through panic_edge.images: the size is
read from the header and an image over ``max_pixels`` is never decoded; it is decoded no larger
than the screen (``max_side``). Audio becomes a waveform (peaks per column),
read from WAV with the standard library or, for ogg/mp3/flac, through pygame's mixer when it can
start. The renderer asks with ``get(url)``; what it asked for and is missing is fetched by the
app loop (``fetch_wanted``), never during a frame.
"""

from __future__ import annotations

import array
import asyncio
import io
import logging
import sys
import wave
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pygame

from panic_edge import images
from panic_edge.errors import MediaGone
from panic_edge.nodes.fetch import FETCH_DEADLINE, MAX_MEDIA_BYTES, fetch_media

log = logging.getLogger("panic_edge.nodes.screen")

PEAKS = 240


@dataclass(frozen=True)
class Loaded:
    image: pygame.Surface | None = None
    peaks: tuple[float, ...] | None = None
    seconds: float | None = None
    error: str | None = None
    gone: bool = False  # retention pruned the file (410): the calm pruned card, not an error


def decode_image(data: bytes, max_pixels: int = images.ImageLimits.max_pixels,
                 max_side: int | None = None) -> pygame.Surface:
    """A surface of the image in ``data``; ImageError if it has more than ``max_pixels``."""
    rgb = images.decode(data, max_pixels, max_side).convert("RGB")
    return pygame.image.frombytes(rgb.tobytes(), rgb.size, "RGB")


def peaks_of(samples: array.array[int], columns: int = PEAKS) -> tuple[float, ...]:
    """The loudest absolute sample in each of ``columns`` slices, scaled to 0..1 (pure)."""
    if not samples:
        return (0.0,) * columns
    full = float(max(1, abs(min(samples)), abs(max(samples))))
    step = max(1, len(samples) // columns)
    out = []
    for c in range(columns):
        chunk = samples[c * step:(c + 1) * step]
        out.append(max((abs(s) for s in chunk), default=0) / full)
    return tuple(out)


def decode_audio(data: bytes) -> tuple[tuple[float, ...], float]:
    """(peaks, seconds). WAV is read directly; other formats through pygame's mixer."""
    if data[:4] == b"RIFF":
        with wave.open(io.BytesIO(data)) as w:
            width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            frames = w.readframes(w.getnframes())
            seconds = w.getnframes() / float(rate or 1)
        if width == 2:
            samples = array.array("h", frames)
            if sys.byteorder == "big":
                samples.byteswap()
        elif width == 1:
            samples = array.array("h", (b - 128 for b in frames))
        else:
            raise ValueError(f"{width * 8}-bit WAV is not supported for the waveform")
        return peaks_of(samples[::channels]), seconds
    if not pygame.mixer.get_init():
        pygame.mixer.init()
    sound = pygame.mixer.Sound(file=io.BytesIO(data))
    raw = array.array("h", sound.get_raw())
    channels = pygame.mixer.get_init()[2]
    return peaks_of(raw[::channels]), sound.get_length()


class MediaCache:
    """url -> Loaded, least recently used out first; each url fetched once (failures too).

    ``media_base()`` names the appliance's media server; while it gives None nothing is fetched.
    """

    def __init__(self, capacity: int = 96, *, media_base: Callable[[], str | None] = lambda: None,
                 max_pixels: int = images.ImageLimits.max_pixels, max_side: int | None = None,
                 max_bytes: int = MAX_MEDIA_BYTES, deadline: float = FETCH_DEADLINE) -> None:
        self.capacity = capacity
        self.media_base = media_base
        self.max_pixels, self.max_side = max_pixels, max_side
        self.max_bytes, self.deadline = max_bytes, deadline
        self._items: OrderedDict[str, Loaded] = OrderedDict()
        self._scaled: OrderedDict[tuple[str, int, int], pygame.Surface] = OrderedDict()
        self._wanted: dict[str, str] = {}  # url -> output_type
        self._fetching: set[str] = set()
        self.fetches = 0

    def get(self, url: str, kind: str) -> Loaded | None:
        item = self._items.get(url)
        if item is None:
            if url not in self._fetching:
                self._wanted[url] = kind
            return None
        self._items.move_to_end(url)
        return item

    def put(self, url: str, item: Loaded) -> None:
        self._items[url] = item
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def scaled(self, url: str, image: pygame.Surface, size: tuple[int, int]) -> pygame.Surface:
        """``image`` scaled to fit ``size`` keeping its shape, cached per size."""
        iw, ih = image.get_size()
        k = min(size[0] / iw, size[1] / ih)
        target = (max(1, int(iw * k)), max(1, int(ih * k)))
        key = (url, *target)
        if key not in self._scaled:
            self._scaled[key] = pygame.transform.smoothscale(image, target)
            while len(self._scaled) > 2 * self.capacity:
                self._scaled.popitem(last=False)
        return self._scaled[key]

    async def fetch_wanted(self, client: httpx.AsyncClient) -> bool:
        """Fetch what frames asked for; True if anything new arrived."""
        wanted, self._wanted = self._wanted, {}
        if not wanted:
            return False
        self._fetching.update(wanted)
        results = await asyncio.gather(*(self._fetch(client, u, k) for u, k in wanted.items()))
        for url, item in zip(wanted, results):
            self.put(url, item)
            self._fetching.discard(url)
        return True

    async def _fetch(self, client: httpx.AsyncClient, url: str, kind: str) -> Loaded:
        self.fetches += 1
        try:
            data = await fetch_media(client, url, self.media_base(), self.max_bytes, self.deadline)
            if kind == "image":
                image = await asyncio.to_thread(decode_image, data, self.max_pixels, self.max_side)
                return Loaded(image=image)
            peaks, seconds = await asyncio.to_thread(decode_audio, data)
            return Loaded(peaks=peaks, seconds=seconds)
        except MediaGone:  # pruned after the screen heard of it (or before its row was marked)
            return Loaded(gone=True)
        except Exception as err:  # noqa: BLE001 -- a bad file or an unreachable daemon: a placeholder, not a crash
            log.warning("could not show %.200r: %s: %.200s", url, type(err).__name__, err)
            return Loaded(error=f"{type(err).__name__}: {err}"[:200])
