"""Sizes of the offline-verification material: one credential and its QR code, and the
status list for 1,000,000 documents at several shares of revoked or ended ones.

    python -m bench.credentials

No database: the credential is signed for a typical permit with a throw-away key ring,
the lists are encoded exactly as the job encodes them (2 bits per document, ZLIB).
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import replace
from datetime import date
from pathlib import Path

from backend.services.credentials import credentials, status_lists
from backend.settings import Settings

DOCUMENTS = 1_000_000


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = replace(
            Settings(database_url="postgresql://x/x", redis_url="redis://x"),
            credential_keys_dir=Path(folder),
            public_url="https://qonys.gov.kz",
        )
        doc = credentials.Document(
            "permit",
            1_234_567,
            1,
            "KZ75-2026-0123456",
            "Тошматов Шерзод",
            1990,
            "750000000",
            date(2026, 3, 1),
            date(2027, 2, 28),
            1_772_000_000,
        )
        payload = credentials.sign(settings, doc)
        code = credentials.qr(payload)
        print(
            f"credential: {len(payload)} characters; QR version {code.version}, error M,"
            f" {code.symbol_size(border=0)[0]} modules a side"
        )
        print(f"printed A6 sheet: {len(credentials.pdf(doc, payload, {}))} bytes")
    rng = random.Random(25)
    print(f"status list for {DOCUMENTS:,} documents (2 bits each, raw {DOCUMENTS // 4:,} bytes):")
    for share in (0.0, 0.01, 0.05, 0.20):
        chosen = rng.sample(range(DOCUMENTS), int(DOCUMENTS * share))
        values = {i: (1 if n % 3 == 0 else 3) for n, i in enumerate(chosen)}
        lst = status_lists.encode(values, DOCUMENTS)
        print(
            f"  {share:>4.0%} not valid: {len(lst) * 3 // 4:>8,} bytes compressed"
            f" ({len(lst):,} characters in the signed token)"
        )


if __name__ == "__main__":
    main()
