"""``panic-edge record``: the backup reel. A run (or the last hours of a network) drawn by the screen
node's own renderer, one step every ``seconds_per_step``, into a video file with its sound.

The invocations come from the database (read-only, safe while the daemon runs) and their files
from the archive; each step goes through the same ``NodeState`` -> ``View`` -> ``render`` path a
screen uses, so the reel looks like the installation. An audio output plays from the start of its
step and is cut at its end; the other steps are silent. MP4 is H.264 + AAC, WebM is VP9 + Opus,
both through PyAV (FFmpeg). A display node plays the file with ``--reel`` when the daemon is away.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from panic_edge.core.catalogue import label_of
from panic_edge.core.invocation import Invocation, InvocationState, invocation_message
from panic_edge.errors import ConfigError
from panic_edge.nodes.feed import Selection
from panic_edge.nodes.messages import Shown, parse_invocation

log = logging.getLogger("panic_edge.nodes.record")

RATE = 48000              # audio samples per second (AAC and Opus both take it)
AUDIO_FRAME = 1024        # samples per encoded audio frame
MEDIA = "reel:"           # the media base of the messages built here: URLs map back to archive files
CODECS = {".mp4": (("libx264", "h264", "mpeg4"), "aac"), ".mov": (("libx264", "h264", "mpeg4"), "aac"),
          ".mkv": (("libx264", "h264", "mpeg4"), "aac"), ".webm": (("libvpx-vp9", "libvpx"), "libopus")}


@dataclass(frozen=True)
class ReelOptions:
    network: str
    selection: Selection
    size: tuple[int, int] = (1280, 720)
    seconds_per_step: float = 6.0
    fps: int = 10
    run_id: str | None = None
    hours: float | None = None
    max_steps: int = 500


def steps(invocations: Iterable[Invocation], model_names: dict[str, str], limit: int) -> list[Shown]:
    """The finished outputs worth showing, oldest first, at most ``limit`` (the newest ones). Pure."""
    done = [inv for inv in invocations if inv.state is InvocationState.COMPLETED and inv.output is not None]
    done.sort(key=lambda inv: (inv.created_at, inv.run_id, inv.sequence))
    return [parse_invocation(invocation_message(inv, label_of(model_names, inv.model), MEDIA))
            for inv in done[-limit:]]


def load(database: Path, options: ReelOptions, model_names: dict[str, str], now: float) -> list[Shown]:
    """The steps to record: ``run_id``'s, else the last ``hours`` of the network, else its latest run."""
    import sqlite3

    from panic_edge.store.reader import Reader

    if not database.exists():
        raise ConfigError(f"there is no database at {database}: is data_dir right? (under systemd it is "
                          f"/var/lib/panic-edge; set data_dir in the config or $PANIC_EDGE_DATA_DIR)")
    reader = Reader(database)
    try:
        if options.run_id:
            if reader.run(options.run_id) is None:
                raise ConfigError(f"there is no run {options.run_id!r} (the admin page's History lists them)")
            found = reader.run_invocations(options.run_id)
        elif options.hours:
            since = now - options.hours * 3600
            found = [i for i in reader.recent_invocations(options.network, 4 * options.max_steps)
                     if i.created_at >= since]
        else:
            runs = reader.runs(options.network, 1)
            found = reader.run_invocations(runs[0].id) if runs else []
    except sqlite3.Error as err:
        raise ConfigError(f"could not read {database}: {err}") from None
    return steps(found, model_names, options.max_steps)


def archive_path(archive: Path, url: str | None) -> Path | None:
    """The archived file behind a ``reel:/media/<file>`` URL, never outside the archive."""
    prefix = f"{MEDIA}/media/"
    if not url or not url.startswith(prefix):
        return None
    path = (archive / url[len(prefix):]).resolve()
    return path if path.is_relative_to(archive.resolve()) else None


def _video_codec(suffix: str) -> tuple[str, str]:
    import av

    if suffix not in CODECS:
        raise ConfigError(f"the reel must be .mp4, .mov, .mkv or .webm, not {suffix or 'no extension'!r}")
    names, audio = CODECS[suffix]
    for name in names:
        try:
            av.codec.Codec(name, "w")
            return name, audio
        except ValueError:  # this FFmpeg build lacks it (UnknownCodecError): try the next
            pass
    raise ConfigError(f"this FFmpeg (PyAV {av.__version__}) has none of {', '.join(names)}")


