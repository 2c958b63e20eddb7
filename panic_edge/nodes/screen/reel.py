"""Playing the backup reel on a screen: a video file in a loop, decoded with PyAV frame by frame as
the clock reaches it, its sound streamed through pygame's mixer in short chunks (never the whole
track in memory). A reel that cannot be read is refused at start; one that breaks while playing
stops with a warning and the screen goes back to the live view (with its offline banner)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pygame

from panic_edge.errors import ConfigError

log = logging.getLogger("panic_edge.nodes.screen")

CHUNK_SECONDS = 0.5


class ReelPlayer:
    def __init__(self, path: Path) -> None:
        import av

        self.path = path
        try:
            with av.open(str(path)) as probe:
                if not probe.streams.video:
                    raise ConfigError(f"the reel {path} has no picture")
                self.duration = float(probe.duration or 0) / 1e6
                self.has_sound = bool(probe.streams.audio)
        except (OSError, av.FFmpegError) as err:
            raise ConfigError(f"cannot play the reel {path}: {err}; make one with `panic-edge record`") from None
        if self.duration <= 0:
            raise ConfigError(f"the reel {path} is empty; make one with `panic-edge record`")
        self.playing = False
        self.broken = False
        self._started = 0.0
        self._video: Any = None
        self._frames: Any = None
        self._next: Any = None
        self._picture: pygame.Surface | None = None
        self._sound: Any = None
        self._channel: pygame.mixer.Channel | None = None

    # --- start, stop ---------------------------------------------------------------------------

    def start(self, now: float) -> None:
        self.playing, self._started = True, now
        self._open()

    def stop(self) -> None:
        self.playing = False
        self._close()

    def _open(self) -> None:
        import av

        self._close()
        self._video = av.open(str(self.path))
        self._frames = self._video.decode(video=0)
        self._next, self._picture = None, None
        if self.has_sound and self._mixer():
            self._sound = _SoundStream(self.path)
            self._channel = None

    def _close(self) -> None:
        if self._channel is not None:
            self._channel.stop()
        self._channel = None
        for item in (self._video, self._sound):
            if item is not None:
                item.close()
        self._video = self._frames = self._sound = None

    @staticmethod
    def _mixer() -> bool:
        if pygame.mixer.get_init():
            return True
        try:
            pygame.mixer.init(frequency=48000, channels=1)
            return True
        except pygame.error as err:
            log.warning("the reel plays without sound: %s", err)
            return False

    # --- a frame -----------------------------------------------------------------------------

    def draw(self, surface: pygame.Surface, now: float) -> None:
        """Draw the frame due at ``now``; loops at the end. Never raises: a broken file stops it."""
        import av

        try:
            elapsed = now - self._started
            if elapsed >= self.duration:
                self._started += self.duration * (elapsed // self.duration)
                elapsed = now - self._started
                self._open()
            self._advance(elapsed)
            self._feed_sound()
        except (av.FFmpegError, OSError, ValueError, pygame.error) as err:  # cut short or damaged: back to live
            log.warning("the reel %s stopped: %s: %s", self.path, type(err).__name__, err)
            self.broken = True
            self.stop()
            return
        surface.fill((0, 0, 0))
        if self._picture is not None:
            picture = self._picture
            if picture.get_size() != surface.get_size():
                picture = pygame.transform.scale(picture, surface.get_size())
            surface.blit(picture, (0, 0))

    def _advance(self, elapsed: float) -> None:
        latest = None
        while True:
            if self._next is None:
                self._next = next(self._frames, None)
                if self._next is None:
                    break
            if self._next.time is not None and self._next.time > elapsed and (latest or self._picture):
                break
            latest, self._next = self._next, None
        if latest is not None:
            image = latest.to_image()
            self._picture = pygame.image.frombytes(image.tobytes(), image.size, "RGB")

    def _feed_sound(self) -> None:
        if self._sound is None:
            return
        if self._channel is None or not self._channel.get_busy():
            chunk = self._sound.next()
            if chunk is not None:
                self._channel = chunk.play()
        elif self._channel.get_queue() is None:
            chunk = self._sound.next()
            if chunk is not None:
                self._channel.queue(chunk)


class _SoundStream:
    """The reel's sound as short pygame Sounds in the mixer's own format, one after another."""

    def __init__(self, path: Path) -> None:
        import av

        frequency, _size, channels = pygame.mixer.get_init()
        self._container = av.open(str(path))
        self._frames = self._container.decode(audio=0)
        self._resampler = av.AudioResampler(format="s16", layout="stereo" if channels == 2 else "mono",
                                            rate=frequency)
        self._want = int(CHUNK_SECONDS * frequency) * 2 * channels
        self._buffer = bytearray()

    def next(self) -> pygame.mixer.Sound | None:
        while len(self._buffer) < self._want:
            frame = next(self._frames, None)
            if frame is None:
                break
            for block in self._resampler.resample(frame):
                self._buffer += bytes(block.planes[0])[: block.samples * block.layout.nb_channels * 2]
        if not self._buffer:
            return None
        chunk, self._buffer = bytes(self._buffer[: self._want]), self._buffer[self._want:]
        return pygame.mixer.Sound(buffer=chunk)

    def close(self) -> None:
        self._container.close()
