"""Retry policy, the retrying wrapper, safety placeholders, credentials, and which platforms exist."""

from __future__ import annotations

import pytest

from panic_edge.archive import sniff
from panic_edge.config import load_config
from panic_edge.core.catalogue import CATALOGUE
from panic_edge.core.media import MediaType
from panic_edge.core.model import Model, Price
from panic_edge.errors import ConfigError
from panic_edge.platforms.base import ModelInput, ModelOutput
from panic_edge.platforms.credentials import load_credentials
from panic_edge.platforms.errors import PermanentError, SafetyFilterError, TransientError, UnreachableError
from panic_edge.platforms.registry import build_platforms
from panic_edge.platforms.retry import Retrying, RetryPolicy, retry_delay
from panic_edge.platforms.safety import NSFW_FLAG, placeholder

POLICY = RetryPolicy(attempts=4, base=1.0, cap=30.0)
TEXT = ModelInput(MediaType.TEXT, text="hello")


def test_transient_errors_back_off_exponentially_up_to_the_cap():
    assert [retry_delay(POLICY, n, TransientError("x")) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert retry_delay(RetryPolicy(attempts=10, cap=5), 6, TransientError("x")) == 5


def test_retry_after_is_honoured_unless_longer_than_the_cap():
    assert retry_delay(POLICY, 1, TransientError("x", retry_after=7)) == 7
    assert retry_delay(POLICY, 1, TransientError("x", retry_after=120)) is None


def test_no_retry_after_the_last_attempt_or_for_other_errors():
    assert retry_delay(POLICY, 4, TransientError("x")) is None
    for error in (PermanentError("x"), SafetyFilterError("x"), UnreachableError("x")):
        assert retry_delay(POLICY, 1, error) is None


class Scripted:
    """A Platform that fails as told, then answers."""

    name = "scripted"

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def invoke(self, model, given):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return ModelOutput(text="ok")

    async def aclose(self):
        pass


async def test_the_wrapper_retries_transient_errors_waiting_as_the_policy_says():
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    inner = Scripted(TransientError("503"), TransientError("429", retry_after=3))
    out = await Retrying(inner, POLICY, sleep=sleep).invoke(CATALOGUE["gpt-5-chat"], TEXT)
    assert out.text == "ok" and out.meta["attempts"] == 3 and waits == [1.0, 3]


async def test_the_wrapper_gives_up_after_the_last_attempt_saying_so():
    async def sleep(seconds: float) -> None:
        pass

    inner = Scripted(*[TransientError("503")] * 4)
    with pytest.raises(TransientError, match="gave up after 4 tries"):
        await Retrying(inner, POLICY, sleep=sleep).invoke(CATALOGUE["gpt-5-chat"], TEXT)
    assert inner.calls == 4


async def test_permanent_errors_are_not_retried():
    inner = Scripted(PermanentError("401"))
    with pytest.raises(PermanentError):
        await Retrying(inner, POLICY).invoke(CATALOGUE["gpt-5-chat"], TEXT)
    assert inner.calls == 1


@pytest.mark.parametrize("model_id, kind", [("flux-schnell", MediaType.IMAGE), ("musicgen", MediaType.AUDIO),
                                            ("gpt-5-chat", MediaType.TEXT)])
async def test_the_safety_placeholder_is_flagged_nsfw_and_of_the_models_kind(model_id, kind):
    out = placeholder(CATALOGUE[model_id].output, "NSFW content detected")
    assert out.flags == (NSFW_FLAG,) and "NSFW" in out.meta["safety"]
    if kind is MediaType.TEXT:
        assert out.text
    else:
        sniffed = sniff(out.data or b"")
        assert sniffed is not None and sniffed[2] is kind


def test_credentials_come_from_systemd_then_the_environment_then_the_file(tmp_path):
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "replicate").write_text("r8_from_systemd\n")
    file = tmp_path / "keys.toml"
    file.write_text('replicate = "r8_file"\nopenai = "sk-file"\ngemini = "AIza-file"\n')
    file.chmod(0o600)
    creds = load_credentials(file, {"CREDENTIALS_DIRECTORY": str(tmp_path / "creds"),
                                    "OPENAI_API_KEY": "sk-env"})
    assert creds.get("replicate").get_secret_value() == "r8_from_systemd"
    assert creds.get("openai").get_secret_value() == "sk-env"
    assert creds.get("gemini").get_secret_value() == "AIza-file"
    assert creds.get("anthropic") is None
    shown = repr(creds) + str(creds.keys)
    assert "r8_from_systemd" not in shown and "sk-env" not in shown and "AIza-file" not in shown


def test_a_bad_credentials_file_is_a_config_error_that_does_not_quote_it(tmp_path):
    file = tmp_path / "keys.toml"
    file.write_text('replicate = r8_secret_unquoted\n')
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_credentials(file, {})
    assert "r8_secret" not in str(caught.value)
    file.write_text('replicat = "x"\n')
    with pytest.raises(ConfigError, match="unknown platforms replicat"):
        load_credentials(file, {})


def test_platforms_without_keys_are_missing_with_the_way_to_fix_it():
    platforms = build_platforms(load_config(None, {}), {"ANTHROPIC_API_KEY": "sk-ant"})
    assert platforms.available("anthropic") and platforms.available("local")
    assert not platforms.available("replicate")
    assert "REPLICATE_API_TOKEN" in platforms.why_missing("replicate")


def test_an_openai_compatible_endpoint_needs_no_key():
    config = load_config(None, {"PANIC_EDGE_PLATFORMS_OPENAI_URL": "http://127.0.0.1:11434/v1"})
    assert build_platforms(config, {}).available("openai")


def test_prices_estimate_dollars_from_metered_amounts():
    assert Price(per_call=0.003).estimate() == 0.003
    assert Price(per_million_input=3, per_million_output=15).estimate(None, 1000, 100) == 0.0045
    assert Price(per_second=0.001).estimate(predict_time=2.5) == 0.0025


def test_every_cloud_entry_names_its_ref_and_every_io_pair_has_a_cloud_model():
    cloud = [m for m in CATALOGUE.values() if not m.is_local]
    assert all(m.ref for m in cloud)
    pairs = {m.io() for m in cloud}
    for pair in ("text->image", "image->text", "text->text", "text->audio", "audio->text",
                 "image->image", "audio->audio"):
        assert pair in pairs
    assert isinstance(CATALOGUE["llava"], Model)
