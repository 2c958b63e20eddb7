"""The Vestaboard bridge: character codes, layout, pace, against a fake board on loopback."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from panic_edge.core.catalogue import Catalogue
from panic_edge.core.media import MediaType
from panic_edge.core.model import Hints, Model
from panic_edge.errors import ConfigError
from panic_edge.nodes.board import NOTE, Pacer, compose, fold
from panic_edge.nodes.vestaboard import BoardOptions, Bridge, VestaboardClient, read_key, run_vestaboard
from tests.fake_http import FakeVestaboard
from tests.nodes_helpers import encoded, shown


def test_hello_world_lands_where_vestaboards_own_example_puts_it():
    codes = compose("Hello World").as_json()
    assert codes[2] == [0, 0, 0, 0, 0, 8, 5, 12, 12, 15, 0, 23, 15, 18, 12, 4, 0, 0, 0, 0, 0, 0]
    assert all(c == 0 for r, row in enumerate(codes) if r != 2 for c in row)


def test_digits_punctuation_and_accents_map_to_the_board_codes():
    text, replaced = fold("Café 1-0: 50% 'ok'?")
    assert text == "CAFE 1-0: 50% 'OK'?" and replaced == 0
    row = compose("1234567890").codes[2]
    assert [c for c in row if c] == [27, 28, 29, 30, 31, 32, 33, 34, 35, 36]


def test_unsupported_characters_are_replaced_and_counted_not_dropped():
    message = compose("snow ☃ and 雪")
    assert message.replaced == 2
    row = [c for c in message.codes[2] if c]
    assert row.count(60) == 2  # "?" where the board has no character


def test_the_degree_sign_is_62_on_the_flagship_and_the_heart_is_62_on_the_note():
    assert 62 in compose("20°C").codes[2]
    assert 62 in compose("I ♥ it", NOTE).codes[1] and compose("20°C", NOTE).replaced == 1


def test_long_text_is_word_wrapped_centred_and_ends_in_dots_when_cut():
    message = compose("the quick brown fox jumps over the lazy dog " * 6)
    assert message.truncated and len(message.codes) == 6 and all(len(r) == 22 for r in message.codes)
    last = [c for c in message.codes[5] if c]
    assert last[-3:] == [56, 56, 56]  # "..."
    assert message.codes[0][0] != 0 or message.codes[0][-1] == 0  # full rows start at the edge
    note = compose("a few words for the note board", NOTE)
    assert len(note.codes) == 3 and all(len(r) == 15 for r in note.codes)
    assert [c for c in note.codes[0] if c][:3] == [1, 6, 5]  # "A FEW" ...


def test_markdown_is_flattened_before_it_reaches_the_board():
    from panic_edge.nodes.vestaboard import plain_text

    assert plain_text("# Title\n\n**bold** and *soft*") == "Title\nbold and soft"


def test_the_pacer_keeps_the_minimum_interval_and_the_models_waits():
    pacer = Pacer(min_interval=15)
    assert pacer.due(arrived_at=100) == 100
    pacer.posted(100, post_wait=30)
    assert pacer.due(arrived_at=101) == 130  # the model asked for 30 s to read it
    pacer.posted(130)
    assert pacer.due(arrived_at=131, pre_wait=20) == 151
    assert pacer.due(arrived_at=131) == 145


def test_the_key_comes_from_the_environment_or_systemd_credentials(tmp_path):
    assert read_key({"PANIC_EDGE_VESTABOARD_KEY": "k"}) == "k"
    (tmp_path / "vestaboard-key").write_text("from-file\n")
    assert read_key({"CREDENTIALS_DIRECTORY": str(tmp_path)}) == "from-file"
    with pytest.raises(ConfigError, match="PANIC_EDGE_VESTABOARD_KEY"):
        read_key({})


@pytest.fixture
def board():
    fake = FakeVestaboard()
    yield fake
    fake.close()


async def test_outputs_arriving_faster_than_the_board_flips_go_up_newest_first_at_its_pace(board):
    http = httpx.AsyncClient()
    bridge = Bridge(VestaboardClient(http, "local", board.key, board.url),
                    BoardOptions("demo", url=board.url, min_interval=0.6), catalogue=Catalogue([]))
    task = asyncio.create_task(bridge.run())
    try:
        bridge.offer(shown(0, output="first words"))
        await asyncio.to_thread(board.wait_for, 1)
        bridge.offer(shown(1, output="second words"))
        bridge.offer(shown(2, output="third words"))
        bridge.offer(shown(2, output="third words"))  # a redelivery
        received = await asyncio.to_thread(board.wait_for, 2)
        assert received[0][1] == compose("first words").as_json()
        assert received[1][1] == compose("third words").as_json()
        assert received[1][0] - received[0][0] >= 0.6 - 0.02
        async with asyncio.timeout(5):
            while len(bridge.posted) < 2:  # the board answers after it records
                await asyncio.sleep(0.01)
        assert bridge.posted == ["r1.0", "r1.2"] and not board.rejected
    finally:
        task.cancel()
        await http.aclose()


async def test_the_models_post_wait_holds_the_board_for_reading(board):
    slow = Model("slow-reader", "Slow", "local", MediaType.TEXT, MediaType.TEXT, "", hints=Hints(post_wait=0.8))
    http = httpx.AsyncClient()
    bridge = Bridge(VestaboardClient(http, "local", board.key, board.url),
                    BoardOptions("demo", url=board.url, min_interval=0.1), catalogue=Catalogue([slow]))
    task = asyncio.create_task(bridge.run())
    try:
        bridge.offer(shown(0, output="read me slowly", model="slow-reader"))
        await asyncio.to_thread(board.wait_for, 1)
        bridge.offer(shown(1, output="next"))
        received = await asyncio.to_thread(board.wait_for, 2)
        assert received[1][0] - received[0][0] >= 0.8 - 0.02
    finally:
        task.cancel()
        await http.aclose()


async def test_a_refused_post_is_retried_after_the_interval_and_nothing_is_lost(board):
    board.fail_next = 1
    http = httpx.AsyncClient()
    bridge = Bridge(VestaboardClient(http, "local", board.key, board.url),
                    BoardOptions("demo", url=board.url, min_interval=0.3), catalogue=Catalogue([]))
    task = asyncio.create_task(bridge.run())
    try:
        bridge.offer(shown(0, output="persistent"))
        received = await asyncio.to_thread(board.wait_for, 1)
        assert received[0][1] == compose("persistent").as_json() and board.rejected == ["board busy"]
    finally:
        task.cancel()
        await http.aclose()


def test_a_message_is_never_blank_nothing_to_show_becomes_p_bang():
    assert compose("   \n ").as_json() == compose("P!").as_json()
    assert any(code for row in compose("").codes for code in row)


async def test_several_boards_share_a_network_by_stride_and_offset_and_one_shows_the_prompt():
    boards = [FakeVestaboard(api="rw", key="k") for _ in range(2)]
    http = httpx.AsyncClient()
    bridges = [Bridge(VestaboardClient(http, "rw", "k", b.url), BoardOptions(
        "demo", api="rw", url=b.url, min_interval=0.2, stride=2, offset=k, show_prompt=k == 0),
        catalogue=Catalogue([])) for k, b in enumerate(boards)]
    tasks = [asyncio.create_task(b.run()) for b in bridges]
    try:
        for bridge in bridges:
            bridge.offer(shown(4, run="old", created=94, output="four, before"))
            bridge.offer(shown(5, run="old", created=95, output="five, before"))
        await asyncio.to_thread(boards[0].wait_for, 1)
        await asyncio.to_thread(boards[1].wait_for, 1)
        for bridge in bridges:  # a run starts; a late step of the run before is then ignored
            bridge.offer(shown(0, "invoking", run="new", created=100, input="a camel in the desert"))
            bridge.offer(shown(6, run="old", created=96, output="six, late"))
        await asyncio.to_thread(boards[0].wait_for, 2)
        for n in range(1, 5):
            for bridge in bridges:
                bridge.offer(shown(n, run="new", created=100 + n, output=f"step {n}"))
        even = await asyncio.to_thread(boards[0].wait_for, 3)
        odd = await asyncio.to_thread(boards[1].wait_for, 2)
        assert [m for _, m in even] == [compose(t).as_json() for t in ("four, before", "a camel in the desert",
                                                                       "step 4")]
        assert [m for _, m in odd] == [compose(t).as_json() for t in ("five, before", "step 3")]
        async with asyncio.timeout(5):
            while len(bridges[0].posted) < 3 or len(bridges[1].posted) < 2:  # the board answers after it records
                await asyncio.sleep(0.01)
        assert bridges[0].posted == ["old.4", "new.prompt", "new.4"] and bridges[1].posted == ["old.5", "new.3"]
        assert not any(b.rejected for b in boards)
    finally:
        for task in tasks:
            task.cancel()
        await http.aclose()
        for b in boards:
            b.close()


async def test_the_bridge_follows_a_network_over_mqtt_through_the_read_write_api(config, probe):
    fake = FakeVestaboard(api="rw", key="rw-key")
    task = asyncio.create_task(run_vestaboard(config, BoardOptions("demo", api="rw", url=fake.url,
                                                                   min_interval=0.2), "rw-key"))
    try:
        topic = f"panic/{config.appliance_id}/networks/demo/invocations"
        await asyncio.to_thread(probe.wait_for, lambda t, b: t.endswith("/availability") and "nodes/" in t
                                and b == "online")
        probe.publish(topic, encoded(0, "invoking"))
        probe.publish(topic, b"not json at all")
        probe.publish(topic, encoded(0, output="Über die Brücke"))
        probe.publish(topic, encoded(1, output_type="image", output="http://x/1.png"))
        received = await asyncio.to_thread(fake.wait_for, 1)
        assert received[0][1] == compose("UBER DIE BRUCKE").as_json()
        status = next(json.loads(p) for t, p, _ in probe.messages if t.endswith("/status") and b"vestaboard" in p)
        assert status["kind"] == "vestaboard" and status["mode"] == "flagship via rw"
        assert "rw-key" not in str(probe.messages)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        fake.close()


def state(gate: str | None) -> bytes:
    return json.dumps({"network": "demo", "state": "idle", "run_id": None, "sequence": None, "gate": gate,
                       "pause": "network demo's daily budget of $1.00 is spent" if gate else None}).encode()


async def test_a_board_says_the_days_budget_is_spent_once_and_shows_nothing_else_until_it_opens(config, probe):
    fake = FakeVestaboard()
    task = asyncio.create_task(run_vestaboard(config, BoardOptions("demo", url=fake.url, min_interval=0.2), fake.key))
    try:
        base = f"panic/{config.appliance_id}/networks/demo"
        await asyncio.to_thread(probe.wait_for, lambda t, b: t.endswith("/availability") and "nodes/" in t
                                and b == "online")
        probe.publish(f"{base}/state", state("budget"), retain=True)
        received = await asyncio.to_thread(fake.wait_for, 1)
        assert received[0][1] == compose("today's budget is spent - back tomorrow").as_json()
        probe.publish(f"{base}/invocations", encoded(0, output="a late output"))  # the board keeps its message
        probe.publish(f"{base}/state", state(None), retain=True)
        probe.publish(f"{base}/invocations", encoded(1, output="open again"))
        received = await asyncio.to_thread(fake.wait_for, 2)
        assert received[1][1] == compose("open again").as_json()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        fake.close()
        probe.publish(f"panic/{config.appliance_id}/networks/demo/state", b"", retain=True)


async def test_a_run_starting_at_opening_puts_its_prompt_up_though_its_first_step_comes_before_the_open_state(board):
    from panic_edge.nodes.gate import gate_of
    from panic_edge.nodes.messages import ApplianceStatus

    http = httpx.AsyncClient()
    bridge = Bridge(VestaboardClient(http, "local", board.key, board.url),
                    BoardOptions("demo", url=board.url, min_interval=0.1, show_prompt=True), catalogue=Catalogue([]))
    task = asyncio.create_task(bridge.run())
    try:
        bridge.gate(gate_of(ApplianceStatus({}, {}, None, open=False, opens_at="Mon 10:00"), None))
        await asyncio.to_thread(board.wait_for, 1)
        bridge.offer(shown(3, output="from last night", run="r0"))  # a late output: not shown
        bridge.offer(shown(0, "ready", run="r1", input="good morning", created=2000.0))  # the attract run, at opening
        received = await asyncio.to_thread(board.wait_for, 2)
        assert received[0][1] == compose("CLOSED - OPENS MON 10:00").as_json()
        assert received[1][1] == compose("GOOD MORNING").as_json()
    finally:
        task.cancel()
        await http.aclose()


def test_a_closed_installation_goes_up_with_when_it_opens_before_the_budget():
    from panic_edge.nodes.gate import gate_of
    from panic_edge.nodes.messages import ApplianceStatus, parse_network_state

    closed = ApplianceStatus({}, {}, None, open=False, opens_at="Fri 10:00")
    spent = parse_network_state(state("budget"))
    gate = gate_of(closed, spent)
    assert gate is not None and gate.kind == "closed" and compose(gate.board) == compose("CLOSED - OPENS FRI 10:00")
    assert gate_of(ApplianceStatus({}, {}, None), parse_network_state(state(None))) is None
