"""The backup reel: `panic-edge record` draws a real run through the screen's renderer into an MP4,
checked by decoding it back (PyAV); a screen given --reel plays it while the daemon is away and goes
live again when it returns, over a real Mosquitto."""

from __future__ import annotations

import array
import asyncio
import io
import os
import uuid
from pathlib import Path

import av
import pygame
import pytest

from panic_edge.cli import main
from panic_edge.core.catalogue import CATALOGUE
from panic_edge.errors import ConfigError
from panic_edge.nodes.fallback import ReelSwitch
from panic_edge.nodes.feed import Single
from panic_edge.nodes.screen.app import DisplayOptions, run_display
from panic_edge.nodes.screen.record import RATE, ReelOptions, archive_path, load, record
from panic_edge.nodes.screen.reel import ReelPlayer
from panic_edge.nodes.screen.render import BANNER
from tests.conftest import start_daemon

SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
NAMES = {m.id: m.label for m in CATALOGUE.values()}


async def run_on(daemon, steps: int = 6) -> str:
    run_id = await daemon.engine.start("demo", "a lighthouse in a storm")
    async with asyncio.timeout(20):
        while sum(i.state.value == "completed" for i in await daemon.engine.store.run_invocations(run_id)) < steps:
            await asyncio.sleep(0.05)
    await daemon.engine.stop("demo")
    return run_id


async def a_finished_run(config, steps: int = 6) -> str:
    daemon = await start_daemon(config)
    try:
        return await run_on(daemon, steps)
    finally:
        await daemon.stop()


