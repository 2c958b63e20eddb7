"""The appliance's start budget: a token bucket over every start and press, whatever its source.

A network's lockout keeps visitors from interrupting each other; it can be 0. The budget is the
rule that holds regardless: at most ``per_minute`` starts a minute on average, ``burst`` at once.
An anonymous flood once made 9,285 runs in 31 s; under the default budget it makes a dozen.

Pure: the clock arrives as an argument (a monotonic one: a wall clock stepped by NTP must not
refill or freeze the bucket, and time going backwards is read as no time passing).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class StartBudget:
    """``per_minute`` 0 turns the budget off (benchmarks; never on a venue network)."""

    per_minute: float
    burst: int
    tokens: float
    at: float

    @classmethod
    def full(cls, per_minute: float, burst: int, now: float) -> StartBudget:
        return cls(per_minute, max(1, burst), float(max(1, burst)), now)

    @property
    def unlimited(self) -> bool:
        return self.per_minute <= 0

    def refilled(self, now: float) -> StartBudget:
        elapsed = max(0.0, now - self.at)
        return replace(self, tokens=min(float(self.burst), self.tokens + elapsed * self.per_minute / 60), at=now)

    def wait(self, now: float) -> float:
        """Seconds until a start may go ahead; 0 if one may now."""
        if self.unlimited:
            return 0.0
        tokens = self.refilled(now).tokens
        return 0.0 if tokens >= 1 else (1 - tokens) * 60 / self.per_minute

    def take(self, now: float) -> tuple[StartBudget, float]:
        """(the budget after one start, 0.0), or (the budget unchanged, seconds to wait) if spent."""
        if self.unlimited:
            return self, 0.0
        budget = self.refilled(now)
        if budget.tokens < 1:
            return budget, budget.wait(now)
        return replace(budget, tokens=budget.tokens - 1), 0.0

    def give_back(self) -> StartBudget:
        """Undo a ``take`` whose start was refused for another reason (a lockout, an unknown network)."""
        if self.unlimited:
            return self
        return replace(self, tokens=min(float(self.burst), self.tokens + 1))
