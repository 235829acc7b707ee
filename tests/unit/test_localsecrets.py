"""Secrets generated once into the data folder, by however many processes start at once."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from backend.localsecrets import generated_secret


def test_many_starting_at_once_read_one_whole_secret(tmp_path: Path) -> None:
    """`make test`'s two passes, a gunicorn's workers: all create the same secret at once.
    None may read a file another has created but not yet written (an empty secret)."""
    for attempt in range(20):
        path = tmp_path / f"secret-{attempt}"
        with ThreadPoolExecutor(8) as pool:
            values = set(pool.map(generated_secret, [path] * 8))
        assert len(values) == 1 and len(values.pop()) == 32
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"secret-{i}" for i in range(20))
