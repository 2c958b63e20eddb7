"""Installations: named screens grouped on one network, each screen's settings checked by its kind.

An installation is what a curator sets up in a room: "lobby-left shows every third step, the wall
a 2x3 grid, board-1 the starting prompt". Its screens follow the installation's network, so
switching the installation to another network moves every screen at once. A screen is a node
started with ``--screen NAME``; its settings come from here, not from its command line.

Pure: the models validate a config table, an admin form or an MQTT payload with the same rules.

- Names (of installations and screens) are short, lowercase, digits and dashes: a topic level
  and a URL a TV remote can type (``/s/<name>``).
- Screen names are unique across all installations: a node is found by its screen name alone.
- Each kind takes only its own settings (a grid has no stride; a single screen no rows).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from panic_edge.core.network import SLUG
from panic_edge.errors import ConfigError

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
NAME_PATTERN = NAME.pattern
MAX_SCREENS = 32
KINDS = ("single", "grid", "vestaboard", "speaker")
NODE_COMMAND = {"single": "display", "grid": "display", "vestaboard": "vestaboard", "speaker": "speaker"}


class _Screen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN, description="The screen's name: `--screen NAME` and `/s/NAME`.")

    @property
    def command(self) -> str:
        """The node command that shows this screen: display, vestaboard or speaker."""
        return NODE_COMMAND[self.kind]  # type: ignore[attr-defined]  # each kind of screen's Literal field

    def describe(self) -> str:
        raise NotImplementedError


class _Strided(_Screen):
    offset: int = Field(0, ge=0, le=63, description="Shows the steps with sequence % stride == offset.")
    stride: int = Field(1, ge=1, le=64, description="How many screens share the loop.")

    @model_validator(mode="after")
    def _offset_below_stride(self) -> _Strided:
        if self.offset >= self.stride:
            raise ValueError(f"offset {self.offset} must be less than stride {self.stride}")
        return self


class SingleScreen(_Strided):
    """One invocation at a time: the current run's latest with `sequence % stride == offset`."""

    kind: Literal["single"] = "single"
    show_invoking: bool = Field(False, description="Show a running step's model and timer.")
    terminal: bool = Field(False, description="A visitor console: type a prompt, Enter starts a run.")
    qr: str = Field("", max_length=500, description='"about" for a QR code to the network\'s about '
                    'page, a URL for one to it, empty for none.')

    def describe(self) -> str:
        extra = (", showing invoking" if self.show_invoking else "") + (", terminal" if self.terminal else "")
        return f"single, offset {self.offset} of stride {self.stride}{extra}"


class GridScreen(_Screen):
    """A ROWS x COLS grid, newest first or in slots by sequence."""

    kind: Literal["grid"] = "grid"
    rows: int = Field(2, ge=1, le=16, description="Rows of cells, 1 to 16.")
    cols: int = Field(2, ge=1, le=16, description="Columns of cells, 1 to 16.")
    order: Literal["newest", "sequence"] = Field("newest", description="newest: the most recent steps, "
                                                 "newest first; sequence: step seq in slot seq % (rows*cols).")
    qr: str = Field("", max_length=500, description="As for single screens.")

    def describe(self) -> str:
        return f"grid {self.rows}x{self.cols}" + (" by sequence" if self.order == "sequence" else "")


class VestaboardScreen(_Strided):
    """A split-flap board: text outputs with `sequence % stride == offset`."""

    kind: Literal["vestaboard"] = "vestaboard"
    show_prompt: bool = Field(False, description="Show a run's starting prompt when it starts.")
    board: Literal["flagship", "note"] = Field("flagship", description="flagship (6x22) or note (3x15).")
    api: Literal["local", "rw"] = Field("local", description="The board's Local API, or the Read/Write "
                                        "cloud API; the key stays on the node ($PANIC_EDGE_VESTABOARD_KEY).")
    url: str = Field("", max_length=500, description="The API's base URL; empty for the default.")
    min_interval: float | None = Field(None, ge=1, le=3600, description="Seconds between messages.")

    def describe(self) -> str:
        prompt = ", shows the starting prompt" if self.show_prompt else ""
        return f"vestaboard {self.board} via {self.api}, offset {self.offset} of stride {self.stride}{prompt}"


class SpeakerScreen(_Screen):
    """A speaker: audio outputs in order (and text, spoken)."""

    kind: Literal["speaker"] = "speaker"
    speak_text: bool = Field(False, description="Also speak text outputs (espeak-ng).")
    max_behind: int = Field(2, ge=1, le=50, description="Clips kept waiting when behind; older ones are skipped.")
    stale_after: float = Field(120.0, gt=0, le=3600, description="Skip clips older than this many seconds.")

    def describe(self) -> str:
        return "speaker" + (", speaking text" if self.speak_text else "")


