"""The latest image output of each network, retained on ``networks/<slug>/latest_image``.

The invocation stream mixes text, images and audio, and a subscriber that arrives late sees none
of it; Home Assistant's image entity wants one URL it can fetch, now. So every completed image is
also published here, retained: ``{"url", "invocation_id", "run_id", "sequence", "model", "flags",
"finished_at"}``. The URL is the daemon's own media URL (``media_base``): whoever fetches it must
reach it (``http.host`` / ``public_url``).
"""

from __future__ import annotations

from typing import Any

from panic_edge.core import payloads
from panic_edge.core.topics import Topics
from panic_edge.daemon.announce import Publisher


class LatestImages:
    def __init__(self, publisher: Publisher, topics: Topics) -> None:
        self.publisher, self.topics = publisher, topics
        self._last: dict[str, bytes] = {}

    def observe(self, body: dict[str, Any]) -> None:
        """Take an invocation message (as published); a completed image becomes the network's latest."""
        if body.get("state") != "completed" or body.get("output_type") != "image" \
                or not isinstance(body.get("output"), str):
            return
        slug = str(body.get("network"))
        payload = payloads.encode({"url": body["output"], "invocation_id": body.get("id"),
                                   "run_id": body.get("run_id"), "sequence": body.get("sequence"),
                                   "model": body.get("model"), "flags": body.get("flags", []),
                                   "finished_at": body.get("finished_at")})
        self._last[slug] = payload
        self.publisher.publish(self.topics.latest_image(slug), payload, qos=1, retain=True)

    def republish(self) -> None:
        """After a reconnect (a broker without persistence has forgotten them)."""
        for slug, payload in self._last.items():
            self.publisher.publish(self.topics.latest_image(slug), payload, qos=1, retain=True)

    def forget(self, slug: str) -> None:
        """The network was removed: clear its retained image."""
        self._last.pop(slug, None)
        self.publisher.publish(self.topics.latest_image(slug), b"", qos=1, retain=True)
