"""The speaker node: in order, never overlapping, skipping what is stale; SDL's dummy audio driver."""

from __future__ import annotations

import array
import asyncio
import itertools
import time

import httpx

from panic_edge.nodes.speaker import MixerPlayer, Playlist, Speaker
from panic_edge.platforms.local.sounds import _wav
from tests.fake_http import FileServer
from tests.nodes_helpers import shown


def clip(seq: int, base: str = "http://x", **kw):
    return shown(seq, output_type="audio", output=f"{base}/media/{seq}.wav", **kw)


def test_the_playlist_plays_in_order_whatever_order_clips_arrive_in():
    playlist = Playlist(max_behind=5)
    for seq in (2, 0, 1):
        playlist.add(clip(seq, created=1000 + seq))
    assert [playlist.next(now=1005).sequence for _ in range(3)] == [0, 1, 2]
    assert playlist.next(now=1005) is None


def test_duplicates_and_clips_older_than_what_played_are_ignored():
    playlist = Playlist()
    assert playlist.add(clip(1))
    assert not playlist.add(clip(1))
    playlist.next(now=1002)
    assert not playlist.add(clip(0))


def test_when_behind_it_skips_the_oldest_and_anything_stale():
    playlist = Playlist(max_behind=2, stale_after=60)
    for seq in range(5):
        playlist.add(clip(seq, created=1000 + seq))
    assert playlist.next(now=1010).sequence == 3
    assert playlist.skipped == ["r1.0", "r1.1", "r1.2"]
    assert playlist.next(now=2000) is None and "r1.4" in playlist.skipped


def test_text_is_only_spoken_when_asked_and_nsfw_or_unfinished_clips_never_play():
    assert not Playlist().add(shown(0))
    assert Playlist(speak_text=True).add(shown(0))
    assert not Playlist().add(clip(1, flags=["nsfw"]))
    assert not Playlist().add(shown(2, "invoking", output_type="audio"))


async def test_the_speaker_plays_clips_in_order_one_at_a_time_through_the_mixer():
    files = {f"/media/{n}.wav": _wav(array.array("h", [((i // 20) % 2) * 8000 for i in range(22050 // 4)]))
             for n in range(3)}
    server = FileServer(files)
    intervals: list[tuple[str, float]] = []
    player = MixerPlayer()
    try:
        async with httpx.AsyncClient() as http:
            speaker = Speaker(Playlist(max_behind=5), player, http,
                              on_play=lambda s: intervals.append((s.id, time.monotonic())),
                              media_base=lambda: server.url)
            task = asyncio.create_task(speaker.run())
            now = time.time()
            for seq in (1, 0, 2):
                speaker.offer(clip(seq, base=server.url, created=now + seq))
            async with asyncio.timeout(10):
                while len(speaker.played) < 3:
                    await asyncio.sleep(0.02)
            task.cancel()
        assert speaker.played == ["r1.0", "r1.1", "r1.2"]
        assert [i for i, _ in intervals] == speaker.played
        starts = [t for _, t in intervals]
        assert all(b - a >= 0.25 - 0.03 for a, b in itertools.pairwise(starts)), "clips overlapped"
        assert server.requests == ["/media/0.wav", "/media/1.wav", "/media/2.wav"]  # each fetched once
    finally:
        player.close()
        server.close()


def test_the_speaker_stays_quiet_while_the_network_cannot_start():
    from panic_edge.nodes.gate import BUDGET_WORDS, Gate

    speaker = Speaker(Playlist(), None, None)  # type: ignore[arg-type]  # nothing is played or fetched here
    speaker.offer(clip(1))
    speaker.gate(Gate("budget", BUDGET_WORDS, "spent"))
    assert speaker.playlist.waiting == [] and speaker.playlist.skipped == ["r1.1"]  # what waited is dropped
    speaker.offer(clip(2))
    assert speaker.playlist.next(1002.0) is None  # and nothing new plays
    speaker.gate(None)
    speaker.offer(clip(3))
    assert speaker.playlist.next(1003.0).id == "r1.3"