Screen = Annotated[SingleScreen | GridScreen | VestaboardScreen | SpeakerScreen, Field(discriminator="kind")]
SCREEN_TYPES: dict[str, type[_Screen]] = {"single": SingleScreen, "grid": GridScreen,
                                          "vestaboard": VestaboardScreen, "speaker": SpeakerScreen}
_screen_adapter: TypeAdapter[SingleScreen | GridScreen | VestaboardScreen | SpeakerScreen] = TypeAdapter(Screen)


class Installation(BaseModel):
    """``[[installations]]``: a name, the network its screens follow, and the screens in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN, description="The installation's name.")
    network: str = Field(description="The network its screens show; switching it moves them all.")
    screens: tuple[Screen, ...] = Field((), max_length=MAX_SCREENS, description="Its screens, in order.")

    @model_validator(mode="after")
    def _check(self) -> Installation:
        if not SLUG.match(self.network):
            raise ValueError(f"network {self.network!r} must be a network slug (lowercase letters, digits "
                             "and dashes)")
        seen: set[str] = set()
        for screen in self.screens:
            if screen.name in seen:
                raise ValueError(f"two screens are named {screen.name!r}; screen names must be unique")
            seen.add(screen.name)
        return self

    def screen(self, name: str) -> SingleScreen | GridScreen | VestaboardScreen | SpeakerScreen | None:
        return next((s for s in self.screens if s.name == name), None)

    def as_json(self) -> dict[str, Any]:
        """The retained ``installations/<name>`` payload (and the admin API's shape)."""
        return self.model_dump(mode="json", exclude_none=True)


def check_unique(installations: Iterable[Installation]) -> list[str]:
    """Problems across installations: repeated installation names, a screen name used twice."""
    problems: list[str] = []
    names: set[str] = set()
    screens: dict[str, str] = {}
    for inst in installations:
        if inst.name in names:
            problems.append(f"two installations are named {inst.name!r}")
        names.add(inst.name)
        for screen in inst.screens:
            if screen.name in screens and screens[screen.name] != inst.name:
                problems.append(f"screen {screen.name!r} is in both {screens[screen.name]!r} and {inst.name!r}; "
                                "a screen name must be unique across installations")
            screens.setdefault(screen.name, inst.name)
    return problems


def _messages(err: ValidationError) -> str:
    """Pydantic's errors as a curator reads them: ``screens.1 (grid): stride is not a grid setting``."""
    out = []
    for e in err.errors():
        loc = [str(part) for part in e["loc"]]
        kind = next((part for part in loc if part in SCREEN_TYPES), None)
        where = [part for part in loc if part not in SCREEN_TYPES]
        key = where[-1] if where else ""
        if e["type"] == "extra_forbidden":
            where, message = where[:-1], f"{key} is not a setting of a {kind or 'this'} screen"
        elif e["type"] == "string_pattern_mismatch" and key == "name":
            message = "must be lowercase letters, digits and dashes, at most 40 characters"
        else:
            message = e["msg"].removeprefix("Value error, ")
        label = ".".join(where) or "installation"
        out.append(f"{label}{f' ({kind})' if kind else ''}: {message}")
    return "; ".join(out)


def parse_installation(data: Mapping[str, Any], *, lenient: bool = False) -> Installation:
    """An Installation from a config table, an admin form's fields or a payload. Raises ConfigError.

    ``lenient`` (a node reading the daemon's payload): unknown keys are dropped, so a newer daemon's
    extra settings do not break an older node, and screens of a kind it does not know are skipped.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"an installation must be a table of keys, not {type(data).__name__}")
    body = dict(data)
    if lenient:
        body = {k: v for k, v in body.items() if k in Installation.model_fields}
        screens = body.get("screens")
        if isinstance(screens, list):
            body["screens"] = [{k: v for k, v in s.items() if k in SCREEN_TYPES[s["kind"]].model_fields}
                               for s in screens if isinstance(s, dict) and isinstance(s.get("kind"), str)
                               and s["kind"] in SCREEN_TYPES]
    try:
        return Installation.model_validate(body)
    except ValidationError as err:
        name = body.get("name") if isinstance(body.get("name"), str) else "?"
        raise ConfigError(f"installation {name!r}: {_messages(err)}") from None


def parse_screen(data: Mapping[str, Any]) -> SingleScreen | GridScreen | VestaboardScreen | SpeakerScreen:
    """One screen from its fields (``kind`` says which settings it takes). Raises ConfigError."""
    try:
        return _screen_adapter.validate_python(dict(data))
    except ValidationError as err:
        raise ConfigError(f"screen {data.get('name', '?')!r}: {_messages(err)}") from None


def find_screen(installations: Iterable[Installation], name: str) -> tuple[Installation, Any] | None:
    """The installation holding screen ``name``, and the screen; None if no installation has it."""
    for inst in installations:
        screen = inst.screen(name)
        if screen is not None:
            return inst, screen
    return None
