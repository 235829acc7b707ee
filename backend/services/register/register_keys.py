"""Keys that are unique across the whole register, whichever node holds the person.

On a Citus coordinator the person tables are split by person id, and a unique index
holds only within one shard; ``register_keys`` (distributed by the key itself) is where
an IIN or an imported row's source key is claimed once for the whole register. The
same rows are written on a plain PostgreSQL, where the unique indexes of ``persons``
hold as well: one logic for both engines (migration 0016).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.errors import Conflict

_CLAIM = text("INSERT INTO register_keys (key, person_id) VALUES (:key, :person_id)")


def iin_key(iin: str) -> str:
    return f"iin:{iin}"


def source_key(key: str) -> str:
    return f"person-source:{key}"


def claim(session: Session, key: str, person_id: int, taken: str) -> None:
    """Claim ``key`` for the person, or raise Conflict(``taken``) when someone holds it."""
    try:
        with session.begin_nested():
            session.execute(_CLAIM, {"key": key, "person_id": person_id})
    except IntegrityError as exc:
        raise Conflict(taken) from exc
