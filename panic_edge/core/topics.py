"""The MQTT topic tree, under ``panic/<appliance_id>/``. docs/mqtt.md is generated from this."""

from __future__ import annotations

from dataclasses import dataclass

ROOT = "panic"


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

    def insight(self, slug: str) -> str:
        """QoS 1 JSON, not retained: a run's geometry after each embedded output (docs/insight.md)."""
        return f"{self.base}/networks/{slug}/insight"

    def cmd(self, name: str) -> str:
        """Commands to the daemon: ``start``, ``stop``, ``stop-all``, ``press``."""
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
        return f"{self.base}/nodes/{node_id}/availability"

    def node_status(self, node_id: str) -> str:
        """Retained JSON: what one display node shows (``kind``, ``network``, ``mode``)."""
        return f"{self.base}/nodes/{node_id}/status"

    @property
    def nodes_filter(self) -> str:
        return f"{self.base}/nodes/+/+"

    def node_topic(self, topic: str) -> tuple[str, str] | None:
        """``(node_id, "availability" | "status")`` for a node topic; None for any other topic."""
        prefix = f"{self.base}/nodes/"
        if not topic.startswith(prefix):
            return None
        node_id, _, leaf = topic[len(prefix):].partition("/")
        return (node_id, leaf) if node_id and leaf in ("availability", "status") else None


COMMANDS = ("start", "stop", "stop-all", "press")
