"""End to end: a network mixing all four cloud platforms runs in the real daemon against the
loopback fakes; outputs are archived and served from /media, never as platform URLs."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from panic_edge.store import Store
from tests.conftest import start_daemon
from tests.fakes.platforms import KEYS, FakeAnthropic, FakeGemini, FakeOpenAI, FakeReplicate
from tests.mqtt_probe import Probe

MODELS = ["gpt-5-chat", "flux-schnell", "claude-caption", "gemini-chat", "flux-dev", "blip-2"]


@pytest.fixture
def fakes():
    with FakeReplicate() as rep, FakeOpenAI() as oai, FakeAnthropic() as ant, FakeGemini() as gem:
        yield {"replicate": rep, "openai": oai, "anthropic": ant, "gemini": gem}


async def test_a_network_of_all_four_platforms_runs_and_its_files_are_served(
        make_config, fakes, tmp_path, monkeypatch, broker):
    for name in ("REPLICATE_API_TOKEN", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    nets = tmp_path / "networks"
    nets.mkdir()
    (nets / "mixed.toml").write_text(f'name = "Mixed"\ndescription = "all four"\nmodels = {MODELS!r}\n'
                                     'lockout_seconds = 1\nprompts = ["a camel"]\n'.replace("'", '"'))
    keys = tmp_path / "keys.toml"
    keys.write_text("".join(f'{name} = "{key}"\n' for name, key in KEYS.items()))
    keys.chmod(0o600)
    config = make_config(PANIC_EDGE_NETWORKS_DIR=str(nets), PANIC_EDGE_PLATFORMS_CREDENTIALS_FILE=str(keys),
                         PANIC_EDGE_PLATFORMS_REPLICATE_URL=fakes["replicate"].url,
                         PANIC_EDGE_PLATFORMS_OPENAI_URL=fakes["openai"].url + "/v1",
                         PANIC_EDGE_PLATFORMS_ANTHROPIC_URL=fakes["anthropic"].url,
                         PANIC_EDGE_PLATFORMS_GEMINI_URL=fakes["gemini"].url)
    probe = Probe(broker.url, f"panic/{config.appliance_id}/#")
    running = await start_daemon(config)
    try:
        run_id = await running.engine.start("mixed", "a camel in the desert")
        topic = f"panic/{config.appliance_id}/networks/mixed/invocations"
        await asyncio.to_thread(probe.wait_for, lambda t, b: t == topic and b["sequence"] == len(MODELS)
                                and b["state"] == "completed", 20)
        done = {b["sequence"]: b for b in probe.bodies(topic) if b["state"] == "completed"}
        assert [done[i]["model"] for i in range(len(MODELS))] == MODELS
        assert done[0]["output"] == fakes["openai"].text
        assert done[2]["output"] == fakes["anthropic"].text and done[3]["output"] == fakes["gemini"].text
        media = f"http://127.0.0.1:{running.daemon.http.port}/media/mixed/"
        async with httpx.AsyncClient() as client:
            for seq in (1, 4):
                assert done[seq]["output"].startswith(media)
                response = await client.get(done[seq]["output"])
                # the fake's WebP is archived as JPEG: what every display decodes, and compact
                assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
        assert not any(fakes["replicate"].url in str(b) for b in probe.bodies(topic))
        assert fakes["anthropic"].seen("POST", "/v1/messages")[0].json["messages"][0]["content"][0][
            "source"]["media_type"] == "image/jpeg"
        await running.engine.stop("mixed")
    finally:
        await running.stop()
        probe.close()
    async with Store.open(config.database_path) as store:
        totals = await store.run_totals(run_id)
    assert totals["invocations"] >= len(MODELS) and totals["input_tokens"] > 0
    assert totals["cost_usd"] > 0.028  # flux-schnell 0.003 + flux-dev 0.025 + tokens
