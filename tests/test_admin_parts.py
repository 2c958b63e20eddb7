"""The admin page's pure parts: restart prompts, the failure limiter, the hub, markdown, network
files, and the hash-password command."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.security import check_password_hash

from flask_ui.render import markdown
from panic_edge.core.invocation import Invocation, InvocationState, Run
from panic_edge.core.media import Content, MediaType
from panic_edge.core.network import Network
from panic_edge.core.restart import restart_prompt
from panic_edge.daemon.hub import Hub
from panic_edge.errors import CommandError
from panic_edge.network_files import read_network, write_network

RUN = Run("r", "demo", "the prompt", 1.0)


def inv(seq: int, input: Content, output: Content | None, state=InvocationState.COMPLETED) -> Invocation:
    out_type = output.type if output else MediaType.TEXT
    return Invocation(f"r.{seq}", "r", "demo", seq, "m", state, input, out_type, output)


IMG = Content(MediaType.IMAGE, file="demo/r.1.png", mime="image/png")
WAV = Content(MediaType.AUDIO, file="demo/r.2.wav", mime="audio/wav")
CHAIN = [inv(0, Content.of_text("the prompt"), Content.of_text("a verse")),
         inv(1, Content.of_text("a verse"), IMG),
         inv(2, IMG, WAV),
         inv(3, WAV, None, InvocationState.FAILED)]


def test_restarting_from_text_takes_the_text():
    assert restart_prompt(RUN, CHAIN, "r.0") == "a verse"


def test_restarting_from_a_picture_takes_the_text_it_was_made_from():
    assert restart_prompt(RUN, CHAIN, "r.1") == "a verse"


def test_restarting_from_a_sound_walks_back_to_the_nearest_text():
    assert restart_prompt(RUN, CHAIN, "r.2") == "a verse"


def test_restarting_from_a_failed_or_unknown_invocation_is_refused():
    with pytest.raises(CommandError, match="no output"):
        restart_prompt(RUN, CHAIN, "r.3")
    with pytest.raises(CommandError, match="not part of run"):
        restart_prompt(RUN, CHAIN, "x.0")


def test_the_hub_delivers_to_every_subscriber_and_drops_the_oldest_when_one_lags():
    hub = Hub(max_subscribers=2, backlog=2)
    with hub.subscribe() as slow, hub.subscribe() as fast:
        for n in range(3):
            hub.publish("invocation", {"n": n})
        assert [slow.next(1).data["n"] for _ in range(2)] == [1, 2]
        assert fast.next(1).data["n"] == 1
        assert slow.next(0.01) is None
        with pytest.raises(CommandError, match="too many live pages"), hub.subscribe():
            pass
    assert hub.subscribers == 0


def test_closing_the_hub_ends_every_stream():
    hub = Hub()
    ended = threading.Event()

    def reader() -> None:
        with hub.subscribe() as sub:
            try:
                while True:
                    sub.next(5)
            except EOFError:
                ended.set()

    thread = threading.Thread(target=reader)
    thread.start()
    while hub.subscribers == 0:
        pass
    hub.close()
    assert ended.wait(5)
    thread.join()
    with pytest.raises(CommandError), hub.subscribe():
        pass


def test_markdown_renders_emphasis_but_never_raw_html_or_script_links():
    html = str(markdown("**bold** <script>alert(1)</script> [x](javascript:alert(1))"))
    assert "<strong>bold</strong>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript' not in html


@given(name=st.text(min_size=1, max_size=40).filter(lambda s: s.strip() and "\x00" not in s),
       prompts=st.lists(st.text(min_size=1, max_size=30).filter(lambda s: "\x00" not in s), min_size=1, max_size=3),
       lockout=st.floats(min_value=0, max_value=1e6, allow_nan=False),
       safety=st.text(max_size=40).filter(lambda s: "\x00" not in s))
def test_a_written_network_file_reads_back_the_same(tmp_path_factory, name, prompts, lockout, safety):
    folder = tmp_path_factory.mktemp("nets")
    net = Network("round-trip", name, ("local-poet", "local-painter"), description=name * 2,
                  lockout_seconds=lockout, prompts=tuple(prompts), offline_policy="replay",
                  safety_prompt=safety)
    path = write_network(folder, net)
    assert read_network(path) == net
    assert [p.name for p in folder.iterdir()] == ["round-trip.toml"]  # no temporary file left


def test_hash_password_prints_a_hash_that_checks(tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "panic_edge", "hash-password"], input="open sesame 42\n",
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0
    hashed = done.stdout.strip()
    assert hashed.startswith("scrypt:") and check_password_hash(hashed, "open sesame 42")
    assert "open sesame" not in done.stdout + done.stderr
    short = subprocess.run([sys.executable, "-m", "panic_edge", "hash-password"], input="short\n",
                           capture_output=True, text=True, timeout=30, check=False)
    assert short.returncode == 1 and short.stdout == ""
