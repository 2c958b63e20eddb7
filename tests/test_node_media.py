"""Display nodes trust only their appliance: media under its media_base, bounded, never a bomb decoded.

A forged invocation pointing elsewhere is dropped before it reaches the screen; a file under the
appliance that is a bomb, endless, slow or a redirect is refused without costing memory; the next
good invocation is shown. Real Mosquitto, real HTTP on loopback, the real screen node (SDL dummy).
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid

import httpx
import pygame
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from panic_edge.errors import ImageError, PayloadError
from panic_edge.nodes.feed import Single
from panic_edge.nodes.fetch import fetch_media, media_scope
from panic_edge.nodes.screen.app import DisplayOptions, run_display
from panic_edge.nodes.screen.media import MediaCache
from tests.fakes.hostile import WEBP_BOMB, drip, endless, png_bomb, redirect
from tests.fakes.server import FakeServer, Reply
from tests.memory import peak_mb, reset_peak
from tests.mqtt_probe import Probe
from tests.nodes_helpers import message

BASE = "http://panic.local:8750"


@pytest.mark.parametrize("url", [
    "http://panic.local:8750/media/demo/r1.0.jpg", "HTTP://PANIC.local:8750/media/demo/r1.0.jpg",
    "http://panic.local:8750/media/a/b/c.png"])
def test_a_file_under_the_appliances_media_is_fetched(url):
    assert media_scope(url, BASE) is None


@pytest.mark.parametrize("url", [
    "http://evil.example/media/x.png", "http://panic.local:8751/media/x.png", "https://panic.local:8750/media/x.png",
    "http://panic.local:8750@evil.example/media/x.png", "http://evil.example\\@panic.local:8750/media/x.png",
    "http://user:pw@panic.local:8750/media/x.png", "http://panic.local:8750/media/../api/status",
    "http://panic.local:8750/media/%2e%2e/api/status", "http://panic.local:8750/media/x%2Fy",
    "http://panic.local:8750/mediax/x.png", "http://panic.local:8750/media/", "http://panic.local:8750/api/status",
    "http://panic.local:8750/media/x.png?next=1", "http://panic.local:8750/media/x.png#f",
    "http://panic.local:8750/media/x y.png", "http://panic.local:8750/media/x\n.png", "file:///etc/passwd",
    "ftp://panic.local:8750/media/x", "javascript:alert(1)", "", "http://" + "a" * 3000])
def test_anything_else_is_refused(url):
    assert media_scope(url, BASE) is not None


@given(st.text(max_size=200), st.sampled_from(["", BASE, BASE + "/media/", "http://x@panic.local:8750/media/"]))
def test_a_url_passes_only_if_what_httpx_would_fetch_is_under_the_media_base(tail, head):
    url = head + tail
    if media_scope(url, BASE) is None:
        target = httpx.URL(url)
        assert (target.scheme, target.host, target.port) == ("http", "panic.local", 8750)
        assert target.path.startswith("/media/") and not target.userinfo and ".." not in target.path.split("/")


@pytest.fixture
def media():
    with FakeServer(lambda seen: Reply(404, body=b"")) as server:
        yield server


def png(colour: tuple[int, int, int], size: int = 200) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, format="PNG")
    return out.getvalue()


async def test_a_node_fetch_is_bounded_in_bytes_and_time_and_follows_no_redirect(media):
    media.queue("GET", "/media/endless", endless()())
    media.queue("GET", "/media/drip", drip(0.2)())
    media.queue("GET", "/media/moved", redirect(f"{media.url}/media/ok")())
    async with httpx.AsyncClient(timeout=5) as client:
        with pytest.raises(PayloadError, match="more than 1000000 bytes"):
            await fetch_media(client, f"{media.url}/media/endless", media.url, max_bytes=1_000_000)
        with pytest.raises(TimeoutError):
            await fetch_media(client, f"{media.url}/media/drip", media.url, deadline=0.5)
        with pytest.raises(PayloadError, match="redirected"):
            await fetch_media(client, f"{media.url}/media/moved", media.url)
        with pytest.raises(PayloadError, match="not on the appliance"):
            await fetch_media(client, "http://127.0.0.1:9/media/x", media.url)
    assert not media.seen("GET", "/media/ok")


async def test_a_bomb_under_the_appliance_is_not_decoded_and_the_next_image_is(media):
    for name, data in {"bomb.png": png_bomb(), "bomb.webp": WEBP_BOMB, "good.png": png((0, 200, 0))}.items():
        media.queue("GET", f"/media/{name}", Reply(200, body=data, content_type="image/png"))
    cache = MediaCache(media_base=lambda: media.url)
    for name in ("bomb.png", "bomb.webp", "good.png"):
        cache.get(f"{media.url}/media/{name}", "image")
    before = reset_peak()
    async with httpx.AsyncClient() as client:
        assert await cache.fetch_wanted(client)
    assert peak_mb() - before < 30  # either bomb decoded would cost 430 MB or more
    for name in ("bomb.png", "bomb.webp"):
        item = cache.get(f"{media.url}/media/{name}", "image")
        assert item is not None and item.image is None and ImageError.__name__ in (item.error or "")
    good = cache.get(f"{media.url}/media/good.png", "image")
    assert good is not None and good.image is not None and good.image.get_size() == (200, 200)
    assert MediaCache().get("http://anywhere/media/x.png", "image") is None  # no base: nothing fetched


async def test_a_screen_skips_a_forged_invocation_and_a_bomb_and_shows_the_next_good_one(
        make_config, broker, tmp_path, caplog):
    with FakeServer(lambda seen: Reply(404, body=b"")) as appliance, \
            FakeServer(lambda seen: Reply(200, body=png((220, 0, 0)), content_type="image/png")) as elsewhere:
        appliance.queue("GET", "/media/demo/bomb.png", Reply(200, body=png_bomb(), content_type="image/png"))
        appliance.queue("GET", "/media/demo/good.png", Reply(200, body=png((0, 200, 0)), content_type="image/png"))
        config = make_config(PANIC_EDGE_HTTP_PUBLIC_URL=appliance.url)
        node_id, shot = f"test-forged-{uuid.uuid4().hex[:8]}", tmp_path / "shot.png"
        topic = f"panic/{config.appliance_id}/networks/demo/invocations"
        probe = Probe(broker.url, f"panic/{config.appliance_id}/#")
        display = asyncio.create_task(run_display(config, DisplayOptions(
            "demo", Single(), fullscreen=False, size=(320, 240), screenshot=shot, exit_after=60,
            node_id=node_id)))
        try:
            await asyncio.to_thread(probe.wait_for, lambda t, b: t.endswith(f"nodes/{node_id}/availability")
                                    and b == "online")
            forged = message(0, output_type="image", output=f"{elsewhere.url}/media/demo/evil.png")

            def refused() -> bool:
                return any("is not fetched: it is not on the appliance's media server" in r.getMessage()
                           for r in caplog.records)

            async with asyncio.timeout(10):  # the subscriptions land just after the presence
                while not refused():
                    probe.publish(topic, json.dumps(forged))
                    await asyncio.sleep(0.2)
            before = reset_peak()
            probe.publish(topic, json.dumps(message(1, output_type="image", output=f"{appliance.url}/media/demo/bomb.png")))
            assert await asyncio.to_thread(appliance.wait_for, lambda seen: any("bomb" in s.path for s in seen), 10)
            await asyncio.sleep(0.5)  # the decode would run now
            probe.publish(topic, json.dumps(message(2, output_type="image", output=f"{appliance.url}/media/demo/good.png")))

            def green() -> bool:
                if not shot.exists():
                    return False
                image = pygame.image.load(str(shot))
                return tuple(image.get_at((160, 120)))[:3] == (0, 200, 0)

            async with asyncio.timeout(15):
                while not green():
                    await asyncio.sleep(0.1)
            assert peak_mb() - before < 100  # the 13000 x 13000 PNG decoded would be 500 MB
        finally:
            display.cancel()
            await asyncio.gather(display, return_exceptions=True)
            probe.close()
        assert elsewhere.requests == []  # the forged URL was never fetched
