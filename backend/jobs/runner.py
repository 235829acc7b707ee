"""The worker process: an RQ worker plus a scheduler thread for the periodic jobs, and
beside it a second worker process for the long maintenance jobs.

Neither dies of a Redis outage. RQ's worker quits its loop on some Redis errors, so it
is started again with backoff in the same process until a signal asks it to stop. The
scheduler thread survives every error and holds a Redis lock that expires on its own
(``LOCK_TTL_S``) when its process dies, SIGKILL included: one scheduler at a time among
all workers, and never an orphan holding the lock. (RQ's own scheduler, a separate
process for delayed jobs, is not started: Qonys enqueues nothing for later.)

The jobs of :data:`MAINTENANCE` may run for minutes on a national register: closing a
day locks and rewrites it (CLUSTER, its spatial index), retention deletes a day's worth
of expired rows, the residence sweep reads every monitored person's nights, the audit
walk reads the whole trail. On the one worker they held everything behind them: the
audit seal, the outbox (an SOS's notification among them), credentials' status lists,
users' maps and imports, alert evaluation. They go to a queue of their own, worked by a
process ``run_worker`` starts beside itself (``qonys worker --maintenance``), which
dies with it and is started again when it dies alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import redis
from rq import Queue, SimpleWorker, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job as RqJob
from rq.job import JobStatus

# Imported here, before RQ forks a work horse per job: each horse then starts with the
# delivery code loaded instead of importing it (seconds on a busy machine) for every
# message (bench/outbox.py).
from backend.identifiers import ascii_digits
from backend.jobs import outbox as _outbox  # noqa: F401
from backend.settings import Settings

log = logging.getLogger("qonys.worker")

# (dotted job function, interval in seconds). Each job is idempotent, so a second
# enqueue of the same slot does no harm.
PERIODIC: tuple[tuple[str, int], ...] = (
    ("backend.jobs.permits.expire_permits", 3600),
    ("backend.jobs.traces.maintain_partitions", 3600),
    ("backend.jobs.alerts.sweep", 300),
    ("backend.jobs.alerts.residence_sweep", 3600),
    ("backend.jobs.settlement.fulfil_obligations", 3600),
    ("backend.jobs.settlement.pay_subsidies", 3600),
    ("backend.jobs.housekeeping.fail_abandoned_jobs", 300),
    ("backend.jobs.housekeeping.enforce_retention", 3600),
    ("backend.jobs.audit.seal_audit", 300),
    ("backend.jobs.audit.flush_auth_failures", 60),
    ("backend.jobs.audit.verify_audit", 86400),
    ("backend.jobs.credentials.publish_status_lists", 30),
    # The outbox (issue 26): what is due (retries, digests, anything Redis missed), the
    # employers' permit reminders, the hosts' and foreigners' registration deadlines, the
    # analysts' scheduled reports.
    ("backend.jobs.outbox.dispatch", 30),
    ("backend.jobs.permits.remind_permit_expiry", 3600),
    ("backend.jobs.permits.remind_registration_deadline", 3600),
    ("backend.jobs.reports.send_scheduled_reports", 3600),
)

# Periodic jobs that may run for minutes: enqueued on the maintenance queue, for the
# worker of its own (above).
MAINTENANCE = frozenset(
    {
        "backend.jobs.traces.maintain_partitions",
        "backend.jobs.housekeeping.enforce_retention",
        "backend.jobs.alerts.residence_sweep",
        "backend.jobs.audit.verify_audit",
    }
)
# RQ ends a job at 180 s unless told otherwise: a national day's CLUSTER takes longer.
MAINTENANCE_TIMEOUT_S = 6 * 3600
# The maintenance worker learns its parent's pid from here, to die with it.
PARENT_ENV = "QONYS_WORKER_PARENT"

# The last job enqueued for each periodic function, with its retry count and when its
# failure was first seen: a job that failed (in an outage, say) is tried again with
# backoff within its period, not a whole period later.
JOBS_KEY = "qonys:scheduler:jobs"
RETRY_FIRST_S = 15.0
LOCK_KEY = "qonys:scheduler:lock"
# When each periodic job was last enqueued (epoch seconds), kept in Redis so that a
# restarted worker, or another one taking over the lock, does not run everything again.
LAST_KEY = "qonys:scheduler:last"
LOCK_TTL_S = 90
MAX_BACKOFF_S = 30.0

# Take the lock when free, or keep it when ours; False when another scheduler holds it.
_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


_PR_SET_PDEATHSIG = 1


# How long RQ's command listener (stop a job, kill the horse, shut down) may block in one
# read. RQ reads for 60 s at a time; since redis-py 8.2, stopping that thread waits for
# its read to end, so every worker teardown (a burst's end, each restart after a Redis
# outage, a shutdown) took up to a minute. 14 of the test suite's 807 tests spent exactly
# 60 s there.
PUBSUB_READ_S = 1.0


class _PromptCommands:
    """RQ's command listener with short reads, so that a worker stops at once."""

    connection: Any
    pubsub_channel_name: str

    def subscribe(self) -> None:
        worker: Any = self
        worker.pubsub = self.connection.pubsub()
        worker.pubsub.subscribe(**{self.pubsub_channel_name: worker.handle_payload})
        worker.pubsub_thread = worker.pubsub.run_in_thread(
            sleep_time=PUBSUB_READ_S,
            daemon=True,
            exception_handler=worker._pubsub_exception_handler,
        )


