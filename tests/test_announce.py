"""The announcer: a network state that means something new goes out at once; a change of step
alone is coalesced, and the latest always goes out at the end of the window."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from panic_edge.core.catalogue import CATALOGUE
from panic_edge.core.runner import ActiveRun, RunnerState
from panic_edge.core.topics import Topics
from panic_edge.daemon.announce import Announcer
from panic_edge.network_files import DEMO


class Recorder:
    """A publisher that keeps what it was given (the Publisher interface, nothing patched)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bool]] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                on_ack: Callable[[], None] | None = None, expiry: int | None = None) -> None:
        self.sent.append((topic, payload, retain))

    def states(self) -> list[dict[str, object] | None]:
        return [json.loads(p) if p else None for t, p, _ in self.sent if t.endswith("/state")]


def running(sequence: int, run_id: str = "r1", held: bool = False) -> RunnerState:
    return RunnerState(DEMO, ActiveRun(run_id, 100.0, sequence, DEMO.model_at(sequence), held=held))


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_change_of_meaning_goes_out_at_once_and_steps_are_coalesced():
    recorder = Recorder()
    announce = Announcer(recorder, Topics("t"), "", CATALOGUE, state_interval=3600)
    announce.network_state(RunnerState(DEMO))
    announce.network_state(running(0))  # idle -> running: at once
    for seq in range(1, 50):
        announce.network_state(running(seq))  # the same run, another step: waits for the window
    announce.network_state(running(50, held=True))  # held: at once, and it carries the latest step
    announce.network_state(running(0, run_id="r2"))  # another run: at once
    states = recorder.states()
    assert [(s["state"], s["run_id"], s["sequence"], s["held"]) for s in states] == [  # type: ignore[index]
        ("idle", None, None, False), ("running", "r1", 0, False), ("running", "r1", 50, True),
        ("running", "r2", 0, False)]


async def test_the_latest_step_goes_out_when_the_window_ends():
    recorder = Recorder()
    announce = Announcer(recorder, Topics("t"), "", CATALOGUE, state_interval=0.05)
    announce.network_state(running(0))
    for seq in range(1, 20):
        announce.network_state(running(seq))
    await until(lambda: len(recorder.states()) == 2)
    assert recorder.states()[-1]["sequence"] == 19  # type: ignore[index]
    await asyncio.sleep(0.1)
    assert len(recorder.states()) == 2  # nothing more was owed


async def test_flush_sends_what_waits_and_a_removed_network_is_cleared():
    recorder = Recorder()
    announce = Announcer(recorder, Topics("t"), "", CATALOGUE, state_interval=3600)
    announce.network_state(running(0))
    announce.network_state(running(1))
    announce.flush()
    assert [s["sequence"] for s in recorder.states()] == [0, 1]  # type: ignore[index]
    announce.network_state(running(2))
    announce.removed("demo")
    await asyncio.sleep(0)
    assert recorder.states()[-1] is None and recorder.sent[-1][2] is True  # an empty retained message
    announce.flush()
    assert recorder.states()[-1] is None  # the pending step died with the network


async def test_every_listener_hears_every_state_change_even_when_the_message_is_coalesced():
    recorder = Recorder()
    announce = Announcer(recorder, Topics("t"), "", CATALOGUE, state_interval=3600)
    heard: list[int] = []
    announce.state_listeners.append(lambda s: heard.append(s.run.sequence if s.run else -1))
    for seq in range(5):
        announce.state_changed(running(seq))
    assert heard == [0, 1, 2, 3, 4] and len(recorder.states()) == 1


async def test_a_committed_transition_is_told_soon_in_order_and_all_at_once_when_flushed():
    from panic_edge.core.invocation import Invocation, InvocationState
    from panic_edge.core.media import Content, MediaType
    from panic_edge.core.runner import Invoke

    recorder = Recorder()
    announce = Announcer(recorder, Topics("t"), "", CATALOGUE)

    def step(seq: int) -> tuple[list[Invoke], list[Invocation]]:
        inv = Invocation(f"r.{seq}", "r", "demo", seq, "local-poet", InvocationState.INVOKING,
                         Content.of_text("x"), MediaType.TEXT, created_at=1.0, started_at=1.0)
        return [Invoke(inv.id, "r", "demo", seq, "local-poet", inv.input, 1.0)], [inv]

    def told() -> list[tuple[str, str]]:
        return [(b["id"], b["state"]) for b in (json.loads(p) for t, p, _ in recorder.sent
                                                if t.endswith("/invocations"))]

    announce.later(*step(0), None)
    announce.later(*step(1), None)
    assert told() == []  # not yet: it waits for the next commit's fsync, or a moment
    await until(lambda: len(told()) == 4)  # the moment passed: told, in order
    assert told() == [("r.0", "ready"), ("r.0", "invoking"), ("r.1", "ready"), ("r.1", "invoking")]
    announce.later(*step(2), None)
    announce.flush_told()  # a commit began: told at once
    assert told()[-2:] == [("r.2", "ready"), ("r.2", "invoking")]


def test_a_closed_or_spent_network_says_what_happens_next_and_its_state_carries_the_gate():
    from dataclasses import replace

    from panic_edge.daemon.announce import pause

    idle = RunnerState(DEMO, open=False, opens_at="Fri 10:00")  # closed_policy "stop": no run waits
    assert pause(idle) == "closed: a run can start when the installation opens (Fri 10:00)"
    held = replace(running(3, held=True), open=False, opens_at="Fri 10:00")  # closed_policy "pause"
    assert pause(held) == "closed: the run goes on when the installation opens (Fri 10:00)"
    spent = RunnerState(DEMO, budget="the appliance's daily budget of $1.00 is spent")
    assert pause(spent) == spent.budget and pause(RunnerState(DEMO)) is None

    recorder = Recorder()
    announcer = Announcer(recorder, Topics("x"), "http://h", CATALOGUE)
    for state in (idle, spent, RunnerState(DEMO)):
        announcer.network_state(state, now=True)
    assert [s["gate"] for s in recorder.states() if s] == ["closed", "budget", None]
