"""Remote screens: the latest screenshot of each node, kept for the admin page, and commands to nodes.

Nodes publish a small PNG on ``nodes/<node_id>/screenshot`` when asked (``cmd/screenshot``). The
daemon keeps the newest one per node, bounded (``MAX_NODES`` nodes, ``MAX_BYTES`` each, at most
``MAX_SIDE`` pixels a side, checked from the PNG header), in memory only: after a restart the
page asks again. Commands go out on ``nodes/<node_id>/cmd/<verb>``, QoS 1, never retained.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from panic_edge.core.topics import NODE_COMMANDS, Topics
from panic_edge.errors import CommandError, PayloadError
from panic_edge.quiet import Quiet

log = logging.getLogger("panic_edge.daemon")

MAX_NODES = 64
MAX_BYTES = 256 * 1024
MAX_SIDE = 640
MAX_NODE_ID = 100
PNG = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Screenshot:
    png: bytes
    width: int
    height: int
    at: float


def png_size(payload: bytes) -> tuple[int, int]:
    """(width, height) of a PNG small enough to keep; PayloadError for anything else. Pure."""
    if len(payload) > MAX_BYTES:
        raise PayloadError(f"a screenshot of {len(payload)} bytes is over the limit of {MAX_BYTES}")
    if len(payload) < 24 or not payload.startswith(PNG) or payload[12:16] != b"IHDR":
        raise PayloadError("a screenshot must be a PNG")
    width, height = struct.unpack(">II", payload[16:24])
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise PayloadError(f"a screenshot of {width}x{height} is over {MAX_SIDE}x{MAX_SIDE}")
    return width, height


class Screens:
    """Thread-safe: screenshots arrive on the event loop, the admin page reads on waitress threads."""

    def __init__(self, topics: Topics, publish: Callable[[str, bytes], None],
                 nodes: Callable[[], list[dict[str, Any]]], clock: Callable[[], float] = time.time) -> None:
        self.topics, self.publish, self._nodes, self.clock = topics, publish, nodes, clock
        self._shots: OrderedDict[str, Screenshot] = OrderedDict()
        self._lock = threading.Lock()
        self._quiet = Quiet(log)  # a line a minute per node at most

    def put(self, node_id: str, payload: bytes) -> Screenshot | None:
        """Keep a node's screenshot; a bad one is logged and dropped (the previous one stays)."""
        try:
            if not node_id or len(node_id) > MAX_NODE_ID:
                raise PayloadError("the node id is empty or too long")
            width, height = png_size(payload)
        except PayloadError as err:
            self._quiet.warning(node_id[:MAX_NODE_ID], "ignored a screenshot from node %r: %s",
                                node_id[:MAX_NODE_ID], err)
            return None
        shot = Screenshot(payload, width, height, self.clock())
        with self._lock:
            self._shots.pop(node_id, None)
            self._shots[node_id] = shot
            while len(self._shots) > MAX_NODES:
                self._shots.popitem(last=False)
        return shot

    def get(self, node_id: str) -> Screenshot | None:
        with self._lock:
            return self._shots.get(node_id)

    def nodes(self) -> list[dict[str, Any]]:
        """Every node the daemon has heard of, with the time of its latest screenshot (or None)."""
        out = []
        for node in self._nodes():
            shot = self.get(node["node_id"])
            out.append({**node, "screenshot_at": shot.at if shot else None})
        return sorted(out, key=lambda n: (not n["online"], n["node_id"]))

    def command(self, node_id: str, verb: str) -> None:
        """Send ``verb`` to a node that is online and takes it; CommandError otherwise."""
        if verb not in NODE_COMMANDS:
            raise CommandError(f"unknown node command {verb!r}; known: {', '.join(NODE_COMMANDS)}")
        node = next((n for n in self._nodes() if n["node_id"] == node_id), None)
        if node is None:
            raise CommandError(f"there is no node {node_id!r}")
        if not node["online"]:
            raise CommandError(f"node {node_id!r} is offline")
        if verb not in node["commands"]:
            raise CommandError(f"node {node_id!r} ({node['kind']}) does not take {verb!r}")
        self.publish(self.topics.node_cmd(node_id, verb), b"{}")
