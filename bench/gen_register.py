"""Generate a national-scale register for benchmarks: persons, registrations, permits, and
the last position of each person's phone.

    python -m bench.gen_register --persons 1000000

Writes into the bench database (``qonys_bench`` beside the app's, or BENCH_DATABASE_URL),
migrated to head with reference geography. Persons get valid IINs and are COPYed in;
registrations and permits are derived set-based in SQL: each person registered near a
random settlement, foreigners with a 6-month permit, some expired, some in another region;
and for every registered person a last position (``trace_last_positions``) where they are
registered, one to three days before the day it was seeded, as a register whose phones
report holds one for each. A statement reading that table is then planned as it will be
at national scale: when the table held a few hundred rows, the cached plan of a phone's
write read all of it (a hash join), where at scale it looks each row up by the index.
"""

from __future__ import annotations

import argparse
import io
import random
import time
from datetime import date

import click
from sqlalchemy import text

from backend.cli import migrate
from backend.db import Database
from backend.identifiers import make_iin
from bench.common import bench_database_url, bench_settings
from gis.reference import load_reference

CATEGORIES = ("citizen",) * 5 + ("labour_immigrant",) * 3 + ("foreign_worker", "kandas")
CHUNK = 100_000


def _person_rows(
    count: int, first: int, rng: random.Random, serials: dict[tuple[date, str], int]
) -> io.StringIO:
    """Tab-separated persons with unique valid IINs (COPY text format)."""
    buf = io.StringIO()
    made = 0
    while made < count:
        birth = date(1960 + rng.randrange(45), rng.randrange(1, 13), rng.randrange(1, 29))
        sex = "M" if rng.random() < 0.55 else "F"
        serial = serials.get((birth, sex), 0) + 1
        serials[(birth, sex)] = serial
        iin = make_iin(birth, sex, serial)
        if iin is None or serial > 9999:
            continue
        number = first + made
        category = CATEGORIES[number % len(CATEGORIES)]
        citizenship = (
            "KAZ" if category in ("citizen", "kandas") else rng.choice(("UZB", "KGZ", "TJK"))
        )
        buf.write(
            f"{iin}\tФамилия{number}\tИмя\t{birth}\t{sex}\t{citizenship}\t{category}\tpassport\tN{number:09d}\n"
        )
        made += 1
    buf.seek(0)
    return buf


def copy_persons(
    database: Database,
    count: int,
    first: int,
    rng: random.Random,
    serials: dict[tuple[date, str], int],
) -> None:
    """``count`` generated persons with valid, unique IINs, in one COPY and commit."""
    rows = _person_rows(count, first, rng, serials)
    raw = database.engine.raw_connection()
    try:
        with raw.cursor() as cur:
            cur.copy_expert(
                "COPY persons (iin, surname, given_name, birth_date, sex, citizenship,"
                " category, document_type, document_number) FROM STDIN",
                rows,
            )
        raw.commit()
    except Exception:
        raw.rollback()
        raise
    finally:
        raw.close()


def generate(database: Database, persons: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with database.engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE persons, registrations, permits, officer_checks, api_tokens"
                " RESTART IDENTITY CASCADE"
            )
        )
        conn.execute(text("ALTER TABLE registrations SET UNLOGGED"))
    started = time.perf_counter()
    serials: dict[tuple[date, str], int] = {}
    with click.progressbar(range(0, persons, CHUNK), label="persons (COPY)") as bar:
        for offset in bar:
            copy_persons(database, min(CHUNK, persons - offset), offset, rng, serials)
    with database.engine.begin() as conn:
        conn.execute(text("ALTER TABLE registrations SET LOGGED"))
        print("registrations (INSERT … SELECT)", flush=True)
        conn.execute(
            text(
                """
                WITH s AS (SELECT row_number() OVER (ORDER BY kato) - 1 AS i, kato, region_kato, geom
                           FROM settlements),
                     n AS (SELECT count(*) AS c FROM settlements)
                INSERT INTO registrations (person_id, kind, address, region_kato, settlement_kato,
                                           geom, valid_from, valid_to)
                SELECT p.id,
                       CASE WHEN p.citizenship = 'KAZ' THEN 'permanent' ELSE 'temporary' END,
                       'ул. Генерированная, ' || p.id, s.region_kato, s.kato,
                       ST_SetSRID(ST_MakePoint(ST_X(s.geom) + (random() - 0.5) * 0.02,
                                               ST_Y(s.geom) + (random() - 0.5) * 0.02), 4326),
                       current_date - 200,
                       CASE WHEN p.citizenship = 'KAZ' THEN NULL
                            WHEN p.id % 10 = 0 THEN current_date - 5
                            ELSE current_date + 100 END
                FROM persons p, n
                JOIN s ON true
                WHERE s.i = (p.id * 7919) % n.c
                """
            )
        )
        print("permits (INSERT … SELECT)", flush=True)
        conn.execute(
            text(
                """
                INSERT INTO permits (number, person_id, employer_bin, region_kato,
                                     valid_from, valid_to, status)
                SELECT 'BENCH-' || p.id, p.id, NULL,
                       CASE WHEN p.id % 13 = 0 THEN '710000000' ELSE r.region_kato END,
                       current_date - 60 - (p.id % 200)::int,
                       current_date - 60 - (p.id % 200)::int + 180,
                       CASE WHEN current_date - 60 - (p.id % 200)::int + 180 < current_date
                            THEN 'expired' ELSE 'active' END
                FROM persons p JOIN registrations r ON r.person_id = p.id
                WHERE p.category IN ('labour_immigrant', 'foreign_worker')
                """
            )
        )
    seed_last_positions(database)
    with database.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("VACUUM ANALYZE persons"))
        conn.execute(text("VACUUM ANALYZE registrations"))
        conn.execute(text("VACUUM ANALYZE permits"))
        counts = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM persons), (SELECT count(*) FROM registrations),"
                " (SELECT count(*) FROM permits)"
            )
        ).one()
    print(
        f"generated persons={counts[0]:,} registrations={counts[1]:,} permits={counts[2]:,}"
        f" in {time.perf_counter() - started:.1f} s"
    )


def seed_last_positions(database: Database) -> int:
    """A last position for every registered person who has none, where the person is
    registered, one to three days old; how many were added."""
    with database.engine.begin() as conn:
        added = conn.execute(
            text(
                """
                INSERT INTO trace_last_positions (person_id, recorded_at, geom, accuracy_m)
                SELECT r.person_id, now() - interval '1 day' - (r.person_id % 120) * interval '30 min',
                       r.geom, 10
                FROM registrations r
                ON CONFLICT (person_id) DO NOTHING
                """
            )
        ).rowcount
    with database.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("VACUUM ANALYZE trace_last_positions"))
    return int(added)


def prepare(url: str) -> Database:
    """Migrate the bench database (and the runtime role's rights in it) and load
    reference geography (both idempotent)."""
    migrate(bench_settings(url))
    database = Database(url, pool_size=2)
    with database.engine.connect() as conn:
        loaded = conn.execute(text("SELECT count(*) FROM settlements")).scalar_one()
    if not loaded:
        load_reference(database.engine)
    with database.engine.connect() as conn:
        persons, positions = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM persons), (SELECT count(*) FROM trace_last_positions)"
            )
        ).one()
    if positions < persons // 2:  # a register generated before the positions were
        print(f"last positions: {seed_last_positions(database):,} added", flush=True)
    return database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    args = parser.parse_args()
    database = prepare(bench_database_url())
    generate(database, args.persons)


if __name__ == "__main__":
    main()
