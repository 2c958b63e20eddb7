"""text->text: a drifting verse made deterministically from the words it is given."""

from __future__ import annotations

import hashlib
import random
import re

STOP = frozenset("""a an the and or but of in on at to for with from by as is are was were be been it its
this that these those there here into onto over under than then so such very just like i you he she we
they me him her us them my your his our their not no yes do does did""".split())  # noqa: SIM905 -- prose reads better

ADJECTIVES = ("silver", "restless", "drowsy", "electric", "paper", "hollow", "distant", "burning",
              "velvet", "forgotten", "glass", "humming", "crimson", "sandy", "midnight", "tiny")
VERBS = ("dreams of", "drifts toward", "remembers", "hums beside", "unfolds into", "waits for",
         "dissolves into", "circles", "sings to", "becomes")
PLACES = ("the desert", "an empty station", "the tide", "a neon sky", "the orchard", "a quiet room",
          "the mountain", "a lighthouse", "the carnival", "a frozen lake")


def _rng(text: str) -> random.Random:
    return random.Random(hashlib.sha256(text.encode("utf-8")).digest())


def content_words(text: str) -> list[str]:
    words = [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'-]*", text)]
    seen: dict[str, None] = {}
    for word in words:
        if word not in STOP and len(word) > 2:
            seen.setdefault(word, None)
    return list(seen)


def drift_verse(text: str) -> str:
    """Two lines that keep some of the input's words and wander away from the rest."""
    rng = _rng(text)
    words = content_words(text) or ["silence"]
    rng.shuffle(words)
    first, second = words[0], words[1] if len(words) > 1 else rng.choice(PLACES).split()[-1]
    line1 = f"A {rng.choice(ADJECTIVES)} {first} {rng.choice(VERBS)} {rng.choice(PLACES)},"
    line2 = f"and the {rng.choice(ADJECTIVES)} {second} {rng.choice(VERBS)} {rng.choice(PLACES)}."
    return f"{line1}\n{line2}"
