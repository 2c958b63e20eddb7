"""MQTT payloads: what the daemon publishes and the commands it accepts.

Encoding is plain JSON (UTF-8). Parsing is strict and total: any bytes give either a command
or a PayloadError whose message says what was wrong, never another exception (see ``wire``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from panic_edge.core import wire
from panic_edge.core.runner import MAX_PROMPT_CHARS
from panic_edge.core.topics import COMMANDS
from panic_edge.errors import PayloadError

MAX_PAYLOAD_BYTES = 16 * 1024
MAX_REQUEST_ID_CHARS = 128
MAX_NETWORK_CHARS = 64
_SLUG = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls and DEL, not tab, CR or LF


@dataclass(frozen=True)
class Command:
    """A parsed command. ``network`` is None for stop-all, and for a press or start on the button's network."""

    name: str
    network: str | None = None
    prompt: str | None = None
    request_id: str | None = None


def parse_command(name: str, payload: bytes) -> Command:
    """Parse the payload of ``cmd/<name>``. Raises PayloadError with a message to reply with, carrying
    the payload's ``request_id`` when that much could be read, so the reply can still echo it."""
    if name not in COMMANDS:
        raise PayloadError(f"unknown command {name[:40]!r}; use {', '.join(COMMANDS)}")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    body = wire.load_json(payload, "payload", MAX_PAYLOAD_BYTES) if payload.strip() else {}
    given = body.get("request_id")
    request_id = given if isinstance(given, str) and len(given) <= MAX_REQUEST_ID_CHARS and wire.clean(given) \
        else None
    try:
        wire.check_object(body, "payload")
        request_id = _optional_str(body, "request_id", MAX_REQUEST_ID_CHARS)
        return _command(name, body, request_id)
    except PayloadError as err:
        err.request_id = request_id
        raise


def _command(name: str, body: dict[str, Any], request_id: str | None) -> Command:
    network = _optional_str(body, "network", MAX_NETWORK_CHARS)
    if network is not None and not _SLUG.fullmatch(network):
        raise PayloadError(f'"network" must be a network\'s slug (letters, digits, - and _), not {network[:40]!r}')
    if name in ("stop", "button-network") and not network:  # start and press: the button's network
        raise PayloadError(f'{name} needs a "network"')
    prompt = None
    if name == "start":
        prompt = _optional_str(body, "prompt", MAX_PROMPT_CHARS)
        if not prompt or not prompt.strip():
            raise PayloadError('start needs a non-empty "prompt"')
        if _CONTROL.search(prompt):
            raise PayloadError('"prompt" holds a control character; only line breaks and tabs are allowed')
    return Command(name, network if name != "stop-all" else None, prompt, request_id)


def _optional_str(body: dict[str, Any], key: str, limit: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f'"{key}" must be a string, not {type(value).__name__}')
    if len(value) > limit:
        raise PayloadError(f'"{key}" is {len(value)} characters; the limit is {limit}')
    return value


def encode(obj: dict[str, Any]) -> bytes:
    return wire.encode(obj)


def reply(command: str, request_id: str | None, ok: bool, message: str, **extra: Any) -> bytes:
    body = {"command": command, "request_id": request_id, "ok": ok, "message": message, **extra}
    return encode(body)


def network_state(slug: str, phase: str, run_id: str | None, sequence: int | None,
                  lockout_until: float | None, model: str | None, updated_at: float, *,
                  online: bool = True, held: bool = False, offline_policy: str = "pause",
                  next_invocation_at: float | None = None, held_reason: str | None = None,
                  pause: str | None = None, gate: str | None = None) -> bytes:
    return encode({"network": slug, "state": phase, "run_id": run_id, "sequence": sequence,
                   "model": model, "lockout_until": lockout_until, "online": online, "held": held,
                   "offline_policy": offline_policy, "next_invocation_at": next_invocation_at,
                   "held_reason": held_reason, "pause": pause, "gate": gate, "updated_at": updated_at})
