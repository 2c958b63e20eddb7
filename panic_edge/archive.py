"""The output archive: one file per invocation under <data_dir>/archive, typed by its real content.

Files are written atomically (temporary file, fsync, rename, fsync of the folder) so a crash or
a power cut never leaves half a picture or a lost name behind; they are readable by the service
user only (0600 in 0700 folders); their type is sniffed from the bytes, never taken on trust.
Every image is made displayable and compact on the way in (panic_edge.images: JPEG, or PNG
where it matters, fit to ``images.max_side``), whoever made it.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path

from panic_edge.core.media import Content, MediaType
from panic_edge.errors import StorageFault, StoreError
from panic_edge.images import DEFAULT_LIMITS, ImageLimits, normalise
from panic_edge.private_files import fsync_dir, open_private, private_dir

MAX_FILE_BYTES = 64 * 1024 * 1024

# (magic test, mime, extension, media type)
_SIGNATURES: tuple[tuple[Callable[[bytes], bool], str, str, MediaType], ...] = (
    (lambda b: b.startswith(b"\x89PNG\r\n\x1a\n"), "image/png", "png", MediaType.IMAGE),
    (lambda b: b.startswith(b"\xff\xd8\xff"), "image/jpeg", "jpg", MediaType.IMAGE),
    (lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP", "image/webp", "webp", MediaType.IMAGE),
    (lambda b: b[:6] in (b"GIF87a", b"GIF89a"), "image/gif", "gif", MediaType.IMAGE),
    (lambda b: b[:2] == b"BM" and len(b) > 26, "image/bmp", "bmp", MediaType.IMAGE),
    (lambda b: b[:4] in (b"II*\x00", b"MM\x00*"), "image/tiff", "tiff", MediaType.IMAGE),
    (lambda b: b[:4] == b"RIFF" and b[8:12] == b"WAVE", "audio/wav", "wav", MediaType.AUDIO),
    (lambda b: b.startswith(b"OggS"), "audio/ogg", "ogg", MediaType.AUDIO),
    (lambda b: b.startswith(b"fLaC"), "audio/flac", "flac", MediaType.AUDIO),
    (lambda b: b.startswith(b"ID3") or (len(b) > 1 and b[0] == 0xFF and b[1] & 0xE0 == 0xE0),
     "audio/mpeg", "mp3", MediaType.AUDIO),
)

KNOWN_FORMATS = "PNG, JPEG, WebP, GIF, BMP, TIFF, WAV, Ogg, FLAC or MP3"
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def sniff(data: bytes) -> tuple[str, str, MediaType] | None:
    """(mime, extension, media type) of ``data`` from its first bytes, or None if unknown."""
    for test, mime, ext, kind in _SIGNATURES:
        if test(data):
            return mime, ext, kind
    return None


class Archive:
    """Stores output files; hands back Content pointing at them by archive-relative path."""

    def __init__(self, root: Path, max_bytes: int = MAX_FILE_BYTES,
                 images: ImageLimits = DEFAULT_LIMITS) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.images = images

    def save(self, network: str, invocation_id: str, data: bytes, expected: MediaType,
             flags: tuple[str, ...] = ()) -> Content:
        """Write ``data`` as the output of ``invocation_id``, an image normalised first. Raises
        StoreError if it is not a ``expected`` file of a known format, is too large, or cannot be
        written; ImageError if it is an image too large to decode."""
        content, data = self.plan(network, invocation_id, data, expected, flags)
        self.write(content, data)
        return content

    def plan(self, network: str, invocation_id: str, data: bytes, expected: MediaType,
             flags: tuple[str, ...] = ()) -> tuple[Content, bytes]:
        """The Content that ``data`` will be once written, and the bytes to write (an image
        normalised: CPU work, so call it off the event loop), checked but not written. Raises
        StoreError if it is not a ``expected`` file of a known format, or is too large; ImageError
        if it is an image too large to decode."""
        if len(data) > self.max_bytes:
            raise StoreError(f"output of {invocation_id} is {len(data)} bytes; the archive limit is "
                             f"{self.max_bytes}")
        found = sniff(data)
        if found is None:
            raise StoreError(f"output of {invocation_id} ({len(data)} bytes) is not a file format "
                             f"panic-edge knows ({KNOWN_FORMATS})")
        mime, ext, kind = found
        if kind is not expected:
            raise StoreError(f"output of {invocation_id} is {mime}, but the model should give {expected}")
        if kind is MediaType.IMAGE:
            data, mime = normalise(data, self.images)
            ext = _EXTENSIONS[mime]
        relative = f"{_SAFE.sub('_', network)}/{_SAFE.sub('_', invocation_id)}.{ext}"
        return Content(kind, file=relative, mime=mime, flags=flags), data

    def write(self, content: Content, data: bytes) -> None:
        """Write ``data`` at ``content``'s place (from ``plan``), atomically and durably: a
        private temporary file, fsync, rename, fsync of the folder. Raises StorageFault if the
        disk refuses."""
        if content.file is None:
            raise StoreError("text content has no file to write")
        target = self.path(content.file)
        tmp = target.with_suffix(target.suffix + ".part")
        try:
            private_dir(target.parent)
            with os.fdopen(open_private(tmp), "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            fsync_dir(target.parent)
        except OSError as err:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StorageFault(f"cannot write {target}: {err.strerror or err}") from err

    def path(self, relative: str) -> Path:
        """The file behind an archive-relative path; refuses paths that escape the archive."""
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root.resolve()):
            raise StoreError(f"{relative!r} is outside the archive")
        return candidate

    def read(self, content: Content) -> bytes:
        if content.file is None:
            raise StoreError("text content has no file")
        return self.path(content.file).read_bytes()

    def has(self, content: Content) -> bool:
        """Whether ``content``'s file is still in the archive (retention deletes the oldest)."""
        if content.file is None:
            return True
        try:
            return self.path(content.file).is_file()
        except (StoreError, OSError):
            return False

    def discard(self, content: Content | None) -> None:
        if content is not None and content.file is not None:
            self.path(content.file).unlink(missing_ok=True)
