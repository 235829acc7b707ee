"""The group commit primitive, with a writer that records what it was given."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from backend.services.tracking.group_commit import GroupCommit
from tests import helpers as h


class Writer:
    """Writes by doubling; refuses a batch holding ``bad``; the first call waits for
    ``release`` so that the next items queue behind it."""

    def __init__(self, bad: int | None = None) -> None:
        self.calls: list[list[int]] = []
        self.release = threading.Event()
        self.entered = threading.Event()
        self.bad = bad

    def __call__(self, items: Sequence[int]) -> list[int]:
        self.calls.append(list(items))
        if len(self.calls) == 1:
            self.entered.set()
            assert self.release.wait(10)
        if self.bad in items:
            raise ValueError(f"bad item {self.bad}")
        return [2 * i for i in items]


def _behind_a_held_write(group: GroupCommit[int, int], writer: Writer, rest: list[int]) -> list:
    # Outcomes are results, or the exception a caller met.
    """Item 0 is written first and held; ``rest`` queue behind it; the results in order."""
    with ThreadPoolExecutor(len(rest) + 1) as pool:
        first = pool.submit(group.submit, 0)
        assert writer.entered.wait(10)
        futures = [pool.submit(group.submit, item) for item in rest]
        h.wait_for(lambda: group.waiting() >= len(rest), timeout=10, every=0.005)
        assert group.waiting() == len(rest)
        writer.release.set()
        outcomes = []
        for future in [first, *futures]:
            try:
                outcomes.append(future.result(10))
            except BaseException as exc:
                outcomes.append(exc)
    return outcomes


def test_items_that_wait_go_together_and_each_gets_its_own_result() -> None:
    writer = Writer()
    group = GroupCommit(writer)
    assert _behind_a_held_write(group, writer, [1, 2, 3, 4, 5]) == [0, 2, 4, 6, 8, 10]
    assert writer.calls[0] == [0] and sorted(writer.calls[1]) == [1, 2, 3, 4, 5]
    assert group.stats.writes == 2 and group.stats.items == 6 and group.stats.largest == 5


def test_alone_an_item_is_written_at_once() -> None:
    writer = Writer()
    writer.release.set()
    group = GroupCommit(writer)
    assert [group.submit(i) for i in range(3)] == [0, 2, 4]
    assert writer.calls == [[0], [1], [2]]


def test_a_batch_is_never_larger_than_its_bound() -> None:
    writer = Writer()
    group = GroupCommit(writer, max_batch=2)
    assert _behind_a_held_write(group, writer, [1, 2, 3, 4, 5]) == [0, 2, 4, 6, 8, 10]
    assert max(len(c) for c in writer.calls) == 2 and sum(len(c) for c in writer.calls) == 6


def test_a_failed_shared_write_is_written_again_item_by_item() -> None:
    """Only the bad item's caller meets the error; the others get their results."""
    writer = Writer(bad=3)
    group = GroupCommit(writer)
    outcomes = _behind_a_held_write(group, writer, [1, 2, 3, 4])
    assert outcomes[:3] == [0, 2, 4] and outcomes[4] == 8
    assert isinstance(outcomes[3], ValueError) and "bad item 3" in str(outcomes[3])
    assert group.stats.split == 1
    assert sorted(c[0] for c in writer.calls[2:]) == [1, 2, 3, 4]  # each alone


def test_the_error_of_a_write_alone_reaches_its_caller() -> None:
    writer = Writer(bad=0)
    writer.release.set()
    group = GroupCommit(writer)
    with pytest.raises(ValueError, match="bad item 0"):
        group.submit(0)
    assert group.submit(1) == 2  # the group goes on


def test_many_threads_all_get_their_results() -> None:
    writer = Writer()
    writer.release.set()
    group = GroupCommit(writer)
    with ThreadPoolExecutor(16) as pool:
        assert list(pool.map(group.submit, range(2000))) == [2 * i for i in range(2000)]
    assert group.stats.items == 2000 and sum(len(c) for c in writer.calls) == 2000


def test_an_error_no_item_can_cause_is_every_callers_answer_at_once() -> None:
    """The database unreachable: no item is written again alone, each caller meets it."""
    writer = Writer(bad=3)
    group = GroupCommit(writer, splits=lambda exc: not isinstance(exc, ValueError))
    outcomes = _behind_a_held_write(group, writer, [1, 2, 3, 4])
    assert outcomes[0] == 0 and all(isinstance(o, ValueError) for o in outcomes[1:])
    assert len(writer.calls) == 2 and group.stats.split == 0


class Stopped(BaseException):
    """As a thread being stopped (SystemExit, KeyboardInterrupt) meets it."""


def test_a_leader_being_stopped_stops_and_wakes_every_caller_of_its_write() -> None:
    def write(items: Sequence[int]) -> list[int]:
        if len(items) > 1:
            raise Stopped()
        return list(items)

    writer = Writer()
    group = GroupCommit(lambda items: write(writer(items)))
    outcomes = _behind_a_held_write(group, writer, [1, 2, 3])
    assert outcomes[0] == 0 and all(isinstance(o, Stopped) for o in outcomes[1:])
    assert group.submit(7) == 14  # the group is not left leading


def test_with_two_writers_an_item_is_written_while_the_first_write_is_under_way() -> None:
    """The second writer does not wait for the first write's commit; a third item, with
    both writes under way, waits and goes with the next."""
    first_held, second_held = threading.Event(), threading.Event()
    release_first, release_second = threading.Event(), threading.Event()
    calls: list[list[int]] = []

    def write(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        if len(calls) == 1:
            first_held.set()
            assert release_first.wait(10)
        elif len(calls) == 2:
            second_held.set()
            assert release_second.wait(10)
        return [2 * i for i in items]

    group: GroupCommit[int, int] = GroupCommit(write, writers=2)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(group.submit, 0)
        assert first_held.wait(10)
        second = pool.submit(group.submit, 1)
        assert second_held.wait(10)  # written while the first is still held
        third, fourth = pool.submit(group.submit, 2), pool.submit(group.submit, 3)
        h.wait_for(lambda: group.waiting() == 2, timeout=10, every=0.005)
        assert calls == [[0], [1]]  # both writers busy: the others wait
        release_second.set()
        assert second.result(10) == 2 and not first.done()
        assert sorted([third.result(10), fourth.result(10)]) == [4, 6]
        release_first.set()
        assert first.result(10) == 0
    assert calls[:2] == [[0], [1]] and sorted(calls[2]) == [2, 3] and len(calls) == 3


def test_two_writers_many_threads_each_item_written_once() -> None:
    writer = Writer()
    writer.release.set()
    group = GroupCommit(writer, writers=2)
    with ThreadPoolExecutor(16) as pool:
        assert list(pool.map(group.submit, range(2000))) == [2 * i for i in range(2000)]
    written = [i for c in writer.calls for i in c]
    assert sorted(written) == list(range(2000)) and group.stats.items == 2000


def test_a_broken_splits_leaves_no_caller_waiting() -> None:
    """``splits`` raising while the shared write's error is handled: every caller of the
    write meets the write's error, none waits for ever."""

    def splits(exc: Exception) -> bool:
        raise RuntimeError("splits is broken")

    writer = Writer(bad=3)
    group = GroupCommit(writer, splits=splits)
    outcomes = _behind_a_held_write(group, writer, [1, 2, 3])
    assert outcomes[0] == 0 and all(isinstance(o, ValueError) for o in outcomes[1:])
    assert group.submit(5) == 10


def test_a_group_needs_a_writer() -> None:
    with pytest.raises(ValueError, match="at least one writer"):
        GroupCommit(Writer(), writers=0)
