"""Issue 26 (tell people): the outbox of messages and webhooks, webhook subscriptions,
staff e-mail and notification choices, and the contacts of hosts and foreigners.

- ``outbox``: one row per message (e-mail, SMS, webhook), written in the transaction of
  the event that causes it; ``message_id`` is its idempotency key (the ``webhook-id``
  header, the e-mail's Message-ID). Stays on the coordinator on Citus, as the audit log.
- ``webhook_subscriptions``: other state systems' endpoints; the secret signs deliveries.
- ``users``: an e-mail address, a language, how other alerts reach an officer, and an
  analyst's scheduled report.
- ``person_contacts``: a host's or a foreigner's e-mail or phone, held with consent, a
  purpose and a retention date; distributed by person on Citus, as the register (0017).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04
"""

from alembic import op
from sqlalchemy import text

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def _on_citus() -> bool:
    bind = op.get_bind()
    return bool(bind.scalar(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")))


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE webhook_subscriptions (
            id uuid PRIMARY KEY,
            url varchar(2000) NOT NULL,
            events varchar(64)[] NOT NULL,
            secret varchar(100) NOT NULL,
            created_by varchar(64) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz
        )
        """
    )
    op.execute(
        """
        CREATE TABLE outbox (
            id bigserial PRIMARY KEY,
            message_id uuid NOT NULL UNIQUE,
            channel varchar(16) NOT NULL
                CONSTRAINT outbox_channel_check CHECK (channel IN ('email', 'sms', 'webhook')),
            event_type varchar(64) NOT NULL,
            recipient varchar(2000) NOT NULL,
            subscription_id uuid REFERENCES webhook_subscriptions(id),
            payload jsonb NOT NULL,
            -- Rows with one batch key leave as one message (an officer's hourly digest).
            batch_key varchar(100),
            status varchar(16) NOT NULL DEFAULT 'pending'
                CONSTRAINT outbox_status_check
                CHECK (status IN ('pending', 'delivered', 'dead', 'cancelled')),
            attempts smallint NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            last_error varchar(500),
            created_at timestamptz NOT NULL DEFAULT now(),
            delivered_at timestamptz
        )
        """
    )
    op.execute("CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending'")
    # Each index is paid by every event's transaction: only what delivery needs, and the
    # dead (few) for the admins; other listings walk the primary key.
    op.execute(
        "CREATE INDEX outbox_batch ON outbox (batch_key)"
        " WHERE status = 'pending' AND batch_key IS NOT NULL"
    )
    op.execute("CREATE INDEX outbox_dead ON outbox (id) WHERE status = 'dead'")
    op.execute(
        """
        ALTER TABLE users
            ADD COLUMN email varchar(254),
            ADD COLUMN language varchar(2) NOT NULL DEFAULT 'ru'
                CONSTRAINT users_language_check CHECK (language IN ('ru', 'kk', 'en')),
            ADD COLUMN alert_delivery varchar(16) NOT NULL DEFAULT 'immediately'
                CONSTRAINT users_alert_delivery_check
                CHECK (alert_delivery IN ('immediately', 'hourly', 'never')),
            ADD COLUMN report_schedule varchar(16)
                CONSTRAINT users_report_schedule_check
                CHECK (report_schedule IN ('weekly', 'monthly')),
            ADD COLUMN report_region_kato varchar(9),
            ADD COLUMN report_last_sent_at timestamptz
        """
    )
    op.execute(
        """
        CREATE TABLE person_contacts (
            id bigserial,
            person_id bigint NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
            relation varchar(16) NOT NULL
                CONSTRAINT person_contacts_relation_check
                CHECK (relation IN ('self', 'host')),
            email varchar(254),
            phone varchar(16),
            language varchar(2) NOT NULL DEFAULT 'ru'
                CONSTRAINT person_contacts_language_check CHECK (language IN ('ru', 'kk', 'en')),
            purpose varchar(500) NOT NULL,
            consent_at timestamptz NOT NULL,
            retain_until date NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (person_id, id),
            CHECK (email IS NOT NULL OR phone IS NOT NULL)
        )
        """
    )
    if _on_citus():
        op.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
        op.execute(
            "SELECT create_distributed_table('person_contacts', 'person_id', "
            "colocate_with => 'persons')"
        )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS person_contacts")
    op.execute(
        """
        ALTER TABLE users
            DROP COLUMN IF EXISTS email, DROP COLUMN IF EXISTS language,
            DROP COLUMN IF EXISTS alert_delivery, DROP COLUMN IF EXISTS report_schedule,
            DROP COLUMN IF EXISTS report_region_kato,
            DROP COLUMN IF EXISTS report_last_sent_at
        """
    )
    op.execute("DROP TABLE IF EXISTS outbox")
    op.execute("DROP TABLE IF EXISTS webhook_subscriptions")
