"""The three kinds of content that flow around the loop, and a piece of content."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class MediaType(str, enum.Enum):
    """What a model takes or gives."""

    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Content:
    """One input or output: text inline, or a file in the archive.

    ``file`` is a path relative to the archive root (never a platform URL); ``mime`` is the
    file's real content type. ``flags`` marks special outputs, e.g. ``("nsfw",)`` for a
    safety-filter placeholder, or ``("replay",)``.
    """

    type: MediaType
    text: str | None = None
    file: str | None = None
    mime: str | None = None
    flags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.type is MediaType.TEXT:
            if self.text is None:
                raise ValueError("text content needs its text")
        elif self.file is None:
            raise ValueError(f"{self.type} content needs an archived file")

    @classmethod
    def of_text(cls, text: str) -> Content:
        return cls(MediaType.TEXT, text=text)

    def summary(self, width: int = 60) -> str:
        """A one-line, human-sized description for logs."""
        if self.text is not None:
            flat = " ".join(self.text.split())
            return repr(flat if len(flat) <= width else flat[: width - 1] + "…")
        return f"[{self.type} {self.file}]"
