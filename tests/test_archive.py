"""The output archive: real content types, atomic files, no escaping the folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from panic_edge.archive import Archive, sniff
from panic_edge.core.media import MediaType
from panic_edge.errors import StoreError
from panic_edge.platforms.local import pictures, sounds


def test_files_are_typed_by_their_bytes_not_their_names():
    assert sniff(pictures.paint("a red fox"))[:2] == ("image/png", "png")  # type: ignore[index]
    assert sniff(sounds.tones("la la"))[:2] == ("audio/wav", "wav")  # type: ignore[index]
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ")[0] == "image/webp"  # type: ignore[index]
    assert sniff(b"<html>") is None


def test_an_output_is_saved_under_its_network_with_its_real_type(tmp_path: Path):
    archive = Archive(tmp_path)
    content = archive.save("demo", "r1.1", pictures.paint("a red fox"), MediaType.IMAGE)
    assert content.mime == "image/png" and content.file == "demo/r1.1.png"
    assert archive.read(content)[:4] == b"\x89PNG"
    assert not list(tmp_path.rglob("*.part"))


def test_a_file_of_the_wrong_kind_is_refused(tmp_path: Path):
    with pytest.raises(StoreError, match="is audio/wav, but the model should give image"):
        Archive(tmp_path).save("demo", "r1.1", sounds.tones("x"), MediaType.IMAGE)


def test_garbage_is_refused_with_its_first_bytes(tmp_path: Path):
    with pytest.raises(StoreError, match="not a file format panic-edge knows"):
        Archive(tmp_path).save("demo", "r1.1", b"<html>oops</html>", MediaType.IMAGE)


def test_oversized_files_are_refused(tmp_path: Path):
    with pytest.raises(StoreError, match="archive limit"):
        Archive(tmp_path, max_bytes=10).save("demo", "r1.1", pictures.paint("x"), MediaType.IMAGE)


def test_paths_cannot_escape_the_archive(tmp_path: Path):
    with pytest.raises(StoreError, match="outside the archive"):
        Archive(tmp_path / "archive").path("../secrets.toml")


def test_an_unwritable_archive_is_a_clear_error(tmp_path: Path):
    (tmp_path / "archive").write_text("a file where the folder should be")
    with pytest.raises(StoreError, match="cannot write"):
        Archive(tmp_path / "archive").save("demo", "r1.1", pictures.paint("x"), MediaType.IMAGE)
