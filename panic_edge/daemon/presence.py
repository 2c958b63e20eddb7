"""Which display nodes are watching which network, from their retained presence topics.

Each node publishes ``nodes/<node_id>/availability`` (``online``, last will ``offline``) and a
retained ``nodes/<node_id>/status`` JSON naming its ``kind``, ``network`` and ``mode``. A node
counts for a network while it is online and its status names that network.

Bounded, because anyone who may publish can invent node ids: an id must be topic-safe
(``NODE_ID``), a status at most MAX_STATUS_BYTES, and at most MAX_NODES nodes are kept. When full,
a new node takes the place of an offline one; if every kept node is online, the newcomer is not
counted. Either is logged once, not per message.

``hear`` says whether a message was refused: the daemon then clears it from the broker when it
was retained, so what anyone invents under ``nodes/`` does not pile up in the broker's memory.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from panic_edge.core.pacing import NO_BOARDS, Boards
from panic_edge.core.topics import NODE_COMMANDS, NODE_ID
from panic_edge.core.wire import load_object
from panic_edge.errors import PayloadError
from panic_edge.quiet import Quiet

log = logging.getLogger("panic_edge.daemon")

MAX_NODES = 256
MAX_STATUS_BYTES = 4096
MAX_FIELD_CHARS = 100
AVAILABILITY = (b"online", b"offline", b"")


class Heard(enum.Enum):
    CHANGED = "changed"  # taken, and what the status counts may have changed
    SAME = "same"  # taken, nothing counted changed
    REFUSED = "refused"  # not taken: a bad id or payload, or no room for another node


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
        self._warned_full = False
        self._warned_ids = False
        self._quiet = Quiet(log)

    def __len__(self) -> int:
        return len(self._nodes)

    def apply(self, node_id: str, leaf: str, payload: bytes) -> bool:
        """Take one node message; True if the counts may have changed. Bad messages are ignored."""
        return self.hear(node_id, leaf, payload) is Heard.CHANGED

    def hear(self, node_id: str, leaf: str, payload: bytes) -> Heard:
        """Take one node message (``leaf``: availability or status) and say what became of it."""
        if not NODE_ID.fullmatch(node_id):
            if not self._warned_ids:
                self._warned_ids = True
                log.warning("ignored a display node whose id %r is not 1-100 letters, digits, - or _ "
                            "(logged once)", node_id[:40].encode("utf-8", "backslashreplace").decode())
            return Heard.REFUSED
        if leaf == "availability" and payload.strip() not in AVAILABILITY:
            self._quiet.warning("availability", "ignored an availability of display node %s that is not "
                                "online or offline", node_id)
            return Heard.REFUSED
        node = self._nodes.get(node_id)
        if node is None:
            if not payload:  # a cleared topic of a node never kept: nothing to forget
                return Heard.SAME
            node = self._admit(node_id)
            if node is None:
                return Heard.REFUSED
        before = self._counted(node)
        if leaf == "availability":
            node.online = payload.strip() == b"online"
        elif leaf == "status":
            if not payload:  # a cleared retained status: the node was retired
                node.network = node.kind = None
                node.details = {}
            else:
                try:
                    node.network, node.kind, node.screen, node.details = _status(payload)
                except PayloadError as err:
                    self._quiet.warning("status", "ignored a malformed status from display node %s: %s",
                                        node_id, err)
                    return Heard.REFUSED
        return Heard.CHANGED if self._counted(node) != before else Heard.SAME

    @staticmethod
    def _counted(node: _Node) -> tuple[object, ...]:
        """What the status and the runner's boards read of a node: a change here is news."""
        return node.online, node.network, node.screen, node.kind, bool(node.details.get("shows_prompt"))

    def _admit(self, node_id: str) -> _Node | None:
        if len(self._nodes) >= MAX_NODES:
            gone = next((key for key, n in self._nodes.items() if not n.online), None)
            if not self._warned_full:
                self._warned_full = True
                log.warning("more than %d display nodes have announced themselves; forgetting offline ones "
                            "and ignoring new ones while all kept are online (logged once)", MAX_NODES)
            if gone is None:
                return None
            del self._nodes[gone]
        node = self._nodes[node_id] = _Node()
        return node

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

    def boards(self, template: Boards = NO_BOARDS) -> dict[str, Boards]:
        """The split-flap boards online per network, and whether one shows a run's prompt (the
        runner holds the loop for them: core/pacing.py); ``template`` brings the hold times."""
        out: dict[str, Boards] = {}
        for node in self._nodes.values():
            if node.online and node.network and node.kind == "vestaboard":
                seen = out.get(node.network, template)
                out[node.network] = replace(seen, online=seen.online + 1, shows_prompt=seen.shows_prompt
                                            or bool(node.details.get("shows_prompt")))
        return out

    def online(self) -> int:
        return sum(1 for n in self._nodes.values() if n.online)

    def is_online(self, node_id: str) -> bool:
        node = self._nodes.get(node_id)
        return node is not None and node.online

    def nodes(self) -> list[dict[str, Any]]:
        """Every node heard of that has a status: id, online, kind, network and its details."""
        return [{"node_id": node_id, "online": n.online, "kind": n.kind, "network": n.network, **n.details}
                for node_id, n in list(self._nodes.items()) if n.kind is not None]



def _status(payload: bytes) -> tuple[str | None, str, str | None, dict[str, Any]]:
    """(network, kind, screen, details) from a node's status JSON. Raises PayloadError. A node
    following an installation has a null network until it knows it."""
    body = load_object(payload, "status", MAX_STATUS_BYTES)
    network, kind, screen = body.get("network"), body.get("kind") or "node", body.get("screen")
    if network is not None and (not isinstance(network, str) or len(network) > MAX_FIELD_CHARS):
        raise PayloadError(f'"network" must be a network slug or null, not {str(network)[:40]!r}')
    if not isinstance(kind, str) or len(kind) > MAX_FIELD_CHARS:
        raise PayloadError('"kind" must be a short string')
    if screen is not None and (not isinstance(screen, str) or len(screen) > MAX_FIELD_CHARS):
        raise PayloadError('"screen" must be a short string')
    return network or None, kind, screen or None, _details(body)


def _details(body: dict[str, Any]) -> dict[str, Any]:
    """The status fields the admin page shows, as short strings; commands only those known."""
    text = {key: value[:100] if isinstance(value := body.get(key), str) else "" for key in ("mode", "host", "showing")}
    commands = body.get("commands")
    known = [c for c in NODE_COMMANDS if isinstance(commands, list) and c in commands]
    return {**text, "commands": known, "shows_prompt": body.get("shows_prompt") is True}
