"""The runner's rules, as a pure transition function: no database, broker or clock."""

from __future__ import annotations

import pytest

from panic_edge.core.media import Content, MediaType
from panic_edge.core.network import Network
from panic_edge.core.runner import (
    MAX_PROMPT_CHARS,
    BeginRun,
    Cancel,
    Complete,
    Completed,
    Discard,
    EndRun,
    Fail,
    Failed,
    Invoke,
    Press,
    Refuse,
    RunnerState,
    ShowPlaceholder,
    Start,
    Stop,
    Unsafe,
    step,
)
from panic_edge.errors import CommandError, LockoutError

NET = Network(slug="loop", name="Loop", models=("poet", "painter", "captioner"), lockout_seconds=30,
              prompts=("first prompt", "second prompt"))
IMAGE = Content(MediaType.IMAGE, file="loop/x.png", mime="image/png")


def started(now: float = 100.0, run_id: str = "r1") -> RunnerState:
    state, _ = step(RunnerState(NET), Start(run_id, "a camel", now))
    return state


def test_start_while_idle_begins_a_run_with_the_genesis_invocation():
    state, actions = step(RunnerState(NET), Start("r1", "  a camel  ", 100.0))
    assert state.phase == "running"
    assert actions == [
        BeginRun("r1", "loop", "a camel", 100.0),
        Invoke("r1.0", "r1", "loop", 0, "poet", Content.of_text("a camel"), 100.0),
    ]


def test_each_completion_invokes_the_next_model_with_the_previous_output():
    state = started()
    verse = Content.of_text("a verse")
    state, actions = step(state, Completed("r1.0", verse, 101.0, {"predict_time": 1}))
    assert actions == [Complete("r1.0", verse, 101.0, {"predict_time": 1}),
                       Invoke("r1.1", "r1", "loop", 1, "painter", verse, 101.0)]
    assert state.run is not None and state.run.sequence == 1


def test_the_models_cycle_by_sequence_modulo_the_network_length():
    state = started()
    outputs = [Content.of_text("t"), IMAGE, Content.of_text("c"), Content.of_text("t2")]
    invoked = []
    for seq, out in enumerate(outputs):
        state, actions = step(state, Completed(f"r1.{seq}", out, 100.0 + seq))
        invoked += [(a.sequence, a.model) for a in actions if isinstance(a, Invoke)]
    assert invoked == [(1, "painter"), (2, "captioner"), (3, "poet"), (4, "painter")]


def test_a_start_within_the_lockout_is_refused_with_the_time_remaining():
    state = started(now=100.0)
    after, actions = step(state, Start("r2", "another", 110.0))
    assert after == state
    [refusal] = actions
    assert isinstance(refusal, Refuse) and isinstance(refusal.error, LockoutError)
    assert refusal.error.remaining == pytest.approx(20.0)
    assert "try again in 20 s" in str(refusal.error)


def test_a_start_after_the_lockout_replaces_the_current_run():
    state = started(now=100.0)
    state, _ = step(state, Completed("r1.0", Content.of_text("v"), 105.0))
    state, actions = step(state, Start("r2", "another", 131.0))
    assert actions == [
        Cancel("r1.1", "cancelled: replaced by a new run", 131.0),
        EndRun("r1", "replaced by a new run", 131.0),
        BeginRun("r2", "loop", "another", 131.0),
        Invoke("r2.0", "r2", "loop", 0, "poet", Content.of_text("another"), 131.0),
    ]
    assert state.run is not None and state.run.run_id == "r2"


def test_stop_cancels_the_invocation_in_flight_and_ends_the_run():
    state, actions = step(started(), Stop(120.0))
    assert state.phase == "idle"
    assert actions == [Cancel("r1.0", "cancelled: stopped", 120.0), EndRun("r1", "stopped", 120.0)]


def test_stop_while_idle_does_nothing():
    assert step(RunnerState(NET), Stop(1.0)) == (RunnerState(NET), [])


def test_a_result_that_arrives_after_stop_is_discarded_not_attached_to_a_later_run():
    state, _ = step(started(run_id="r1"), Stop(120.0))
    state, _ = step(state, Start("r2", "new run", 121.0))
    late = Content(MediaType.TEXT, text="late verse")
    after, actions = step(state, Completed("r1.0", late, 122.0))
    assert actions == [Discard("r1.0", late)]
    assert after == state


def test_a_late_failure_for_an_old_run_is_ignored():
    state, _ = step(started(), Stop(120.0))
    after, actions = step(state, Failed("r1.0", "boom", 121.0))
    assert after == state and actions == [Discard("r1.0", None)]


