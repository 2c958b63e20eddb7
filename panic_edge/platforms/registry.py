"""Which platform clients this appliance has, built from the config and the credentials.

Every cloud client is wrapped in ``Retrying``, which retries its transient failures; a
safety-filter refusal goes back to the runner (core.runner, the safety-prompt rule). A platform without a key
stays missing, with the reason `panic-edge models` and a failing invocation show.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from panic_edge.config import Config
from panic_edge.platforms.base import Platform, Platforms
from panic_edge.platforms.credentials import ENV_NAMES, Credentials, load_credentials
from panic_edge.platforms.local import LocalPlatform
from panic_edge.platforms.retry import Retrying, RetryPolicy

CLOUD = ("replicate", "openai", "anthropic", "gemini")
DEFAULT_OPENAI_URL = "https://api.openai.com/v1"


class _Common(TypedDict):
    """What every cloud client is given."""

    connect_timeout: float
    read_timeout: float
    max_answer_bytes: int


def answer_limit(max_download_bytes: int) -> int:
    """The cap on an API answer: a chat answer is a few KB, but a Replicate one may carry the
    largest output file as a base64 data URI."""
    return max(16 * 2 ** 20, max_download_bytes * 4 // 3 + 2 ** 20)


def _no_key(platform: str) -> str:
    return (f"no {platform} API key: set ${ENV_NAMES[platform]}, a `{platform} = \"...\"` line in "
            f"the credentials file, or a systemd credential named {platform}")


def build_platforms(config: Config, environ: Mapping[str, str] | None = None,
                    credentials: Credentials | None = None) -> Platforms:
    """The clients for every platform with credentials; the others missing with the reason."""
    # each client is imported only when it can be used: a daemon without keys stays smaller
    p = config.platforms
    creds = credentials if credentials is not None else load_credentials(p.credentials_file, environ)
    common: _Common = {"connect_timeout": p.connect_timeout, "read_timeout": p.read_timeout,
              "max_answer_bytes": answer_limit(p.max_download_bytes)}
    clients: dict[str, Platform] = {"local": LocalPlatform(config.local_models.latency)}
    missing: dict[str, str] = {}
    cloud: dict[str, Platform] = {}
    if (key := creds.get("replicate")) is not None:
        from panic_edge.platforms.replicate import ReplicatePlatform

        cloud["replicate"] = ReplicatePlatform(p.replicate_url, key, wait=p.replicate_wait,
                                               poll_interval=p.poll_interval,
                                               max_download_bytes=p.max_download_bytes,
                                               download_timeout=p.download_timeout,
                                               allow_private_downloads=p.allow_private_downloads,
                                               **common)
    openai_key = creds.get("openai")
    if openai_key is not None or p.openai_url.rstrip("/") != DEFAULT_OPENAI_URL:
        from panic_edge.platforms.openai import OpenAIPlatform

        cloud["openai"] = OpenAIPlatform(p.openai_url, openai_key, **common)
    if (key := creds.get("anthropic")) is not None:
        from panic_edge.platforms.anthropic import AnthropicPlatform

        cloud["anthropic"] = AnthropicPlatform(p.anthropic_url, key, **common)
    if (key := creds.get("gemini")) is not None:
        from panic_edge.platforms.gemini import GeminiPlatform

        cloud["gemini"] = GeminiPlatform(p.gemini_url, key, **common)
    policy = RetryPolicy(attempts=p.attempts, cap=p.max_backoff)
    for name in CLOUD:
        if name in cloud:
            clients[name] = Retrying(cloud[name], policy)
        else:
            missing[name] = _no_key(name)
    return Platforms(clients, missing)
