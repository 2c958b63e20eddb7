"""Hypothesis strategies for hostile MQTT payloads, shared by the parser tests, the fuzz suite and the bench.

JSON is generated as text, not as Python objects, so it can hold what ``json.dumps`` never writes:
lone surrogate escapes (``"\\ud800"``), integers with thousands of digits, ``NaN`` and ``1e999``,
nesting thousands deep.
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

# every code point, lone surrogates included (hypothesis leaves out category Cs by default)
ANY_CHAR = st.characters(exclude_categories=())
any_text = st.text(ANY_CHAR, max_size=40)


def _string(text: str) -> str:
    return json.dumps(text)  # ensure_ascii: a lone surrogate becomes the escape "\udXXX"


json_scalar = st.one_of(
    st.sampled_from(["null", "true", "false", "NaN", "Infinity", "-Infinity", "1e999", "-0", "0.5",
                     '""', '"demo"', '"   "']),
    st.integers().map(str),
    st.integers(4301, 6000).map(lambda n: "9" * n),  # past Python's int-from-string limit
    st.integers(20, 4300).map(lambda n: "1" + "0" * n),  # parses, but no float holds it
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    any_text.map(_string),
)


def _array(items: list[str]) -> str:
    return "[" + ",".join(items) + "]"


def _object(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f"{_string(k)}:{v}" for k, v in pairs.items()) + "}"


json_tree = st.recursive(
    json_scalar,
    lambda kids: st.lists(kids, max_size=5).map(_array) | st.dictionaries(any_text, kids, max_size=5).map(_object),
    max_leaves=12,
)


def _deep(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    if kind == "object":
        return '{"a":' * depth + "1" + "}" * depth
    return "[" * depth  # never closed


deep_json = st.builds(_deep, st.integers(100, 6000), st.sampled_from(["list", "object", "open"]))

FIELDS = ["network", "prompt", "request_id", "node_id", "kind", "mode", "state", "id", "run_id", "sequence",
          "model", "output_type", "output", "created_at", "lockout_until", "ok", "command", "flags", "media_base",
          "networks", "meta", "retry_after", "gate", "pause", "next_invocation_at", "day_start", "visit_url"]


def command_for(network: str) -> st.SearchStrategy[str]:
    """A command to a network that exists, a few of its fields hostile: it passes the early checks
    (unknown network) and reaches the ones that matter (a surrogate prompt, a huge request_id)."""
    return st.dictionaries(st.sampled_from(FIELDS), st.one_of(json_scalar, json_tree), max_size=6).map(
        lambda d: _object({"network": _string(network), "prompt": '"a camel"', **d}))


hostile_command = command_for("demo")


def crashers(network: str) -> list[bytes]:
    """The payload classes that once stopped the daemon (issue 10), aimed at ``network``."""
    net = _string(network).encode()
    surrogate, deep, huge = rb'"\ud800"', b"[" * 5000 + b"]" * 5000, b"9" * 5000
    return [b'{"network": ' + net + b', "prompt": "x", "request_id": ' + surrogate + b"}",
            b'{"network": ' + net + b', "prompt": ' + surrogate + b"}",
            b'{"network": ' + surrogate + b', "prompt": "x"}',
            b'{"network": ' + net + b', "prompt": "x", ' + surrogate + b": 1}",
            b'{"network": ' + net + b', "prompt": "x", "extra": ' + deep + b"}", deep,
            b'{"a":' * 3000 + b"1" + b"}" * 3000,
            b'{"network": ' + net + b', "prompt": "x", "request_id": ' + huge + b"}",
            b'{"network": ' + net + b', "prompt": "x", "request_id": 1e999}', b'{"network": NaN}']


def _latin(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes bytes no UTF-8 decoder takes


def payload_for(network: str) -> st.SearchStrategy[bytes]:
    """Any bytes, any text, any JSON, and commands to ``network`` with hostile fields."""
    return st.one_of(
        st.binary(max_size=200),
        st.text(ANY_CHAR, max_size=200).map(_latin),
        st.one_of(json_tree, deep_json, command_for(network)).map(lambda s: s.encode()),
        st.sampled_from([b"", b"online", b"offline", b" online\n", b"{}", b"null"]),
    )


json_payload = st.one_of(json_tree, deep_json, hostile_command).map(lambda s: s.encode())
payload = payload_for("demo")


# --- topics (under panic/<appliance_id>/): levels a broker accepts, names the daemon and a node read ---

topic_level = st.text(st.characters(exclude_characters="+#/", exclude_categories=("Cs", "Cc", "Cn")),
                      min_size=1, max_size=30)
daemon_suffix = st.one_of(
    st.sampled_from(["cmd/start", "cmd/stop", "cmd/stop-all", "cmd/press", "cmd/reply"]),
    topic_level.map(lambda name: f"cmd/{name}"),
    st.tuples(st.one_of(topic_level, st.sampled_from(["node-1", "a" * 101])),
              st.sampled_from(["availability", "status", "other"])).map(lambda p: f"nodes/{p[0]}/{p[1]}"),
)


def node_suffix(network: str, node_id: str = "fuzz-node") -> st.SearchStrategy[str]:
    """The topics a display node (and a HUD, and a --screen node) reads, and its own command topics."""
    return st.one_of(
        st.sampled_from(["availability", "status", f"networks/{network}/state", f"networks/{network}/invocations",
                         f"networks/{network}/insight", "cmd/reply", f"nodes/{node_id}/screenshot"]),
        st.sampled_from(["blank", "wake", "reload", "screenshot"]).map(lambda v: f"nodes/{node_id}/cmd/{v}"),
        topic_level.map(lambda name: f"nodes/{node_id}/cmd/{name}"),
        topic_level.map(lambda name: f"installations/{name}"))


def message(suffixes: st.SearchStrategy[str], network: str = "demo") -> st.SearchStrategy[tuple[str, bytes, bool]]:
    """(topic suffix, payload, retained)."""
    return st.tuples(suffixes, payload_for(network), st.booleans())
