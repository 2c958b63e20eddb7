"""Every error panic-edge raises on purpose, in one tree.

    PanicEdgeError
    ├── ConfigError (ValueError)          a config file or variable is wrong; names the key and file
    ├── NetworkError (ValueError)         a network definition cannot run
    │   └── UnknownModelError (KeyError)  a model id is not in the catalogue
    ├── CommandError (ValueError)         a command (CLI, MQTT, button) could not be carried out
    │   ├── LockoutError                  a start came too soon after the current run began
    │   └── OfflineError                  a start while offline, on a network whose policy is stop
    ├── PayloadError (ValueError)         an MQTT payload is malformed
    ├── StoreError                        the database or archive refused an output or a write
    │   └── StorageFault                  the disk refused a write (full, gone): wait it out
    ├── BackupError (ValueError)          a backup failed, or a file to restore is not a good one
    └── PlatformError                     a model call failed (see panic_edge.platforms.errors)

Messages say what happened, to what, and what to do about it.
"""

from __future__ import annotations


class PanicEdgeError(Exception):
    """Base of every error panic-edge raises on purpose."""


class ConfigError(PanicEdgeError, ValueError):
    """A configuration file or environment variable is wrong."""


class NetworkError(PanicEdgeError, ValueError):
    """A network definition cannot run: its type chain is broken or it names unknown models."""


class UnknownModelError(NetworkError, KeyError):
    """A model id is not in the catalogue."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CommandError(PanicEdgeError, ValueError):
    """A command could not be carried out (unknown network, empty prompt, ...)."""


class LockoutError(CommandError):
    """A start was refused because the current run is younger than the network's lockout."""

    def __init__(self, network: str, remaining: float) -> None:
        self.network = network
        self.remaining = remaining
        super().__init__(
            f"network {network!r} is locked: the current run started less than its lockout ago; "
            f"try again in {remaining:.0f} s"
        )


class OfflineError(CommandError):
    """A start was refused because the platforms are unreachable and the network stops when offline."""

    def __init__(self, network: str) -> None:
        self.network = network
        super().__init__(f"network {network!r} cannot start: the appliance is offline (its model platforms "
                         f"are unreachable) and this network's offline_policy is stop; press again "
                         f"once the appliance is back online")


class PayloadError(PanicEdgeError, ValueError):
    """An MQTT payload is malformed."""


class StoreError(PanicEdgeError):
    """The database or the archive refused a write."""


class StorageFault(StoreError):
    """The disk refused a write (full, read-only, folder gone): a fault to wait out, not bad data."""


class CursorError(PanicEdgeError, ValueError):
    """A ``before`` / ``after`` page cursor that no list gave out (hand-edited or truncated)."""


class PlatformError(PanicEdgeError):
    """A model call failed. Subclasses in panic_edge.platforms.errors say how to treat it."""


class BackupError(PanicEdgeError, ValueError):
    """A database backup could not be made, or a file offered for restore is not a good one."""
