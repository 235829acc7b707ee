"""Issue 26, the rest (tell people): Web Push to officers' installed pages, the arrival
a contact was given for (registration-deadline reminders).

- ``push_subscriptions``: a browser's push endpoint and its keys (p256dh, auth) for one
  officer account; several per account (phone, desk). Removed when the push service
  answers 404/410, or when the officer withdraws it. Beside ``users`` on the coordinator
  on Citus, as ``outbox``.
- ``outbox.channel`` takes ``push``.
- ``person_contacts.arrived_on``: a foreigner's arrival the contact was given for; the
  daily job reminds the contact before the registration deadline runs out, once.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-04
"""

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# As of this revision; tests prove they equal backend.models.registries.
OUTBOX_CHANNELS = ("email", "sms", "webhook", "push")


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    # One statement a call, one subcommand where a constraint is added: Citus refuses more.
    op.execute(
        """
        CREATE TABLE push_subscriptions (
            id bigserial PRIMARY KEY,
            user_id integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            endpoint varchar(2000) NOT NULL UNIQUE,
            p256dh varchar(120) NOT NULL,
            auth varchar(60) NOT NULL,
            user_agent varchar(300),
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id)")
    op.execute("ALTER TABLE outbox DROP CONSTRAINT outbox_channel_check")
    op.execute(
        "ALTER TABLE outbox ADD CONSTRAINT outbox_channel_check"
        f" CHECK (channel IN ({_quoted(OUTBOX_CHANNELS)}))"
    )
    op.execute("ALTER TABLE person_contacts ADD COLUMN arrived_on date")


def downgrade() -> None:
    op.execute("ALTER TABLE person_contacts DROP COLUMN IF EXISTS arrived_on")
    op.execute("DELETE FROM outbox WHERE channel = 'push'")
    op.execute("ALTER TABLE outbox DROP CONSTRAINT outbox_channel_check")
    op.execute(
        "ALTER TABLE outbox ADD CONSTRAINT outbox_channel_check"
        " CHECK (channel IN ('email', 'sms', 'webhook'))"
    )
    op.execute("DROP TABLE IF EXISTS push_subscriptions")
