"""Every word a page or map shows has its Russian, Kazakh and English text.

The message ids are extracted from the sources exactly as ``pybabel extract`` reads them
(``babel.cfg``), so a new ``_('…')`` in a template or a new registry code without a
label fails here instead of showing English, or a raw code, on a Russian page.
"""

from __future__ import annotations

from functools import cache

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from backend.models import labels, registries
from backend.settings import PROJECT_ROOT

LANGUAGES = ("ru", "kk", "en")


@cache
def _catalogue(lang: str) -> Catalog:
    path = PROJECT_ROOT / "backend" / "translations" / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        return read_po(po, locale=lang)


@cache
def _page_texts() -> dict[str, str]:
    """msgid → where it is used, for everything babel.cfg names."""
    with (PROJECT_ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[str, str] = {}
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}  # as the Makefile
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(PROJECT_ROOT), method_map, options_map, keywords=keywords
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def _translated(lang: str, msgid: str) -> bool:
    entry = _catalogue(lang).get(msgid)
    if entry is None or entry.fuzzy:
        return False
    # English pages read the English message ids: present in the catalogue is enough.
    return lang == "en" or bool(entry.string)


def test_the_extraction_finds_the_pages_texts() -> None:
    texts = _page_texts()
    assert "Sign in" in texts and "Open alerts" in texts
    assert labels.ALERT_KINDS["sos"] in texts  # the labels module is extracted too


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_page_text_is_translated(lang: str) -> None:
    missing = {m: where for m, where in _page_texts().items() if not _translated(lang, m)}
    assert missing == {}, f"{len(missing)} texts without a {lang} translation: {missing}"


@pytest.mark.parametrize("registry", sorted(labels.LABELLED))
def test_every_code_of_every_registry_has_a_label_in_each_language(registry: str) -> None:
    codes, words = labels.LABELLED[registry]
    assert getattr(registries, registry) == codes
    assert sorted(words) == sorted(codes), f"{registry}: codes without a label"
    for lang in LANGUAGES:
        untranslated = [c for c in codes if not _translated(lang, words[c])]
        assert untranslated == [], f"{registry} lacks {lang} words for {untranslated}"


def test_maps_read_the_labels_from_the_catalogues() -> None:
    words = labels.map_labels()
    assert words["ru"]["kind_sos"] == _catalogue("ru").get(labels.ALERT_KINDS["sos"]).string
    assert words["kk"]["cat_kandas"] == _catalogue("kk").get(labels.CATEGORIES["kandas"]).string
    assert words["en"]["kind_sos"] == labels.ALERT_KINDS["sos"]
