"""Installing a model: from a copied folder or a (fake, loopback) hub, checked against pinned checksums."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from panic_edge.cli import main
from panic_edge.errors import InsightError
from panic_edge.insight.embedders import load_embedder
from panic_edge.insight.fetch import MANIFEST, POTION_BASE_8M, ModelSpec, PinnedFile, check, digest, install
from tests.fake_hub import FakeHub
from tests.insight_fixtures import build_model2vec

FILES = ("config.json", "tokenizer.json", "model.safetensors")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_model2vec(tmp_path_factory.mktemp("src") / "tiny")


def spec_of(folder: Path) -> ModelSpec:
    """A pinned spec of the tiny model, as a maintainer would write one for a real model."""
    return ModelSpec("tiny-m2v", "test/tiny-m2v", "0" * 40, "model2vec", 16,
                     tuple(PinnedFile(name, *digest(folder / name)) for name in FILES))


def test_from_a_copied_folder_the_model_is_checked_installed_and_loads(tiny, tmp_path):
    done = install(spec_of(tiny), tmp_path / "models", source=tiny)
    assert done.path == tmp_path / "models" / "tiny-m2v" and done.bytes == sum((tiny / f).stat().st_size for f in FILES)
    assert check(done.path, spec_of(tiny)) == [] and (done.path / MANIFEST).exists()
    model = load_embedder(done.path)
    assert (model.name, model.dim) == ("tiny-m2v", 16)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["tiny-m2v"]  # no staging left


def test_a_file_that_does_not_match_its_pin_refuses_the_install_and_keeps_the_old_model(tiny, tmp_path):
    spec = spec_of(tiny)
    install(spec, tmp_path / "models", source=tiny)
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    for name in FILES:
        (tampered / name).write_bytes((tiny / name).read_bytes())
    (tampered / "model.safetensors").write_bytes((tiny / "model.safetensors").read_bytes()[:-4] + b"\x00\x00\x80\x3f")
    with pytest.raises(InsightError, match=r"refused tiny-m2v from .*model.safetensors has sha256"):
        install(spec, tmp_path / "models", source=tampered)
    assert check(tmp_path / "models" / "tiny-m2v", spec) == []  # the good one is still there
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["tiny-m2v"]
    with pytest.raises(InsightError, match=r"tokenizer\.json is missing"):
        (tampered / "tokenizer.json").unlink()
        install(spec, tmp_path / "models", source=tampered)


def test_the_cli_refuses_files_that_are_not_the_pinned_potion_model(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PANIC_EDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("PANIC_EDGE_CONFIG", raising=False)
    code = main(["insight", "fetch", "--from", str(tiny)])
    err = capsys.readouterr().err
    assert code == 2 and "refused potion-base-8M" in err and "Nothing was installed" in err
    assert "installing potion-base-8M (30.9 MB, 256-d)" in err
    assert not (tmp_path / "data" / "insight" / "models" / "potion-base-8M").exists()


def test_from_the_hub_it_downloads_the_pinned_revision_and_checks_it(tiny, tmp_path):
    spec = spec_of(tiny)
    hub = FakeHub(spec.repo, spec.revision, {name: (tiny / name).read_bytes() for name in FILES})
    try:
        done = install(spec, tmp_path / "models", endpoint=hub.url)
        assert check(done.path, spec) == [] and not (done.path / ".cache").exists()
        assert {p for _, p in hub.requests} == {f"/{spec.repo}/resolve/{spec.revision}/{n}" for n in FILES}
        hub.files["model.safetensors"] = b"something else entirely"
        with pytest.raises(InsightError, match="refused tiny-m2v"):
            install(spec, tmp_path / "other", endpoint=hub.url)
        del hub.files["config.json"]
        with pytest.raises(InsightError, match=r"could not download config\.json"):
            install(spec, tmp_path / "third", endpoint=hub.url)
    finally:
        hub.close()


def test_panic_edge_insight_fetch_asks_the_hub_at_hf_endpoint_for_the_pinned_revision(tiny, tmp_path):
    spec = POTION_BASE_8M
    hub = FakeHub(spec.repo, spec.revision, {name: (tiny / name).read_bytes() for name in FILES})
    env = {**os.environ, "HF_ENDPOINT": hub.url, "PANIC_EDGE_DATA_DIR": str(tmp_path / "data"),
           "HF_HOME": str(tmp_path / "hf")}
    env.pop("PANIC_EDGE_CONFIG", None)
    try:
        out = subprocess.run([sys.executable, "-m", "panic_edge", "insight", "fetch"], env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=60, check=False)
    finally:
        hub.close()
    assert out.returncode == 2, out.stderr
    assert "refused potion-base-8M from minishlab/potion-base-8M@bf8b056651a2" in out.stderr
    assert f"/minishlab/potion-base-8M/resolve/{spec.revision}/model.safetensors" in {p for _, p in hub.requests}
    assert not (tmp_path / "data" / "insight" / "models" / "potion-base-8M").exists()


def fetch_cli(tmp_path: Path, endpoint: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_ENDPOINT": endpoint, "PANIC_EDGE_DATA_DIR": str(tmp_path / "data"),
           "HF_HOME": str(tmp_path / "hf")}
    env.pop("PANIC_EDGE_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "panic_edge", "insight", "fetch"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_busy_hub_is_retried_with_one_line_per_retry(tiny, tmp_path):
    spec = POTION_BASE_8M
    hub = FakeHub(spec.repo, spec.revision, {name: (tiny / name).read_bytes() for name in FILES}, busy=2)
    try:
        out = fetch_cli(tmp_path, hub.url)
    finally:
        hub.close()
    assert out.stderr.count("Retrying in") == 2, out.stderr  # two 429s: two retries, each said once
    assert out.stderr.count("429") == 2 and "HTTP Request" not in out.stderr
    assert "refused potion-base-8M" in out.stderr  # and then it went on (the tiny files are not the pins)


def test_an_unreachable_hub_fails_at_once_saying_what_to_do(tmp_path):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = fetch_cli(tmp_path, f"http://127.0.0.1:{port}")
    assert out.returncode == 2 and "Retrying" not in out.stderr, out.stderr
    assert f"cannot reach the model hub at 127.0.0.1:{port}" in out.stderr and "--from DIR" in out.stderr
    assert out.stderr.count("\n") <= 3, "a short, clear failure: " + out.stderr
