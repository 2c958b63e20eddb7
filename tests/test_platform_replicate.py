"""The Replicate client against a loopback fake of Replicate's predictions API."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest
from pydantic import SecretStr

from panic_edge.core.catalogue import CATALOGUE
from panic_edge.core.media import MediaType
from panic_edge.core.model import Model
from panic_edge.platforms.base import ModelInput
from panic_edge.platforms.errors import PermanentError, SafetyFilterError, TransientError, UnreachableError
from panic_edge.platforms.replicate import ReplicatePlatform
from tests.fakes.platforms import KEYS, FakeReplicate, picture, problem
from tests.fakes.server import Reply

TEXT = ModelInput(MediaType.TEXT, text="a camel in the desert")
IMAGE = ModelInput(MediaType.IMAGE, data=picture("PNG"), mime="image/png")


@pytest.fixture
def fake():
    with FakeReplicate() as server:
        yield server


@pytest.fixture
async def client(fake):
    platform = ReplicatePlatform(fake.url, SecretStr(KEYS["replicate"]), read_timeout=5, poll_interval=0.01)
    yield platform
    await platform.aclose()


async def test_an_official_model_is_called_on_its_model_endpoint_with_the_token_and_waits(fake, client):
    out = await client.invoke(CATALOGUE["flux-schnell"], TEXT)
    [create] = fake.seen("POST", "/v1/models/black-forest-labs/flux-schnell/predictions")
    assert create.headers["authorization"] == "Bearer r8_test_token"
    assert create.headers["prefer"] == "wait=60"
    assert create.json["input"] == {"prompt": "a camel in the desert", "output_format": "webp",
                                    "num_outputs": 1, "aspect_ratio": "1:1", "go_fast": True}
    assert out.data is not None and out.data[8:12] == b"WEBP"  # as made: the archive normalises it
    assert out.meta["predict_time"] == 1.5 and out.meta["cost_usd"] == 0.003 and out.meta["id"] == "p1"


async def test_a_community_model_runs_its_latest_version_looked_up_once(fake, client):
    await client.invoke(CATALOGUE["blip-2"], IMAGE)
    await client.invoke(CATALOGUE["blip-2"], IMAGE)
    assert len(fake.seen("GET", "/v1/models/andreasjansson/blip-2")) == 1
    creates = fake.seen("POST", "/v1/predictions")
    assert [c.json["version"] for c in creates] == ["andreasjansson__blip-2-v1"] * 2
    assert creates[0].json["input"]["image"].startswith("data:image/png;base64,")
    assert creates[0].json["input"]["caption"] is True


async def test_a_community_model_without_a_price_is_costed_by_its_seconds_at_the_a100_rate(fake, client):
    # the fake reports predict_time 1.5 s, as Replicate's metrics do: a day's budget must count it
    out = await client.invoke(CATALOGUE["blip-2"], IMAGE)
    assert out.meta["cost_usd"] == pytest.approx(1.5 * 0.0014) and out.meta["cost_estimated"] is True
    priced = await client.invoke(CATALOGUE["flux-schnell"], TEXT)  # a published price: no estimate
    assert priced.meta["cost_usd"] == 0.003 and "cost_estimated" not in priced.meta
    unpriced = await client.invoke(CATALOGUE["flux-2-klein-4b"], TEXT)  # official, but no price found
    assert unpriced.meta["cost_usd"] == pytest.approx(1.5 * 0.0014) and unpriced.meta["cost_estimated"] is True


async def test_a_pinned_version_is_used_as_given(fake, client):
    pinned = Model("pinned", "Pinned", "replicate", MediaType.TEXT, MediaType.TEXT, "", ref="acme/llm:abc123")
    fake.outputs["acme/llm"] = "fine"
    await client.invoke(pinned, TEXT)
    [create] = fake.seen("POST", "/v1/predictions")
    assert create.json["version"] == "abc123" and not fake.seen("GET", "/v1/models")


async def test_a_prediction_still_running_after_the_wait_is_polled_to_the_end(fake, client):
    fake.polls = 3
    fake.outputs["meta/meta-llama-3-8b-instruct"] = ["A ", "fake ", "caption."]
    out = await client.invoke(CATALOGUE["llama-3-8b"], TEXT)
    assert out.text == "A fake caption."  # the fake's default: a picture URL for text in, so set tokens
    assert len(fake.seen("GET", "/v1/predictions/p1")) == 4


async def test_token_lists_are_joined_and_dict_outputs_picked_by_key(fake, client):
    fake.outputs["meta/meta-llama-3-8b-instruct"] = ["The ", "camel ", "dreams."]
    fake.outputs["openai/whisper"] = {"transcription": " hello there", "segments": []}
    fake.outputs["lucataco/florence-2-large"] = {"img": None, "text": "{'<MORE_DETAILED_CAPTION>': 'A red sky.'}"}
    assert (await client.invoke(CATALOGUE["llama-3-8b"], TEXT)).text == "The camel dreams."
    audio = ModelInput(MediaType.AUDIO, data=b"RIFF....WAVE", mime="audio/wav")
    assert (await client.invoke(CATALOGUE["whisper"], audio)).text == "hello there"
    assert (await client.invoke(CATALOGUE["florence-2"], IMAGE)).text == "A red sky."


async def test_an_output_key_is_read_from_an_object_and_a_plain_answer_is_taken_as_it_is(fake, client):
    # zsxkib/flux-music: one version answers {"wav": url}, another a plain url (its recorded schemas)
    for answer in ({"wav": f"{fake.url}/files/out.wav"}, f"{fake.url}/files/out.wav"):
        fake.outputs["zsxkib/flux-music"] = answer
        out = await client.invoke(CATALOGUE["flux-music"], TEXT)
        assert out.data == fake.files["/files/out.wav"][1]
    fake.outputs["zsxkib/flux-music"] = {"mp3": f"{fake.url}/files/out.wav"}
    with pytest.raises(PermanentError, match="no 'wav' field"):
        await client.invoke(CATALOGUE["flux-music"], TEXT)


async def test_the_first_file_of_a_list_is_downloaded_and_checked(fake, client):
    fake.outputs["black-forest-labs/flux-dev"] = [f"{fake.url}/files/out.png", f"{fake.url}/files/out.webp"]
    out = await client.invoke(CATALOGUE["flux-dev"], TEXT)
    assert out.data == fake.files["/files/out.png"][1]
    assert "authorization" not in fake.seen("GET", "/files/out.png")[0].headers  # the token stays home


async def test_a_file_of_the_wrong_type_is_refused(fake, client):
    fake.outputs["black-forest-labs/flux-dev"] = f"{fake.url}/files/out.wav"
    with pytest.raises(PermanentError, match="served as audio/wav"):
        await client.invoke(CATALOGUE["flux-dev"], TEXT)


async def test_a_file_larger_than_the_limit_is_refused(fake):
    small = ReplicatePlatform(fake.url, SecretStr(KEYS["replicate"]), max_download_bytes=50)
    try:
        with pytest.raises(PermanentError, match="50"):
            await small.invoke(CATALOGUE["flux-schnell"], TEXT)
    finally:
        await small.aclose()


async def test_an_nsfw_failure_is_a_safety_filter_error(fake, client):
    fake.queue("POST", "/v1/models/", Reply(201, {
        "id": "px", "model": "m", "version": "v", "status": "failed", "input": {}, "output": None,
        "error": "NSFW content detected. Try running it again, or try a different prompt.",
        "logs": "", "metrics": {}, "urls": {}}))
    with pytest.raises(SafetyFilterError, match="NSFW"):
        await client.invoke(CATALOGUE["flux-schnell"], TEXT)


async def test_an_empty_output_list_is_a_safety_filter_error(fake, client):
    fake.outputs["stability-ai/stable-diffusion-3.5-large"] = []
    with pytest.raises(SafetyFilterError):
        await client.invoke(CATALOGUE["sd-3.5-large"], TEXT)


async def test_a_failed_prediction_is_permanent_with_the_models_reason(fake, client):
    fake.queue("POST", "/v1/models/", Reply(201, {
        "id": "px", "model": "m", "version": "v", "status": "failed", "input": {}, "output": None,
        "error": "prompt must not be empty", "logs": "", "metrics": {}, "urls": {}}))
    with pytest.raises(PermanentError, match="prompt must not be empty"):
        await client.invoke(CATALOGUE["flux-schnell"], TEXT)


@pytest.mark.parametrize("status, kind, words", [
    (401, PermanentError, "REPLICATE_API_TOKEN"),
    (422, PermanentError, "refused the request"),
    (404, PermanentError, "may be gone"),
    (503, TransientError, "server error"),
])
async def test_http_errors_are_classified(fake, client, status, kind, words):
    fake.queue("POST", "/v1/models/", problem(status, "Oops", "something about the input"))
    with pytest.raises(kind, match=words):
        await client.invoke(CATALOGUE["flux-schnell"], TEXT)


async def test_429_carries_retry_after(fake, client):
    fake.queue("POST", "/v1/models/", Reply(429, {"detail": "slow down"}, headers={"Retry-After": "7"}))
    with pytest.raises(TransientError) as caught:
        await client.invoke(CATALOGUE["flux-schnell"], TEXT)
    assert caught.value.retry_after == 7.0


async def test_a_wrong_token_is_a_permanent_error_naming_the_variable(fake):
    wrong = ReplicatePlatform(fake.url, SecretStr("r8_wrong"))
    try:
        with pytest.raises(PermanentError, match="REPLICATE_API_TOKEN") as caught:
            await wrong.invoke(CATALOGUE["flux-schnell"], TEXT)
        assert "r8_wrong" not in str(caught.value)
    finally:
        await wrong.aclose()


async def test_a_timeout_is_transient(fake):
    slow = ReplicatePlatform(fake.url, SecretStr(KEYS["replicate"]), read_timeout=0.2, connect_timeout=0.1, wait=0)
    fake.queue("POST", "/v1/models/", Reply(201, {}, delay=1.0))
    try:
        with pytest.raises(TransientError, match="in time"):
            await slow.invoke(CATALOGUE["flux-schnell"], TEXT)
    finally:
        await slow.aclose()


async def test_a_refused_connection_is_unreachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    closed = ReplicatePlatform(f"http://127.0.0.1:{port}", SecretStr("x"))
    try:
        with pytest.raises(UnreachableError, match="cannot reach replicate"):
            await closed.invoke(CATALOGUE["flux-schnell"], TEXT)
    finally:
        await closed.aclose()


async def test_cancelling_a_polled_call_cancels_the_prediction(fake, client):
    fake.finish = False
    task = asyncio.create_task(client.invoke(CATALOGUE["musicgen"], TEXT))
    assert await asyncio.to_thread(fake.wait_for, lambda rs: any(r.method == "GET" for r in rs))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await client.settle()
    [cancel] = fake.seen("POST", "/v1/predictions/p1/cancel")
    assert cancel.headers["authorization"] == "Bearer r8_test_token"
    assert fake.predictions["p1"]["status"] == "canceled"


async def test_cancelling_while_the_create_request_waits_cancels_the_prediction_it_made(fake, client):
    fake.finish = False
    fake.hold_creates = release = threading.Event()
    task = asyncio.create_task(client.invoke(CATALOGUE["flux-schnell"], TEXT))
    assert await asyncio.to_thread(fake.wait_for, lambda rs: any(r.method == "POST" for r in rs))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    await client.settle()
    [_] = fake.seen("POST", "/v1/predictions/p1/cancel")
    assert fake.predictions["p1"]["status"] == "canceled"
