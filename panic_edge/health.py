"""Reading the machine's health: disk, memory, temperature, load and the Pi firmware's flags.

psutil reads memory, disk and load the same way on Linux and macOS. The Pi's throttled flags come
from the firmware's sysfs file, else ``vcgencmd get_throttled`` itself, and the temperature from
the thermal zone; a machine without them reports None. ``root`` lets tests point at a folder laid
out like ``/sys``. Reading never raises: a reading that fails is None.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

import psutil

from panic_edge.core.health import Health, decode_throttled

log = logging.getLogger("panic_edge.health")

THROTTLED_FILES = ("sys/devices/platform/soc/soc:firmware/get_throttled",
                   "sys/devices/platform/soc:firmware/get_throttled")
THERMAL_FILE = "sys/class/thermal/thermal_zone0/temp"


def _read(root: Path, relative: str) -> str | None:
    try:
        return (root / relative).read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None


def read_throttled(root: Path = Path("/"), vcgencmd: str | None = "vcgencmd") -> dict[str, bool] | None:
    """The firmware's flags by name: from sysfs, else (a kernel without that file) from
    ``vcgencmd get_throttled``; None on a machine with neither."""
    for relative in THROTTLED_FILES:
        text = _read(root, relative)
        if text:
            return _throttled(text)
    program = shutil.which(vcgencmd) if vcgencmd else None
    if program is None:
        return None
    try:
        out = subprocess.run([program, "get_throttled"], capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return _throttled(out.stdout) if out.returncode == 0 else None


def _throttled(text: str) -> dict[str, bool] | None:
    """``throttled=0x50005`` (or the bare hex sysfs gives) by name; None if it is not that."""
    try:
        return decode_throttled(int(text.strip().removeprefix("throttled=").strip(), 16))
    except ValueError:
        return None


def read_temperature(root: Path = Path("/")) -> float | None:
    text = _read(root, THERMAL_FILE)
    if text is not None:
        try:
            return round(int(text) / 1000, 1)
        except ValueError:
            return None
    if root != Path("/"):
        return None
    try:  # other Linux machines: whatever psutil finds first
        for readings in psutil.sensors_temperatures().values():
            if readings:
                return round(float(readings[0].current), 1)
    except (AttributeError, OSError, RuntimeError):  # macOS has no sensors_temperatures
        pass
    return None


def read_health(data_dir: Path, archive_bytes: int | None, root: Path = Path("/")) -> Health:
    """The machine's health now; ``data_dir`` is where the disk that matters is."""
    try:
        disk_free: int | None = psutil.disk_usage(str(data_dir)).free
    except OSError:
        disk_free = None
    try:
        memory: int | None = int(psutil.virtual_memory().available)
    except (OSError, RuntimeError):
        memory = None
    try:
        one, five, fifteen = os.getloadavg()
        load: tuple[float, float, float] | None = (round(one, 2), round(five, 2), round(fifteen, 2))
    except OSError:
        load = None
    return Health(disk_free_bytes=disk_free, archive_bytes=archive_bytes, memory_available_bytes=memory,
                  cpu_temp_c=read_temperature(root),
                  throttled=read_throttled(root, "vcgencmd" if root == Path("/") else None), load=load)
