"""The fleet: every appliance seen on the broker, from its retained topics. Pure and total.

Appliances that share a broker, directly or through Mosquitto bridges to a central broker (see
``panic_edge/broker_bridge.py``), each publish ``panic/<id>/availability``, ``status``, ``bridge``
and their nodes' ``nodes/<node_id>/availability|status``. ``Fleet.apply(topic, payload)`` takes one
such message; ``Fleet.snapshot()`` is the JSON of ``GET /api/fleet``.

Anyone on the broker can publish anything there, so everything is parsed totally and bounded:
at most ``max_appliances`` appliances and ``max_nodes`` nodes each (later ones are not tracked until
room is made by a cleared retained topic), payloads over ``MAX_PAYLOAD_BYTES`` ignored, only known
keys of the known types kept, strings cut and made valid UTF-8, links only ``http(s)://``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from panic_edge.core.topics import ROOT

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_NETWORKS = 64
ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
HEALTH_NUMBERS = ("disk_free_bytes", "archive_bytes", "memory_available_bytes", "cpu_temp_c")
SPEND_NUMBERS = ("today_usd", "hour_usd", "cap_usd")


@dataclass
class _Node:
    online: bool = False
    kind: str | None = None
    network: str | None = None
    screen: str | None = None
    known: bool = False  # a status was seen


@dataclass
class _Appliance:
    availability: str | None = None  # online / offline, as published
    bridge: str | None = None  # up / down: its broker bridge, from the bridge's notifications
    status: dict[str, Any] | None = None
    nodes: dict[str, _Node] = field(default_factory=dict)
    updated_at: float = 0.0

    def empty(self) -> bool:
        return self.availability is None and self.bridge is None and self.status is None and not self.nodes


class Fleet:
    def __init__(self, clock: Callable[[], float], max_appliances: int = 100, max_nodes: int = 100) -> None:
        self.clock = clock
        self.max_appliances, self.max_nodes = max_appliances, max_nodes
        self.ignored = 0  # messages dropped: junk, or over a bound
        self._appliances: dict[str, _Appliance] = {}

    @property
    def filters(self) -> tuple[str, ...]:
        """The subscriptions that feed it."""
        return (f"{ROOT}/+/availability", f"{ROOT}/+/status", f"{ROOT}/+/bridge", f"{ROOT}/+/nodes/+/availability",
                f"{ROOT}/+/nodes/+/status")

    def apply(self, topic: str, payload: bytes) -> bool:
        """Take one message; True if it changed what is known. Never raises."""
        parts = topic.split("/")
        if len(parts) not in (3, 5) or parts[0] != ROOT or not ID.match(parts[1]) or len(payload) > MAX_PAYLOAD_BYTES:
            self.ignored += 1
            return False
        appliance = self._appliances.get(parts[1])
        if appliance is None:
            if not payload or len(self._appliances) >= self.max_appliances:
                self.ignored += bool(payload)
                return False
            appliance = self._appliances[parts[1]] = _Appliance()
        changed = self._apply(appliance, parts[2:], payload)
        if changed:
            appliance.updated_at = self.clock()
        if appliance.empty():
            del self._appliances[parts[1]]
        return changed

    def _apply(self, appliance: _Appliance, leaf: list[str], payload: bytes) -> bool:
        before = (appliance.availability, appliance.bridge, appliance.status)
        if leaf == ["availability"]:
            appliance.availability = _word(payload, {b"online": "online", b"offline": "offline"})
        elif leaf == ["bridge"]:
            appliance.bridge = _word(payload, {b"1": "up", b"0": "down"})
        elif leaf == ["status"]:
            appliance.status = parse_status(payload) if payload else None
        elif len(leaf) == 3 and leaf[0] == "nodes" and ID.match(leaf[1]) and leaf[2] in ("availability", "status"):
            return self._apply_node(appliance, leaf[1], leaf[2], payload)
        else:
            self.ignored += 1
            return False
        return (appliance.availability, appliance.bridge, appliance.status) != before

    def _apply_node(self, appliance: _Appliance, node_id: str, leaf: str, payload: bytes) -> bool:
        node = appliance.nodes.get(node_id)
        if node is None:
            if not payload or len(appliance.nodes) >= self.max_nodes:
                self.ignored += bool(payload)
                return False
            node = appliance.nodes[node_id] = _Node()
        before = (node.online, node.kind, node.network, node.screen, node.known)
        if leaf == "availability":
            node.online = payload.strip() == b"online"
        else:
            body = _json(payload) if payload else None
            node.known = isinstance(body, dict)
            body = body if isinstance(body, dict) else {}
            node.kind, node.network, node.screen = (_text(body.get("kind"), 40), _text(body.get("network"), 64),
                                                    _text(body.get("screen"), 64))
        if not payload and not node.online and not node.known:
            del appliance.nodes[node_id]  # both retained topics cleared: the node was retired
            return True
        return (node.online, node.kind, node.network, node.screen, node.known) != before

    def snapshot(self, own_id: str | None = None) -> dict[str, Any]:
        """``{"appliances": [...], "ignored": n}``: this appliance first, then by id."""
        out = []
        for appliance_id in sorted(self._appliances, key=lambda a: (a != own_id, a)):
            a = self._appliances[appliance_id]
            status = a.status or {}
            media_base = status.get("media_base")
            nodes = [{"node_id": node_id, "online": n.online, "kind": n.kind, "network": n.network,
                      "screen": n.screen} for node_id, n in sorted(a.nodes.items())]
            out.append({"appliance_id": appliance_id, "self": appliance_id == own_id,
                        "availability": a.availability or "unknown", "uplink": a.bridge,
                        "reachable": a.availability == "online" and a.bridge != "down",
                        "admin_url": f"{media_base}/" if media_base else None,
                        **{k: v for k, v in status.items() if k != "media_base"},
                        "nodes": nodes, "nodes_seen_online": sum(1 for n in nodes if n["online"]),
                        "updated_at": a.updated_at})
        return {"appliances": out, "ignored": self.ignored}


def parse_status(payload: bytes) -> dict[str, Any] | None:
    """The fields of an appliance's ``status`` the fleet shows, each checked; None if not a status."""
    body = _json(payload)
    if not isinstance(body, dict):
        return None
    media_base = _text(body.get("media_base"), 300)
    networks = body.get("networks")
    out: dict[str, Any] = {
        "version": _text(body.get("version"), 40), "internet": _text(body.get("internet"), 20),
        "media_base": media_base.rstrip("/") if media_base and re.match(r"^https?://[^\s\"'<>]+$", media_base)
        else None,
        "uptime": _number(body.get("uptime")), "nodes_online": _number(body.get("nodes_online")),
        "storage_problem": _text(body.get("storage_problem"), 300),
        "open": body["open"] if isinstance(body.get("open"), bool) else None,
        "networks": [_network(slug, net) for slug, net in list(networks.items())[:MAX_NETWORKS]
                     if isinstance(slug, str) and SLUG.match(slug) and isinstance(net, dict)]
        if isinstance(networks, dict) else [],
        "health": _health(body.get("health")),
        "spend": _numbers(body.get("spend"), SPEND_NUMBERS),
    }
    return out