def sound_per_step(path: Path, step: float) -> list[int]:
    """The loudest sample of each step's stretch of the reel's decoded sound."""
    samples = array.array("h")
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            for block in resampler.resample(frame):
                samples.frombytes(bytes(block.planes[0])[: 2 * block.samples])
    per = round(step * RATE)
    return [max(map(abs, samples[i:i + per]), default=0) for i in range(0, len(samples) - per // 2, per)]


def test_the_switch_waits_before_the_reel_and_goes_live_at_once():
    switch = ReelSwitch(after=5.0)
    assert not switch.update(True, 0.0)
    assert not switch.update(False, 1.0) and not switch.update(False, 5.9)
    assert switch.update(False, 6.0)
    assert not switch.update(True, 6.1)  # back: live at once
    assert not switch.update(False, 7.0)  # and the wait starts again


def test_a_media_url_never_reaches_outside_the_archive(tmp_path):
    assert archive_path(tmp_path, "reel:/media/demo/a.png") == (tmp_path / "demo/a.png").resolve()
    for url in ("reel:/media/../../etc/passwd", "reel:/media//etc/passwd", "http://x/media/a.png", None, ""):
        assert archive_path(tmp_path, url) is None


async def test_record_draws_a_run_as_the_screen_does_with_its_sound(config, monkeypatch, capsys, tmp_path):
    run_id = await a_finished_run(config)
    out = tmp_path / "reel.mp4"
    monkeypatch.setenv("PANIC_EDGE_DATA_DIR", str(config.data_dir))
    code = await asyncio.to_thread(main, ["record", str(out), "--run", run_id, "--size", "160x90",
                                          "--seconds-per-step", "0.5", "--fps", "10"])
    assert code == 0
    shown = load(config.database_path, ReelOptions("demo", Single(), run_id=run_id), NAMES, 0.0)
    assert len(shown) >= 6 and f"{len(shown)} steps" in capsys.readouterr().out
    with av.open(str(out)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, audio.codec_context.name) == ("h264", "aac")
        assert (video.width, video.height) == (160, 90)
        frames = [frame.to_image() for frame in container.decode(video=0)]
        seconds = float(container.duration or 0) / 1e6
    assert len(frames) == 5 * len(shown)  # 0.5 s a step at 10 frames a second
    assert abs(seconds - 0.5 * len(shown)) < 0.15
    loud = sound_per_step(out, 0.5)
    voice = [s.sequence for s in shown].index(next(s.sequence for s in shown if s.output_type == "audio"))
    assert loud[voice] > 1000 and max(loud[:voice]) < 200  # the voice plays in its own step, nothing before
    first = pygame.image.frombytes(frames[2].tobytes(), frames[2].size, "RGB")  # the poet's text, drawn
    assert len({tuple(first.get_at((x, y)))[:3] for x in range(0, 160, 4) for y in range(0, 90, 4)}) > 6
    if os.environ.get("PANIC_EDGE_SCREENSHOTS", "0") == "1":
        big = tmp_path / "big.mp4"
        record(shown, ReelOptions("demo", Single(), (1280, 720), 0.5, 2), config.archive_dir, big)
        with av.open(str(big)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i == 1:  # one frame a step: the painter's picture
                    frame.to_image().save(SHOTS / "reel-frame.png")
                    break


async def test_record_refuses_an_empty_selection_and_a_screen_refuses_a_bad_reel(config, tmp_path, caplog):
    await a_finished_run(config, steps=1)
    with pytest.raises(ConfigError, match="no run 'nope'"):
        load(config.database_path, ReelOptions("demo", Single(), run_id="nope"), NAMES, 0.0)
    with pytest.raises(ConfigError, match="nothing to record"):
        record([], ReelOptions("demo", Single()), config.archive_dir, tmp_path / "x.mp4")
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all" * 10)
    with pytest.raises(ConfigError, match="cannot play the reel"):
        ReelPlayer(tmp_path / "bad.mp4")
    assert not (tmp_path / "x.mp4").exists()
    # a screen given a reel it cannot play still shows the live picture
    await run_display(config, DisplayOptions("demo", Single(), fullscreen=False, size=(160, 90), exit_after=0.3,
                                             node_id=f"test-badreel-{uuid.uuid4().hex[:8]}", reel=tmp_path / "none.mp4"))
    assert any("shows the live picture only" in r.getMessage() for r in caplog.records)


def top_colour(shot: bytes) -> tuple[int, ...]:
    image = pygame.image.load(io.BytesIO(shot), "shot.png")
    return tuple(image.get_at((image.get_width() // 2, 2)))[:3]


async def test_a_screen_plays_the_reel_while_the_daemon_is_away_and_is_live_when_it_returns(config, probe, tmp_path,
                                                                                             caplog):
    daemon = await start_daemon(config)
    run_id = await run_on(daemon)
    reel = tmp_path / "reel.mp4"  # recorded while the daemon runs: the database is only read
    shown = load(config.database_path, ReelOptions("demo", Single(), run_id=run_id), NAMES, 0.0)
    record(shown, ReelOptions("demo", Single(), (160, 90), 0.5, 10), config.archive_dir, reel)
    node_id = f"test-reel-{uuid.uuid4().hex[:8]}"
    status = f"panic/{config.appliance_id}/nodes/{node_id}/status"

    def showing(what: str):
        return asyncio.to_thread(probe.wait_for, lambda t, b: t == status and isinstance(b, dict)
                                 and b.get("showing") == what, 15)

    async def screenshot() -> bytes:
        seen = len(probe.messages)
        probe.publish(f"panic/{config.appliance_id}/nodes/{node_id}/cmd/screenshot", b"{}")
        await asyncio.to_thread(probe.wait_for, lambda t, b: t.endswith(f"{node_id}/screenshot")
                                and len(probe.messages) > seen)
        return [p for t, p, _ in probe.messages[seen:] if t.endswith(f"{node_id}/screenshot")][-1]

    display = asyncio.create_task(run_display(config, DisplayOptions(
        "demo", Single(), fullscreen=False, size=(320, 180), exit_after=90, node_id=node_id, reel=reel,
        reel_after=0.5)))
    try:
        async with asyncio.timeout(15):  # the node is up and has its picture
            while not any(r.getMessage().startswith(f"{node_id}: ") and "recent invocations" in r.getMessage()
                          for r in caplog.records):
                await asyncio.sleep(0.05)
        await daemon.stop()  # availability: offline
        await showing("reel")
        assert top_colour(await screenshot()) != BANNER  # the reel, not the offline banner
        daemon = await start_daemon(config)
        await showing("live")
    finally:
        pygame.event.post(pygame.event.Event(pygame.QUIT))  # closes the window: a clean stop
        await asyncio.wait_for(display, 10)
        if not daemon.task.done():
            await daemon.stop()
