"""The picture a text carries (the image reproducer pair): read from the text's flags, and a flag
naming a file outside the archive carries nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panic_edge.archive import Archive
from panic_edge.core import picture_ref
from panic_edge.core.media import Content, MediaType
from panic_edge.errors import PanicEdgeError


def test_a_text_flagged_with_a_picture_carries_it_and_nothing_else_does():
    text = Content(MediaType.TEXT, text=picture_ref.PASSED_ON,
                   flags=("replay", picture_ref.flag("n/r.1.png")))
    assert picture_ref.carried(text) == "n/r.1.png"
    assert picture_ref.carried(Content.of_text("plain")) is None
    assert picture_ref.carried(Content(MediaType.TEXT, text="x", flags=("picture:",))) is None
    picture = Content(MediaType.IMAGE, file="n/r.1.png", flags=(picture_ref.flag("a"),))
    assert picture_ref.carried(picture) is None


@given(st.lists(st.text(max_size=40), max_size=5))
def test_any_flags_are_read_without_raising(flags):
    found = picture_ref.carried(Content(MediaType.TEXT, text="x", flags=tuple(flags)))
    assert found is None or picture_ref.flag(found) in flags


@pytest.mark.parametrize("escape", ["../outside.png", "/etc/passwd", "n/../../outside.png"])
def test_a_flag_naming_a_file_outside_the_archive_is_refused(tmp_path: Path, escape):
    archive = Archive(tmp_path / "archive")
    (tmp_path / "outside.png").write_bytes(b"not yours")
    with pytest.raises(PanicEdgeError):  # the engine catches it: the text goes on alone
        archive.read(Content(MediaType.IMAGE, file=escape))
