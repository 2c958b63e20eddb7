"""Runs and invocations as stored in the database and published over MQTT."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from panic_edge.core.media import Content, MediaType


class InvocationState(str, enum.Enum):
    READY = "ready"
    INVOKING = "invoking"
    COMPLETED = "completed"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Run:
    id: str
    network: str
    prompt: str
    started_at: float
    ended_at: float | None = None
    end_reason: str | None = None


@dataclass(frozen=True)
class Invocation:
    """One model call: its input, output, state and timings.

    ``meta`` holds what the platform told us: its prediction id, predict time, tokens, a cost
    estimate in dollars when a price is known.
    """

    id: str
    run_id: str
    network: str
    sequence: int
    model: str
    state: InvocationState
    input: Content
    output_type: MediaType
    output: Content | None = None
    error: str | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


def _content_fields(content: Content | None, media_base: str) -> tuple[str | None, list[str]]:
    if content is None:
        return None, []
    if content.text is not None:
        return content.text, list(content.flags)
    return f"{media_base.rstrip('/')}/media/{content.file}", list(content.flags)


def invocation_message(inv: Invocation, model_name: str, media_base: str) -> dict[str, Any]:
    """The JSON body published on ``networks/<slug>/invocations`` for every state change.

    Files are given as URLs where the daemon serves them (``media_base``), never as platform URLs.
    """
    input_value, _ = _content_fields(inv.input, media_base)
    output_value, flags = _content_fields(inv.output, media_base)
    return {
        "id": inv.id,
        "run_id": inv.run_id,
        "network": inv.network,
        "sequence": inv.sequence,
        "model": inv.model,
        "model_name": model_name,
        "state": inv.state.value,
        "input_type": inv.input.type.value,
        "output_type": inv.output_type.value,
        "input": input_value,
        "output": output_value,
        "output_mime": inv.output.mime if inv.output else None,
        "flags": flags,
        "error": inv.error,
        "created_at": inv.created_at,
        "started_at": inv.started_at,
        "finished_at": inv.finished_at,
        "meta": inv.meta,
    }
