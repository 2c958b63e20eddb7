"""Configuration: one strict, typed model, from a TOML file and PANIC_EDGE_* environment variables.

Every key can be overridden by an environment variable: a top-level key ``K`` by
``PANIC_EDGE_K`` (e.g. ``PANIC_EDGE_DATA_DIR``), a key ``K`` of section ``S`` by
``PANIC_EDGE_S_K`` (e.g. ``PANIC_EDGE_MQTT_URL``, ``PANIC_EDGE_HTTP_PORT``). Unknown keys are
rejected and every problem is reported at once, naming the key and the file.
docs/configuration.md is generated from this module.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from panic_edge.errors import ConfigError

ENV_PREFIX = "PANIC_EDGE_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttConfig(_Section):
    url: str = Field("mqtt://127.0.0.1:1883", description="Broker URL, mqtt://host:port.")
    username: str = Field("", description="Broker user name, if the broker wants one.")
    password: SecretStr = Field(SecretStr(""), description="Broker password; never logged or published.")
    keepalive: int = Field(15, ge=5, le=600, description="Seconds between keepalive pings.")

    @field_validator("url")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "mqtt" or not parts.hostname:
            raise ValueError("must look like mqtt://host:port, e.g. mqtt://127.0.0.1:1883")
        try:
            parts.port
        except ValueError:
            raise ValueError("has a port that is not a number") from None
        return value

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 1883


class HttpConfig(_Section):
    host: str = Field("127.0.0.1", description="Address the media server (and later the admin page) "
                      "listens on; 0.0.0.0 to serve display nodes on other machines.")
    port: int = Field(8750, ge=0, le=65535, description="Port of the media server; 0 picks a free one.")
    public_url: str = Field("", description="Base URL display nodes use to fetch media, e.g. "
                            "http://panic.local:8750; defaults to http://<host>:<port>.")


class ButtonConfig(_Section):
    enabled: bool = Field(True, description="Read a GPIO panic button (skipped with a log line when "
                          "the machine has no GPIO header).")
    pin: int = Field(17, ge=0, le=53, description="BCM pin of the button.")
    pull_up: bool = Field(True, description="Button wired pin-to-ground with the internal pull-up.")
    bounce_time: float = Field(0.05, ge=0, le=1, description="Debounce seconds.")
    hold_time: float = Field(2.0, gt=0, le=30, description="Seconds held that count as a long hold "
                             "(stop the network).")
    network: str = Field("", description="Network the button drives; defaults to default_network.")
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


class AdminConfig(_Section):
    password_hash: SecretStr = Field(SecretStr(""), description="Hash of the admin page's password, "
                                     "made by `panic-edge hash-password`; empty turns logging in off.")
    api_token: SecretStr = Field(SecretStr(""), description="Token for scripts using the JSON API "
                                 "(`Authorization: Bearer <token>`); empty turns token access off.")
    public_readonly: bool = Field(False, description="Let anyone who can reach the page see the "
                                  "dashboard, networks, history and models without logging in.")
    secure_cookie: bool = Field(False, description="Send the login cookie over HTTPS only: set it "
                                "when the page is served behind a TLS proxy.")
    session_hours: float = Field(168, gt=0, le=8760, description="Hours a login lasts.")
    login_attempts: int = Field(5, ge=1, le=1000, description="Failed logins allowed per client "
                                "address in 5 minutes before it must wait.")


class BackupsConfig(_Section):
    interval_hours: float = Field(6.0, ge=0, le=24 * 30, description="Hours between automatic online "
                                  "backups of the database into <data_dir>/backups; 0 turns them off.")
    keep: int = Field(8, ge=1, le=1000, description="Automatic backups kept; the oldest are deleted.")


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


class Config(_Section):
    appliance_id: str = Field("panic-edge", pattern=r"^[A-Za-z0-9_-]{1,64}$",
                              description="Names this appliance in MQTT topics: panic/<appliance_id>/...")
    data_dir: Path = Field(Path("~/.local/share/panic-edge"), description="Database, archive and "
                           "backups. Under systemd, $STATE_DIRECTORY is the default.")
    networks_dir: Path | None = Field(None, description="Folder of network files (one <slug>.toml "
                                      "each), relative to the config file. The demo is always there.")
    default_network: str = Field("demo", description="Network the button and `press` drive.")
    mqtt: MqttConfig = MqttConfig()
    http: HttpConfig = HttpConfig()
    button: ButtonConfig = ButtonConfig()
    led: LedConfig = LedConfig()
    keyboard: KeyboardConfig = KeyboardConfig()
    local_models: LocalModelsConfig = LocalModelsConfig()
    offline: OfflineConfig = OfflineConfig()
    backups: BackupsConfig = BackupsConfig()
    platforms: PlatformsConfig = PlatformsConfig()
    insight: InsightConfig = InsightConfig()

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

    def media_base(self, bound_port: int | None = None) -> str:
        if self.http.public_url:
            return self.http.public_url.rstrip("/")
        host = "127.0.0.1" if self.http.host in ("0.0.0.0", "::", "") else self.http.host
        return f"http://{host}:{bound_port if bound_port is not None else self.http.port}"


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
        else:
            name = f"{ENV_PREFIX}{key}".upper()
            if name in environ:
                out[key] = environ[name]
    return out


def _env_value(model: type[BaseModel], key: str, raw: str) -> Any:
    """Environment variables are strings; a list-valued key takes a comma-separated list."""
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
