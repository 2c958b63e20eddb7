"""The benchmark suite runs and reports every figure it promises (figures are checked by people,
in docs/performance.md, never by timed assertions here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(420)  # the quick bench, beside a full suite on every core
def test_bench_run_quick_prints_one_json_document_with_every_benchmark():
    assert os.access(REPO / "bench" / "run", os.X_OK)
    out = subprocess.run([sys.executable, "-m", "bench", "--quick"], cwd=REPO, capture_output=True, text=True,
                         check=False,
                         timeout=300)  # ~60 s alone; the suite runs beside it on every core
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert {"cpu", "cores", "python", "load_average_at_start", "load_average_at_end"} <= report["machine"].keys()
    loop = report["loop_overhead"]
    assert loop["daemon"]["per_second"] > 0 and loop["minimal"]["per_second"] > 0 and "ratio" in loop
    for kind, size in [(k, s) for k in ("bare", "display") for s in ("1", "10", "50")
                       if (k, s) != ("display", "50")]:
        both = report["fanout_latency"]["sizes"][kind][size]
        assert both["daemon"]["lost"] == 0 and both["bare"]["lost"] == 0
        assert {"median_ms", "p99_ms", "max_ms"} <= both["daemon"].keys()
    assert {"median_ms", "p99_ms", "max_ms"} <= report["press_to_dispatch"].keys()
    footprint = report["footprint"]
    assert footprint["ready_s"] > 0 and footprint["idle_rss_mib"] > 0
    assert footprint["invocations"] >= footprint["invocations_target"]
    assert footprint["screen_node_rss"]["rss_mib"] > 0
    images = report["archived_images"]
    assert images["cloud_webp_q80_1024"]["after_mime"] == "image/jpeg"
    assert images["cloud_webp_q80_1024"]["after_bytes"] < images["cloud_webp_q80_1024"]["before_bytes"]
    insight = report["insight"]
    assert insight["embedding_per_caption"]["n"] > 0 and insight["persistence_by_window"]["200"]["median_ms"] > 0
    assert insight["worker"]["ready_rss_mib"] > 0 and insight["daemon_rss_on"]["worker_idle_rss_mib"] > 0
    assert insight["loop_rate_on"] > 0 and insight["press_on_worker_busy"]["p99_ms"] > 0
    assert insight["hud_node_rss_mib"] > 0 and "loop_rate_off" not in insight  # --quick: the on side only
    reads = report["windowed_reads"]
    assert reads["invocations"] > reads["big_run_steps"] > 0
    for figure in ("run_page", "dashboard", "history", "api_runs", "node_backfill", "replay_candidates",
                   "api_run_insight", "api_run_insight_new"):
        assert reads["figures"][figure]["n"] > 0 and reads["figures"][figure]["p99_ms"] > 0
    scaling = report["network_scaling"]
    assert {"1", "4"} <= scaling["sizes"].keys()
    assert all(r["per_second"] > 0 and 0 < r["fairness"] <= 1 for r in scaling["sizes"].values())
    assert report["offline_notice"]["offline"]["n"] and report["offline_notice"]["back"]["n"]
    for figure in ("decode_and_show_webp_1024", "relayout_grid_4x4"):
        assert {"median_ms", "p99_ms", "max_ms"} <= report["screen_node"][figure].keys()
        assert report["screen_node"][figure]["n"] > 0
    fuzz = report["mqtt_fuzz"]
    assert fuzz["daemon_alive"] and fuzz["bugs_logged"] == 0 and fuzz["payloads"] > 0
    assert fuzz["rss_after_mib"] > 0 and fuzz["reply_after_a_burst"]["n"] > 0
    assert fuzz["flood"]["status_messages"] > 0 and fuzz["flood"]["reply_behind_it_ms"] > 0
