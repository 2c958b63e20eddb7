"""Model text and metadata cleaned: whatever a platform says, what is left encodes everywhere."""

from __future__ import annotations

import json
import math
import sqlite3
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from panic_edge.core.clean import MAX_META_DEPTH, clean_meta, clean_text

# every code point, with the troublesome ones made common
ANY_TEXT = st.text(st.characters(codec=None, categories=None)
                   | st.sampled_from(["\ud800", "\udfff", "\x00", "\x1b", "\r", "\u2028", "\x85", "\ufffe"]))
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(ANY_TEXT, inner, max_size=5), max_leaves=30)


@given(ANY_TEXT)
def test_cleaned_text_encodes_as_utf8_and_keeps_no_control_character_but_newline_and_tab(text):
    cleaned = clean_text(text)
    cleaned.encode("utf-8")  # never raises
    assert all(c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cs") for c in cleaned)
    assert "\r" not in cleaned and "\u2028" not in cleaned


@given(ANY_TEXT)
def test_cleaning_is_idempotent_and_keeps_every_printable_character_in_order(text):
    cleaned = clean_text(text)
    assert clean_text(cleaned) == cleaned
    printable = [c for c in text if unicodedata.category(c) not in ("Cc", "Cs", "Zl", "Zp")
                 and c not in "\ufffe\uffff"]
    assert [c for c in cleaned if c not in "\n\t"] == [c for c in printable if c not in "\n\t"]


def test_the_issues_examples_are_cleaned_as_documented():
    assert clean_text("a \ud800 b\x00c\x1b[2Jd\r\ne\rf\tg\u2028h") == "a  bc[2Jd\ne\nf\tg\nh"
    assert clean_text("x" * 10, limit=3) == "xxx"


@given(JSONISH)
def test_cleaned_meta_is_strict_json_that_sqlite_reads(value):
    cleaned = clean_meta({"meta": value})
    text = json.dumps(cleaned, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")
    with sqlite3.connect(":memory:") as db:
        assert db.execute("SELECT json_valid(?)", (text,)).fetchone() == (1,)


def test_meta_drops_what_json_cannot_say_and_bounds_nesting():
    assert clean_meta({"t": math.nan, "i": math.inf, "big": 10 ** 100, "ok": 1.5}) == {
        "t": None, "i": None, "big": None, "ok": 1.5}
    deep: object = "leaf"
    for _ in range(50):
        deep = [deep]
    depth, node = 0, clean_meta(deep)
    while isinstance(node, list):
        depth, node = depth + 1, node[0]
    assert depth == MAX_META_DEPTH and node is None