class InProcessWorker(_PromptCommands, SimpleWorker):
    """RQ's worker that runs each job in the calling process (no fork), for tests and
    tools that work off a queue where they stand."""


class QonysWorker(_PromptCommands, Worker):
    """RQ's worker whose work horse dies with it.

    RQ forks a work horse per job into its own process group; a SIGKILLed worker left
    it running beside the next worker's copy of the same job (issue 27). On Linux the
    horse asks the kernel for SIGKILL when its parent dies, and ends at once if the
    parent is already gone.
    """

    def fork_work_horse(self, job: Any, queue: Any) -> None:
        self._parent_pid = os.getpid()
        super().fork_work_horse(job, queue)

    def setup_work_horse_signals(self) -> None:
        super().setup_work_horse_signals()  # type: ignore[no-untyped-call]
        die_with_parent(getattr(self, "_parent_pid", None))


def die_with_parent(parent_pid: int | None) -> None:
    """In a child process: be SIGKILLed when the parent dies (Linux ``prctl``)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the supervisor's group kill remains
        return
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)  # the parent died between the fork and the prctl


class PeriodicScheduler:
    """Enqueues each periodic job when its interval has passed, while it holds the lock."""

    def __init__(
        self,
        connection: redis.Redis[bytes],
        queue_name: str,
        periodic: tuple[tuple[str, int], ...] = PERIODIC,
        maintenance_queue_name: str | None = None,
    ) -> None:
        """``maintenance_queue_name``: where the jobs of :data:`MAINTENANCE` go (None:
        the same queue as the others)."""
        self.connection = connection
        self.periodic = periodic
        self._claim = connection.register_script(_CLAIM)
        self._release = connection.register_script(_RELEASE)
        self.queue = Queue(queue_name, connection=connection)
        self.maintenance_queue = Queue(maintenance_queue_name or queue_name, connection=connection)
        self.name = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    def tick(self, now: float | None = None) -> list[str]:
        """One round: claim or refresh the lock, enqueue what is due; the jobs enqueued."""
        if not self._claim(keys=[LOCK_KEY], args=[self.name, LOCK_TTL_S]):
            if not self._holder_died():
                return []
            if not self._claim(keys=[LOCK_KEY], args=[self.name, LOCK_TTL_S]):
                return []
        now = time.time() if now is None else now
        last = {k.decode(): float(v) for k, v in self.connection.hgetall(LAST_KEY).items()}
        jobs = {k.decode(): json.loads(v) for k, v in self.connection.hgetall(JOBS_KEY).items()}
        enqueued = []
        for func, interval in self.periodic:
            since = now - last.get(func, 0.0)
            if since >= interval:
                slot = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d%H%M")
                self._enqueue(func, f"periodic-{func.rsplit('.', 1)[-1]}-{slot}", 0)
                self.connection.hset(LAST_KEY, func, now)
                enqueued.append(func)
            elif func in jobs and self._retry_due(func, jobs[func], interval - since, now):
                enqueued.append(func)
        return enqueued

    def _enqueue(self, func: str, job_id: str, attempt: int) -> None:
        if func in MAINTENANCE:
            self.maintenance_queue.enqueue(func, job_id=job_id, job_timeout=MAINTENANCE_TIMEOUT_S)
        else:
            self.queue.enqueue(func, job_id=job_id)
        self.connection.hset(JOBS_KEY, func, json.dumps({"id": job_id, "attempt": attempt}))

    def _retry_due(self, func: str, last: dict[str, Any], left_s: float, now: float) -> bool:
        """Enqueue ``func`` again when its last job failed and its backoff has passed
        (15 s, 30 s, 60 s, …), unless its next regular run comes first."""
        try:
            status = RqJob.fetch(last["id"], connection=self.connection).get_status()
        except NoSuchJobError:
            return False
        if status != JobStatus.FAILED:
            return False
        seen = last.get("failed_seen")
        if seen is None:
            last["failed_seen"] = now
            self.connection.hset(JOBS_KEY, func, json.dumps(last))
            seen = now
        wait = RETRY_FIRST_S * 2 ** last["attempt"]
        if now - seen < wait or left_s < wait:
            return False
        attempt = last["attempt"] + 1
        base = last["id"].split("-retry")[0]
        log.warning("periodic job %s failed; retry %d within its period", func, attempt)
        self._enqueue(func, f"{base}-retry{attempt}", attempt)
        return True

    def _holder_died(self) -> bool:
        """Free the lock at once when its holder was a process on this machine that is
        gone (SIGKILLed, say); one elsewhere is waited out by the lock's expiry."""
        holder = (self.connection.get(LOCK_KEY) or b"").decode()
        host, _, rest = holder.partition(":")
        pid = rest.partition(":")[0]
        if host != socket.gethostname() or not ascii_digits(pid) or _alive(int(pid)):
            return False
        log.warning("periodic scheduler: the lock's holder (pid %s) is gone; taking over", pid)
        self._release(keys=[LOCK_KEY], args=[holder])
        return True

    def release(self) -> None:
        self._release(keys=[LOCK_KEY], args=[self.name])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def schedule_forever(scheduler: PeriodicScheduler, stop: threading.Event, every_s: float) -> None:
    """Tick until ``stop``; an error is logged and retried with backoff, never fatal."""
    backoff = 1.0
    while not stop.is_set():
        try:
            scheduler.tick()
        except Exception as exc:
            # Redis down, a job function that does not import: the thread must live on.
            log.warning("periodic scheduler: %s; trying again in %.0f s", exc, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            continue
        backoff = 1.0
        stop.wait(every_s)
    with contextlib.suppress(redis.RedisError):  # else the lock expires by itself
        scheduler.release()


class MaintenanceProcess:
    """``qonys worker --maintenance`` beside this worker, in a session of its own (a
    terminal's Ctrl-C reaches this one, which stops it): started again with backoff when
    it dies alone; asked to stop, then killed after :attr:`grace_s`, when this one stops;
    SIGKILLed by the kernel when this one dies first (``die_with_parent``)."""

    grace_s = 10.0

    def __init__(self, argv: list[str] | None = None) -> None:
        self.argv = argv or [sys.executable, "-m", "backend.cli", "worker", "--maintenance"]
        self.process: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        # The process is started from this thread, which lives as long as it should:
        # the kernel's parent-death signal follows the thread that forked the child.
        self._thread = threading.Thread(target=self._run, daemon=True, name="qonys-maintenance")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.grace_s + 5)

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.process = subprocess.Popen(
                    self.argv,
                    env={**os.environ, PARENT_ENV: str(os.getpid())},
                    start_new_session=True,
                )
            except Exception as exc:  # this thread must live on: its child dies with it
                log.warning("worker: the maintenance worker did not start (%s)", exc)
            else:
                while self.process.poll() is None:
                    if self._stop.wait(0.5):
                        self._end(self.process)
                        return
                log.warning("worker: the maintenance worker exited (%s)", self.process.returncode)
            if time.monotonic() - started > 60:
                backoff = 1.0  # it had been working: this is a new failure
            log.warning("worker: starting the maintenance worker again in %.0f s", backoff)
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def _end(self, process: subprocess.Popen[bytes]) -> None:
        process.terminate()  # RQ's warm shutdown: a short job under way may still finish
        try:
            process.wait(timeout=self.grace_s)
        except subprocess.TimeoutExpired:
            process.kill()  # its work horse dies with it (QonysWorker); the jobs are
            # idempotent: a day left half closed is closed by the next run
            process.wait()


