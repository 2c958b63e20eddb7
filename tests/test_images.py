"""The one image path: bombs refused before decoding, everything else kept small and displayable."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from panic_edge.archive import Archive
from panic_edge.core.media import MediaType
from panic_edge.errors import ImageError
from panic_edge.images import ImageLimits, decode, normalise
from panic_edge.platforms.local import pictures
from tests.fakes.hostile import WEBP_BOMB, gif_bomb, jpeg_bomb, png_bomb
from tests.memory import peak_mb, reset_peak

LIMITS = ImageLimits()


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("bomb", [lambda: WEBP_BOMB, png_bomb, gif_bomb,
                                  lambda: encoded(Image.new("RGB", (4200, 4200)), "BMP"),
                                  lambda: encoded(Image.new("L", (6000, 6000)), "TIFF")],
                         ids=["webp", "png", "gif", "bmp", "tiff"])
def test_an_image_bomb_is_refused_before_a_pixel_is_decoded(bomb):
    data = bomb()
    before = reset_peak()
    with pytest.raises(ImageError, match=r"Mpx \(images.max_pixels\), so it is not decoded"):
        normalise(data, LIMITS)
    with pytest.raises(ImageError):
        decode(data, LIMITS.max_pixels)
    assert peak_mb() - before < 20  # decoding any of them would take 50 MB to 500 MB


def test_a_jpeg_bomb_is_decoded_at_an_eighth_and_archived_downscaled():
    data, mime = normalise(jpeg_bomb(), LIMITS)
    assert mime == "image/jpeg" and opened(data).size == (1600, 1600)


def test_a_jpeg_is_decoded_at_full_size_unless_it_is_too_large_for_the_limit_or_the_screen():
    jpeg = encoded(Image.new("RGB", (1024, 768), (9, 9, 9)), "JPEG")
    assert decode(jpeg, LIMITS.max_pixels).size == (1024, 768)
    assert decode(jpeg, LIMITS.max_pixels, max_side=300).size == (300, 225)
    assert decode(jpeg_bomb(), LIMITS.max_pixels).size == (3250, 3250)  # 1/4: the largest under the limit


def test_a_large_opaque_image_is_downscaled_to_jpeg_and_a_transparent_one_stays_png():
    photo = Image.effect_mandelbrot((2400, 1200), (-2, -1, 1, 1), 60).convert("RGB")
    data, mime = normalise(encoded(photo, "WEBP"), LIMITS)
    assert mime == "image/jpeg" and opened(data).size == (1600, 800)
    sticker = Image.new("RGBA", (2000, 2000), (255, 0, 0, 0))
    sticker.paste((0, 0, 255, 255), (500, 500, 1500, 1500))
    data, mime = normalise(encoded(sticker, "PNG"), LIMITS)
    assert mime == "image/png" and opened(data).size == (1600, 1600) and opened(data).mode == "RGBA"
    opaque_alpha = Image.new("RGBA", (100, 100), (10, 200, 30, 255))
    assert normalise(encoded(opaque_alpha, "WEBP"), LIMITS)[1] == "image/jpeg"


def test_the_local_painters_png_is_kept_as_it_is_smaller_than_its_jpeg():
    png = pictures.paint("a camel in the desert")
    assert normalise(png, LIMITS) == (png, "image/png")


def test_an_animated_gif_keeps_its_first_frame_and_exif_orientation_is_applied():
    frames = [Image.new("RGB", (40, 20), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
    data, _ = normalise(out.getvalue(), LIMITS)
    pixel = opened(data).convert("RGB").getpixel((5, 5))
    assert isinstance(pixel, tuple) and pixel[0] > 200
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show
    data, mime = normalise(encoded(Image.new("RGB", (40, 20), (0, 0, 255)), "JPEG", exif=exif), LIMITS)
    assert mime == "image/jpeg" and opened(data).size == (20, 40)


@pytest.mark.parametrize("data", [b"", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"GIF89a" + b"\xff" * 30,
                                  encoded(Image.new("RGB", (64, 64)), "PNG")[:-30],
                                  encoded(Image.new("RGB", (64, 64)), "JPEG")[:200]],
                         ids=["empty", "png-header", "gif-garbage", "png-truncated", "jpeg-truncated"])
def test_a_broken_image_is_a_clear_error(data):
    with pytest.raises(ImageError, match="cannot be"):
        normalise(data, LIMITS)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300), st.sampled_from(["RGB", "RGBA", "L", "P", "LA"]),
       st.sampled_from(["PNG", "JPEG", "WEBP", "GIF"]), st.integers(0, 255))
def test_normalising_is_idempotent_and_always_gives_a_displayable_file(width, height, mode, fmt, shade):
    image = Image.new(mode, (width, height), shade if mode in ("L", "P") else (shade,) * len(mode))
    if fmt == "JPEG" and mode not in ("RGB", "L"):
        image = image.convert("RGB")
    data, mime = normalise(encoded(image, fmt), ImageLimits(max_side=128))
    assert mime in ("image/jpeg", "image/png") and max(opened(data).size) <= 128
    assert normalise(data, ImageLimits(max_side=128)) == (data, mime)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a",
                                                  b"RIFF\x00\x00\x00\x00WEBPVP8L"]))
def test_arbitrary_bytes_give_an_image_or_an_image_error(tail, head):
    try:
        data, _ = normalise(head + tail, LIMITS)
    except ImageError:
        return
    opened(data)


def test_the_image_keys_come_from_the_config_file_or_the_environment(tmp_path):
    from panic_edge.config import load_config

    path = tmp_path / "panic-edge.toml"
    path.write_text("[images]\nmax_side = 800\n[platforms]\nallow_private_downloads = true\n")
    config = load_config(path, {"PANIC_EDGE_IMAGES_JPEG_QUALITY": "70", "PANIC_EDGE_PLATFORMS_DOWNLOAD_TIMEOUT": "9"})
    assert ImageLimits(**config.images.model_dump()) == ImageLimits(16_777_216, 800, 70)
    assert config.platforms.allow_private_downloads and config.platforms.download_timeout == 9


def test_the_archive_sends_every_image_through_the_normaliser(tmp_path):
    archive = Archive(tmp_path, images=ImageLimits(max_side=100))
    saved = archive.save("demo", "r1.1", encoded(Image.new("RGB", (400, 200), (1, 2, 3)), "WEBP"), MediaType.IMAGE)
    assert saved.mime == "image/jpeg" and saved.file == "demo/r1.1.jpg"
    assert opened(archive.read(saved)).size == (100, 50)
    with pytest.raises(ImageError):
        archive.save("demo", "r1.2", WEBP_BOMB, MediaType.IMAGE)
    assert not list(tmp_path.glob("demo/r1.2*"))
