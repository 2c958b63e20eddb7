"""MQTT 5 request/response: where the daemon may send a command's answer.

A command published with an MQTT 5 *response topic* (and usually *correlation data*) is answered
there as well as on ``cmd/reply``, with the correlation data echoed, so ``mosquitto_rr`` works as a
command-line client. The response topic is chosen by whoever sent the command, so it is checked:
the daemon would otherwise publish on the requester's behalf wherever it is allowed to (a
confused deputy), e.g. a fake invocation to every screen, a command to itself, or a discovery
message to Home Assistant. Refused, then: wildcards, ``$`` topics, anything under ``panic/``
(every appliance's contract) except this appliance's ``cmd/reply/...``, and the Home Assistant
prefix. ``panic/<appliance_id>/cmd/reply/<anything>`` is the recommended response topic, since a
locked-down broker lets a control login read it.
"""

from __future__ import annotations

from panic_edge.core.topics import ROOT, Topics

MAX_TOPIC_BYTES = 1024


def response_refusal(topic: str, topics: Topics, forbidden_prefixes: tuple[str, ...] = ()) -> str | None:
    """Why the daemon will not answer on ``topic``, or None when it may."""
    if not topic or len(topic.encode("utf-8", "surrogatepass")) > MAX_TOPIC_BYTES:
        return f"a response topic must be 1 to {MAX_TOPIC_BYTES} bytes"
    if any(c in topic for c in "+#\0") or topic.startswith("$"):
        return "a response topic may not hold wildcards or NUL, nor start with $"
    if topic.startswith(f"{topics.cmd_reply}/"):
        return None
    for prefix in (ROOT, *forbidden_prefixes):
        if topic == prefix or topic.startswith(f"{prefix}/"):
            return (f"a response topic under {prefix}/ could impersonate an appliance or Home Assistant; "
                    f"use {topics.cmd_reply}/<name> or a topic of your own")
    return None
