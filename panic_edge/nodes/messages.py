"""What a display node reads off the bus, parsed strictly: any bytes give a record or a PayloadError
(``core.wire`` bounds the JSON: no lone surrogates, no huge numbers, no deep nesting).

Pure: no I/O. The shapes are those of docs/mqtt.md; unknown extra fields are ignored so a newer
daemon does not break an older node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from panic_edge.core.installation import (
    GridScreen,
    Installation,
    SingleScreen,
    SpeakerScreen,
    VestaboardScreen,
    parse_installation,
)
from panic_edge.core.payloads import MAX_PAYLOAD_BYTES
from panic_edge.core.wire import check_object, load_object
from panic_edge.errors import ConfigError, PayloadError

STATES = {"ready": 0, "invoking": 1, "completed": 2, "failed": 2}
TYPES = ("text", "image", "audio")
MAX_MESSAGE_BYTES = 4 * MAX_PAYLOAD_BYTES  # an invocation carries up to 20,000 characters of text


@dataclass(frozen=True)
class Shown:
    """One invocation as a node sees it (the ``networks/<slug>/invocations`` message)."""

    id: str
    run_id: str
    network: str
    sequence: int
    model: str
    model_name: str
    state: str
    input_type: str
    output_type: str
    input: str | None
    output: str | None
    output_mime: str | None = None
    flags: tuple[str, ...] = ()
    error: str | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def rank(self) -> int:
        """How far along it is: ready 0, invoking 1, completed or failed 2. States never go back."""
        return STATES[self.state]

    @property
    def done(self) -> bool:
        return self.rank == 2

    @property
    def nsfw(self) -> bool:
        return "nsfw" in self.flags

    @property
    def cancelled(self) -> bool:
        """Failed because its run was stopped or replaced: not an output anyone should see."""
        return self.state == "failed" and (self.error or "").startswith("cancelled")

    @property
    def order(self) -> tuple[float, str, int]:
        return (self.created_at, self.run_id, self.sequence)


def _json_object(payload: bytes, what: str) -> dict[str, Any]:
    return load_object(payload, what, MAX_MESSAGE_BYTES)


def _field(body: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str,
           optional: bool = False) -> Any:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        wanted = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise PayloadError(f'{what} needs "{key}" as {wanted}, got {value!r:.60}')
    return value


def parse_invocation(payload: bytes | dict[str, Any]) -> Shown:
    """An invocation message (bytes off the bus, or one item of the HTTP API's list)."""
    what = "invocation message"
    if isinstance(payload, dict):
        body = payload
        check_object(body, what)
    elif isinstance(payload, bytes):
        body = _json_object(payload, what)
    else:
        raise PayloadError(f"{what} must be a JSON object, not {type(payload).__name__}")
    state = _field(body, "state", str, what)
    if state not in STATES:
        raise PayloadError(f"{what} has unknown state {state!r}; expected {', '.join(STATES)}")
    output_type = _field(body, "output_type", str, what)
    if output_type not in TYPES:
        raise PayloadError(f"{what} has unknown output_type {output_type!r}")
    sequence = _field(body, "sequence", int, what)
    if sequence < 0:
        raise PayloadError(f"{what} has a negative sequence")
    flags = body.get("flags") or []
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise PayloadError(f'{what} needs "flags" as a list of strings')
    num = (int, float)
    return Shown(
        id=_field(body, "id", str, what), run_id=_field(body, "run_id", str, what),
        network=_field(body, "network", str, what), sequence=sequence,
        model=_field(body, "model", str, what),
        model_name=name if isinstance(name := body.get("model_name"), str) else _field(body, "model", str, what),
        state=state, input_type=str(body.get("input_type") or "text"), output_type=output_type,
        input=_field(body, "input", str, what, optional=True),
        output=_field(body, "output", str, what, optional=True),
        output_mime=_field(body, "output_mime", str, what, optional=True), flags=tuple(flags),
        error=_field(body, "error", str, what, optional=True),
        created_at=float(_field(body, "created_at", num, what)),
        started_at=_opt_float(_field(body, "started_at", num, what, optional=True)),
        finished_at=_opt_float(_field(body, "finished_at", num, what, optional=True)))


def _opt_float(value: float | None) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class NetworkState:
    """The retained ``networks/<slug>/state``."""

    network: str
    state: str
    run_id: str | None = None
    sequence: int | None = None
    model: str | None = None
    lockout_until: float | None = None
    next_invocation_at: float | None = None  # the paced wait: the next call is due then
    held_reason: str | None = None  # closed / budget / offline, while the next call is held
    pause: str | None = None  # why, in words, while held for the budget or the opening hours
    gate: str | None = None  # closed / budget / offline: what keeps the network from starting or calling now

    @property
    def running(self) -> bool:
        return self.state == "running"


GATES = ("closed", "budget", "offline")


def parse_network_state(payload: bytes) -> NetworkState:
    what = "network state"
    body = _json_object(payload, what)
    state = _field(body, "state", str, what)
    if state not in ("idle", "running"):
        raise PayloadError(f"{what} has unknown state {state!r}; expected idle or running")
    lockout = _field(body, "lockout_until", (int, float), what, optional=True)
    due = _field(body, "next_invocation_at", (int, float), what, optional=True)
    held = body.get("held_reason")
    pause = body.get("pause")
    gate = body.get("gate")
    return NetworkState(_field(body, "network", str, what), state,
                        _field(body, "run_id", str, what, optional=True),
                        _field(body, "sequence", int, what, optional=True),
                        _field(body, "model", str, what, optional=True),
                        None if lockout is None else float(lockout),
                        None if due is None else float(due),
                        held if held in GATES else None,
                        pause[:300] if isinstance(pause, str) and pause else None,
                        gate if gate in GATES else None)


def parse_availability(payload: bytes) -> bool:
    text = payload.decode("utf-8", "replace").strip()
    if text not in ("online", "offline"):
        raise PayloadError(f"availability must be online or offline, not {text[:40]!r}")
    return text == "online"


@dataclass(frozen=True)
class Reply:
    command: str
    request_id: str | None
    ok: bool
    message: str
    retry_after: float | None = None


def parse_reply(payload: bytes) -> Reply:
    what = "command reply"
    body = _json_object(payload, what)
    retry = _field(body, "retry_after", (int, float), what, optional=True)
    return Reply(_field(body, "command", str, what), _field(body, "request_id", str, what, optional=True),
                 _field(body, "ok", bool, what), str(body.get("message") or ""),
                 None if retry is None else float(retry))


@dataclass(frozen=True)
class ApplianceStatus:
    """What a node needs from the retained ``status``: network names, about pages, media base, and
    the visitors' prompt page with a fresh pass (``visit_urls``; see flask_ui/visitor.py)."""

    network_names: dict[str, str]
    about_urls: dict[str, str]
    media_base: str | None
    visit_urls: dict[str, str] = field(default_factory=dict)
    open: bool = True  # within the opening hours ([schedule])
    opens_at: str | None = None  # when closed: when it opens, as people read it


def parse_status(payload: bytes) -> ApplianceStatus:
    what = "appliance status"
    body = _json_object(payload, what)
    networks = body.get("networks") or {}
    if not isinstance(networks, dict):
        raise PayloadError(f'{what} needs "networks" as an object')
    names, abouts, visits = {}, {}, {}
    for slug, net in networks.items():
        if isinstance(net, dict):
            if isinstance(net.get("name"), str):
                names[slug] = net["name"]
            if isinstance(net.get("about_url"), str) and net["about_url"]:
                abouts[slug] = net["about_url"]
            if isinstance(net.get("visit_url"), str) and net["visit_url"].startswith(("http://", "https://")):
                visits[slug] = net["visit_url"]
    base = body.get("media_base")
    opens_at = body.get("opens_at")
    return ApplianceStatus(names, abouts, base if isinstance(base, str) and base else None, visits,
                           body.get("open") is not False,
                           opens_at[:60] if isinstance(opens_at, str) and opens_at else None)


@dataclass(frozen=True)
class Connection:
    """The node's own broker connection came or went."""

    online: bool


@dataclass(frozen=True)
class Appliance:
    """The appliance's retained ``availability``."""

    online: bool


def parse_installation_message(payload: bytes) -> Installation:
    """A retained ``installations/<name>`` (never empty: an empty one means it was removed).

    Checked by the same rules as the config's ``[[installations]]``, except that keys this node
    does not know (a newer daemon's) are dropped rather than refused."""
    what = "installation message"
    body = _json_object(payload, what)
    try:
        return parse_installation(body, lenient=True)
    except ConfigError as err:
        raise PayloadError(f"{what}: {err}") from None


@dataclass(frozen=True)
class Assigned:
    """This node's screen (``--screen NAME``) as its installation describes it now."""

    installation: str
    network: str
    screen: SingleScreen | GridScreen | VestaboardScreen | SpeakerScreen


@dataclass(frozen=True)
class Unassigned:
    """No installation has this node's screen (any more), or it is a screen for another kind of node."""

    screen: str
    reason: str


Event = Connection | Appliance | ApplianceStatus | NetworkState | Shown | Reply | Assigned | Unassigned
