"""Redaction matches after decoding (issue 28, F15)."""

import pytest

from backend.redaction import redact


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("GET /t/osmand?i%64=qny%5Fsecret1&lat=1", "GET /t/osmand?id=***&lat=1"),
        ("GET /t/osmand?%69%64=%71%6E%79%5F%73%65%63", "GET /t/osmand?id=***"),
        ("GET /t?deviceid=qny%255Fsecret1", "GET /t?deviceid=***"),
        ('POST /t\n{"device_id": "qny_secret1"}', 'POST /t\n{"device_id": "***"}'),
        ("GET /t?x=QNY_secret1", "GET /t?x=qny_***"),
        ("GET /t?x=%0Aforged%20line", "GET /t?x=\\x0aforged line"),
        ("GET /api/v1/persons/6", "GET /api/v1/persons/6"),
    ],
)
def test_redact_decodes_before_matching(text: str, kept: str) -> None:
    assert redact(text) == kept
