"""The benchmark suite runs and reports every figure it promises (figures are checked by people,
in docs/performance.md, never by timed assertions here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.day_daemon import DayClock
from bench.disk import run_outputs
from panic_edge.core.catalogue import CATALOGUE
from panic_edge.core.pacing import ORIGINAL
from panic_edge.network_files import read_network

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(420)  # the quick bench, beside a full suite on every core
def test_bench_run_quick_prints_one_json_document_with_every_benchmark(tmp_path):
    assert os.access(REPO / "bench" / "run", os.X_OK)
    out = subprocess.run([sys.executable, "-m", "bench", "--quick", "--keep", str(tmp_path)], cwd=REPO,
                         capture_output=True, text=True, check=False,
                         timeout=300)  # ~60 s alone; the suite runs beside it on every core
    report = json.loads(out.stdout)
    failed = {name: figures["error"] for name, figures in report.items()
              if isinstance(figures, dict) and "error" in figures}
    assert out.returncode == 0 and not failed, (failed, out.stderr[-2000:])
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
    disk = report["disk_per_day"]["networks"]
    assert {"cocktail-party", "finetune-friday", "rapid-fire", "rube-goldberg"} <= disk.keys()
    rapid = disk["rapid-fire"]
    assert rapid["outputs"]["sdxl-lightning"]["archived_as"] == "image/jpeg"  # sent as PNG, kept as JPEG
    assert rapid["outputs"]["sdxl-lightning"]["archived_bytes"] < rapid["outputs"]["sdxl-lightning"]["sent_bytes"]
    assert 0 < rapid["opening_day"]["archive_bytes"] < rapid["worst_case"]["archive_bytes"]
    assert disk["cocktail-party"]["outputs"]["xtts-fr"]["archived_as"] == "audio/wav"
    day = report["gallery_day"]
    assert day["samples"] and day["invocations"]["completed"] > 0 and day["presses"]["sent"] > 0
    for check in ("every_answered_call_completed_or_cancelled", "every_completed_invocation_published",
                  "sequences_consecutive", "no_kept_file_missing", "archive_within_limit_at_the_end"):
        assert day["checks"][check], (check, day["invocations"], day["archive"])


def test_the_day_clock_runs_each_leg_at_its_speed_and_stands_before_its_anchor():
    clock = DayClock(start=1000.0, anchor=50.0, legs=[(2000.0, 10.0), (3000.0, 1.0)])
    assert clock.at(40.0) == 1000.0  # before the anchor, time stands
    assert clock.at(60.0) == 1100.0  # 10 real seconds at 10x
    assert clock.at(150.0) == 2000.0 and clock.at(151.0) == 2001.0  # the second leg: real time
    assert clock.at(1160.0) == 3010.0  # after the last leg, its speed goes on
    for real in (60.0, 150.0, 700.0, 1160.0):
        assert clock.real(clock.at(real)) == real


def test_the_pacing_model_steps_a_run_as_the_runner_waits():
    network = read_network(REPO / "config" / "networks" / "rapid-fire.toml")
    assert network.pacing is None  # so the cloud default, the original's rule
    ten_minutes = sum(run_outputs(network, CATALOGUE, ORIGINAL, 600).values())
    half_an_hour = sum(run_outputs(network, CATALOGUE, ORIGINAL, 1800).values())
    # 1 s between steps, then 15 s: the next 20 minutes make fewer steps than the first 10
    seconds = [CATALOGUE[m].hints.typical_seconds for m in network.models]
    assert ten_minutes == pytest.approx(600 / (1 + sum(seconds) / len(seconds)), rel=0.05)
    assert 0 < half_an_hour - ten_minutes < ten_minutes
