"""The project stands on its own: nothing in it reads or names the folder CI keeps beside
the clone, except `.ci/run`, which points the Citus setting at it."""

from __future__ import annotations

import subprocess

from backend.settings import PROJECT_ROOT

ALLOWED = {".ci/run"}
# Put together here, so that this test names the folder no more than any other file does
# (it reads itself too).
FOLDER = "sha" + "red"
NEEDLES = (f"../{FOLDER}", f"{FOLDER}/vendor", "DOM" + "AIN", f"{FOLDER}/seeds")


def _tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    return [name for name in out.stdout.splitlines() if name not in ALLOWED]


def test_no_file_names_the_folder_beside_the_checkout() -> None:
    offenders = []
    for name in _tracked_files():
        path = PROJECT_ROOT / name
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        for needle in NEEDLES:
            if needle in text:
                offenders.append(f"{name}: {needle}")
    assert offenders == []
