"""Builders for invocation messages, in the daemon's wire shape (docs/mqtt.md)."""

from __future__ import annotations

import json
from typing import Any

from panic_edge.nodes.messages import Shown, parse_invocation


def message(sequence: int, state: str = "completed", *, run: str = "r1", network: str = "demo",
            output_type: str = "text", output: str | None = None, created: float | None = None,
            **extra: Any) -> dict[str, Any]:
    done = state in ("completed", "failed")
    at = created if created is not None else 1000.0 + sequence
    body = {"id": f"{run}.{sequence}", "run_id": run, "network": network, "sequence": sequence,
            "model": "local-poet", "model_name": "Drift Poet (local)", "state": state,
            "input_type": "text", "output_type": output_type, "input": f"input {sequence}",
            "output": (output if output is not None else f"output {sequence}") if state == "completed"
            else None, "output_mime": None, "flags": [], "error": None,
            "created_at": at, "started_at": at if state != "ready" else None,
            "finished_at": at + 0.5 if done else None, "meta": {}}
    body.update(extra)
    return body


def shown(sequence: int, state: str = "completed", **kw: Any) -> Shown:
    return parse_invocation(message(sequence, state, **kw))


def encoded(sequence: int, state: str = "completed", **kw: Any) -> bytes:
    return json.dumps(message(sequence, state, **kw)).encode()