def _network(slug: str, net: dict[str, Any]) -> dict[str, Any]:
    return {"slug": slug, "name": _text(net.get("name"), 100) or slug, "state": _text(net.get("state"), 20),
            "sequence": _number(net.get("sequence")), "online": net.get("online") is not False,
            "held": net.get("held") is True, "nodes": _number(net.get("nodes"))}


def _health(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    out: dict[str, Any] = _numbers(value, HEALTH_NUMBERS) or {}
    load = value.get("load")
    out["load"] = [_number(x) for x in load[:3]] if isinstance(load, list) else None
    out["throttled"] = bool(value.get("throttled")) if value.get("throttled") is not None else None
    warnings = value.get("warnings")
    out["warnings"] = [w for w in (_text(x, 200) for x in warnings[:10]) if w] if isinstance(warnings, list) else []
    return out


def _numbers(value: Any, keys: tuple[str, ...]) -> dict[str, Any] | None:
    return {k: _number(value.get(k)) for k in keys} if isinstance(value, dict) else None


def _json(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None


def _word(payload: bytes, words: dict[bytes, str]) -> str | None:
    return words.get(payload.strip()) if payload else None


def _text(value: Any, limit: int) -> str | None:
    """A string for a page or JSON: cut, and valid UTF-8 (a lone surrogate cannot be encoded)."""
    if not isinstance(value, str) or not value:
        return None
    return value[:limit].encode("utf-8", "replace").decode("utf-8")


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if abs(value) < 1e18 else None
