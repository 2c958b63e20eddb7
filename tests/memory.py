"""The peak memory of this process (Linux): reset the high-water mark, run something, read it."""

from __future__ import annotations

from pathlib import Path


def _status_kb(field: str, pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def reset_peak() -> float:
    """Reset VmHWM to the current RSS (``clear_refs`` 5); returns that RSS in MB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kb("VmRSS") / 1024


def peak_mb(pid: int | str = "self") -> float:
    """VmHWM, the peak resident set since the start (or the last reset), in MB."""
    return _status_kb("VmHWM", pid) / 1024


def rss_mb(pid: int | str = "self") -> float:
    return _status_kb("VmRSS", pid) / 1024
