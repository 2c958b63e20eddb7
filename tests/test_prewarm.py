"""The pre-warmer against the loopback fake of Replicate, with a real SQLite store: a cold model is
called once, marked warm, its cost recorded in the spend; warm models are never called."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from panic_edge.config import PrewarmConfig
from panic_edge.core.catalogue import MODELS, Catalogue
from panic_edge.core.media import MediaType
from panic_edge.core.model import Hints, Model, Price, Warmth
from panic_edge.core.network import Network
from panic_edge.core.runner import RunnerState
from panic_edge.core.spend import PREWARMING
from panic_edge.daemon.prewarm import WARMUP_PROMPT, Prewarmer
from panic_edge.platforms.base import Platforms
from panic_edge.platforms.local import LocalPlatform
from panic_edge.platforms.replicate import ReplicatePlatform
from panic_edge.platforms.retry import Retrying, RetryPolicy
from panic_edge.store import Store
from panic_edge.store.reader import Reader
from tests.conftest import start_daemon
from tests.fakes.platforms import KEYS, FakeReplicate, problem
from tests.mqtt_probe import Probe

COLD_PAINTER = Model("cold-painter", "Cold Painter", "replicate", MediaType.TEXT, MediaType.IMAGE,
                     "A community model that boots slowly.", ref="acme/cold-painter",
                     hints=Hints(Warmth.COLD, 20), price=Price(per_second=0.002))
COLD_LISTENER = Model("cold-listener", "Cold Listener", "replicate", MediaType.AUDIO, MediaType.TEXT,
                      "Hears a sound, slowly.", ref="acme/cold-listener", hints=Hints(Warmth.COLD, 20))
CATALOGUE = Catalogue([*MODELS, COLD_PAINTER, COLD_LISTENER])
CREATE_COLD = "/v1/predictions"  # a community model: its version looked up, then created by version


class Engine:
    """What the pre-warmer reads of the engine: its networks and their runner states."""

    def __init__(self, *networks: Network) -> None:
        self.networks = {n.slug: n for n in networks}
        self.states = {n.slug: RunnerState(n) for n in networks}


GALLERY = Network("gallery", "Gallery", ("cold-painter", "flux-schnell", "local-captioner"))
SOUNDS = Network("sounds", "Sounds", ("local-voice", "cold-listener"))


@pytest.fixture
def fake():
    with FakeReplicate() as server:
        yield server


@pytest.fixture
async def platforms(fake):
    client = ReplicatePlatform(fake.url, SecretStr(KEYS["replicate"]), read_timeout=5, poll_interval=0.01)
    yield Platforms({"replicate": Retrying(client, RetryPolicy(attempts=2, base=0.01)), "local": LocalPlatform(0)})
    await client.aclose()


@pytest.fixture
async def store(tmp_path: Path):
    async with Store.open(tmp_path / "db.sqlite3") as opened:
        yield opened


def prewarmer(store: Store, platforms: Platforms, engine: Engine, **kw) -> Prewarmer:
    return Prewarmer(kw.pop("config", PrewarmConfig()), CATALOGUE, platforms, store, engine,
                     button=lambda: "gallery", reader=Reader(store.path), **kw)


def creates_of(fake: FakeReplicate, owner_name: str) -> list:
    version = owner_name.replace("/", "__") + "-v1"
    return [s for s in fake.seen("POST", CREATE_COLD) if s.json["version"] == version]


async def test_a_slow_cold_model_is_called_once_marked_warm_and_its_cost_recorded_and_warm_ones_never(
        fake, platforms, store):
    fake.hold_creates = threading.Event()  # the cold boot: the first prediction takes its time
    warmer = prewarmer(store, platforms, Engine(GALLERY))
    changes = []
    warmer.listeners.append(lambda: changes.append(warmer.models_warm()["cold-painter"]))
    decided = await warmer.prewarm("opening")
    assert decided.warm == ("cold-painter",) and decided.skipped == {}
    assert await asyncio.to_thread(fake.wait_for, lambda seen: any(s.method == "POST" for s in seen))
    assert warmer.models_warm() == {"cold-painter": "warming", "flux-schnell": "warm", "local-captioner": "warm"}
    assert warmer.status()["last"]["warming"] == ["cold-painter"]
    fake.hold_creates.set()
    await warmer.idle()

    [create] = creates_of(fake, "acme/cold-painter")
    assert create.json["input"] == {"prompt": WARMUP_PROMPT}
    assert not fake.seen("POST", "/v1/models/black-forest-labs/flux-schnell")  # warm: never called
    assert warmer.models_warm()["cold-painter"] == "warm" and changes[-1] == "warm" and "warming" in changes
    last = warmer.status()["last"]
    assert last["warmed"] == ["cold-painter"] and last["failed"] == {} and last["cost_usd"] == 0.003
    rows = Reader(store.path).spend_by_hour(time.time() - 3600, time.time() + 1)
    assert [(r.network, r.calls, r.cost_usd) for r in rows] == [(PREWARMING, 1, 0.003)]

    again = await warmer.prewarm("opening")  # a second opening within warm_minutes calls nothing
    await warmer.idle()
    assert again.warm == () and again.skipped == {"cold-painter": "already warm"}
    assert len(creates_of(fake, "acme/cold-painter")) == 1


async def test_after_a_restart_the_recorded_warm_up_keeps_the_model_warm_and_uncalled(fake, platforms, store):
    first = prewarmer(store, platforms, Engine(GALLERY))
    await first.prewarm("start")
    await first.idle()
    restarted = prewarmer(store, platforms, Engine(GALLERY))
    assert restarted.models_warm()["cold-painter"] == "cold"  # knows nothing yet
    await restarted.load()
    assert restarted.models_warm()["cold-painter"] == "warm"
    assert (await restarted.prewarm("start")).warm == ()
    assert len(creates_of(fake, "acme/cold-painter")) == 1


@pytest.mark.allow_errors
async def test_a_failed_warm_up_is_recorded_with_its_reason_and_not_tried_again_at_once(fake, platforms, store):
    fake.queue("POST", CREATE_COLD, problem(422, "Input validation failed", "prompt is too short"))
    warmer = prewarmer(store, platforms, Engine(GALLERY))
    await warmer.prewarm("opening")
    await warmer.idle()
    assert len(creates_of(fake, "acme/cold-painter")) == 1  # refused for good: not retried
    assert warmer.models_warm()["cold-painter"] == "cold"
    assert "prompt is too short" in warmer.status()["last"]["failed"]["cold-painter"]
    assert (await warmer.prewarm("opening")).skipped == {"cold-painter": "warmed a short while ago"}
    with Reader(store.path)._connect() as conn:
        state, error = conn.execute("SELECT state, error FROM warmups").fetchone()
    assert state == "failed" and "prompt is too short" in error


async def test_a_model_that_takes_a_sound_is_warmed_with_a_second_of_silence(fake, platforms, store):
    fake.outputs["acme/cold-listener"] = "silence"
    warmer = prewarmer(store, platforms, Engine(GALLERY, SOUNDS), config=PrewarmConfig(networks=["sounds"]))
    assert (await warmer.prewarm("opening")).warm == ("cold-listener",)
    await warmer.idle()
    [create] = creates_of(fake, "acme/cold-listener")
    assert create.json["input"]["audio"].startswith("data:audio/wav;base64,")
    assert not creates_of(fake, "acme/cold-painter")  # its network is not among the chosen ones


async def test_nothing_is_called_when_off_offline_or_without_a_key(fake, platforms, store):
    engine = Engine(GALLERY)
    keyless = Platforms({"local": LocalPlatform(0)}, {"replicate": "no replicate API key"})
    off = prewarmer(store, keyless, engine, config=PrewarmConfig(enabled=False))
    assert (await off.prewarm("opening")).warm == ()
    assert (await prewarmer(store, keyless, engine).prewarm("opening")).skipped == {
        "cold-painter": "no replicate API key"}
    offline = prewarmer(store, platforms, engine, online=lambda: False)
    assert (await offline.prewarm("opening")).skipped == {"cold-painter": "offline: the model platforms are "
                                                                          "unreachable"}
    assert fake.requests == []


async def test_the_engines_calls_mark_a_cold_model_warming_then_warm_but_a_replay_does_not(platforms, store):
    warmer = prewarmer(store, platforms, Engine(GALLERY))
    now = time.time()
    warmer.observe({"model": "cold-painter", "state": "invoking", "started_at": now, "finished_at": None})
    assert warmer.models_warm()["cold-painter"] == "warming"
    warmer.observe({"model": "cold-painter", "state": "failed", "started_at": now, "finished_at": now})
    assert warmer.models_warm()["cold-painter"] == "cold"
    warmer.observe({"model": "cold-painter", "state": "completed", "flags": ["replay"], "finished_at": now})
    assert warmer.models_warm()["cold-painter"] == "cold"
    warmer.observe({"model": "cold-painter", "state": "completed", "flags": [], "finished_at": now})
    assert warmer.models_warm()["cold-painter"] == "warm"
    warmer.observe({"model": "flux-schnell", "state": "invoking", "started_at": now})  # always warm: not tracked
    warmer.observe({"model": "no-such-model", "state": "completed", "finished_at": "garbage"})
    assert warmer.models_warm()["flux-schnell"] == "warm"


async def test_the_status_is_told_again_when_a_warm_model_turns_cold_by_the_clock(platforms, store):
    warmer = prewarmer(store, platforms, Engine(GALLERY), config=PrewarmConfig(warm_minutes=1))
    told = asyncio.Event()
    warmer.table = warmer.table.called("cold-painter", time.time() - 59.8)  # cold in 0.2 s
    warmer.observe({"model": "cold-painter", "state": "completed", "flags": [], "finished_at": time.time() - 59.8})
    warmer.listeners.append(lambda: told.set() if warmer.models_warm()["cold-painter"] == "cold" else None)
    await asyncio.wait_for(told.wait(), 5)
    await warmer.aclose()


async def test_the_daemon_warms_at_start_and_its_status_and_models_page_say_which_models_are_warm(
        make_config, fake, tmp_path, monkeypatch, broker):
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    nets = tmp_path / "networks"
    nets.mkdir()
    (nets / "gallery.toml").write_text('name = "Gallery"\nmodels = ["flux-schnell", "molmo"]\n')
    keys = tmp_path / "keys.toml"
    keys.write_text(f'replicate = "{KEYS["replicate"]}"\n')
    keys.chmod(0o600)
    config = make_config(PANIC_EDGE_NETWORKS_DIR=str(nets), PANIC_EDGE_PLATFORMS_CREDENTIALS_FILE=str(keys),
                         PANIC_EDGE_PLATFORMS_REPLICATE_URL=fake.url, PANIC_EDGE_DEFAULT_NETWORK="gallery",
                         PANIC_EDGE_ADMIN_PUBLIC_READONLY="true")
    probe = Probe(broker.url, f"panic/{config.appliance_id}/status")
    running = await start_daemon(config)
    try:
        status = await asyncio.to_thread(probe.wait_for, lambda t, b: b["models_warm"].get("molmo") == "warm")
        cloud = {m: state for m, state in status["models_warm"].items() if not m.startswith("local-")}  # the demo's
        assert cloud == {"flux-schnell": "warm", "molmo": "warm"}
        assert status["prewarm"]["last"]["reason"] == "start" and status["prewarm"]["last"]["warmed"] == ["molmo"]
        [create] = creates_of(fake, "zsxkib/molmo-7b")
        assert create.json["input"]["image"].startswith("data:image/png;base64,")
        assert not fake.seen("POST", "/v1/models/black-forest-labs/flux-schnell")
        html = running.daemon.http.app.test_client().get("/models").get_data(as_text=True)
        assert 'id="model-molmo"' in html and 'data-warmth="warm" title="now"' in html
        assert "warmed molmo" in html and 'data-warmth="cold" title="usually' in html  # e.g. musicgen: no network
    finally:
        await running.stop()
        probe.close()
