"""MQTT payloads: what the daemon publishes and the commands it accepts.

Encoding is plain JSON (UTF-8). Parsing is strict and total: any bytes give either a command
or a PayloadError whose message says what was wrong, never another exception.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from panic_edge.core.runner import MAX_PROMPT_CHARS
from panic_edge.core.topics import COMMANDS
from panic_edge.errors import PayloadError

MAX_PAYLOAD_BYTES = 16 * 1024


@dataclass(frozen=True)
class Command:
    """A parsed command. ``network`` is None for stop-all, and for a press or start on the button's network."""

    name: str
    network: str | None = None
    prompt: str | None = None
    request_id: str | None = None


def parse_command(name: str, payload: bytes) -> Command:
    """Parse the payload of ``cmd/<name>``. Raises PayloadError with a message to reply with."""
    if name not in COMMANDS:
        raise PayloadError(f"unknown command {name!r}; use {', '.join(COMMANDS)}")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    body: dict[str, Any] = {}
    if payload.strip():
        try:
            decoded = json.loads(payload.decode("utf-8"))
        except UnicodeDecodeError:
            raise PayloadError("payload is not UTF-8 text") from None
        except json.JSONDecodeError as err:
            raise PayloadError(f"payload is not JSON: {err.msg} at character {err.pos}") from None
        if not isinstance(decoded, dict):
            raise PayloadError("payload must be a JSON object")
        body = decoded
    request_id = _optional_str(body, "request_id")
    network = _optional_str(body, "network")
    if name in ("stop", "button-network") and not network:  # start and press: the button's network
        raise PayloadError(f'{name} needs a "network"')
    prompt = None
    if name == "start":
        prompt = _optional_str(body, "prompt")
        if not prompt or not prompt.strip():
            raise PayloadError('start needs a non-empty "prompt"')
        if len(prompt) > MAX_PROMPT_CHARS:
            raise PayloadError(f"prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}")
    return Command(name, network if name != "stop-all" else None, prompt, request_id)


def _optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f'"{key}" must be a string, not {type(value).__name__}')
    return value


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def reply(command: str, request_id: str | None, ok: bool, message: str, **extra: Any) -> bytes:
    body = {"command": command, "request_id": request_id, "ok": ok, "message": message, **extra}
    return encode(body)


def network_state(slug: str, phase: str, run_id: str | None, sequence: int | None,
                  lockout_until: float | None, model: str | None, updated_at: float, *,
                  online: bool = True, held: bool = False, offline_policy: str = "pause") -> bytes:
    return encode({"network": slug, "state": phase, "run_id": run_id, "sequence": sequence,
                   "model": model, "lockout_until": lockout_until, "online": online, "held": held,
                   "offline_policy": offline_policy, "updated_at": updated_at})
