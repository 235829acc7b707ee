"""Quiet logs in an outage: one line when a dependency goes down, one when it is back.

During a Redis or PostgreSQL outage every request meets the same error; a traceback per
request buried the log (12 MB in 40 s, issue 27). Each dependency has one
:class:`Outage`: the first failure logs a line (without traceback), later ones only
count, and the first success after them logs how many calls met the outage and for how
long. While the outage lasts a reminder with the count is logged once a minute.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("qonys.outage")

REMINDER_S = 60.0
# After a failure, calls that may be skipped (the alert kick) skip the dependency this
# long: one that hangs would cost each of them its whole timeout. (The rate leases keep
# their own spell, on their own clock: services/access/rate_leases.py.)
REST_S = 2.0


class Outage:
    """The state of one dependency as this process sees it."""

    def __init__(
        self,
        name: str,
        words: tuple[str, str] = ("unavailable", "back"),
        marks_thread: bool = False,
        settle_s: float = 0.0,
    ) -> None:
        """``words``: what the log says of it going down and coming back.
        ``marks_thread``: a failure marks the calling thread, whose answer then cannot say
        the dependency is back (:func:`database_answered`). ``settle_s``: a success ends
        the spell only this long after its last failure (work held up by one lock meets
        it while other work succeeds beside it)."""
        self.name = name
        self.words = words
        self.marks_thread = marks_thread
        self.settle_s = settle_s
        self.down = False
        self.failures = 0  # calls that met the current outage
        self.total = 0  # calls that met any outage since the process started
        self._since = 0.0
        self._reminded = 0.0
        self._last_failure = -REST_S
        self._lock = threading.Lock()

    def failed(self, error: BaseException) -> None:
        """A call failed because the dependency is unreachable."""
        now = time.monotonic()  # read once the call has failed: after its timeout, if any
        if self.marks_thread:
            _USED.failed = True  # this thread's answer cannot say the database is back
        with self._lock:
            if self.down and self.settle_s and now - self._last_failure >= self.settle_s:
                self._end(self._last_failure)  # settled meanwhile, with no call to say so
            self._last_failure = now
            self.failures += 1
            self.total += 1
            if not self.down:
                self.down, self._since, self._reminded = True, now, now
                log.warning("%s %s: %s", self.name, self.words[0], _named(error))
            elif now - self._reminded >= REMINDER_S:
                self._reminded = now
                log.warning(
                    "%s still %s: %d calls failed in %.0f s; the last: %s",
                    self.name,
                    self.words[0],
                    self.failures,
                    now - self._since,
                    _named(error),
                )

    def resting(self) -> bool:
        """Whether a call that may be skipped should be: the dependency failed within the
        last :data:`REST_S` (measured from when that call had failed)."""
        return time.monotonic() - self._last_failure < REST_S

    def ok(self, since: float | None = None) -> None:
        """A call succeeded: if the dependency was down, it is back (one line). ``since``:
        when that call began (``time.monotonic``); one begun before the outage says
        nothing of it."""
        if not self.down:  # the hot path: no lock
            return
        with self._lock:
            if not self.down or (since is not None and since < self._since):
                return
            if not self.settle_s:
                self._end(time.monotonic())
            elif time.monotonic() - self._last_failure >= self.settle_s:
                self._end(self._last_failure)

    def _end(self, at: float) -> None:
        """The spell is over (under the lock): ``at`` is when it last held (a spell that
        settles ends at its last failure, not when a success came to say so)."""
        log.warning(
            "%s %s after %.0f s; %d calls failed meanwhile",
            self.name,
            self.words[1],
            at - self._since,
            self.failures,
        )
        self.down, self.failures = False, 0


def _named(error: BaseException) -> str:
    """``Type: the message's first line`` (a driver's message runs on with context)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


REDIS = Outage("redis")
DATABASE = Outage("database", marks_thread=True)
# Work held up (a deadlock lost, a row lock held past the wait, a statement past the
# server's bound): no outage, but logged as one spell too, so that a lock held for hours
# does not go unseen. While one lock holds up the work on its table, answers that did not
# touch it succeed: the spell ends only after half a minute without held-up work (a
# drill's 20-s table lock had logged five held-up/clear pairs).
CONTENTION_SETTLE_S = 30.0
CONTENTION = Outage("database work", ("held up", "clear"), settle_s=CONTENTION_SETTLE_S)


class _Used(threading.local):
    database = 0.0  # when this request last was handed a database connection (0: never)
    failed = False  # ... and whether a call of it met the database outage


_USED = _Used()


def used_database() -> None:
    """A pooled database connection was handed to this thread (the pool's checkout)."""
    _USED.database = time.monotonic()


def request_started() -> None:
    """A request begins on this thread: what an earlier one left marked (work after its
    answer was sent) says nothing of this one."""
    _USED.database, _USED.failed = 0.0, False


def database_answered(status: int) -> None:
    """After an answer: one below 500 to a request that used the database, none of whose
    calls met an outage, means an outage there is over. An answer that never touched the
    database (the API's description, a 401 for a missing token) says nothing of it:
    during one outage such answers flipped the log between down and back, a line per
    request. One whose database work began before the outage did (a request finishing as
    another met the outage's first failure) says nothing of it either."""
    used, met = _USED.database, _USED.failed
    _USED.database, _USED.failed = 0.0, False
    if used and not met and status < 500:
        DATABASE.ok(since=used)
        CONTENTION.ok(since=used)


class _CountRedisErrors(logging.Filter):
    """flask-limiter logs a traceback for every request it could not count (its store is
    our Redis): such a record becomes a count of the Redis outage instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            REDIS.failed(record.exc_info[1])
            return False
        return True


def quiet_library_logs() -> None:
    """Route the libraries' per-request outage tracebacks into the counters above."""
    limiter_log = logging.getLogger("flask-limiter")
    if not any(isinstance(f, _CountRedisErrors) for f in limiter_log.filters):
        limiter_log.addFilter(_CountRedisErrors())
