"""Secrets generated once into the data folder (mode 0600) and read from there after.

The project's own PostgreSQL and Redis passwords, the runtime database role's password
and the session-signing key live here on a machine without a secret store. A file is
linked into place whole, so two processes starting at once agree on one value.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def generated_secret(path: Path, nbytes: int = 24) -> str:
    """The secret in ``path``, generated (URL-safe, mode 0600) when the file is missing.

    Written whole to a file of its own, then linked into place: a link fails when the name
    exists, so two processes starting at once agree on one value, and neither ever reads
    a file the other has created but not yet written."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(secrets.token_urlsafe(nbytes) + "\n")
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink()
    return path.read_text("utf-8").strip()


def existing_secret(path: Path) -> str | None:
    """The secret in ``path`` when it has been generated, else None."""
    try:
        return path.read_text("utf-8").strip()
    except (FileNotFoundError, PermissionError):
        return None
