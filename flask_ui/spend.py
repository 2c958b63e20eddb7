"""Spend at a glance: dollars per hour per network over the last days (page and JSON), from the
calls' recorded ``meta.cost_usd`` (store/spend.py, summed by core/spend.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from flask_ui.auth import read_required
from flask_ui.spend_chart import bar_chart
from panic_edge.core.spend import PREWARMING, NetworkSpend, summarise

bp = Blueprint("spend", __name__)
DAYS = (1, 7, 31)


def _window(days: int, now: float) -> tuple[float, float]:
    """The window's start (local midnight ``days - 1`` days ago) and today's local midnight."""
    today = datetime.fromtimestamp(now).astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    return (today - timedelta(days=days - 1)).timestamp(), today.timestamp()


def _spend() -> tuple[int, float, float, list[NetworkSpend], dict[str, str]]:
    settings = current_app.config["PANIC"]
    days = min(max(request.args.get("days", 7, type=int), 1), 31)
    now = settings.now()
    since, today = _window(days, now)
    spends = summarise(current_app.config["READER"].spend_by_hour(since, now), since, now, today)
    names = {slug: str(net.get("name") or slug) for slug, net in settings.status().get("networks", {}).items()}
    names[PREWARMING] = "Pre-warming"
    return days, since, now, spends, names


@bp.get("/spend")
@read_required
def page() -> ResponseReturnValue:
    days, since, now, spends, names = _spend()
    charts = [(s, names.get(s.network, s.network), bar_chart(s.hourly, since, names.get(s.network, s.network)))
              for s in spends]
    total = {"today": sum(s.today_usd for s in spends), "window": sum(s.total_usd for s in spends),
             "rate": sum(s.rate_per_hour for s in spends)}
    return render_template("spend.html", days=days, choices=DAYS, charts=charts, total=total, since=since, until=now)


@bp.get("/api/spend")
@read_required
def api() -> ResponseReturnValue:
    days, since, now, spends, names = _spend()
    body: dict[str, Any] = {"since": since, "until": now, "days": days, "networks": [
        {"network": s.network or None, "name": names.get(s.network, s.network), "hourly_usd": list(s.hourly),
         "calls": s.calls, "total_usd": s.total_usd, "today_usd": s.today_usd,
         "rate_per_hour_usd": round(s.rate_per_hour, 6)} for s in spends]}
    return jsonify(body)
