"""The OpenAI-compatible, Anthropic and Gemini clients against loopback fakes of their APIs."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from panic_edge.core.catalogue import CATALOGUE
from panic_edge.core.media import MediaType
from panic_edge.platforms.anthropic import AnthropicPlatform
from panic_edge.platforms.base import ModelInput, Platform
from panic_edge.platforms.errors import PermanentError, SafetyFilterError, TransientError, UnreachableError
from panic_edge.platforms.gemini import GeminiPlatform
from panic_edge.platforms.openai import OpenAIPlatform
from tests.fakes.platforms import KEYS, FakeAnthropic, FakeGemini, FakeOpenAI, picture, wav
from tests.fakes.server import FakeServer, Reply

TEXT = ModelInput(MediaType.TEXT, text="a camel in the desert")
IMAGE = ModelInput(MediaType.IMAGE, data=picture("PNG"), mime="image/png")
# platform -> (fake, client factory, path of the call, chat model, caption model)
SETUPS: dict[str, tuple[Callable[[], FakeServer], Callable[..., Platform], str, str, str]] = {
    "openai": (FakeOpenAI, lambda url, key, **kw: OpenAIPlatform(url + "/v1", key, **kw),
               "/v1/chat/completions", "gpt-5-chat", "gpt-caption"),
    "anthropic": (FakeAnthropic, AnthropicPlatform, "/v1/messages", "claude-chat", "claude-caption"),
    "gemini": (FakeGemini, GeminiPlatform, "/v1beta/models/gemini-2.5-flash:generateContent", "gemini-chat",
               "gemini-caption"),
}
ERROR_BODIES = {
    "openai": lambda status, msg: {"error": {"message": msg, "type": "invalid_request_error", "code": None}},
    "anthropic": lambda status, msg: {"type": "error", "error": {"type": "api_error", "message": msg}},
    "gemini": lambda status, msg: {"error": {"code": status, "message": msg, "status": "UNAVAILABLE"}},
}


@pytest.fixture(params=list(SETUPS))
async def setup(request):
    name = request.param
    fake_cls, make, path, chat, caption = SETUPS[name]
    with fake_cls() as fake:
        client = make(fake.url, SecretStr(KEYS[name]), read_timeout=5)
        yield name, fake, client, path, CATALOGUE[chat], CATALOGUE[caption]
        await client.aclose()


async def test_a_chat_call_sends_the_key_the_system_prompt_and_the_text(setup):
    name, fake, client, path, chat, _ = setup
    out = await client.invoke(chat, TEXT)
    [call] = fake.seen("POST", path)
    body = call.json
    if name == "openai":
        assert call.headers["authorization"] == "Bearer sk-test"
        assert body["model"] == "gpt-5-chat-latest"
        assert body["messages"][0]["role"] == "system" and body["messages"][1]["content"] == TEXT.text
    elif name == "anthropic":
        assert call.headers["x-api-key"] == "sk-ant-test" and call.headers["anthropic-version"] == "2023-06-01"
        assert body["system"] and body["messages"][0]["content"][-1] == {"type": "text", "text": TEXT.text}
    else:
        assert call.headers["x-goog-api-key"] == "AIza-test"
        assert body["contents"][0]["parts"][0] == {"text": TEXT.text}
        assert body["system_instruction"]["parts"][0]["text"]
        assert body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}
    assert out.text == fake.text
    assert out.meta["input_tokens"] > 0 and out.meta["output_tokens"] > 0 and out.meta["cost_usd"] > 0


async def test_a_caption_call_sends_the_picture_inline_as_base64(setup):
    name, fake, client, path, _, caption = setup
    await client.invoke(caption, IMAGE)
    body = fake.seen("POST", path)[0].json
    import base64

    assert IMAGE.data is not None
    b64 = base64.b64encode(IMAGE.data).decode()
    if name == "openai":
        assert body["messages"][-1]["content"][1]["image_url"]["url"] == f"data:image/png;base64,{b64}"
    elif name == "anthropic":
        assert body["messages"][0]["content"][0]["source"] == {"type": "base64", "media_type": "image/png",
                                                               "data": b64}
    else:
        assert body["contents"][0]["parts"][1] == {"inline_data": {"mime_type": "image/png", "data": b64}}


async def test_gemini_hears_audio_inline():
    with FakeGemini() as fake:
        client = GeminiPlatform(fake.url, SecretStr(KEYS["gemini"]))
        await client.invoke(CATALOGUE["gemini-listener"], ModelInput(MediaType.AUDIO, data=wav(), mime="audio/wav"))
        await client.aclose()
    part = fake.requests[0].json["contents"][0]["parts"][1]
    assert part["inline_data"]["mime_type"] == "audio/wav"


async def test_a_wrong_key_is_permanent_and_names_the_variable_not_the_key(setup):
    name, fake, _, _, chat, _ = setup
    wrong = SETUPS[name][1](fake.url, SecretStr("wrong-key-123"))
    with pytest.raises(PermanentError, match=f"{name.upper()}_API_KEY") as caught:
        await wrong.invoke(chat, TEXT)
    assert "wrong-key-123" not in str(caught.value)
    await wrong.aclose()


@pytest.mark.parametrize("status, kind", [(500, TransientError), (503, TransientError), (529, TransientError),
                                          (422, PermanentError), (403, PermanentError)])
async def test_error_statuses_are_classified(setup, status, kind):
    name, fake, client, path, chat, _ = setup
    fake.queue("POST", path, Reply(status, ERROR_BODIES[name](status, "the platform explains")))
    with pytest.raises(kind, match="the platform explains"):
        await client.invoke(chat, TEXT)


async def test_429_is_transient_with_its_retry_after(setup):
    name, fake, client, path, chat, _ = setup
    fake.queue("POST", path, Reply(429, ERROR_BODIES[name](429, "rate limited"), headers={"retry-after": "3"}))
    with pytest.raises(TransientError) as caught:
        await client.invoke(chat, TEXT)
    assert caught.value.retry_after == 3.0


async def test_a_timeout_is_transient(setup):
    name, fake, _, path, chat, _ = setup
    slow = SETUPS[name][1](fake.url, SecretStr(KEYS[name]), read_timeout=0.2)
    fake.queue("POST", path, Reply(200, {}, delay=1.0))
    with pytest.raises(TransientError, match="in time"):
        await slow.invoke(chat, TEXT)
    await slow.aclose()


async def test_a_refused_connection_is_unreachable(setup):
    name, _, _, _, chat, _ = setup
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    closed = SETUPS[name][1](f"http://127.0.0.1:{port}", SecretStr("k"))
    with pytest.raises(UnreachableError, match=f"cannot reach {name}"):
        await closed.invoke(chat, TEXT)
    await closed.aclose()


SAFETY_REPLIES = {
    "openai": Reply(400, {"error": {"message": "Your request was rejected by our safety system",
                                    "type": "invalid_request_error", "code": "content_policy_violation"}}),
    "anthropic": Reply(200, {"id": "msg_2", "type": "message", "role": "assistant", "content": [],
                             "stop_reason": "refusal", "usage": {"input_tokens": 5, "output_tokens": 0}}),
    "gemini": Reply(200, {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {}}),
}


async def test_a_safety_refusal_is_a_safety_filter_error(setup):
    name, fake, client, path, chat, _ = setup
    fake.queue("POST", path, SAFETY_REPLIES[name])
    with pytest.raises(SafetyFilterError):
        await client.invoke(chat, TEXT)


async def test_openai_content_filter_finish_and_out_of_credit():
    with FakeOpenAI() as fake:
        client = OpenAIPlatform(fake.url + "/v1", SecretStr(KEYS["openai"]))
        fake.queue("POST", "/v1/chat/completions", Reply(200, {"id": "c", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "content_filter"}]}))
        with pytest.raises(SafetyFilterError):
            await client.invoke(CATALOGUE["songifier"], TEXT)
        fake.queue("POST", "/v1/chat/completions", Reply(429, {"error": {
            "message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}}))
        with pytest.raises(PermanentError, match="out of credit"):
            await client.invoke(CATALOGUE["songifier"], TEXT)
        await client.aclose()


async def test_a_compatible_local_server_needs_no_key():
    with FakeOpenAI() as fake:
        fake.queue("POST", "/v1/chat/completions", Reply(200, {"id": "x", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ollama says hi"}, "finish_reason": "stop"}]}))
        client = OpenAIPlatform(fake.url + "/v1", None)
        out = await client.invoke(CATALOGUE["translate-fr"], TEXT)
        await client.aclose()
    assert out.text == "ollama says hi" and "authorization" not in fake.requests[0].headers
