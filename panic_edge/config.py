"""Configuration: one strict, typed model, from a TOML file and PANIC_EDGE_* environment variables.

Every key can be overridden by an environment variable: a top-level key ``K`` by
``PANIC_EDGE_K`` (e.g. ``PANIC_EDGE_DATA_DIR``), a key ``K`` of section ``S`` by
``PANIC_EDGE_S_K`` (e.g. ``PANIC_EDGE_MQTT_URL``, ``PANIC_EDGE_HTTP_PORT``). Unknown keys are
rejected and every problem is reported at once, naming the key and the file.
docs/configuration.md is generated from this module.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from panic_edge.core.installation import Installation, check_unique
from panic_edge.errors import ConfigError

ENV_PREFIX = "PANIC_EDGE_"
FILE_ONLY = {"installations", "nodes"}  # tables of tables: set in the file, not by an environment variable


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttConfig(_Section):
    url: str = Field("mqtt://127.0.0.1:1883", description="Broker URL: mqtt://host:port, or "
                     "mqtts://host:port for TLS (port 8883 unless given).")
    username: str = Field("", description="Broker user name, if the broker wants one; wins over "
                          "credentials_file.")
    password: SecretStr = Field(SecretStr(""), description="Broker password; never logged or published.")
    credentials_file: Path | None = Field(None, description="The credentials.toml written by `panic-edge "
                                          "broker-config`: each program logs in with its own role's table "
                                          "(the daemon [daemon], display nodes [node], a `display --terminal` "
                                          "and start/stop/press [control]) unless username is set.")
    role: Literal["", "daemon", "node", "control"] = Field("", description="The table of credentials_file "
                                                           "to log in with instead of the program's own, e.g. "
                                                           "control for a screen with a panic button (the node "
                                                           "role may not send commands).")
    ca_file: Path | None = Field(None, description="CA certificate(s) that signed the broker's TLS "
                                 "certificate (mqtts://); unset trusts the system's CAs.")
    cert_file: Path | None = Field(None, description="Client certificate for TLS, for a broker that asks "
                                   "for one (with key_file).")
    key_file: Path | None = Field(None, description="Private key of cert_file.")
    keepalive: int = Field(15, ge=5, le=600, description="Seconds between keepalive pings.")
    invocation_expiry: int = Field(600, ge=0, le=7 * 86400, description="Seconds an invocation message "
                                   "waits at the broker for a display node that is away (MQTT 5 message "
                                   "expiry): older ones are dropped, and the node fetches the recent ones "
                                   "over HTTP when it is back. 0 keeps them until delivered.")

    @field_validator("url")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("must look like mqtt://host:port or mqtts://host:port, e.g. mqtt://127.0.0.1:1883")
        try:
            _ = parts.port
        except ValueError:
            raise ValueError("has a port that is not a number") from None
        if "@" in parts.netloc:  # would be logged with the URL, and paho would ignore it anyway
            raise ValueError("must not carry a username or password: put them in [mqtt] username and "
                             "password, or credentials_file (docs/security.md)")
        return value

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.tls else 1883)


WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # listen on every interface


class HttpConfig(_Section):
    host: str = Field("127.0.0.1", description="Address the media server (and later the admin page) "
                      "listens on; 0.0.0.0 to serve display nodes on other machines.")
    port: int = Field(8750, ge=0, le=65535, description="Port of the media server; 0 picks a free one.")
    public_url: str = Field("", description="Base URL display nodes, phones and Home Assistant use to "
                            "reach media, the API and the pages, e.g. http://panic.local:8750; defaults "
                            "to http://<host>:<port>, with this machine's LAN address when host is "
                            "0.0.0.0.")


class ButtonConfig(_Section):
    enabled: bool = Field(True, description="Read a GPIO panic button (skipped with a log line when "
                          "the machine has no GPIO header).")
    pin: int = Field(17, ge=0, le=53, description="BCM pin of the button.")
    pull_up: bool = Field(True, description="Button wired pin-to-ground with the internal pull-up.")
    bounce_time: float = Field(0.05, ge=0, le=1, description="Debounce seconds.")
    hold_time: float = Field(2.0, gt=0, le=30, description="Seconds held that count as a long hold "
                             "(stop the network).")
    network: str = Field("", description="Network the button, `press` and `start` without a network "
                         "drive; defaults to default_network. `cmd/button-network` (Home Assistant's "
                         "select) changes it at runtime, kept in <data_dir>/button-network.json until "
                         "this key is changed.")
    pin_factory: str = Field("", description="gpiozero pin factory: empty for the default, "
                             "'mock' for tests and demos.")


class LedConfig(_Section):
    pin: int | None = Field(None, ge=0, le=53, description="BCM pin of a status LED (idle off, "
                            "running on, offline blinking); unset for none.")


class KeyboardConfig(_Section):
    enabled: bool = Field(True, description="Enter on the controlling terminal is the panic button; "
                          "a typed line starts a run with that prompt.")


class LocalModelsConfig(_Section):
    latency: float = Field(1.0, ge=0, le=600, description="Simulated seconds each local model takes.")


class OfflineConfig(_Section):
    probe: list[str] = Field([], description="host:port pairs whose reachability means the model "
                             "platforms are online (any one is enough); empty: the hosts of the [platforms] "
                             "URLs. Probed only while some network uses a cloud model.")
    probe_interval: float = Field(5.0, gt=0, le=300, description="Seconds between probes while online.")
    offline_probe_interval: float = Field(2.0, gt=0, le=300, description="Seconds between probes while "
                                          "offline: how soon recovery is noticed.")
    probe_timeout: float = Field(3.0, gt=0, le=60, description="Seconds a probe waits for a connection.")
    replay_seconds: float | None = Field(None, ge=0, le=600, description="Seconds each replayed step "
                                         "takes while offline; unset uses the model's typical seconds.")
    resume_after_restart: bool = Field(True, description="After a crash or restart, take up open runs "
                                       "where they stopped (else end them, recorded as 'daemon restarted').")

    @field_validator("probe")
    @classmethod
    def _host_ports(cls, value: list[str]) -> list[str]:
        for item in value:
            host, _, port = item.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"{item!r} must be host:port, e.g. api.replicate.com:443")
        return value

    @property
    def targets(self) -> list[tuple[str, int]]:
        return [(item.rpartition(":")[0], int(item.rpartition(":")[2])) for item in self.probe]


class PlatformsConfig(_Section):
    credentials_file: Path | None = Field(None, description="TOML file of API keys, one per platform "
                                          "(`replicate = \"r8_...\"`); keep it chmod 600. Environment "
                                          "variables and $CREDENTIALS_DIRECTORY/<platform> also work.")
    replicate_url: str = Field("https://api.replicate.com", description="Replicate API base URL.")
    openai_url: str = Field("https://api.openai.com/v1", description="OpenAI-compatible base URL; point "
                            "it at Ollama, llama.cpp or inference.net to use them instead (no key needed "
                            "when it is not api.openai.com).")
    anthropic_url: str = Field("https://api.anthropic.com", description="Anthropic API base URL.")
    gemini_url: str = Field("https://generativelanguage.googleapis.com", description="Gemini API base URL.")
    connect_timeout: float = Field(10.0, gt=0, le=120, description="Seconds to connect to a platform.")
    read_timeout: float = Field(120.0, gt=0, le=900, description="Seconds to wait for a response.")
    replicate_wait: int = Field(60, ge=0, le=60, description="Seconds Replicate may hold a prediction "
                                "request open (`Prefer: wait`); 0 polls instead.")
    poll_interval: float = Field(1.0, gt=0, le=60, description="Seconds between polls of a prediction.")
    attempts: int = Field(4, ge=1, le=10, description="Tries per model call for transient errors "
                          "(timeouts, resets, 5xx, 429).")
    max_backoff: float = Field(30.0, ge=0, le=600, description="Longest wait between tries, in seconds; "
                               "a longer Retry-After gives up instead.")
    max_download_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="Largest output file "
                                    "downloaded from a platform.")
    download_timeout: float = Field(120.0, gt=0, le=3600, description="Seconds one output file "
                                    "download may take in all, redirects included; a slower one fails.")
    allow_private_downloads: bool = Field(False, description="Let output files come from loopback, "
                                          "link-local or private addresses. Off: only public addresses, "
                                          "or the platform's own address when its URL is itself local.")
    call_deadline: float = Field(0, ge=0, le=86400, description="Seconds an invocation may stay "
                                 "`invoking` before the watchdog fails it; 0 derives it from the "
                                 "timeouts, attempts and the model's hints (docs/platforms.md).")


class ImagesConfig(_Section):
    max_pixels: int = Field(16_777_216, ge=4096, le=178_956_970, description="Largest image, in "
                            "pixels (width x height), decoded at all; checked from the header before a "
                            "pixel is decoded. A larger JPEG is decoded at 1/2, 1/4 or 1/8 scale "
                            "instead; any other larger image fails the invocation.")
    max_side: int = Field(1600, ge=64, le=8192, description="Longest side, in pixels, of an archived "
                          "image; larger ones are downscaled, keeping their shape. (Display nodes "
                          "read max_pixels too, and decode no larger than their screen.)")
    jpeg_quality: int = Field(85, ge=30, le=95, description="JPEG quality of archived images; an image "
                              "using transparency, or flat art whose PNG is smaller, is kept as PNG.")


class AdminConfig(_Section):
    password_hash: SecretStr = Field(SecretStr(""), description="Hash of the admin page's password, "
                                     "made by `panic-edge hash-password`; empty turns logging in off.")
    api_token: SecretStr = Field(SecretStr(""), description="Token for scripts using the JSON API "
                                 "(`Authorization: Bearer <token>`); empty turns token access off. "
                                 "Use 32 characters or more: such a token is never slowed by others' "
                                 "wrong guesses.")
    public_readonly: bool = Field(False, description="Let anyone who can reach the page see the "
                                  "dashboard, networks, history and models without logging in.")
    secure_cookie: bool = Field(False, description="Send the login cookie over HTTPS only: set it "
                                "when the page is served behind a TLS proxy.")
    session_hours: float = Field(168, gt=0, le=8760, description="Hours a login lasts.")
    login_attempts: int = Field(5, ge=1, le=1000, description="Wrong passwords (or API tokens) a "
                                "client address may send before each further try must wait, 2 s doubling "
                                "to 15 min; forgotten an hour after its last failure (docs/admin.md).")
    trusted_proxies: int = Field(0, ge=0, le=5, description="Reverse proxies in front of the page whose "
                                 "X-Forwarded-For and X-Forwarded-Proto are believed: 0 when browsers "
                                 "reach the daemon directly, 1 behind one nginx or Caddy. Login backoff "
                                 "is per client address, so behind a proxy this must be set.")


class HomeAssistantConfig(_Section):
    enabled: bool = Field(False, description="Announce the appliance to Home Assistant by MQTT discovery "
                          "(retained, under `prefix`): off by default, because it writes into a namespace "
                          "every Home Assistant on the broker reads (see docs/operations.md).")
    prefix: str = Field("homeassistant", max_length=100, pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$",
                        description="Home Assistant's discovery prefix (its MQTT setting of the same name).")


class FleetConfig(_Section):
    enabled: bool = Field(True, description="Follow every appliance on the broker (the retained "
                          "panic/+/... topics, e.g. bridged from other sites) for the admin page's Fleet "
                          "view and GET /api/fleet.")


class BackupsConfig(_Section):
    interval_hours: float = Field(6.0, ge=0, le=24 * 30, description="Hours between automatic online "
                                  "backups of the database into <data_dir>/backups; 0 turns them off.")
    keep: int = Field(8, ge=1, le=1000, description="Automatic backups kept; the oldest are deleted.")


class NodeConfig(_Section):
    kind: Literal["display", "speaker", "vestaboard"] = Field(description="Which node: `display` (a screen), "
                                                            "`speaker` or `vestaboard`.")
    args: list[str] = Field([], description="Options of `panic-edge <kind>` for this node, as a list, "
                            "e.g. `[\"--grid\", \"2x2\", \"--reel\", \"/var/lib/panic-edge/reel.mp4\"]`; "
                            "options given on the command line come after them.")


NODE_NAME = r"^[A-Za-z0-9_-]{1,64}$"


class LimitsConfig(_Section):
    starts_per_minute: float = Field(20, ge=0, le=6000, description="Runs the whole appliance may start "
                                     "a minute, from every source (button, MQTT, admin page), whatever each "
                                     "network's lockout; a refused start is answered with retry_after. "
                                     "0 turns the budget off (benchmarks only).")
    start_burst: int = Field(10, ge=1, le=1000, description="Starts allowed at once before "
                             "starts_per_minute paces them.")


class VisitorsConfig(_Section):
    enabled: bool = Field(True, description="Offer each network's prompt page to visitors' phones: a QR "
                          "code on the screens (`display --qr`) and printable from the admin page.")
    token_minutes: float = Field(60, gt=0, le=24 * 60, description="How long a QR code's signed pass "
                                 "opens the prompt page; screens show a fresh one.")
    client_starts_per_minute: int = Field(2, ge=1, le=100, description="Prompts one phone may send a "
                                          "minute (per client address).")
    network_starts_per_minute: int = Field(6, ge=1, le=1000, description="Prompts all phones together "
                                           "may send to one network a minute.")


class InsightConfig(_Section):
    enabled: bool = Field(True, description="Embed every output and publish the run's geometry (needs "
                          "panic-edge[insight] and a model: `panic-edge insight fetch`); false turns it off.")
    model_dir: Path | None = Field(None, description="Folder of the text embedding model (model2vec, or ONNX "
                                   "with tokenizer.json); unset: <data_dir>/insight/models/potion-base-8M, "
                                   "where `panic-edge insight fetch` puts it.")
    image_model_dir: Path | None = Field(None, description="Folder of an ONNX image model (CLIP-style "
                                         "vision tower) to embed image outputs too; unset: images are not "
                                         "embedded. Costs ~0.3 s and ~0.5 GB per picture on a Pi-class CPU.")
    window: int = Field(200, ge=4, le=1000, description="Newest points of a run whose persistence "
                        "diagram (H0, H1) is computed after each output.")
    queue: int = Field(64, ge=1, le=10_000, description="Outputs waiting to be embedded; beyond this the "
                       "oldest are dropped (and counted), never the loop slowed.")
    stuck_steps: int = Field(3, ge=1, le=50, description="Steps in a row shorter than stuck_epsilon "
                             "that make a run STUCK.")
    stuck_epsilon: float = Field(0.2, gt=0, le=2, description="A step shorter than this (distance "
                                 "between unit vectors, 0..2) counts towards STUCK.")
    loop_epsilon: float = Field(0.25, gt=0, le=2, description="A return this close to an earlier point "
                                "(after moving away from it) makes a LOOP.")


class PrewarmConfig(_Section):
    enabled: bool = Field(True, description="Warm the cold models (catalogue hint `cold`: community Replicate "
                          "models) of the networks likely to run, with one real call each, so the first visitor "
                          "does not wait minutes for a boot (docs/platforms.md#pre-warming). Each warm-up is paid "
                          "like any call and recorded in the spend.")
    on_start: bool = Field(True, description="Warm them when the daemon starts (opening hours warm them again "
                           "at each opening).")
    networks: list[str] = Field([], description="Networks whose cold models are warmed; empty: the button's "
                                "network, every network an installation shows and every one with a run.")
    warm_minutes: float = Field(10, ge=1, le=24 * 60, description="Minutes a cold model counts as warm after its "
                                "last successful call (the platform turns an unused model off after a while it "
                                "does not publish); no model is warmed twice within this time.")


_SIZE = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2,
         "g": 1024**3, "gb": 1024**3, "gib": 1024**3, "t": 1024**4, "tb": 1024**4, "tib": 1024**4}


def parse_size(value: object) -> object:
    """``4GB``, ``500 MB``, ``1024`` -> bytes (binary units: a technician's GB is what df shows)."""
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        digits = text.rstrip("kmgtib")
        unit = text[len(digits):]
        if unit not in _SIZE or not digits:
            raise ValueError(f"{value!r} is not a size like 4GB, 500MB or 1048576")
        try:
            return int(float(digits) * _SIZE[unit])
        except ValueError:
            raise ValueError(f"{value!r} is not a size like 4GB, 500MB or 1048576") from None
    return value


def size_text(n: float | None) -> str:
    """Bytes as a technician reads them, in the binary units ``parse_size`` takes (and df shows):
    512 MB, 3.2 GB, where a GB is 1024 MB."""
    if n is None:
        return "–"
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("kB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}" if n < 10 * scale else f"{n / scale:.0f} {unit}"
    return f"{n:.0f} B"


class ArchiveConfig(_Section):
    max_bytes: int | None = Field(8 * 1024**3, ge=0, description="Largest size of the archive of output "
                                  "files (bytes, or 4GB, 500MB); the oldest files are deleted first, ended "
                                  "runs before the running one, and their rows kept, marked pruned. Empty "
                                  "for no cap (min_free_bytes still holds).")
    min_free_bytes: int = Field(1024**3, ge=0, description="Free disk to keep beside the archive (bytes or "
                                "1GB); old output files are deleted to keep it.")
    keep_newest: int = Field(64, ge=1, le=100_000, description="Newest outputs of each network never "
                             "deleted: the screens may still show them.")
    check_interval: float = Field(60.0, gt=0, le=3600, description="Seconds between retention checks (a "
                                  "full disk triggers one at once).")

    @field_validator("max_bytes", "min_free_bytes", mode="before")
    @classmethod
    def _size(cls, value: object) -> object:
        return None if value == "" else parse_size(value)


class ScheduleConfig(_Section):
    hours: list[str] = Field([], description="Weekly opening hours, e.g. [\"mon-fri 10:00-18:00\", "
                             "\"sat 10:00-16:00\", \"sun 10:00-12:00, 14:00-17:00\", \"mon, wed 18:00-20:00\"] "
                             "(a window past midnight like \"fri 18:00-02:00\" is fine); empty: always open. In the "
                             "environment variable separate the lines with ; (commas work where they cannot be "
                             "inside a line).")
    timezone: str = Field("", description="IANA timezone of the hours, e.g. Europe/London; empty: the "
                          "machine's own.")
    exceptions: list[str] = Field([], description="Dated exceptions replacing a day's hours, e.g. "
                                  "[\"2026-12-25 closed\", \"2026-12-31 10:00-15:00\"]; in the environment "
                                  "variable separated by ; as the hours are.")
    closed_policy: Literal["stop", "pause"] = Field("stop", description="At closing time: stop ends the "
                                                    "runs (a call under way is shown first); pause holds them "
                                                    "and goes on at opening.")
    on_open: Literal["wait", "attract"] = Field("wait", description="At opening: wait for the first press, "
                                                "or start an attract run of the button's network.")
    screen_off_command: str = Field("", description="Shell command display nodes run at closing to blank "
                                    "their screen, e.g. `vcgencmd display_power 0`; empty shows a closed "
                                    "view instead.")
    screen_on_command: str = Field("", description="Shell command display nodes run at opening, e.g. "
                                   "`vcgencmd display_power 1`.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"{value!r} is not a timezone name like Europe/London") from None
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: list[str]) -> list[str]:
        from panic_edge.core.schedule import parse_schedule

        parse_schedule(value)
        return value

    @field_validator("exceptions")
    @classmethod
    def _exceptions(cls, value: list[str]) -> list[str]:
        from panic_edge.core.schedule import parse_schedule

        parse_schedule([], value)
        return value


class BudgetConfig(_Section):
    appliance_per_day: float | None = Field(None, ge=0, description="Most the whole appliance may spend "
                                            "on paid models in a day (US dollars, the platforms' currency); "
                                            "unset: no cap.")
    network_per_day: float | None = Field(None, ge=0, description="Most each network may spend in a day; "
                                          "unset: no cap.")
    networks: dict[str, float] = Field({}, description="Per-network daily caps overriding network_per_day, "
                                       "e.g. { rapid-fire = 5.0 } (config file only).")
    policy: Literal["pause", "stop"] = Field("pause", description="When a cap is reached: pause holds the "
                                             "run until midnight (or a higher cap); stop ends it (a call under way, "
                                             "already paid for, is shown first).")


class BoardsConfig(_Section):
    update_seconds: float = Field(8.0, ge=0, le=600, description="Seconds the loop holds after each text "
                                  "output while a Vestaboard shows the network (it flips, then people read).")
    prompt_seconds: float = Field(10.0, ge=0, le=600, description="Seconds the first call waits while a "
                                  "Vestaboard shows a new run's prompt (its `show_prompt`).")


class HealthConfig(_Section):
    interval: float = Field(30.0, gt=0, le=3600, description="Seconds between health readings in the status.")
    disk_warning_bytes: int = Field(512 * 1024**2, ge=0, description="Warn when free disk falls below "
                                    "this (bytes or 512MB).")
    temperature_warning_c: float = Field(75.0, gt=0, le=150, description="Warn at or above this CPU "
                                         "temperature (°C).")

    @field_validator("disk_warning_bytes", mode="before")
    @classmethod
    def _size(cls, value: object) -> object:
        return parse_size(value)


class Config(_Section):
    appliance_id: str = Field("panic-edge", pattern=r"^[A-Za-z0-9_-]{1,64}$",
                              description="Names this appliance in MQTT topics: panic/<appliance_id>/...")
    data_dir: Path = Field(Path("~/.local/share/panic-edge"), description="Database, archive and "
                           "backups. Under systemd, $STATE_DIRECTORY is the default.")
    networks_dir: Path | None = Field(None, description="Folder of network files (one <slug>.toml "
                                      "each), relative to the config file. The demo is always there.")
    default_network: str = Field("demo", description="Network the button and `press` drive (until "
                                 "`cmd/button-network` chooses another; see button.network).")
    mqtt: MqttConfig = MqttConfig()
    http: HttpConfig = HttpConfig()
    button: ButtonConfig = ButtonConfig()
    led: LedConfig = LedConfig()
    keyboard: KeyboardConfig = KeyboardConfig()
    local_models: LocalModelsConfig = LocalModelsConfig()
    offline: OfflineConfig = OfflineConfig()
    backups: BackupsConfig = BackupsConfig()
    platforms: PlatformsConfig = PlatformsConfig()
    limits: LimitsConfig = LimitsConfig()
    images: ImagesConfig = ImagesConfig()
    homeassistant: HomeAssistantConfig = HomeAssistantConfig()
    fleet: FleetConfig = FleetConfig()
    insight: InsightConfig = InsightConfig()
    prewarm: PrewarmConfig = PrewarmConfig()
    archive: ArchiveConfig = ArchiveConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    budget: BudgetConfig = BudgetConfig()
    health: HealthConfig = HealthConfig()
    boards: BoardsConfig = BoardsConfig()

    @property
    def probe_targets(self) -> list[tuple[str, int]]:
        """What the connectivity probe dials: [offline] probe, else the platforms' hosts."""
        if self.offline.probe:
            return self.offline.targets
        targets: list[tuple[str, int]] = []
        for url in (self.platforms.replicate_url, self.platforms.openai_url, self.platforms.anthropic_url,
                    self.platforms.gemini_url):
            parts = urlsplit(url)
            if parts.hostname:
                target = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
                if target not in targets:
                    targets.append(target)
        return targets
    admin: AdminConfig = AdminConfig()
    installations: tuple[Installation, ...] = Field((), description="`[[installations]]`: named screens "
                                                    "grouped on a network (see docs/display-nodes.md); "
                                                    "the admin page's edits, once made, live in "
                                                    "<data_dir>/installations.toml and take precedence.")

    @field_validator("installations")
    @classmethod
    def _unique_installations(cls, value: tuple[Installation, ...]) -> tuple[Installation, ...]:
        problems = check_unique(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    nodes: dict[str, NodeConfig] = Field({}, description="Display nodes this machine runs as services, "
                                         "by name: a `[nodes.<name>]` table each (`panic-edge install` "
                                         "enables `panic-edge-<kind>@<name>.service`; `panic-edge <kind> "
                                         "--node <name>` starts one by hand). The name is the node's id.")

    @field_validator("nodes")
    @classmethod
    def _node_names(cls, value: dict[str, NodeConfig]) -> dict[str, NodeConfig]:
        for name in value:
            if not re.match(NODE_NAME, name):
                raise ValueError(f"node name {name!r} may use only letters, digits, '-' and '_' (at most 64)")
        return value
    visitors: VisitorsConfig = VisitorsConfig()

    @property
    def database_path(self) -> Path:
        return self.data_dir / "panic-edge.sqlite3"

    @property
    def backups_dir(self) -> Path:
        return self.data_dir / "backups"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def button_network(self) -> str:
        return self.button.network or self.default_network

    def media_base(self, bound_port: int | None = None, lan_host: str | None = None) -> str:
        """Where other machines fetch media, the API and the admin page: ``public_url``, else the
        listening address; when that is every interface, ``lan_host`` (this machine's address on
        the network, ``lan.lan_address()``), else loopback."""
        if self.http.public_url:
            return self.http.public_url.rstrip("/")
        host = self.http.host
        if host in WILDCARD_HOSTS:
            host = lan_host or "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 literal in a URL
        return f"http://{host}:{bound_port if bound_port is not None else self.http.port}"

    @property
    def serves_other_machines(self) -> bool:
        """Listening on every interface with no ``public_url``: links must carry the LAN address."""
        return not self.http.public_url and self.http.host in WILDCARD_HOSTS


SECTIONS = {name: field.annotation for name, field in Config.model_fields.items()
            if isinstance(field.annotation, type) and issubclass(field.annotation, _Section)}


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """The config keys set by PANIC_EDGE_* variables, as a nested dict."""
    out: dict[str, Any] = {}
    for key in Config.model_fields:
        if key in SECTIONS:
            for sub in SECTIONS[key].model_fields:
                name = f"{ENV_PREFIX}{key}_{sub}".upper()
                if name in environ:
                    out.setdefault(key, {})[sub] = _env_value(SECTIONS[key], sub, environ[name])
        elif key not in FILE_ONLY:
            name = f"{ENV_PREFIX}{key}".upper()
            if name in environ:
                out[key] = environ[name]
    return out


def _env_value(model: type[BaseModel], key: str, raw: str) -> Any:
    """Environment variables are strings; a list-valued key takes a comma-separated list (opening
    hours and exceptions, whose lines hold commas themselves, take ``;``: core/schedule.env_lines)."""
    if model is ScheduleConfig and key in ("hours", "exceptions"):
        from panic_edge.core.schedule import env_lines

        return env_lines(raw)
    annotation = model.model_fields[key].annotation
    if getattr(annotation, "__origin__", None) is list:
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (if given), apply the environment, validate. Raises ConfigError."""
    environ = os.environ if environ is None else environ
    source = str(path) if path else "defaults"
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"config file {path} is not valid TOML: {err}") from None
    if "data_dir" not in data and "STATE_DIRECTORY" in environ:  # systemd's StateDirectory=
        data["data_dir"] = environ["STATE_DIRECTORY"].split(":")[0]
    mqtt_password = _credential(environ, "mqtt-password")  # systemd's LoadCredential=
    if mqtt_password is not None and "password" not in data.get("mqtt", {}):
        data = {**data, "mqtt": {**data.get("mqtt", {}), "password": mqtt_password}}
    overrides = env_overrides(environ)
    try:
        config = Config.model_validate(_merge(data, overrides))
    except ValidationError as err:
        raise ConfigError(describe_errors(err, source, overrides)) from None
    data_dir = config.data_dir.expanduser()
    networks_dir = config.networks_dir
    creds = config.platforms.credentials_file
    if creds is not None:
        creds = creds.expanduser()
        if path is not None and not creds.is_absolute():
            creds = Path(path).parent / creds
        config = config.model_copy(update={"platforms": config.platforms.model_copy(
            update={"credentials_file": creds})})
    mqtt_files = {key: _beside(value, path) for key in ("credentials_file", "ca_file", "cert_file", "key_file")
                  if (value := getattr(config.mqtt, key)) is not None}
    if mqtt_files:
        config = config.model_copy(update={"mqtt": config.mqtt.model_copy(update=mqtt_files)})
    if networks_dir is not None:
        networks_dir = networks_dir.expanduser()
        if path is not None and not networks_dir.is_absolute():
            networks_dir = Path(path).parent / networks_dir
    insight = {key: _beside(value, path) for key in ("model_dir", "image_model_dir")
               if (value := getattr(config.insight, key)) is not None}
    return config.model_copy(update={"data_dir": data_dir, "networks_dir": networks_dir,
                                     "insight": config.insight.model_copy(update=insight)})


def _beside(value: Path, config_file: Path | None) -> Path:
    """A path from the config, with ~ expanded, relative to the config file's folder."""
    value = value.expanduser()
    return Path(config_file).parent / value if config_file is not None and not value.is_absolute() else value


def _credential(environ: Mapping[str, str], name: str) -> str | None:
    """``$CREDENTIALS_DIRECTORY/<name>`` (systemd's LoadCredential=), stripped; None if absent."""
    folder = environ.get("CREDENTIALS_DIRECTORY")
    if not folder:
        return None
    try:
        return (Path(folder) / name).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def describe_errors(err: ValidationError, source: str, overrides: Mapping[str, Any]) -> str:
    lines = []
    for problem in err.errors():
        loc = [str(part) for part in problem["loc"]]
        key = ".".join(loc)
        origin = source
        if loc and (loc[0] in overrides and (len(loc) == 1 or loc[1] in overrides.get(loc[0], {}))):
            origin = f"${ENV_PREFIX}{'_'.join(loc).upper()}"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "is not a known key (see docs/configuration.md)"
        lines.append(f"  {key} ({origin}): {message}")
    return f"bad configuration in {source}:\n" + "\n".join(lines)