def test_a_failed_invocation_ends_its_run_with_the_reason():
    state, actions = step(started(), Failed("r1.0", "401 unauthorised", 102.0))
    assert state.phase == "idle"
    assert actions == [Fail("r1.0", "401 unauthorised", 102.0),
                       EndRun("r1", "step 0 (poet) failed: 401 unauthorised", 102.0)]


def test_the_button_starts_runs_with_the_network_prompts_in_turn():
    state, actions = step(RunnerState(NET), Press("r1", 0.0))
    assert isinstance(actions[0], BeginRun) and actions[0].prompt == "first prompt"
    state, actions = step(state, Press("r2", 100.0))  # after the lockout: replaces
    assert [a.prompt for a in actions if isinstance(a, BeginRun)] == ["second prompt"]
    state, actions = step(state, Press("r3", 200.0))
    assert [a.prompt for a in actions if isinstance(a, BeginRun)] == ["first prompt"]


def test_a_refused_press_does_not_use_up_a_prompt():
    state, _ = step(RunnerState(NET), Press("r1", 0.0))
    state, actions = step(state, Press("r2", 1.0))
    assert isinstance(actions[0], Refuse)
    state, actions = step(state, Press("r3", 100.0))
    assert [a.prompt for a in actions if isinstance(a, BeginRun)] == ["second prompt"]


@pytest.mark.parametrize("prompt", ["", "   ", "x" * (MAX_PROMPT_CHARS + 1)])
def test_empty_and_oversized_prompts_are_refused(prompt):
    state, actions = step(RunnerState(NET), Start("r1", prompt, 0.0))
    assert state.phase == "idle"
    [refusal] = actions
    assert isinstance(refusal, Refuse) and isinstance(refusal.error, CommandError)


def test_lockout_until_is_the_run_start_plus_the_lockout():
    assert started(now=100.0).lockout_until == 130.0
    assert RunnerState(NET).lockout_until is None


# --- offline --------------------------------------------------------------------------------

from panic_edge.core.runner import Connectivity, NothingToReplay, Resume, Unreachable  # noqa: E402
from panic_edge.errors import OfflineError  # noqa: E402


def policy(name: str) -> Network:
    return Network(slug="loop", name="Loop", models=("poet", "painter", "captioner"), lockout_seconds=30,
                   offline_policy=name)


def running_with(net: Network) -> RunnerState:
    state, _ = step(RunnerState(net), Start("r1", "a camel", 100.0))
    return state


def test_pause_holds_the_unreachable_invocation_and_calls_it_again_when_back_online():
    state, actions = step(running_with(policy("pause")), Unreachable("r1.0", "connection refused", 101.0))
    assert state.online is False and state.run is not None and state.run.held
    assert actions == [Invoke("r1.0", "r1", "loop", 0, "poet", Content.of_text("a camel"), 101.0, "hold", True)]
    state, actions = step(state, Connectivity(True, 150.0))
    assert actions == [Invoke("r1.0", "r1", "loop", 0, "poet", Content.of_text("a camel"), 150.0, "call", True)]
    assert state.run is not None and not state.run.held and state.online


def test_replay_keeps_the_loop_going_from_the_archive_while_offline():
    state, actions = step(running_with(policy("replay")), Unreachable("r1.0", "dns failure", 101.0))
    assert [a.mode for a in actions if isinstance(a, Invoke)] == ["replay"]
    state, actions = step(state, Completed("r1.0", Content(MediaType.TEXT, text="an old verse", flags=("replay",)), 102.0))
    assert [(a.sequence, a.mode) for a in actions if isinstance(a, Invoke)] == [(1, "replay")]
    state, actions = step(state, Connectivity(True, 103.0))
    assert actions == []  # the replay in flight finishes; the next step is called for real
    state, actions = step(state, Completed("r1.1", IMAGE, 104.0))
    assert [(a.sequence, a.mode) for a in actions if isinstance(a, Invoke)] == [(2, "call")]


def test_replay_with_nothing_in_the_archive_holds_instead():
    state, _ = step(running_with(policy("replay")), Unreachable("r1.0", "offline", 101.0))
    state, actions = step(state, NothingToReplay("r1.0", 101.5))
    assert [a.mode for a in actions if isinstance(a, Invoke)] == ["hold"]
    assert state.run is not None and state.run.held


