"""Machine health: the readings a gallery technician needs, and the warnings drawn from them.

A Raspberry Pi on a weak power supply throttles (and corrupts SD cards); a full disk pauses the
loop; a hot case slows everything. The readings come from the shell (panic_edge/health.py); the
meaning of the Pi firmware's throttled bits and the warning rules live here, pure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# The Raspberry Pi firmware's get_throttled bits (vcgencmd get_throttled; documented by Raspberry Pi).
THROTTLED_BITS = {
    0: "under_voltage_now", 1: "freq_capped_now", 2: "throttled_now", 3: "soft_temp_limit_now",
    16: "under_voltage_since_boot", 17: "freq_capped_since_boot", 18: "throttled_since_boot",
    19: "soft_temp_limit_since_boot",
}


def decode_throttled(bits: int) -> dict[str, bool]:
    """The firmware's flags by name, from its bit field (``0x50005`` and the like)."""
    return {name: bool(bits >> bit & 1) for bit, name in THROTTLED_BITS.items()}


@dataclass(frozen=True)
class Thresholds:
    disk_free_bytes: int = 512 * 1024 * 1024
    cpu_temp_c: float = 75.0
    memory_available_bytes: int = 100 * 1024 * 1024


@dataclass(frozen=True)
class Health:
    """One reading. Fields the machine cannot give are None (``throttled`` off a Pi, say)."""

    disk_free_bytes: int | None = None
    archive_bytes: int | None = None
    memory_available_bytes: int | None = None
    cpu_temp_c: float | None = None
    throttled: dict[str, bool] | None = None
    load: tuple[float, float, float] | None = None

    def as_dict(self, thresholds: Thresholds = Thresholds()) -> dict[str, Any]:
        body = asdict(self)
        body["load"] = list(self.load) if self.load is not None else None
        body["warnings"] = warnings(self, thresholds)
        return body


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB"


def warnings(health: Health, thresholds: Thresholds = Thresholds()) -> list[str]:
    """Plain sentences for what needs a person, most urgent first; empty when all is well."""
    out: list[str] = []
    flags = health.throttled or {}
    if flags.get("under_voltage_now"):
        out.append("under-voltage now: the power supply is too weak; use the official supply and cable")
    elif flags.get("under_voltage_since_boot"):
        out.append("under-voltage since boot: the power supply dipped; check the supply and cable")
    if health.disk_free_bytes is not None and health.disk_free_bytes < thresholds.disk_free_bytes:
        out.append(f"disk nearly full: {_mb(health.disk_free_bytes)} free; lower [archive] max_bytes "
                   "or free space")
    if health.cpu_temp_c is not None and health.cpu_temp_c >= thresholds.cpu_temp_c:
        out.append(f"temperature high: {health.cpu_temp_c:.0f} °C; give the machine air or a fan")
    if flags.get("throttled_now") or flags.get("soft_temp_limit_now"):
        out.append("the CPU is throttled now (heat or power): the loop runs slower")
    if (health.memory_available_bytes is not None
            and health.memory_available_bytes < thresholds.memory_available_bytes):
        out.append(f"memory low: {_mb(health.memory_available_bytes)} available")
    return out
