"""The README's tour pastes cleanly twice (issue 23): its shell blocks, taken from the
README itself, run against a served app on the demo data, then again; a command that
fails, a traceback, or an API error (problem+json) on either pass fails the test."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from backend.settings import PROJECT_ROOT
from tests import helpers as h

pytestmark = pytest.mark.slow

README_URL = "http://127.0.0.1:8000"
# A problem+json body (RFC 9457) of a client or server error, as curl prints it.
API_ERROR = re.compile(r'"status":\s*[45]\d\d')


def tour_script(base_url: str) -> str:
    """The ``sh`` blocks of the README's "A short tour", pointed at ``base_url``."""
    readme = (PROJECT_ROOT / "README.md").read_text("utf-8")
    start = readme.index("## A short tour")
    end = readme.index("\n## ", start + 1)
    blocks = re.findall(r"```sh\n(.*?)```", readme[start:end], re.S)
    assert len(blocks) >= 4, "the tour's shell blocks moved"
    return "\n".join(blocks).replace(README_URL, base_url)


def test_tour_script_is_the_readmes() -> None:
    script = tour_script("http://127.0.0.1:1")
    assert README_URL not in script and "http://127.0.0.1:1/" in script
    assert "--exist-ok" in script  # the account line that made the second paste fail


def test_the_readme_tour_pastes_cleanly_twice(migrated: Any, server: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    env = {
        "DATABASE_URL": migrated.database_url,
        "REDIS_URL": migrated.redis_url,
        "QONYS_DATA_DIR": str(data),
        "QONYS_PUBLIC_URL": server,
    }
    loaded = h.qonys("demo", "load", env=env)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    # The tour runs from the project folder: `.venv/bin/…` and `.data/…` as written.
    cwd = tmp_path / "project"
    cwd.mkdir()
    (cwd / ".venv").symlink_to(PROJECT_ROOT / ".venv")
    (cwd / ".data").symlink_to(data)
    script = "set -eu\n" + tour_script(server)
    outputs = []
    for paste in (1, 2):
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=cwd,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        said = done.stdout + done.stderr
        assert done.returncode == 0, f"paste {paste} stopped:\n{said[-3000:]}"
        assert "Traceback" not in said and "Error:" not in said, f"paste {paste}:\n{said[-3000:]}"
        errors = [line for line in done.stdout.splitlines() if API_ERROR.search(line)]
        assert errors == [], f"paste {paste}: {errors}"
        outputs.append(done.stdout)
    first, second = outputs
    assert "user aigerim (analyst) created" in first
    assert "user aigerim (analyst) already exists: left as it is" in second
    # The person of the tour is one person both times (the Idempotency-Key replays).
    iins = [re.findall(r'"iin":"(\d{12})","iin_generated":true', out) for out in outputs]
    assert len(set(iins[0] + iins[1])) == 1, iins
    for out in outputs:
        assert out.count('"verdict":"violation"') == 1
        assert '"type": "FeatureCollection"' in out  # the track and the OGC items
        assert '"decision":"pass"' in out


@pytest.mark.parametrize("role", ["analyst", "officer"])
def test_user_create_exist_ok_leaves_an_account_of_that_role_alone(
    migrated: Any, db: Any, role: str
) -> None:
    env = {"DATABASE_URL": migrated.database_url}
    password = "a long passphrase of mine\n"
    args = ("user", "create", "--username", "aidana", "--role", "analyst", "--password-stdin")
    assert h.qonys(*args, env=env, input=password).returncode == 0
    again = h.qonys(*args[:5], role, "--password-stdin", "--exist-ok", env=env, input=password)
    if role == "analyst":
        assert again.returncode == 0 and "already exists: left as it is" in again.stdout
    else:  # another role is still an error, never a silent success
        assert again.returncode != 0 and "with role analyst, not officer" in again.stderr
    # Without the flag, a second create is refused as before.
    assert h.qonys(*args, env=env, input=password).returncode != 0
