"""API keys per platform, from systemd credentials, the environment or a credentials file.

Looked up in this order, first found wins:

1. ``$CREDENTIALS_DIRECTORY/<platform>`` (or ``/<ENV_NAME>``): systemd's ``LoadCredential=``;
2. the environment: ``REPLICATE_API_TOKEN``, ``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``,
   ``GEMINI_API_KEY``;
3. ``platforms.credentials_file``: a TOML file, ``replicate = "r8_..."``, one key per platform.

Keys are kept as ``SecretStr``: their repr and str are masked, so a key logged by mistake shows
as ``**********``. Only the platform clients call ``get_secret_value()``, to build a header.
"""

from __future__ import annotations

import logging
import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from panic_edge.errors import ConfigError

log = logging.getLogger("panic_edge.platforms")

ENV_NAMES = {
    "replicate": "REPLICATE_API_TOKEN",
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
}


@dataclass(frozen=True)
class Credentials:
    """Platform name -> key, and where each came from (for `panic-edge models`, never the key)."""

    keys: Mapping[str, SecretStr] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)

    def get(self, platform: str) -> SecretStr | None:
        return self.keys.get(platform)

    def __repr__(self) -> str:
        return f"Credentials({', '.join(f'{p} from {s}' for p, s in self.sources.items()) or 'none'})"


def _read_file(path: Path) -> dict[str, str]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"credentials file {path} does not exist; create it or unset "
                          "platforms.credentials_file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        # the message of a TOML error can quote the line, and the line holds a key: say where only
        raise ConfigError(f"credentials file {path} is not valid TOML "
                          f"({type(err).__name__}); expected lines like replicate = \"r8_...\"") from None
    unknown = sorted(set(data) - set(ENV_NAMES))
    if unknown:
        raise ConfigError(f"credentials file {path} has unknown platforms {', '.join(unknown)}; "
                          f"known: {', '.join(ENV_NAMES)}")
    bad = sorted(k for k, v in data.items() if not isinstance(v, str))
    if bad:
        raise ConfigError(f"credentials file {path}: {', '.join(bad)} must be a quoted string")
    if os.name == "posix" and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("credentials file %s can be read by other users; chmod 600 it", path)
    return data


def load_credentials(credentials_file: Path | None = None,
                     environ: Mapping[str, str] | None = None) -> Credentials:
    """Every platform key this appliance has. Raises ConfigError for an unreadable file."""
    environ = os.environ if environ is None else environ
    from_file = _read_file(credentials_file) if credentials_file is not None else {}
    cred_dir = Path(environ["CREDENTIALS_DIRECTORY"]) if environ.get("CREDENTIALS_DIRECTORY") else None
    keys: dict[str, SecretStr] = {}
    sources: dict[str, str] = {}
    for platform, env_name in ENV_NAMES.items():
        value, source = None, ""
        for name in (platform, env_name):
            if value is None and cred_dir is not None and (cred_dir / name).is_file():
                value, source = (cred_dir / name).read_text(encoding="utf-8"), f"systemd credential {name}"
        if value is None and environ.get(env_name):
            value, source = environ[env_name], f"${env_name}"
        if value is None and from_file.get(platform):
            value, source = from_file[platform], f"{credentials_file}"
        if value is not None and value.strip():
            keys[platform] = SecretStr(value.strip())
            sources[platform] = source
    return Credentials(keys, sources)
