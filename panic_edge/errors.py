"""Every error panic-edge raises on purpose, in one tree.

    PanicEdgeError
    ├── ConfigError (ValueError)          a config file or variable is wrong; names the key and file
    ├── NetworkError (ValueError)         a network definition cannot run
    │   └── UnknownModelError (KeyError)  a model id is not in the catalogue
    ├── CommandError (ValueError)         a command (CLI, MQTT, button) could not be carried out
    │   ├── LockoutError                  a start came too soon after the current run began
    │   ├── StartBudgetError              the appliance's starts per minute are spent
    │   ├── OfflineError                  a start while offline, on a network whose policy is stop
    │   ├── ClosedError                   a start outside the opening hours
    │   └── BudgetError                   a start when the day's budget is spent
    ├── PayloadError (ValueError)         an MQTT payload is malformed
    ├── MediaGone                         a node asked for an output file retention pruned (410)
    ├── StoreError                        the database or archive refused an output or a write
    │   └── StorageFault                  the disk refused a write (full, gone): wait it out
    ├── BackupError (ValueError)          a backup failed, or a file to restore is not a good one
    ├── InstallError                      `panic-edge install` cannot write or enable the services
    ├── ImageError (ValueError)           an image is too large to decode, or not an image at all
    ├── InsightError                      an embedding model is missing, refused or cannot load
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


class StartBudgetError(CommandError):
    """A start was refused because the appliance has made its [limits] starts_per_minute already."""

    def __init__(self, remaining: float) -> None:
        self.remaining = remaining
        super().__init__(f"too many starts: this appliance allows only so many runs a minute ([limits] "
                         f"starts_per_minute); try again in {max(1, round(remaining))} s")


class OfflineError(CommandError):
    """A start was refused because the platforms are unreachable and the network stops when offline."""

    def __init__(self, network: str) -> None:
        self.network = network
        super().__init__(f"network {network!r} cannot start: the appliance is offline (its model platforms "
                         f"are unreachable) and this network's offline_policy is stop; press again "
                         f"once the appliance is back online")


class ClosedError(CommandError):
    """A start was refused because the installation is closed (outside its opening hours)."""

    def __init__(self, network: str, opens_at: str | None) -> None:
        self.network = network
        self.opens_at = opens_at
        when = f"; it opens at {opens_at}" if opens_at else ""
        super().__init__(f"the installation is closed{when}")


class BudgetError(CommandError):
    """A start was refused because the day's spending cap is reached."""

    def __init__(self, network: str, reason: str) -> None:
        self.network = network
        super().__init__(f"network {network!r} cannot start: {reason}")


class PayloadError(PanicEdgeError, ValueError):
    """An MQTT payload is malformed. ``request_id``: the command's, when it could be read (for the reply)."""

    def __init__(self, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


class MediaGone(PanicEdgeError):
    """The media server answered 410 Gone: retention pruned that output's file. Not a fault: a
    node shows the calm pruned card (a screen) or skips it quietly (a speaker)."""


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


class InstallError(PanicEdgeError):
    """``panic-edge install`` or ``uninstall`` could not write or enable the services."""


class ImageError(PanicEdgeError, ValueError):
    """An image has more pixels than may be decoded, or cannot be read as an image."""


class InsightError(PanicEdgeError):
    """An embedding model is missing, failed its checksums, or cannot be loaded (insight only)."""
