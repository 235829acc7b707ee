"""Staff accounts for browser sign-in; jobs may be owned by a user as well as a token.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# As of this revision; tests prove they equal backend.models.registries.STAFF_ROLES.
STAFF_ROLES = ("admin", "analyst", "officer", "employer")


def upgrade() -> None:
    roles = ", ".join(f"'{r}'" for r in STAFF_ROLES)
    op.execute(
        f"""
        CREATE TABLE users (
            id serial PRIMARY KEY,
            username varchar(64) NOT NULL UNIQUE,
            role varchar(16) NOT NULL CONSTRAINT users_role_check CHECK (role IN ({roles})),
            region_kato varchar(9) CHECK (region_kato ~ '^[0-9]{{9}}$'),
            employer_bin varchar(12),
            password_hash text NOT NULL,
            totp_secret varchar(64),
            totp_confirmed boolean NOT NULL DEFAULT false,
            disabled boolean NOT NULL DEFAULT false,
            failed_logins integer NOT NULL DEFAULT 0,
            locked_until timestamptz,
            last_login_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            CHECK (role <> 'employer' OR employer_bin IS NOT NULL)
        );
        ALTER TABLE jobs ADD COLUMN owner_user_id integer REFERENCES users (id);
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE jobs DROP COLUMN owner_user_id; DROP TABLE users;")
