"""`qonys up`'s children: the API and the worker, kept running, never as root.

A child that exits is started again with backoff (1 s doubling to 30 s, back to 1 s once
it has run a minute), so a dependency outage that makes one of them quit never takes the
other down, and neither stays down after the dependency returns.

Started by root (as `make run` is on a fresh machine), the children run as an
unprivileged system account (``QONYS_RUN_AS``, default ``qonys``, created when missing,
without a shell or home). It owns only what the API and worker read or write in the data
folder: the session key, the runtime database role's password and the control sockets.
The owner role's and Redis's passwords stay root's (the children get the Redis URL and
connect to PostgreSQL as the runtime role).
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("qonys.up")

MAX_BACKOFF_S = 30.0
HEALTHY_AFTER_S = 60.0


class SuperviseError(RuntimeError):
    """The children cannot be started safely; the message says what to do."""


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int


def runtime_account(name: str) -> Account | None:
    """The account the children run as: None when not root (they run as the caller).

    ``root`` keeps root, for a machine where the operator chose so explicitly.
    """
    if os.geteuid() != 0 or name == "root":
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        log.warning("creating the system account %s for the API and worker", name)
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ],
            check=True,
        )
        entry = pwd.getpwnam(name)
    return Account(name, entry.pw_uid, entry.pw_gid)


def hand_over(
    account: Account, data_dir: Path, files: Sequence[str], directories: Sequence[str]
) -> None:
    """Give ``account`` the data folder's runtime files (0600) and directories (0700)."""
    data_dir.chmod(data_dir.stat().st_mode | 0o011)  # traversable, not listable
    for name in directories:
        path = data_dir / name
        path.mkdir(parents=True, exist_ok=True)
        shutil.chown(path, account.uid, account.gid)
        path.chmod(0o700)
    for name in files:
        path = data_dir / name
        if path.exists():
            shutil.chown(path, account.uid, account.gid)
            path.chmod(0o600)


def check_can_run(account: Account, python: str, cwd: Path) -> None:
    """Fail early, with what to do, when the account cannot read the checkout."""
    try:
        probe = subprocess.run(
            [python, "-c", "import backend.app"],
            user=account.uid,
            group=account.gid,
            extra_groups=[],
            cwd=cwd,
            env={
                "PATH": os.environ.get("PATH", ""),
                "HOME": "/nonexistent",
                "PYTHONDONTWRITEBYTECODE": "1",
            },
            capture_output=True,
            text=True,
        )
    except PermissionError:
        denied = True
    else:
        denied = probe.returncode != 0 and "Permission denied" in probe.stderr
    if denied:
        raise SuperviseError(
            f"the unprivileged account {account.name} cannot run {python} in {cwd}: the "
            "checkout and the venv's interpreter must be readable by others (not under "
            "/root; `make` builds the venv on Debian's /usr/bin/python3), or set "
            "QONYS_RUN_AS to an account that can read them"
        )


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff: float = 1.0
    restart_at: float | None = None
    restarts: int = 0
    pids: list[int] = field(default_factory=list)


class Supervisor:
    """Starts the children, restarts any that exits, stops them all on ``stop``."""

    def __init__(
        self,
        children: Sequence[tuple[str, list[str]]],
        account: Account | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.children = [Child(name, argv) for name, argv in children]
        self.account = account
        self.env = dict(os.environ if env is None else env)
        if account is not None:
            self.env["HOME"] = "/nonexistent"
            self.env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.cwd = cwd
        self.stop = threading.Event()

    def _start(self, child: Child) -> None:
        extra = (
            {"user": self.account.uid, "group": self.account.gid, "extra_groups": []}
            if self.account
            else {}
        )
        child.proc = subprocess.Popen(child.argv, env=self.env, cwd=self.cwd, **extra)  # type: ignore[call-overload]
        child.started_at = time.monotonic()
        child.restart_at = None
        child.pids.append(child.proc.pid)

    def run(self, poll_s: float = 0.5) -> None:
        for child in self.children:
            self._start(child)
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                for child in self.children:
                    self._watch(child, now)
                self.stop.wait(poll_s)
        finally:
            self._stop_all()

    def _watch(self, child: Child, now: float) -> None:
        assert child.proc is not None
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.restarts += 1
                log.warning("starting %s again (restart %d)", child.name, child.restarts)
                self._start(child)
            return
        code = child.proc.poll()
        if code is None:
            return
        if now - child.started_at > HEALTHY_AFTER_S:
            child.backoff = 1.0
        log.warning(
            "%s exited with code %s; starting it again in %.0f s", child.name, code, child.backoff
        )
        child.restart_at = now + child.backoff
        child.backoff = min(child.backoff * 2, MAX_BACKOFF_S)

    def _stop_all(self) -> None:
        running = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        for proc in running:
            proc.terminate()
        for proc in running:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
