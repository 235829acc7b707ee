"""Group commit: concurrent requests share one statement and one commit.

Each request thread hands its item to the process's :class:`GroupCommit` and waits. A
thread that finds fewer than ``writers`` writes under way becomes a leader: it takes
every item waiting (its own among them, up to ``max_batch``), writes them with one call
of ``write`` and wakes the others with their results. Items that arrive while every
writer is busy wait and go together in the next write, so under load the batches grow
by themselves and alone a request pays no delay (PostgreSQL's own WAL group commit works
the same way). No thread of its own: a gunicorn worker forks with nothing running, and a
request never waits for a timer.

``writers`` is how many writes of the process may be under way at once. With one, a
request that arrives during a write waits for all of it, its commit's flush included,
though the database could already run its statement: at 4 phones on 2 cores a fifth of
the machine stood idle (``bench.phones``: 0.82-0.89 of ``/health``, against 0.98-0.99 with
two: the median of 9 alternating rounds, three runs each). Under heavy load the batches
are smaller with two, and still share their commits: at 64 phones 1.12 of ``/health``,
against 1.25 with one (a run each).

A result is handed back only after ``write`` has returned, so an item is acknowledged
only once its shared commit is durable. When a shared write fails in a way one item can
cause (``splits``: a device whose person was just deleted), every item of it is written
again alone by its own thread, so the bad item costs its own request only and each
request meets its own error; any other failure (the database unreachable) is every
item's answer at once, without as many retries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# A slot is waiting, then taken into a write, then done, failed, or to be written alone.
_WAITING, _TAKEN, _DONE, _FAILED, _ALONE = "waiting", "taken", "done", "failed", "alone"


@dataclass(eq=False)
class _Slot(Generic[T, R]):
    item: T
    state: str = _WAITING
    result: R | None = None
    error: BaseException | None = None


@dataclass
class GroupStats:
    """What the writes so far looked like, in this process (tests read it)."""

    sizes: dict[int, int] = field(default_factory=dict)  # items in a write: how many
    split: int = 0  # shared writes that failed and were written again item by item

    @property
    def writes(self) -> int:
        return sum(self.sizes.values())

    @property
    def items(self) -> int:
        return sum(size * n for size, n in self.sizes.items())

    @property
    def largest(self) -> int:
        return max(self.sizes, default=0)


class GroupCommit(Generic[T, R]):
    """Share one ``write(items) -> results`` among the threads that call :meth:`submit`."""

    def __init__(
        self,
        write: Callable[[Sequence[T]], Sequence[R]],
        max_batch: int = 200,
        splits: Callable[[Exception], bool] = lambda exc: True,
        writers: int = 1,
    ):
        """``splits(exc)``: whether a shared write that raised ``exc`` may have failed for
        one item's sake, so that each is written again alone; other errors (the database
        unreachable) are every item's answer as they are. ``writers``: how many writes may
        be under way at once."""
        self._write = write
        self._max = max_batch
        self._splits = splits
        self._cond = threading.Condition()
        self._queue: list[_Slot[T, R]] = []
        if writers < 1:
            raise ValueError("a group commit needs at least one writer")
        self.writers = writers
        self._leading = 0  # writes under way
        self.stats = GroupStats()

    def waiting(self) -> int:
        """How many items wait for the next write."""
        with self._cond:
            return len(self._queue)

    def submit(self, item: T) -> R:
        """Write ``item`` with whatever else is waiting; its result once it is durable."""
        slot: _Slot[T, R] = _Slot(item)
        with self._cond:
            self._queue.append(slot)
        while True:
            with self._cond:
                while slot.state == _TAKEN or (
                    slot.state == _WAITING and self._leading >= self.writers
                ):
                    self._cond.wait()
                if slot.state != _WAITING:
                    break
                batch, self._queue = self._queue[: self._max], self._queue[self._max :]
                for s in batch:
                    s.state = _TAKEN
                self._leading += 1
            self._lead(batch)
        if slot.state == _ALONE:
            return self._write([slot.item])[0]
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _lead(self, batch: list[_Slot[T, R]]) -> None:
        try:
            done = list(zip(batch, self._write([s.item for s in batch]), strict=True))
        except Exception as exc:
            try:
                alone = len(batch) > 1 and self._splits(exc)
            except Exception:  # a broken ``splits``: every caller meets the write's error
                alone = False
            for s in batch:  # the error before the state: a waiter reads them in that order
                s.error = None if alone else exc
                s.state = _ALONE if alone else _FAILED
            with self._cond:
                self.stats.split += alone
        except BaseException as exc:  # the thread is being stopped: so is every caller
            for s in batch:
                s.error = exc
                s.state = _FAILED
            raise
        else:
            for s, result in done:
                s.result, s.state = result, _DONE
        finally:
            with self._cond:
                for s in batch:  # never left taken, whatever happened above
                    if s.state == _TAKEN:
                        s.error = RuntimeError("the shared write ended without a result")
                        s.state = _FAILED
                sizes = self.stats.sizes
                sizes[len(batch)] = sizes.get(len(batch), 0) + 1
                self._leading -= 1
                self._cond.notify_all()
