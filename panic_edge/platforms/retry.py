"""Retrying transient failures: the policy as a pure function, the retrying as a wrapper.

``retry_delay`` decides; ``Retrying`` wraps any Platform and follows it, so neither the clients
nor the engine carry retry loops. The delay is deterministic (no jitter): one appliance makes a
handful of calls a minute, so there is no herd to spread out, and tests stay exact.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from panic_edge.core.model import Model
from panic_edge.platforms.base import ModelInput, ModelOutput, Platform
from panic_edge.platforms.errors import PlatformError, TransientError

log = logging.getLogger("panic_edge.platforms")


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; waits of ``base`` * 2^(n-1) seconds, at most ``cap``. A
    Retry-After is honoured as given, unless it is longer than ``cap``: then waiting would hold
    the loop too long, and the call gives up at once."""

    attempts: int = 4
    base: float = 1.0
    cap: float = 30.0


def retry_delay(policy: RetryPolicy, attempt: int, error: PlatformError) -> float | None:
    """Seconds to wait before trying again after try number ``attempt`` (1-based) failed with
    ``error``; None to give up (not transient, tries used up, or told to wait too long)."""
    if not isinstance(error, TransientError) or attempt >= policy.attempts:
        return None
    if error.retry_after is not None:
        return error.retry_after if error.retry_after <= policy.cap else None
    return min(policy.cap, policy.base * 2.0 ** (attempt - 1))


class Retrying:
    """A Platform that retries another's transient failures by ``policy``."""

    def __init__(self, inner: Platform, policy: RetryPolicy = RetryPolicy(),
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.inner = inner
        self.name = inner.name
        self.policy = policy
        self._sleep = sleep

    async def invoke(self, model: Model, given: ModelInput) -> ModelOutput:
        attempt = 1
        while True:
            try:
                out = await self.inner.invoke(model, given)
            except PlatformError as err:
                delay = retry_delay(self.policy, attempt, err)
                if delay is None:
                    if isinstance(err, TransientError) and attempt > 1:
                        raise TransientError(f"{err} (gave up after {attempt} tries)",
                                             err.retry_after) from err
                    raise
                log.warning("%s: %s; try %d of %d in %.1f s", model.id, err, attempt + 1,
                            self.policy.attempts, delay)
                await self._sleep(delay)
                attempt += 1
                continue
            if attempt > 1:
                out.meta["attempts"] = attempt
            return out

    async def aclose(self) -> None:
        await self.inner.aclose()
