"""Every e-mail, SMS and push text exists in Russian, Kazakh and English, and renders
with the parameters the outbox stores for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from backend.services.notify import messages

CATALOGUES = Path(messages.TRANSLATIONS)
PARAMS = {
    "kind": "sos",
    "date": "2026-12-08",
    "number": "P-1",
    "year": 2026,
    "region": "710000000",
    "count": 2,
    "obligation": 7,
}


@pytest.mark.parametrize("language", ["ru", "kk", "en"])
def test_every_message_text_is_translated(language: str) -> None:
    with (CATALOGUES / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalogue = read_po(po)
    for name, spec in messages.TEMPLATES.items():
        for text in (spec.subject, spec.body):
            entry = catalogue.get(text)
            assert entry is not None and entry.string, (language, name, text)
        rendered = messages.render(name, language, PARAMS, "https://qonys.example")
        assert "{" not in rendered.subject + rendered.body, (language, name)
        assert rendered.link.startswith("https://qonys.example/")
        assert rendered.lead and rendered.link in rendered.sms
