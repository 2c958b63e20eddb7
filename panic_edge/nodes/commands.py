"""Commands to one node, on ``panic/<appliance_id>/nodes/<node_id>/cmd/<verb>`` (docs/mqtt.md).

Pure. The verb is the topic's last level; the payload is ignored (send ``{}`` or nothing).
Retained commands are refused like the daemon's: a stale ``blank`` must not replay at every start.

- ``blank``: a black screen (a speaker goes quiet, a Vestaboard holds its last message) until ``wake``;
- ``wake``: back to the live picture;
- ``reload``: forget what is shown and fetch the recent invocations and their media again;
- ``screenshot``: publish a small PNG of the screen on ``nodes/<node_id>/screenshot``.
"""

from __future__ import annotations

from dataclasses import dataclass

from panic_edge.core.topics import NODE_COMMANDS
from panic_edge.errors import PayloadError


@dataclass(frozen=True)
class NodeCommand:
    verb: str


def parse_node_command(verb: str, retained: bool = False) -> NodeCommand:
    if retained:
        raise PayloadError(f"a retained cmd/{verb[:40]!r} is ignored: commands must not be retained")
    if verb not in NODE_COMMANDS:
        raise PayloadError(f"unknown node command {verb[:40]!r}; known: {', '.join(NODE_COMMANDS)}")
    return NodeCommand(verb)
