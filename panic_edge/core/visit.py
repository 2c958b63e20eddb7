"""Visitor passes: the signed token in the QR code that opens a network's prompt page on a phone.

A pass names one network and when it stops working; it is signed (itsdangerous, HMAC-SHA1 over
the admin session key), so a visitor can neither forge one nor stretch one, and a pass for one
network opens no other. A screen's QR code carries a fresh pass (valid for
``visitors.token_minutes``, an hour by default), so a photo of it stops working an hour later.
Pure: the key and the clock are given.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "panic-edge visitor pass"


class Verdict(str, enum.Enum):
    OK = "ok"
    EXPIRED = "expired"
    OTHER_NETWORK = "other network"
    INVALID = "invalid"


@dataclass(frozen=True)
class VisitPass:
    token: str
    network: str
    expires_at: float


class VisitPasses:
    def __init__(self, secret: bytes) -> None:
        self._signer = URLSafeSerializer(secret, salt=SALT)

    def issue(self, network: str, now: float, seconds: float) -> VisitPass:
        """A pass to ``network`` that works for ``seconds`` from ``now``."""
        expires = int(now + seconds)
        return VisitPass(str(self._signer.dumps({"n": network, "x": expires})), network, float(expires))

    def check(self, token: str, network: str, now: float) -> Verdict:
        """Whether ``token`` opens ``network`` at ``now``. Anything malformed is INVALID."""
        if not token or len(token) > 512:
            return Verdict.INVALID
        try:
            body = self._signer.loads(token)
        except BadSignature:
            return Verdict.INVALID
        if not isinstance(body, dict) or not isinstance(body.get("n"), str) or \
                not isinstance(body.get("x"), int) or isinstance(body.get("x"), bool):
            return Verdict.INVALID
        if body["n"] != network:
            return Verdict.OTHER_NETWORK
        return Verdict.OK if now < body["x"] else Verdict.EXPIRED


def visit_url(base: str, visit: VisitPass) -> str:
    """The prompt page's address for ``visit`` under ``base`` (the appliance as phones reach it)."""
    return f"{base.rstrip('/')}/visit/{quote(visit.network)}?t={visit.token}"
