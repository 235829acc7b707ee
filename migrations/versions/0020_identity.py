"""Who is who (issue 22): names in both scripts, document numbers as compared, the keys
a match blocks on, the duplicate review queue and the merges.

- ``persons`` gains the names as documents carry them (Cyrillic surname, given name and
  patronymic; Latin surname and given name), ``document_key`` (the number as compared:
  case, spaces, hyphens and Cyrillic look-alikes folded, backend.identifiers), the
  surname's skeleton ``name_key`` (backend.services.identity.names) and ``merged_into``. Existing
  persons keep ``surname``/``given_name`` as they are; each is copied to the script it is
  written in. Indexes on the keys and the birth date let a match find candidates without
  reading the register.
- ``duplicate_reviews`` and ``person_merges`` stay on the coordinator on Citus, as the
  audit log does: each pairs two persons, who may live on two nodes.

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-04
"""

from alembic import op
from sqlalchemy import text

from backend.identifiers import document_key
from backend.services.identity.names import has_cyrillic, name_key

revision = "0020"
down_revision = "0018"
branch_labels = None
depends_on = None

COLUMNS = (
    "surname_cyrillic varchar(100)",
    "given_name_cyrillic varchar(100)",
    "patronymic_cyrillic varchar(100)",
    "surname_latin varchar(100)",
    "given_name_latin varchar(100)",
    "document_key varchar(32)",
    "name_key varchar(100) NOT NULL DEFAULT ''",
    "merged_into bigint",
)
_FILL = text(
    "UPDATE persons SET surname_cyrillic = :sc, given_name_cyrillic = :gc,"
    " surname_latin = :sl, given_name_latin = :gl, document_key = :dk, name_key = :nk"
    " WHERE id = :id"
)
BATCH = 5000


def _fill_existing() -> None:
    bind = op.get_bind()
    after = 0
    while True:
        rows = bind.execute(
            text(
                "SELECT id, surname, given_name, document_number FROM persons"
                " WHERE id > :after ORDER BY id LIMIT :n"
            ),
            {"after": after, "n": BATCH},
        ).all()
        if not rows:
            return
        values = []
        for pid, surname, given_name, number in rows:
            cyrillic = has_cyrillic(surname) or has_cyrillic(given_name)
            values.append(
                {
                    "id": pid,
                    "sc": surname if cyrillic else None,
                    "gc": given_name if cyrillic else None,
                    "sl": None if cyrillic else surname,
                    "gl": None if cyrillic else given_name,
                    "dk": document_key(number),
                    "nk": name_key(None, None, surname),
                }
            )
        bind.execute(_FILL, values)
        after = rows[-1][0]


def upgrade() -> None:
    for column in COLUMNS:
        op.execute(f"ALTER TABLE persons ADD COLUMN {column}")
    _fill_existing()
    op.execute("CREATE INDEX persons_document_key ON persons (document_key)")
    op.execute("CREATE INDEX persons_name_key_birth ON persons (name_key, birth_date)")
    op.execute("CREATE INDEX persons_birth_date ON persons (birth_date)")
    op.execute("CREATE INDEX persons_merged_into ON persons (merged_into)")
    op.execute(
        """
        CREATE TABLE duplicate_reviews (
            id bigserial PRIMARY KEY,
            person_id bigint NOT NULL,
            candidate_id bigint NOT NULL,
            score double precision NOT NULL,
            reasons varchar(64)[] NOT NULL DEFAULT '{}',
            status varchar(16) NOT NULL DEFAULT 'open',
            CONSTRAINT duplicate_reviews_status_check
                CHECK (status IN ('open', 'same', 'different', 'undone')),
            decided_by varchar(200),
            reason text,
            decided_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            CHECK (person_id < candidate_id)
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX duplicate_reviews_pair ON duplicate_reviews (person_id, candidate_id)"
    )
    op.execute("CREATE INDEX duplicate_reviews_status ON duplicate_reviews (status, id)")
    op.execute(
        """
        CREATE TABLE person_merges (
            id bigserial PRIMARY KEY,
            survivor_id bigint NOT NULL,
            merged_id bigint NOT NULL,
            review_id bigint,
            moved jsonb NOT NULL,
            merged_by varchar(200) NOT NULL,
            merged_at timestamptz NOT NULL DEFAULT now(),
            undone_at timestamptz
        )
        """
    )
    op.execute("CREATE INDEX person_merges_merged ON person_merges (merged_id)")


def downgrade() -> None:
    op.execute("DROP TABLE person_merges")
    op.execute("DROP TABLE duplicate_reviews")
    for index in ("document_key", "name_key_birth", "birth_date", "merged_into"):
        op.execute(f"DROP INDEX persons_{index}")
    for column in COLUMNS:
        op.execute(f"ALTER TABLE persons DROP COLUMN {column.split()[0]}")
