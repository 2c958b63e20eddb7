"""Cleaning what a model platform says before it reaches SQLite, JSON, MQTT or a screen.

A platform can answer with anything: text holding lone surrogates (they do not encode as UTF-8,
so SQLite, ``json.dumps(..., ensure_ascii=False)`` and every screen choke on them), control
characters (terminal escapes, NUL), numbers that are not numbers (``NaN`` is valid Python JSON but
not SQLite JSON), or structures nested without end. Pure: no I/O.

- ``clean_text``: surrogates and control characters removed; ``\\r\\n``, ``\\r`` and the Unicode
  line and paragraph separators become ``\\n``; newlines and tabs are kept. What is left always
  encodes as UTF-8.
- ``clean_meta``: a JSON-able copy of a platform's metadata: strings cleaned and bounded, finite
  numbers only, nesting and size bounded.
"""

from __future__ import annotations

import math
import re
from typing import Any

# C0 controls but tab and newline, DEL and the C1 controls, every surrogate code point (in a
# Python str a surrogate is always unpaired: a valid pair is one code point), the two
# non-characters U+FFFE/U+FFFF
_DROP = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_NEWLINES = re.compile("\r\n?|[\u2028\u2029]")

MAX_META_STRING = 1000
MAX_META_DEPTH = 4
MAX_META_ITEMS = 50


def clean_text(text: str, limit: int | None = None) -> str:
    """``text`` with surrogates and control characters removed (newlines and tabs kept).

    ``limit`` first cuts ``text`` to that many characters, so a huge answer is not scanned whole.
    """
    if limit is not None:
        text = text[:limit]
    return _DROP.sub("", _NEWLINES.sub("\n", text))


def clean_meta(value: Any, depth: int = 0) -> Any:
    """A JSON-able copy of ``value``: str/int/float/bool/None, lists and str-keyed dicts, with
    strings cleaned, non-finite floats as None, and depth, length and item counts bounded."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2 ** 63 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return clean_text(value, MAX_META_STRING)
    if depth >= MAX_META_DEPTH:
        return None
    if isinstance(value, dict):
        items = list(value.items())[:MAX_META_ITEMS]
        return {clean_text(str(k), MAX_META_STRING): clean_meta(v, depth + 1) for k, v in items}
    if isinstance(value, (list, tuple)):
        return [clean_meta(v, depth + 1) for v in list(value)[:MAX_META_ITEMS]]
    return clean_text(str(value), MAX_META_STRING)
