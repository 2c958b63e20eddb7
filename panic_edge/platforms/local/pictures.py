"""text->image and image->text with Pillow: a picture painted from words, and a caption read
back from the picture's colours and composition."""

from __future__ import annotations

import hashlib
import io
import random

from PIL import Image, ImageDraw, ImageFont, ImageStat

from panic_edge.platforms.local.words import content_words

# Words the painter knows a colour for, and the names the captioner reads colours back as.
WORD_COLOURS: dict[str, tuple[int, int, int]] = {
    "desert": (222, 184, 135), "sand": (222, 184, 135), "camel": (193, 154, 107), "sun": (255, 204, 51),
    "sea": (30, 90, 170), "ocean": (30, 90, 170), "sky": (120, 170, 230), "storm": (90, 90, 110),
    "night": (20, 24, 60), "midnight": (20, 24, 60), "forest": (34, 110, 60), "tree": (50, 130, 60),
    "fire": (230, 80, 30), "burning": (230, 80, 30), "snow": (240, 240, 250), "frozen": (200, 225, 245),
    "blood": (150, 10, 20), "rose": (220, 60, 100), "cherry": (240, 150, 180), "blossom": (250, 190, 210),
    "gold": (212, 175, 55), "silver": (192, 192, 200), "neon": (255, 20, 200), "grass": (90, 170, 60),
    "lighthouse": (230, 60, 50), "orchard": (120, 160, 60), "velvet": (110, 30, 70),
    "red": (210, 40, 40), "blue": (40, 80, 200), "green": (40, 160, 70), "yellow": (240, 210, 40),
    "orange": (240, 140, 30), "purple": (130, 50, 160), "pink": (240, 130, 180), "black": (15, 15, 15),
    "white": (245, 245, 245), "grey": (128, 128, 128), "gray": (128, 128, 128), "brown": (120, 80, 40),
}

COLOUR_NAMES: dict[str, tuple[int, int, int]] = {
    "sandy gold": (222, 184, 135), "sunflower yellow": (250, 210, 50), "ocean blue": (30, 90, 170),
    "sky blue": (120, 170, 230), "storm grey": (100, 100, 115), "midnight blue": (20, 24, 60),
    "forest green": (34, 110, 60), "leaf green": (100, 170, 60), "flame orange": (235, 110, 30),
    "snow white": (240, 240, 248), "deep red": (170, 20, 30), "rose pink": (230, 110, 150),
    "neon magenta": (255, 20, 200), "violet": (130, 50, 160), "chocolate brown": (110, 70, 40),
    "coal black": (15, 15, 15), "silver": (190, 190, 198), "teal": (0, 128, 128),
}

SIZE = 512


def _rng(text: str) -> random.Random:
    return random.Random(hashlib.sha256(text.encode("utf-8")).digest())


def palette_for(text: str) -> list[tuple[int, int, int]]:
    rng = _rng(text)
    colours = [WORD_COLOURS[w] for w in content_words(text) if w in WORD_COLOURS]
    while len(colours) < 3:
        colours.append((rng.randrange(40, 230), rng.randrange(40, 230), rng.randrange(40, 230)))
    return colours[:5]


def paint(text: str) -> bytes:
    """A PNG painted from ``text``: a two-colour sky, one shape per word, the words along the bottom."""
    rng = _rng(text)
    colours = palette_for(text)
    image = Image.new("RGB", (SIZE, SIZE), colours[0])
    draw = ImageDraw.Draw(image)
    top, bottom = colours[0], colours[1]
    for y in range(SIZE):
        t = y / (SIZE - 1)
        draw.line([(0, y), (SIZE, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
    words = content_words(text) or ["silence"]
    for i, word in enumerate(words[:12]):
        colour = WORD_COLOURS.get(word, colours[2 + i % (len(colours) - 2)])
        x, y = rng.randrange(40, SIZE - 40), rng.randrange(40, SIZE - 120)
        r = rng.randrange(20, 90)
        if len(word) % 2:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour, outline=(20, 20, 20), width=2)
        else:
            draw.rectangle([x - r, y - r // 2, x + r, y + r // 2], fill=colour, outline=(20, 20, 20), width=2)
    caption = " ".join(text.split())[:60]
    font = ImageFont.load_default(size=20)
    draw.rectangle([0, SIZE - 44, SIZE, SIZE], fill=(0, 0, 0))
    draw.text((12, SIZE - 34), caption, fill=(255, 255, 255), font=font)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False)
    return out.getvalue()


def nearest_name(rgb: tuple[int, ...]) -> str:
    return min(COLOUR_NAMES, key=lambda n: sum((a - b) ** 2 for a, b in zip(COLOUR_NAMES[n], rgb)))


def caption(data: bytes) -> str:
    """One sentence about a picture: its main colours, brightness and where the light falls."""
    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("RGB").resize((64, 64))
    quantised = image.quantize(colors=4, method=Image.Quantize.MEDIANCUT)
    palette = quantised.getpalette() or []
    counts = sorted(quantised.getcolors() or [], reverse=True)
    names: list[str] = []
    for _, index in counts:
        if not isinstance(index, int):  # a "P" image counts palette indexes
            continue
        name = nearest_name(tuple(palette[index * 3: index * 3 + 3]))
        if name not in names:
            names.append(name)
    brightness = sum(ImageStat.Stat(image.convert("L")).mean) / 255
    mood = "bright" if brightness > 0.6 else "dim" if brightness < 0.3 else "softly lit"
    grey = image.convert("L")
    halves = {"top": grey.crop((0, 0, 64, 32)), "bottom": grey.crop((0, 32, 64, 64)),
              "left": grey.crop((0, 0, 32, 64)), "right": grey.crop((32, 0, 64, 64))}
    lightest = max(halves, key=lambda k: ImageStat.Stat(halves[k]).mean[0])
    main = " and ".join(names[:2]) if names else "no colour at all"
    rest = f", with touches of {names[2]}" if len(names) > 2 else ""
    return f"A {mood} picture of {main}{rest}, the light gathering towards the {lightest}."
