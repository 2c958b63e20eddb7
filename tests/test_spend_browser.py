"""The Models page's warmth badges and the Spend page's charts in headless Chromium, against a real
daemon calling the loopback fake of Replicate: no CSP violation, and the screenshots for docs/.
PANIC_EDGE_SCREENSHOTS=1 rewrites docs/screenshots/models-desktop.png and spend-desktop.png."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timedelta

from panic_edge.core.prewarm import Warmup
from panic_edge.store.spend import record_warmup
from tests.admin_fixtures import PASSWORD
from tests.fakes.platforms import KEYS, FakeReplicate
from tests.live import ThreadedDaemon
from tests.test_admin_browser import DESKTOP, playwright_api, shoot, violations, watched

NETWORKS = {"gallery": ("Gallery", ["flux-schnell", "molmo"]), "music": ("Music", ["magnet", "whisper"]),
            "speech": ("Speech", ["xtts", "whisper"])}


def a_week_of_spend(path, now: float) -> None:
    """Invocations with costs over the last seven days, during opening hours (10:00 to 18:00)."""
    conn = sqlite3.connect(path, timeout=10)
    midnight = datetime.fromtimestamp(now).astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    n = 0
    for day in range(7):
        for hour in range(10, 18):
            start = (midnight - timedelta(days=day) + timedelta(hours=hour)).timestamp()
            if start > now:
                continue
            for network, per_call, calls in (("gallery", 0.003, 20 + 3 * ((day + hour) % 5)),
                                             ("music", 0.012, 4 + (day * hour) % 7)):
                run = f"run-{network}-{day}"
                conn.execute("INSERT OR IGNORE INTO runs (id, network, prompt, started_at) VALUES (?, ?, 'p', ?)",
                             (run, network, start))
                for i in range(calls):
                    n += 1
                    conn.execute("INSERT INTO invocations (id, run_id, network, sequence, model, state, input_type, "
                                 "input_text, output_type, created_at, finished_at, meta) VALUES (?, ?, ?, ?, 'm', "
                                 "'completed', 'text', 'x', 'text', ?, ?, ?)",
                                 (f"seed-{n}", run, network, n, start + i * 60, start + i * 60 + 2,
                                  json.dumps({"cost_usd": per_call})))
        at = (midnight - timedelta(days=day) + timedelta(hours=9, minutes=55)).timestamp()
        if at < now:
            record_warmup(conn, Warmup(f"w{day}", "molmo", "opening", True, at, at + 90, meta={"cost_usd": 0.02}))
    conn.commit()
    conn.close()


def test_the_models_warmth_and_a_week_of_spend_are_shown_under_the_content_security_policy(
        chromium, make_config, admin_env, networks_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    for slug, (name, models) in NETWORKS.items():
        (networks_dir / f"{slug}.toml").write_text(f'name = "{name}"\nmodels = {json.dumps(models)}\n')
    keys = tmp_path / "keys.toml"
    keys.write_text(f'replicate = "{KEYS["replicate"]}"\n')
    keys.chmod(0o600)
    with FakeReplicate() as fake:
        fake.outputs["lucataco/magnet"] = f"{fake.url}/files/out.wav"
        live = ThreadedDaemon(make_config(**admin_env, PANIC_EDGE_PLATFORMS_CREDENTIALS_FILE=str(keys),
                                          PANIC_EDGE_PLATFORMS_REPLICATE_URL=fake.url,
                                          PANIC_EDGE_PREWARM_NETWORKS="gallery")).start()
        try:
            live.wait_until(lambda: live.daemon.prewarmer.models_warm()["molmo"] == "warm")
            fake.finish = False  # the next predictions boot for ever: the run's cold model is warming
            live.call(lambda: live.engine.start("speech", "good morning"))
            live.wait_until(lambda: live.daemon.prewarmer.models_warm()["xtts"] == "warming")
            a_week_of_spend(live.config.database_path, time.time())

            context = chromium.new_context(viewport=DESKTOP)
            console = watched(context)
            page = context.new_page()
            page.set_default_timeout(10_000)
            page.goto(f"{live.url}/login?next=/models%3Fused%3D1")
            page.fill("input[name=password]", PASSWORD)
            page.click("button:has-text('Log in')")
            expect = playwright_api.expect
            expect(page.locator("#model-molmo [data-warmth]")).to_have_text("warm")
            expect(page.locator("#model-xtts [data-warmth]")).to_have_text("warming")
            expect(page.locator("#model-magnet [data-warmth]")).to_have_text("cold")
            expect(page.locator("#prewarm")).to_contain_text("warmed molmo")
            expect(page.locator("#model-musicgen")).to_have_count(0)  # no network uses it
            shoot(page, "models-desktop")
            assert violations(page) == []

            page.goto(f"{live.url}/spend")
            expect(page.locator("table.spend tbody tr")).to_have_count(3)
            expect(page.locator("table.spend tbody tr").first).to_contain_text("Music")  # the biggest spender first
            expect(page.locator("table.spend tbody tr").last).to_contain_text("Pre-warming")
            assert page.locator("svg.spend-chart rect.bar").count() > 40
            assert page.locator("svg.spend-chart").first.bounding_box()["width"] > 600  # styled by admin.css
            shoot(page, "spend-desktop")
            assert violations(page) == [] and console == []
            context.close()
            live.call(live.engine.stop_all)
        finally:
            live.stop()
