"""End to end: a network mixing all four cloud platforms runs in the real daemon against the
loopback fakes; outputs are archived and served from /media, never as platform URLs."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from panic_edge.store import Store
from tests.conftest import start_daemon
from tests.fakes.platforms import KEYS, FakeAnthropic, FakeGemini, FakeOpenAI, FakeReplicate
from tests.fakes.server import Reply
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


def _replicate_only(make_config, fakes, tmp_path, monkeypatch, networks: dict[str, str]):
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    nets = tmp_path / "networks"
    nets.mkdir()
    for slug, body in networks.items():
        (nets / f"{slug}.toml").write_text(body)
    keys = tmp_path / "keys.toml"
    keys.write_text(f'replicate = "{KEYS["replicate"]}"\n')
    keys.chmod(0o600)
    return make_config(PANIC_EDGE_NETWORKS_DIR=str(nets), PANIC_EDGE_PLATFORMS_CREDENTIALS_FILE=str(keys),
                       PANIC_EDGE_PLATFORMS_REPLICATE_URL=fakes["replicate"].url)


async def _completed(engine, network: str, sequence: int, timeout: float = 20) -> dict:
    """The completed invocation message of ``network`` at ``sequence``, once it is published."""
    found: dict = {}
    arrived = asyncio.Event()

    def listen(body: dict) -> None:
        if body["network"] == network and body["sequence"] == sequence and body["state"] == "completed":
            found.update(body)
            arrived.set()

    engine.on_invocation(listen)
    await asyncio.wait_for(arrived.wait(), timeout)
    return found


NSFW = Reply(201, {"id": "px", "model": "m", "version": "v", "status": "failed", "input": {}, "output": None,
                   "error": "NSFW content detected. Try running it again, or try a different prompt.",
                   "logs": "", "metrics": {}, "urls": {}})
KLEIN = "/v1/models/black-forest-labs/flux-2-klein-4b/predictions"


async def test_a_call_refused_as_unsafe_is_retried_once_with_the_safety_prompt_then_shows_the_placeholder(
        make_config, fakes, tmp_path, monkeypatch):
    rep = fakes["replicate"]
    rep.queue("POST", KLEIN, NSFW)
    config = _replicate_only(make_config, fakes, tmp_path, monkeypatch, {"careful": (
        'name = "Careful"\nmodels = ["flux-2-klein-4b", "local-captioner"]\n'
        'safety_prompt = "a calm lake at dawn"\n')})
    running = await start_daemon(config)
    try:
        done = _completed(running.engine, "careful", 1)
        await running.engine.start("careful", "something the filter refuses")
        caption = await done
        creates = rep.seen("POST", KLEIN)  # the run goes on: the next step's call may be in already
        assert [c.json["input"]["prompt"] for c in creates[:2]] == ["something the filter refuses",
                                                                    "a calm lake at dawn"]
        assert caption["input_type"] == "image" and caption["output"]
        await running.engine.stop("careful")
        rep.queue("POST", KLEIN, NSFW, NSFW)  # refused with the safety prompt too: the placeholder
        done = _completed(running.engine, "careful", 1)
        second_run = await running.engine.start("careful", "something worse")
        await done
        await running.engine.stop("careful")
    finally:
        await running.stop()
    async with Store.open(config.database_path) as store:
        runs = {r.id: r for r in await store.runs("careful")}
        [first, *_] = await store.run_invocations(next(i for i in runs if i != second_run))
        [withheld, *_] = await store.run_invocations(second_run)
    assert first.input.text == "something the filter refuses"  # history keeps what was typed
    assert first.output is not None and "nsfw" not in first.output.flags
    assert "NSFW content detected" in first.meta["safety"]
    assert first.meta["safety_prompt"] == "a calm lake at dawn"
    assert withheld.output is not None and withheld.output.flags == ("nsfw",) and withheld.output.file
    assert "with the safety prompt too" in withheld.meta["safety"]


async def test_the_image_reproducer_pair_loops_a_picture_through_flux_kontext(
        make_config, fakes, tmp_path, monkeypatch):
    rep = fakes["replicate"]
    rep.outputs["black-forest-labs/flux-kontext-dev"] = f"{rep.url}/files/out.png"
    config = _replicate_only(make_config, fakes, tmp_path, monkeypatch, {"mirror": (
        'name = "Mirror"\nmodels = ["image-reproducer-i-flux", "image-reproducer-ii-flux"]\n')})
    running = await start_daemon(config)
    try:
        done = _completed(running.engine, "mirror", 2)
        await running.engine.start("mirror", "a lighthouse in a storm")
        reproduced = await done
        await running.engine.stop("mirror")
    finally:
        await running.stop()
    [genesis] = rep.seen("POST", "/v1/models/black-forest-labs/flux-2-klein-4b/predictions")
    assert genesis.json["input"] == {"prompt": "a lighthouse in a storm", "aspect_ratio": "16:9",
                                     "output_format": "png"}
    [kontext] = rep.seen("POST", "/v1/models/black-forest-labs/flux-kontext-dev/predictions")
    given = kontext.json["input"]
    assert given["prompt"] == "reproduce this image exactly"
    assert given["input_image"].startswith("data:image/jpeg;base64,")  # the archived picture, as the archive keeps it
    assert reproduced["model"] == "image-reproducer-i-flux" and reproduced["output"].endswith((".png", ".jpg"))