def test_stop_policy_ends_the_run_and_refuses_starts_until_back_online():
    state, actions = step(running_with(policy("stop")), Unreachable("r1.0", "connection refused", 101.0))
    assert state.phase == "idle"
    assert actions[-1] == EndRun("r1", "stopped: the model platforms are unreachable (connection refused)", 101.0)
    state, actions = step(state, Press("r2", 200.0))
    [refusal] = actions
    assert isinstance(refusal, Refuse) and isinstance(refusal.error, OfflineError)
    state, _ = step(state, Connectivity(True, 201.0))
    state, actions = step(state, Press("r3", 202.0))
    assert isinstance(actions[0], BeginRun)


def test_a_press_while_offline_with_pause_starts_a_held_run():
    state, _ = step(RunnerState(policy("pause")), Connectivity(False, 1.0))
    state, actions = step(state, Start("r1", "waiting", 2.0))
    assert actions[-1] == Invoke("r1.0", "r1", "loop", 0, "poet", Content.of_text("waiting"), 2.0, "hold")
    state, actions = step(state, Connectivity(True, 9.0))
    assert [a.mode for a in actions if isinstance(a, Invoke)] == ["call"]


def test_a_stop_while_held_ends_the_run():
    state, _ = step(running_with(policy("pause")), Unreachable("r1.0", "offline", 101.0))
    state, actions = step(state, Stop(102.0))
    assert actions == [Cancel("r1.0", "cancelled: stopped", 102.0), EndRun("r1", "stopped", 102.0)]


def test_a_late_result_for_a_held_invocation_is_discarded():
    state, _ = step(running_with(policy("pause")), Unreachable("r1.0", "offline", 101.0))
    after, actions = step(state, Completed("r1.0", Content.of_text("late"), 102.0))
    assert after == state and isinstance(actions[0], Discard)


def test_resume_takes_up_a_run_where_it_stopped():
    state, actions = step(RunnerState(NET), Resume("r1", 50.0, 4, Content.of_text("a verse"), True, 100.0))
    assert state.run is not None and state.run.started_at == 50.0 and state.run.sequence == 4
    assert actions == [Invoke("r1.4", "r1", "loop", 4, "painter", Content.of_text("a verse"), 100.0, "call", True)]


# --- the safety filter: once more with the network's safety prompt, then the placeholder ---------

SAFE = NET.safety_prompt


def test_a_refused_text_call_is_retried_once_with_the_networks_safety_prompt():
    state = started()
    state, actions = step(state, Unsafe("r1.0", "NSFW content detected", 101.0))
    assert actions == [Invoke("r1.0", "r1", "loop", 0, "poet", Content.of_text(SAFE), 101.0, "call",
                              again=True)]
    verse = Content.of_text("a wombat's verse")
    state, actions = step(state, Completed("r1.0", verse, 102.0, {"predict_time": 1}))
    complete, invoke = actions
    assert complete == Complete("r1.0", verse, 102.0)
    assert complete.meta == {"safety": "NSFW content detected", "safety_prompt": SAFE, "predict_time": 1}
    assert invoke == Invoke("r1.1", "r1", "loop", 1, "painter", verse, 102.0)
    assert state.run is not None and state.run.safety is None  # the next invocation starts afresh


def test_refused_again_with_the_safety_prompt_it_shows_the_placeholder_and_the_run_goes_on():
    state = started()
    state, _ = step(state, Unsafe("r1.0", "flagged", 101.0))
    state, actions = step(state, Unsafe("r1.0", "flagged again", 102.0))
    assert actions == [ShowPlaceholder("r1.0", "loop", "poet",
                                       "flagged; with the safety prompt too: flagged again", 102.0)]
    shown = Content(MediaType.TEXT, text="[withheld]", flags=("nsfw",))
    state, actions = step(state, Completed("r1.0", shown, 103.0, {"safety": "both"}))
    assert [type(a) for a in actions] == [Complete, Invoke] and actions[0].meta["safety"] == "both"
    assert state.phase == "running"


def test_a_refused_picture_or_a_network_without_a_safety_prompt_shows_the_placeholder_at_once():
    state = started()
    state, _ = step(state, Completed("r1.0", Content.of_text("verse"), 101.0))
    state, _ = step(state, Completed("r1.1", IMAGE, 102.0))  # the captioner takes a picture
    _, actions = step(state, Unsafe("r1.2", "refused", 103.0))
    assert actions == [ShowPlaceholder("r1.2", "loop", "captioner",
                                       "refused (not retried: the model takes a picture)", 103.0)]
    bare = RunnerState(Network(slug="loop", name="Loop", models=NET.models, safety_prompt=""))
    state, _ = step(bare, Start("r1", "a camel", 100.0))
    _, actions = step(state, Unsafe("r1.0", "refused", 101.0))
    assert actions == [ShowPlaceholder("r1.0", "loop", "poet",
                                       "refused (this network has no safety prompt to try instead)", 101.0)]


