"""Debian's Chromium with the network cut: only the app under test answers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import Page, sync_playwright

from backend.settings import PROJECT_ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "artifacts"


@dataclass
class Offline:
    page: Page
    outside: list[str] = field(default_factory=list)  # requests that left the machine
    errors: list[str] = field(default_factory=list)  # page errors and console errors


@contextmanager
def offline_page(
    server: str, headers: dict[str, str] | None = None, console_ignores: str | None = None
) -> Iterator[Offline]:
    """A 1400×900 page whose every request not to ``server`` is aborted and recorded;
    page errors (and console errors, but those containing ``console_ignores``) too."""
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_context(
            viewport={"width": 1400, "height": 900}, extra_http_headers=headers or {}
        ).new_page()
        seen = Offline(page)
        page.on("pageerror", lambda e: seen.errors.append(str(e)))
        page.on(
            "console",
            lambda m: (
                m.type == "error"
                and not (console_ignores and console_ignores in m.text)
                and seen.errors.append(m.text)
            ),
        )

        def cut(route: Any) -> None:
            if route.request.url.startswith(server):
                route.continue_()
            else:  # the network is cut: anything not ours fails
                seen.outside.append(route.request.url)
                route.abort()

        page.route("**/*", cut)
        try:
            yield seen
        finally:
            browser.close()
