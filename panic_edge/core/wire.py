"""JSON at the MQTT edge, total both ways: any bytes in give a bounded JSON object or a PayloadError;
any object out gives valid UTF-8 JSON.

``json.loads`` alone is not total: nesting thousands deep raises RecursionError, an integer with
thousands of digits raises a ValueError, ``1e999`` becomes infinity, and a ``"\\ud800"`` escape gives
a string no UTF-8 encoder takes (SQLite, a reply, the screen would raise later, far from the edge).
``load_object`` refuses all of those here, with a message naming what was wrong.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from panic_edge.errors import PayloadError

MAX_DEPTH = 32  # deeper JSON is refused: nothing panic-edge sends nests more than four levels
MAX_INT = 2 ** 53  # integers beyond what a float (and every JSON reader) holds exactly are refused
_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_constants(name: str) -> Any:
    raise PayloadError(f"holds {name}, which is not a number JSON allows")


def load_object(payload: bytes, what: str, limit: int) -> dict[str, Any]:
    """``payload`` as a JSON object, every string UTF-8 clean, every number finite and at most
    MAX_INT, nested at most MAX_DEPTH deep. Raises PayloadError naming ``what`` otherwise."""
    body = load_json(payload, what, limit)
    check_object(body, what)
    return body


def load_json(payload: bytes, what: str, limit: int) -> dict[str, Any]:
    """The first half of ``load_object``: a JSON object, its values not yet checked."""
    if len(payload) > limit:
        raise PayloadError(f"{what} is {len(payload)} bytes; the limit is {limit}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError(f"{what} is not UTF-8 text") from None
    try:
        body = json.loads(text, parse_constant=_no_constants)
    except PayloadError as err:
        raise PayloadError(f"{what} {err}") from None
    except json.JSONDecodeError as err:
        raise PayloadError(f"{what} is not JSON: {err.msg} at character {err.pos}") from None
    except RecursionError:
        raise PayloadError(f"{what} is nested too deeply (the limit is {MAX_DEPTH} levels)") from None
    except ValueError as err:  # an integer with more digits than Python converts
        raise PayloadError(f"{what} holds a number too long to read ({str(err)[:60]})") from None
    if not isinstance(body, dict):
        raise PayloadError(f"{what} must be a JSON object, not {_kind(body)}")
    return body


def check_object(body: dict[str, Any], what: str) -> None:
    """The second half: raises PayloadError naming the first field that may not travel further."""
    for key, value in body.items():
        if not clean(key):
            raise PayloadError(f"{what} has a field name that is not valid Unicode (a lone surrogate)")
        problem = check_tree(value)
        if problem:
            raise PayloadError(f'{what}\'s "{key[:40]}" {problem}')


def check_tree(root: Any) -> str | None:
    """Why ``root`` (parsed JSON) may not travel further, or None. Iterative: any depth is safe."""
    stack: list[tuple[Any, int]] = [(root, 2)]  # a field's value is one level into its object
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if not clean(value):
                return "holds a string that is not valid Unicode (a lone surrogate)"
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if abs(value) > MAX_INT:
                return f"holds an integer beyond ±2**53 ({str(value)[:20]}…)"
        elif isinstance(value, float):
            if not math.isfinite(value):
                return "holds a number too large for a float"
        elif isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                return f"is nested too deeply (the limit is {MAX_DEPTH} levels)"
            items = list(value.keys()) + list(value.values()) if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
    return None


def clean(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (holds no lone surrogate)."""
    return text.isascii() or _SURROGATE.search(text) is None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def encode(obj: Any) -> bytes:
    """``obj`` as compact UTF-8 JSON. Never raises on strings: a lone surrogate (which only a bug
    could have let in) goes out as U+FFFD, so a reply can echo anything."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")