def test_a_refusal_for_an_invocation_no_longer_current_is_discarded():
    state = started()
    state, _ = step(state, Stop(101.0))
    assert step(state, Unsafe("r1.0", "late", 102.0)) == (state, [Discard("r1.0", None)])


# --- pacing ---------------------------------------------------------------------------------

from panic_edge.core.catalogue import CATALOGUE  # noqa: E402
from panic_edge.core.pacing import Boards  # noqa: E402
from panic_edge.core.runner import BoardsSeen, Due, Hours, Policies, Spending  # noqa: E402
from panic_edge.errors import BudgetError, ClosedError  # noqa: E402

PACED = Network(slug="paced", name="Paced", models=("flux-schnell", "blip-2"), lockout_seconds=30,
                pacing=((0.0, 1.0), (600.0, 15.0), (3600.0, 600.0)))
MODELS = {m: CATALOGUE[m] for m in PACED.models}


def paced(now: float = 100.0, **kw) -> RunnerState:
    state, _ = step(RunnerState(PACED, models=MODELS, **kw), Start("r1", "a camel", now))
    return state


def test_the_next_invocation_is_prepared_at_once_but_called_when_due():
    state, actions = step(paced(), Completed("r1.0", IMAGE, 101.0))
    invoke = actions[-1]
    assert isinstance(invoke, Invoke) and (invoke.sequence, invoke.mode, invoke.not_before) == (1, "wait", 102.0)
    assert state.next_invocation_at == 102.0
    state, actions = step(state, Due(102.0))
    assert [(a.invocation_id, a.mode, a.again) for a in actions] == [("r1.1", "call", True)]
    assert state.next_invocation_at is None


def test_the_wait_grows_with_the_run_age():
    _, actions = step(paced(now=0.0), Completed("r1.0", IMAGE, 4000.0))
    assert actions[-1].not_before == 4600.0


def test_an_early_timer_waits_the_rest():
    state, _ = step(paced(), Completed("r1.0", IMAGE, 101.0))
    after, actions = step(state, Due(101.5))
    assert after == state and [(a.mode, a.not_before) for a in actions] == [("wait", 102.0)]


def test_a_stop_while_waiting_cancels_the_prepared_invocation_and_a_late_timer_does_nothing():
    state, _ = step(paced(), Completed("r1.0", IMAGE, 101.0))
    state, actions = step(state, Stop(101.5))
    assert actions == [Cancel("r1.1", "cancelled: stopped", 101.5), EndRun("r1", "stopped", 101.5)]
    assert step(state, Due(102.0)) == (state, [])


def test_a_board_showing_the_prompt_holds_the_first_call_ten_seconds():
    state, _ = step(RunnerState(PACED, models=MODELS), BoardsSeen(Boards(online=1, shows_prompt=True)))
    state, actions = step(state, Start("r1", "a camel", 100.0))
    assert [(a.mode, a.not_before) for a in actions if isinstance(a, Invoke)] == [("wait", 110.0)]


def test_after_a_restart_the_pacing_is_kept_from_when_the_last_step_finished():
    _, actions = step(RunnerState(PACED, models=MODELS),
                          Resume("r1", 0.0, 3, IMAGE, False, now=4100.0, after=4000.0))
    assert [(a.mode, a.not_before) for a in actions] == [("wait", 4600.0)]
    _, actions = step(RunnerState(PACED, models=MODELS),
                      Resume("r1", 0.0, 3, IMAGE, False, now=5000.0, after=4000.0))
    assert [(a.mode, a.not_before) for a in actions] == [("call", None)]


# --- opening hours --------------------------------------------------------------------------


def test_closing_with_the_stop_policy_ends_the_run_and_refuses_presses_saying_when_it_opens():
    state, actions = step(paced(), Hours(False, 200.0, opens_at="Fri 10:00"))
    assert actions == [] and state.run is not None  # the call in flight is shown first (it is paid for)
    state, actions = step(state, Completed("r1.0", IMAGE, 200.5))
    assert [type(a) for a in actions] == [Complete, EndRun]
    assert state.phase == "idle" and actions[-1] == EndRun("r1", "closed: outside the opening hours", 200.5)
    waiting, _ = step(paced(), Completed("r1.0", IMAGE, 101.0))  # paced: waiting for its next call
    waiting, actions = step(waiting, Hours(False, 101.5))
    assert waiting.phase == "idle" and actions[-1] == EndRun("r1", "closed: outside the opening hours", 101.5)
    state, actions = step(state, Press("r2", 201.0))
    [refusal] = actions
    assert isinstance(refusal.error, ClosedError) and "opens at Fri 10:00" in str(refusal.error)


