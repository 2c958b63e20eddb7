"""The MQTT topic tree, under ``panic/<appliance_id>/``. docs/mqtt.md is generated from this."""

from __future__ import annotations

import re
from dataclasses import dataclass

ROOT = "panic"
NODE_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")  # a display node's id: one topic level (and its MQTT client id)


def node_client_id(appliance_id: str, node_id: str, *, logged_in: bool) -> str:
    """A display node's MQTT client id.

    A broker gives a client id to whoever connected last, so two appliances on one broker, each with
    a ``[nodes.lobby]``, would push each other's lobby off all day: without a login the id is
    ``<appliance_id>-<node_id>``. With a login it stays the bare node id, because the ACL
    ``panic-edge broker-config`` writes lets a client write only ``nodes/<its client id>/<leaf>``
    (Mosquitto's ``%c``, which can only stand for a whole topic level, and the shared node login
    leaves nothing else to tell nodes apart). That broker serves one appliance, so the bare id meets
    no other appliance's there; the limit is a broker of someone else's that wants logins
    (docs/security.md)."""
    return node_id if logged_in else f"{appliance_id}-{node_id}"


@dataclass(frozen=True)
class Topics:
    appliance_id: str

    @property
    def base(self) -> str:
        return f"{ROOT}/{self.appliance_id}"

    @property
    def availability(self) -> str:
        """Retained ``online`` / ``offline``; ``offline`` is the daemon's last will."""
        return f"{self.base}/availability"

    @property
    def status(self) -> str:
        """Retained JSON: the appliance's own status (version, uptime, networks, platforms)."""
        return f"{self.base}/status"

    def network_state(self, slug: str) -> str:
        """Retained JSON: one network's runner state."""
        return f"{self.base}/networks/{slug}/state"

    def invocations(self, slug: str) -> str:
        """QoS 1 JSON, one message for every invocation state change."""
        return f"{self.base}/networks/{slug}/invocations"

    def latest_image(self, slug: str) -> str:
        """Retained JSON: the network's latest image output (its URL), for Home Assistant's image entity."""
        return f"{self.base}/networks/{slug}/latest_image"

    @property
    def bridge(self) -> str:
        """Retained ``1`` / ``0``: whether this appliance's broker bridge to a central broker is up. Written
        by Mosquitto (the bridge's notifications), not by the daemon; ``0`` is the bridge's last will."""
        return f"{self.base}/bridge"

    def insight(self, slug: str) -> str:
        """QoS 1 JSON, not retained: a run's geometry after each embedded output (docs/insight.md)."""
        return f"{self.base}/networks/{slug}/insight"

    def cmd(self, name: str) -> str:
        """Commands to the daemon: ``start``, ``stop``, ``stop-all``, ``press``, ``button-network``."""
        return f"{self.base}/cmd/{name}"

    @property
    def cmd_filter(self) -> str:
        return f"{self.base}/cmd/+"

    @property
    def cmd_reply(self) -> str:
        """JSON answer to every command: ``ok``, ``error``, echoing ``request_id``."""
        return f"{self.base}/cmd/reply"

    def command_name(self, topic: str) -> str | None:
        """``start`` for ``panic/<id>/cmd/start``; None for any other topic."""
        prefix = f"{self.base}/cmd/"
        return topic[len(prefix):] if topic.startswith(prefix) else None

    def node_availability(self, node_id: str) -> str:
        """Retained ``online`` / ``offline`` of one display node; ``offline`` is its last will."""
        return self._node_leaf(node_id, "availability")

    def node_status(self, node_id: str) -> str:
        """Retained JSON: what one display node shows (``kind``, ``network``, ``mode``)."""
        return self._node_leaf(node_id, "status")

    @property
    def nodes_filter(self) -> str:
        return f"{self.base}/nodes/+/+"

    def installation(self, name: str) -> str:
        """Retained JSON: one installation, its network and its screens; ``--screen`` nodes follow it."""
        return f"{self.base}/installations/{name}"

    @property
    def installations_filter(self) -> str:
        return f"{self.base}/installations/+"

    def installation_name(self, topic: str) -> str | None:
        """``gallery`` for ``panic/<id>/installations/gallery``; None for any other topic."""
        prefix = f"{self.base}/installations/"
        name = topic[len(prefix):] if topic.startswith(prefix) else ""
        return name if name and "/" not in name else None

    def node_cmd(self, node_id: str, verb: str) -> str:
        """Commands to one node: ``blank``, ``wake``, ``reload``, ``screenshot`` (see NODE_COMMANDS)."""
        return f"{self.base}/nodes/{node_id}/cmd/{verb}"

    def node_cmd_filter(self, node_id: str) -> str:
        return f"{self.base}/nodes/{node_id}/cmd/+"

    def node_screenshot(self, node_id: str) -> str:
        """A small PNG of what one screen shows, sent when asked (``cmd/screenshot``); not retained."""
        return self._node_leaf(node_id, "screenshot")

    def _node_leaf(self, node_id: str, leaf: str) -> str:
        assert leaf in NODE_LEAVES, leaf  # the broker's ACL lets a node write only these
        return f"{self.base}/nodes/{node_id}/{leaf}"

    def node_topic_leaf(self, topic: str) -> tuple[str, str] | None:
        """``(node_id, rest)`` for any topic under ``nodes/``; None otherwise."""
        prefix = f"{self.base}/nodes/"
        if not topic.startswith(prefix):
            return None
        node_id, _, rest = topic[len(prefix):].partition("/")
        return (node_id, rest) if node_id and rest else None

    def is_event(self, topic: str) -> bool:
        """Whether every message on ``topic`` matters (a command, an invocation, a node's command),
        rather than only its newest (a status, an availability, an installation, a screenshot,
        a run's insight, which carries its whole path; anything outside this appliance's tree)."""
        if not topic.startswith(f"{self.base}/"):
            return False
        rest = topic[len(self.base) + 1:]
        return (rest.startswith("cmd/") or (rest.startswith("nodes/") and "/cmd/" in rest)
                or (rest.startswith("networks/") and rest.endswith("/invocations")))

    def is_state(self, topic: str) -> bool:
        """Only the newest message on ``topic`` matters: an Inbox keeps just that one waiting."""
        return not self.is_event(topic)


COMMANDS = ("start", "stop", "stop-all", "press", "button-network")
NODE_COMMANDS = ("blank", "wake", "reload", "screenshot")
NODE_LEAVES = ("availability", "status", "screenshot")  # what a display node publishes about itself
