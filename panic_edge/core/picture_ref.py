"""A text that carries a picture: how the image reproducer pair hands a picture through a text step.

Image Reproducer II (image -> text) passes the picture it is given on unchanged: its output is a
short text flagged ``picture:<archive file>``. The engine hands that picture, with the text, to
the next model, Image Reproducer I (text -> image), which asks FLUX Kontext to reproduce it. A
network needs a text genesis, so the pair is how a loop of pictures reproducing pictures is
written; nothing is copied, and a flag that names a file no longer in the archive carries nothing.
"""

from __future__ import annotations

from panic_edge.core.media import Content, MediaType

PREFIX = "picture:"
PASSED_ON = "(the picture, passed on to be reproduced)"


def flag(file: str) -> str:
    """The flag that makes a text carry the archived picture ``file``."""
    return PREFIX + file


def carried(content: Content) -> str | None:
    """The archive file of the picture a text carries, or None."""
    if content.type is not MediaType.TEXT:
        return None
    for f in content.flags:
        if f.startswith(PREFIX) and len(f) > len(PREFIX):
            return f[len(PREFIX):]
    return None