def test_closing_with_the_pause_policy_holds_the_next_call_until_opening():
    state = paced(policies=Policies(closed="pause"))
    state, _ = step(state, Hours(False, 100.5, opens_at="Fri 10:00"))
    assert state.run is not None  # the call in flight finishes
    state, actions = step(state, Completed("r1.0", IMAGE, 101.0))
    assert actions[-1].mode == "hold" and state.run.held_reason == "closed"
    state, actions = step(state, Hours(True, 500.0))
    assert [(a.invocation_id, a.mode) for a in actions] == [("r1.1", "call")]


def test_opening_with_the_attract_policy_starts_a_run_on_an_idle_network():
    state = RunnerState(PACED, models=MODELS, policies=Policies(on_open="attract"), open=False)
    state, actions = step(state, Hours(True, 100.0, attract_run_id="r9"))
    assert [type(a) for a in actions] == [BeginRun, Invoke] and state.run.run_id == "r9"
    quiet = RunnerState(PACED, models=MODELS, open=False)
    assert step(quiet, Hours(True, 100.0, attract_run_id="r9"))[1] == []


# --- budget ---------------------------------------------------------------------------------


def test_a_spent_budget_holds_the_next_call_and_refuses_starts_until_it_resets():
    state, _ = step(paced(), Completed("r1.0", IMAGE, 101.0))
    state, _ = step(state, Spending("the day's budget is spent", 101.5))
    state, actions = step(state, Due(102.0))
    assert [a.mode for a in actions] == ["hold"] and state.run.held_reason == "budget"
    idle = RunnerState(PACED, models=MODELS, budget="spent")
    [refusal] = step(idle, Press("r2", 1.0))[1]
    assert isinstance(refusal.error, BudgetError)
    state, actions = step(state, Spending(None, 86400.0))
    assert [(a.invocation_id, a.mode) for a in actions] == [("r1.1", "call")]


def test_a_spent_budget_with_the_stop_policy_ends_the_run_once_the_paid_call_in_flight_is_kept():
    state = paced(policies=Policies(budget="stop"))  # step 0 is being called (and paid for)
    state, actions = step(state, Spending("spent", 101.0))
    assert actions == [] and state.budget == "spent" and state.run is not None
    state, actions = step(state, Completed("r1.0", IMAGE, 102.0))
    assert [type(a) for a in actions] == [Complete, EndRun] and actions[-1].reason == "budget: spent"
    assert state.phase == "idle"
    [refusal] = step(state, Press("r2", 103.0))[1]  # and the cap holds: no new run
    assert isinstance(refusal.error, BudgetError)


def test_a_spent_budget_with_the_stop_policy_ends_a_waiting_run_at_once():
    state, _ = step(paced(policies=Policies(budget="stop")), Completed("r1.0", IMAGE, 101.0))
    assert state.next_invocation_at is not None  # paced: waiting, nothing in flight
    state, actions = step(state, Spending("spent", 101.5))
    assert state.phase == "idle" and actions[-1] == EndRun("r1", "budget: spent", 101.5)


def test_closed_outranks_offline_and_a_held_run_says_so_once():
    state = paced(policies=Policies(closed="pause"))
    state, actions = step(state, Unreachable("r1.0", "offline", 101.0))
    assert state.run.held_reason == "offline"
    state, actions = step(state, Hours(False, 102.0))
    assert [a.mode for a in actions] == ["hold"] and state.run.held_reason == "closed"
    state, actions = step(state, Connectivity(True, 103.0))
    assert actions == [] and state.run.held_reason == "closed"
    state, actions = step(state, Hours(True, 104.0))
    assert [a.mode for a in actions] == ["call"]


def test_offline_with_the_stop_policy_a_paced_run_ends_when_its_next_call_is_due():
    net = Network(slug="paced", name="Paced", models=("flux-schnell", "blip-2"), offline_policy="stop",
                  pacing=((0.0, 5.0),))
    state, _ = step(RunnerState(net, models=MODELS), Start("r1", "a camel", 100.0))
    state, _ = step(state, Completed("r1.0", IMAGE, 101.0))
    state, _ = step(state, Connectivity(False, 102.0))
    state, actions = step(state, Due(106.0))
    assert state.phase == "idle"
    assert actions == [Cancel("r1.1", "cancelled: stopped: the model platforms are unreachable", 106.0),
                       EndRun("r1", "stopped: the model platforms are unreachable", 106.0)]
