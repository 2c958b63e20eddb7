"""Retention rules, pure: what to delete to keep the archive within its bounds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from panic_edge.core.retention import Limits, StoredFile, bytes_to_free, choose


def f(name: str, size: int = 100, running: bool = False) -> StoredFile:
    return StoredFile(name, "demo", f"demo/{name}.png", size, running)


def test_nothing_goes_while_both_bounds_hold():
    assert bytes_to_free(900, 10_000, Limits(max_bytes=1000, min_free_bytes=5000)) == 0
    assert choose([f("a")], 0) == []


def test_the_bigger_of_the_two_shortfalls_is_freed():
    limits = Limits(max_bytes=1000, min_free_bytes=5000)
    assert bytes_to_free(1300, 10_000, limits) == 300
    assert bytes_to_free(900, 4000, limits) == 1000


def test_ended_runs_go_first_oldest_first_then_the_running_run():
    files = [f("r1", running=True), f("e1"), f("r2", running=True), f("e2")]
    assert [x.invocation_id for x in choose(files, 150)] == ["e1", "e2"]
    assert [x.invocation_id for x in choose(files, 250)] == ["e1", "e2", "r1"]


@given(st.lists(st.tuples(st.integers(1, 10_000), st.booleans()), max_size=30), st.integers(0, 100_000))
def test_enough_is_freed_when_it_can_be_and_no_more_than_one_file_too_many(sizes, need):
    files = [f(str(i), size, running) for i, (size, running) in enumerate(sizes)]
    chosen = choose(files, need)
    freed = sum(x.size for x in chosen)
    if sum(x.size for x in files) >= need:
        assert freed >= need
        if chosen:
            assert freed - chosen[-1].size < need or not any(x.running for x in chosen)
    else:
        assert chosen == [] or freed < need
    ended = [x for x in chosen if not x.running]
    if any(x.running for x in chosen):  # the running run is only touched once every ended file has gone
        assert ended == [x for x in files if not x.running]