class ReelWriter:
    """A video and an audio stream in one file; steps are added whole (a still frame and its sound)."""

    def __init__(self, path: Path, size: tuple[int, int], fps: int) -> None:
        import av
        from av.audio.stream import AudioStream
        from av.video.stream import VideoStream

        video, audio = _video_codec(path.suffix.lower())
        self.path, self.fps = path, fps
        self.tmp = path.with_name(path.name + ".part" + path.suffix)
        self.container = av.open(str(self.tmp), "w")
        video_stream = self.container.add_stream(video, rate=fps)
        assert isinstance(video_stream, VideoStream), video  # the names in CODECS are video codecs
        self.video = video_stream
        self.video.width, self.video.height = size
        self.video.pix_fmt = "yuv420p"
        if video == "libx264":
            self.video.options = {"crf": "23", "preset": "veryfast"}
        audio_stream = self.container.add_stream(audio, rate=RATE)
        assert isinstance(audio_stream, AudioStream), audio
        self.audio = audio_stream
        self.audio.layout = "mono"
        self.frames = 0
        self.samples = 0

    def add(self, image: object, seconds: float, sound: bytes = b"") -> None:
        """Show ``image`` (a PIL image) for ``seconds``; ``sound``: float32 mono samples, cut to fit."""
        import av

        frame = av.VideoFrame.from_image(image)
        for _ in range(max(1, round(seconds * self.fps))):
            frame.pts = self.frames
            frame.time_base = Fraction(1, self.fps)
            self.container.mux(self.video.encode(frame))
            self.frames += 1
        total = round(self.frames / self.fps * RATE) - self.samples  # keeps sound and picture in step
        sound = sound[: 4 * total].ljust(4 * total, b"\0")
        for start in range(0, total, AUDIO_FRAME):
            chunk = sound[4 * start: 4 * min(total, start + AUDIO_FRAME)]
            block = av.AudioFrame(format="fltp", layout="mono", samples=len(chunk) // 4)
            block.planes[0].update(chunk)
            block.rate, block.pts, block.time_base = RATE, self.samples, Fraction(1, RATE)
            self.container.mux(self.audio.encode(block))
            self.samples += len(chunk) // 4

    def close(self) -> None:
        self.container.mux(self.video.encode(None))
        self.container.mux(self.audio.encode(None))
        self.container.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self.container.close()
        finally:
            self.tmp.unlink(missing_ok=True)


def decode_sound(path: Path, seconds: float) -> bytes:
    """The first ``seconds`` of an audio file as float32 mono samples at RATE (any FFmpeg format)."""
    import av

    want = 4 * round(seconds * RATE)
    out = bytearray()
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            for block in resampler.resample(frame):
                out += bytes(block.planes[0])[: 4 * block.samples]
            if len(out) >= want:
                break
    return bytes(out[:want])


def frames(shown: list[Shown], options: ReelOptions, archive: Path) -> Iterator[tuple[object, bytes]]:
    """(a PIL image of the screen, its sound) per step, drawn by the screen node's renderer."""
    import av
    import pygame
    from PIL import Image

    from panic_edge.nodes.messages import Connection
    from panic_edge.nodes.screen.media import Loaded, MediaCache, decode_audio, decode_image
    from panic_edge.nodes.screen.render import render
    from panic_edge.nodes.view import NodeState

    state = NodeState(options.network, options.selection)
    state.apply(Connection(True), 0.0)  # no "broker lost" banner: the reel shows the work, not the wiring
    media = MediaCache(capacity=4 * options.selection.cells + 8)
    surface = pygame.Surface(options.size)
    for item in shown:
        state.apply(item, item.finished_at or item.created_at)
        sound = b""
        path = archive_path(archive, item.output)
        if path is not None and item.output and media.get(item.output, item.output_type) is None:
            try:
                data = path.read_bytes()
                if item.output_type == "image":
                    media.put(item.output, Loaded(image=decode_image(data)))
                else:
                    peaks, seconds = decode_audio(data)
                    media.put(item.output, Loaded(peaks=peaks, seconds=seconds))
            except (OSError, ValueError, pygame.error) as err:  # a missing or broken file: a placeholder
                log.warning("record: #%d: could not read %s: %s", item.sequence, path, err)
                media.put(item.output, Loaded(error=f"{type(err).__name__}: {err}"[:200]))
        if path is not None and item.output_type == "audio" and path.exists():
            try:
                sound = decode_sound(path, options.seconds_per_step)
            except (OSError, ValueError, av.FFmpegError) as err:
                log.warning("record: #%d: could not decode the sound of %s: %s", item.sequence, path, err)
        render(surface, state.view(item.finished_at or item.created_at), media)
        yield Image.frombytes("RGB", options.size, pygame.image.tobytes(surface, "RGB")), sound


def record(shown: list[Shown], options: ReelOptions, archive: Path, out: Path) -> float:
    """Write the reel; returns its length in seconds. The file appears whole or not at all."""
    import pygame

    if not shown:
        raise ConfigError(f"nothing to record: no finished invocations of {options.network!r}"
                          + (f" in run {options.run_id}" if options.run_id else "")
                          + (f" in the last {options.hours:g} hours" if options.hours else ""))
    if not (0.1 <= options.seconds_per_step <= 600) or options.max_steps < 1:
        raise ConfigError("--seconds-per-step must be 0.1 to 600 and --max-steps at least 1")
    width, height = options.size
    if width % 2 or height % 2 or not (16 <= width <= 3840 and 16 <= height <= 2160):
        raise ConfigError(f"a reel's size must be even and between 16x16 and 3840x2160, not {width}x{height}")
    pygame.font.init()
    writer = ReelWriter(out, options.size, options.fps)
    try:
        for image, sound in frames(shown, options, archive):
            writer.add(image, options.seconds_per_step, sound)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return writer.frames / options.fps
