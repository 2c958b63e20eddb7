"""Which display nodes are watching which network, from their retained presence topics.

Each node publishes ``nodes/<node_id>/availability`` (``online``, last will ``offline``) and a
retained ``nodes/<node_id>/status`` JSON naming its ``kind``, ``network`` and ``mode``. A node
counts for a network while it is online and its status names that network.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from panic_edge.core.topics import NODE_COMMANDS

log = logging.getLogger("panic_edge.daemon")


@dataclass
class _Node:
    online: bool = False
    network: str | None = None
    kind: str | None = None
    screen: str | None = None  # the installation screen it shows (--screen NAME), if any
    details: dict[str, Any] = field(default_factory=dict)  # mode, host, showing, commands: for the admin page


class Presence:
    def __init__(self) -> None:
        self._nodes: dict[str, _Node] = {}

    def apply(self, node_id: str, leaf: str, payload: bytes) -> bool:
        """Take one node message; True if the counts may have changed. Bad payloads are ignored."""
        node = self._nodes.setdefault(node_id, _Node())
        before = (node.online, node.network, node.screen)
        if leaf == "availability":
            node.online = payload.strip() == b"online"
        elif leaf == "status":
            if not payload:  # a cleared retained status: the node was retired
                node.network = node.kind = None
                node.details = {}
            else:
                try:
                    body = json.loads(payload)
                    network, screen = body["network"], body.get("screen")
                    node.network = network if isinstance(network, str) and network else None  # null: waiting
                    node.kind = str(body.get("kind") or "node")
                    node.screen = screen if isinstance(screen, str) and screen else None
                    node.details = _details(body)
                except (ValueError, KeyError, TypeError, AttributeError):
                    log.warning("ignored a malformed status from display node %s", node_id)
                    return False
        return (node.online, node.network, node.screen) != before

    def counts(self) -> dict[str, int]:
        """Online nodes per network."""
        out: dict[str, int] = {}
        for node in self._nodes.values():
            if node.online and node.network:
                out[node.network] = out.get(node.network, 0) + 1
        return out

    def screens(self) -> list[str]:
        """The installation screens with a node online showing them."""
        return sorted({n.screen for n in self._nodes.values() if n.online and n.screen})

    def online(self) -> int:
        return sum(1 for n in self._nodes.values() if n.online)

    def nodes(self) -> list[dict[str, Any]]:
        """Every node heard of that has a status: id, online, kind, network and its details."""
        return [{"node_id": node_id, "online": n.online, "kind": n.kind, "network": n.network, **n.details}
                for node_id, n in list(self._nodes.items()) if n.kind is not None]


def _details(body: dict[str, Any]) -> dict[str, Any]:
    """The status fields the admin page shows, as short strings; commands only those known."""
    text = {key: value[:100] if isinstance(value := body.get(key), str) else "" for key in ("mode", "host", "showing")}
    commands = body.get("commands")
    known = [c for c in NODE_COMMANDS if isinstance(commands, list) and c in commands]
    return {**text, "commands": known}
