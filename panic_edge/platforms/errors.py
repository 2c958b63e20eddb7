"""How a model call can fail, by what the runner should do about it.

    PlatformError
    ├── TransientError      timeouts, resets, 5xx, 429: retry with bounded backoff
    ├── SafetyFilterError   NSFW / safety filter: complete with a placeholder, the run goes on
    ├── PermanentError      401/403, invalid input, model gone: fail, end the run
    └── UnreachableError    the platform cannot be reached at all: the appliance is offline
"""

from __future__ import annotations

from panic_edge.errors import PlatformError


class TransientError(PlatformError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SafetyFilterError(PlatformError):
    pass


class PermanentError(PlatformError):
    pass


class UnreachableError(PlatformError):
    pass


__all__ = ["PlatformError", "TransientError", "SafetyFilterError", "PermanentError", "UnreachableError"]  # noqa: RUF022 -- tree order
