"""How long an invocation may stay ``invoking`` before the engine's watchdog fails it.

Every wait inside a call is bounded already (connect and read timeouts, an overall deadline per
exchange and per download, a bounded number of tries); the watchdog is the backstop for what
slips past them all (a stall no timeout covers, a task that died without a word). So its
deadline is deliberately far beyond any legitimate call, derived from the same settings:

    per try  = connect_timeout + read_timeout
               + replicate_wait + 10 x the model's typical seconds (+ 300 s for a cold model)
                                                      [Replicate: the held request, then polling]
               + download_timeout                     [models whose output is a file]
    deadline = attempts x per try + (attempts - 1) x max_backoff + 60 s

A local model gets its simulated latency + 60 s. ``platforms.call_deadline`` (seconds) replaces
the derived figure for every model when set. With the defaults: an OpenAI chat model 670 s, a
warm Replicate image model about 25 minutes.
"""

from __future__ import annotations

from panic_edge.config import Config
from panic_edge.core.media import MediaType
from panic_edge.core.model import Model, Warmth

MARGIN = 60.0
COLD_BOOT = 300.0


def call_deadline(model: Model, config: Config) -> float:
    """Seconds ``model`` may stay invoking (see the module docstring)."""
    p = config.platforms
    if p.call_deadline:
        return p.call_deadline
    if model.is_local:
        return config.local_models.latency + MARGIN
    per_try = p.connect_timeout + p.read_timeout
    if model.platform == "replicate":
        per_try += p.replicate_wait + 10 * model.hints.typical_seconds
        if model.hints.warmth is Warmth.COLD:
            per_try += COLD_BOOT
    if model.output is not MediaType.TEXT:
        per_try += p.download_timeout
    return p.attempts * per_try + (p.attempts - 1) * p.max_backoff + MARGIN
