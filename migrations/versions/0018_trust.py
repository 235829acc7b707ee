"""Issue 28 (trust): tokens have owners, sessions can be ended, sign-in backs off,
idempotent replays belong to their caller.

- ``api_tokens.owner``: the person (``user:<username>`` or ``cli:<login>``) a token
  belongs to; existing tokens take the operator the audit log recorded creating them,
  else ``legacy:unowned`` (all unowned tokens count as one person, so two of them never
  make "four eyes").
- ``users.session_version``: part of the session cookie's user id; bumping it (logout,
  password change, TOTP reset, disable) ends every copy of every cookie of the account.
- ``users.totp_last_step``: the last TOTP time step accepted; a code is accepted once.
- ``signin_throttle``: failures and back-off per (keyed username hash, address) and per
  address; nobody can lock a named account for everybody.
- ``idempotent_responses`` keyed by (caller, route, key): ``caller`` is ``user:<id>`` or
  ``token:<id>``, so browser sessions (all token id 0) no longer share a key space.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

import re

from alembic import op
from sqlalchemy import text

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_CREATED = re.compile(r"^token (\d+) \(")


def upgrade() -> None:
    op.execute("ALTER TABLE api_tokens ADD COLUMN owner varchar(64)")
    conn = op.get_bind()
    created = conn.execute(
        text(
            "SELECT actor, purpose FROM audit_log WHERE action = 'tokens.create'"
            " AND purpose LIKE 'token %' ORDER BY id"
        )
    ).all()
    owners = {}
    for actor, why in created:
        found = _CREATED.match(why or "")
        if found:
            owners[int(found.group(1))] = actor
    for token_id, actor in owners.items():
        conn.execute(
            text("UPDATE api_tokens SET owner = :o WHERE id = :i AND owner IS NULL"),
            {"o": actor, "i": token_id},
        )
    op.execute(
        """
        UPDATE api_tokens SET owner = 'legacy:unowned' WHERE owner IS NULL;
        ALTER TABLE api_tokens ALTER COLUMN owner SET NOT NULL;

        ALTER TABLE users
            ADD COLUMN session_version integer NOT NULL DEFAULT 1,
            ADD COLUMN totp_last_step bigint;

        CREATE TABLE signin_throttle (
            key varchar(128) PRIMARY KEY,
            failures integer NOT NULL DEFAULT 0,
            level integer NOT NULL DEFAULT 0,
            blocked_until timestamptz,
            updated_at timestamptz NOT NULL DEFAULT now()
        );

        ALTER TABLE idempotent_responses
            ADD COLUMN caller varchar(40),
            ADD COLUMN route varchar(200) NOT NULL DEFAULT '';
        UPDATE idempotent_responses SET caller = 'token:' || token_id;
        ALTER TABLE idempotent_responses
            ALTER COLUMN caller SET NOT NULL,
            DROP CONSTRAINT idempotent_responses_pkey,
            ADD PRIMARY KEY (caller, route, key),
            DROP COLUMN token_id;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DELETE FROM idempotent_responses WHERE caller NOT LIKE 'token:%';
        ALTER TABLE idempotent_responses ADD COLUMN token_id integer;
        UPDATE idempotent_responses SET token_id = substr(caller, 7)::integer;
        DELETE FROM idempotent_responses a USING idempotent_responses b
            WHERE a.token_id = b.token_id AND a.key = b.key AND a.ctid > b.ctid;
        ALTER TABLE idempotent_responses
            ALTER COLUMN token_id SET NOT NULL,
            DROP CONSTRAINT idempotent_responses_pkey,
            ADD PRIMARY KEY (token_id, key),
            DROP COLUMN caller,
            DROP COLUMN route;
        DROP TABLE signin_throttle;
        ALTER TABLE users DROP COLUMN session_version, DROP COLUMN totp_last_step;
        ALTER TABLE api_tokens DROP COLUMN owner;
        """
    )
