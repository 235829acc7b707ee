"""What `make run` prints once up: every page, the demo accounts, what Ctrl-C leaves."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from ops.cli import up_banner


def test_the_banner_lists_every_page_the_demo_accounts_and_what_keeps_running() -> None:
    ep = SimpleNamespace(
        database_url="postgresql://qonys:secret@127.0.0.1:54329/qonys",
        redis_url="redis://:secret@127.0.0.1:63799/0",
    )
    settings = SimpleNamespace(data_dir=Path("/srv/qonys/.data"))
    text = up_banner("http://127.0.0.1:8000", ep, settings, None)  # type: ignore[arg-type]
    for path in (
        "/login",
        "/officer",
        "/employer",
        "/admin",
        "/dashboard",
        "/maps/monitoring",
        "/maps/kandas-settlement",
        "/ogc/",
        "/api/docs",
    ):
        assert f"http://127.0.0.1:8000{path}\n" in text
    assert "/srv/qonys/.data/demo-users.txt" in text and "secret" not in text
    assert "keep running" in text and "qonys services --stop" in text