def run_worker(
    settings: Settings, burst: bool = False, tick_s: float = 30.0, maintenance: bool = False
) -> None:
    """Work the queues until SIGTERM/SIGINT; a Redis outage only pauses it.

    As ``qonys worker``: users' queue first (never behind alert evaluation), then the
    system's, with the periodic scheduler in a thread and the maintenance queue's worker
    in a process beside it (:class:`MaintenanceProcess`). ``maintenance``: that worker,
    the maintenance queue only. ``burst``: every queue in this process, the maintenance
    queue last, until they are empty.
    """
    if maintenance:
        parent = os.environ.get(PARENT_ENV, "")
        if ascii_digits(parent):
            die_with_parent(int(parent))
        names = [settings.maintenance_queue_name]
    else:
        names = [settings.user_queue_name, settings.queue_name]
        if burst:
            names.append(settings.maintenance_queue_name)
    stop = threading.Event()
    scheduler_stop = threading.Event()
    thread = None
    beside = None
    if not burst and not maintenance:
        scheduler = PeriodicScheduler(
            redis.Redis.from_url(settings.redis_url),
            settings.queue_name,
            maintenance_queue_name=settings.maintenance_queue_name,
        )
        thread = threading.Thread(
            target=schedule_forever,
            args=(scheduler, scheduler_stop, tick_s),
            daemon=True,
            name="qonys-scheduler",
        )
        thread.start()
        beside = MaintenanceProcess()
        beside.start()
    backoff = 1.0
    try:
        while not stop.is_set():
            worker = None
            started = time.monotonic()
            try:
                # A connection of its own: RQ raises its socket timeout above the
                # blocking dequeue's, which must not be shared with the scheduler's.
                conn = redis.Redis.from_url(settings.redis_url)
                queues = [Queue(name, connection=conn) for name in names]
                worker = QonysWorker(queues, connection=conn)
                worker.work(burst=burst, with_scheduler=False)
            except redis.RedisError as exc:
                log.warning("worker: Redis is unreachable (%s)", exc)
            if burst or (worker is not None and worker._shutdown_requested_date is not None):
                break
            # RQ left its loop on an error; our handlers take the signals while we wait.
            _stop_on_signals(stop)
            if time.monotonic() - started > 60:
                backoff = 1.0  # it had been working: this is a new outage
            log.warning("worker: starting again in %.0f s", backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
    finally:
        scheduler_stop.set()
        if beside is not None:
            beside.stop()
        if thread is not None:
            thread.join(timeout=5)  # releases the lock (else it expires by itself)


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(*_: Any) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
