"""The match call through HTTP, beside an exact IIN lookup in the same run.

    python -m bench.identity [--persons 1000000] [--requests 1000]

Uses the bench database (``BENCH_DATABASE_URL``, else ``qonys_bench``), refilled by COPY
when it does not hold exactly the persons asked for, each with a name key: persons named
as Kazakh documents name them (Cyrillic and Latin), with their name and document keys. Then starts the API under gunicorn and sends, with an admin token
and a purpose, ``POST /api/v1/persons/matches`` for a variant of a registered person
(another script or romanization, sometimes a typo or a swapped birth date), and
``GET /api/v1/persons?iin=`` for an exact IIN. Figures, not assertions: the machine is
shared and noisy. Goal: match p99 ≤ 50 ms on 1,000,000 persons.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import time
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text

from backend.db import Database
from backend.identifiers import document_key, make_iin
from backend.services.access.tokens import create_token
from backend.services.identity.names import name_key
from bench.checks import _free_port, _start_api
from bench.common import bench_database_url, describe, percentile
from bench.gen_register import prepare
from bench.identity_eval import GIVEN_NAMES, SPELLINGS, SURNAMES, _variant

CHUNK = 100_000


def _rows(count: int, first: int, rng: random.Random, serials: dict[Any, int]) -> io.StringIO:
    buf = io.StringIO()
    latin = SPELLINGS["icao_9303"]
    made = 0
    while made < count:
        birth = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
        sex = "M" if rng.random() < 0.5 else "F"
        serial = serials.get((birth, sex), 0) + 1
        serials[(birth, sex)] = serial
        iin = make_iin(birth, sex, serial) if serial < 9000 else None
        if iin is None:
            continue
        surname, given = rng.choice(SURNAMES), rng.choice(GIVEN_NAMES)
        number = f"N{first + made:08d}"
        buf.write(
            "\t".join(
                (
                    iin,
                    surname,
                    given,
                    surname,
                    given,
                    latin(surname).title(),
                    latin(given).title(),
                    str(birth),
                    sex,
                    "KAZ",
                    "citizen",
                    "passport",
                    number,
                    document_key(number) or "",
                    name_key(surname, latin(surname), surname),
                )
            )
            + "\n"
        )
        made += 1
    buf.seek(0)
    return buf


def generate(database: Database, persons: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with database.engine.begin() as conn:
        conn.execute(text("TRUNCATE persons, api_tokens RESTART IDENTITY CASCADE"))
    serials: dict[Any, int] = {}
    columns = (
        "iin, surname, given_name, surname_cyrillic, given_name_cyrillic, surname_latin,"
        " given_name_latin, birth_date, sex, citizenship, category, document_type,"
        " document_number, document_key, name_key"
    )
    started = time.perf_counter()
    for offset in range(0, persons, CHUNK):
        raw = database.engine.raw_connection()
        try:
            with raw.cursor() as cur:
                cur.copy_expert(
                    f"COPY persons ({columns}) FROM STDIN",
                    _rows(min(CHUNK, persons - offset), offset, rng, serials),
                )
            raw.commit()
        finally:
            raw.close()
        print(f"  {offset + CHUNK:,} persons", flush=True)
    with database.engine.begin() as conn:
        conn.execute(text("ANALYZE persons"))
    print(f"generated in {time.perf_counter() - started:.0f} s", flush=True)


def _sample(database: Database, n: int, rng: random.Random) -> list[dict[str, Any]]:
    with database.engine.connect() as conn:
        top = conn.execute(text("SELECT max(id) FROM persons")).scalar_one()
        rows = conn.execute(
            text(
                "SELECT id, iin, surname_cyrillic, given_name_cyrillic, birth_date, sex"
                " FROM persons WHERE id = ANY(:ids)"
            ),
            {"ids": rng.sample(range(1, top + 1), min(n, top))},
        ).all()
    out = []
    for pid, iin, surname, given, birth, sex in rows:
        person = {"surname": surname, "given_name": given, "birth_date": birth, "sex": sex,
                  "citizenship": "KAZ"}  # fmt: skip
        _family, variant = _variant(person, rng)
        variant["birth_date"] = variant["birth_date"].isoformat()
        out.append({"id": pid, "iin": iin, "match": variant})
    return out


def _run(
    port: int, token: str, requests: list[tuple[str, str, dict[str, Any] | None]]
) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "X-Purpose": "bench-identity",
    }
    latencies = []
    for method, path, body in requests:
        t0 = time.perf_counter()
        conn.request(method, path, body=json.dumps(body) if body else None, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        latencies.append((time.perf_counter() - t0) * 1000)
        if resp.status != 200:
            raise RuntimeError(f"{method} {path}: {resp.status} {payload[:300]!r}")
    conn.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    rng = random.Random(11)
    url = bench_database_url()
    database = prepare(url)
    with database.engine.connect() as conn:
        have = conn.execute(text("SELECT count(*) FROM persons WHERE name_key <> ''")).scalar_one()
    if have != args.persons:
        generate(database, args.persons)
    with database.transaction() as session:
        token, _row = create_token(session, "admin", label="bench", owner="bench")
    sample = _sample(database, args.requests, rng)
    matches = [("POST", "/api/v1/persons/matches", s["match"]) for s in sample]
    exact = [("GET", f"/api/v1/persons?iin={s['iin']}", None) for s in sample]
    os.environ["QONYS_PERSON_LISTING_CAP"] = "100000000/day"
    port = _free_port()
    api = _start_api(url, port, 1)
    try:
        _run(port, token, matches[:50] + exact[:50])  # warm-up
        match_ms, exact_ms = [], []
        for i in range(0, len(sample), 50):  # interleaved: both see the same machine
            match_ms += _run(port, token, matches[i : i + 50])
            exact_ms += _run(port, token, exact[i : i + 50])
        found = 0
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for s in sample[:200]:
            conn.request(
                "POST",
                "/api/v1/persons/matches",
                body=json.dumps(s["match"]),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                         "X-Purpose": "bench-identity"},
            )  # fmt: skip
            items = json.loads(conn.getresponse().read())["items"]
            found += bool(items) and items[0]["person_id"] == s["id"]
    finally:
        api.terminate()
        api.wait()
    print(f"register: {args.persons:,} persons; {len(sample):,} requests of each kind, 1 client")
    print(f"{'match (POST /persons/matches)':34}{describe(match_ms)}")
    print(f"{'exact IIN (GET /persons?iin=)':34}{describe(exact_ms)}")
    print(
        f"ratio match/exact: p50 {percentile(match_ms, 50) / percentile(exact_ms, 50):.2f}, "
        f"p99 {percentile(match_ms, 99) / percentile(exact_ms, 99):.2f}; "
        f"match p99 {percentile(match_ms, 99):.1f} ms vs goal 50 ms; "
        f"the person sought ranked first in {found} of {min(200, len(sample))}"
    )


if __name__ == "__main__":
    main()
