"""Who hears what: the outbox rows an event writes, in the event's own transaction.

=====================  =========================================================
Event                  Who is told
=====================  =========================================================
an alert opens         webhook ``alert.opened``; the region's officers by e-mail and
                       by Web Push to each page they installed and allowed: an
                       ``sos`` at once, other kinds as each chose (immediately, in
                       an hourly digest, or never)
an alert closes        webhook ``alert.closed``
a person registered    webhook ``person.registered``
a registration         webhook ``registration.recorded``; the person's and host's
                       contacts on file (e-mail, SMS)
a deadline nears       the contacts given for an arrival not yet registered, the
                       working day before the registration deadline (daily, once)
a permit issued        webhook ``permit.issued``
a notice filed         webhook ``permit.terminated``; the employer's accounts: notice
                       received, or filed late
a permit revoked       webhook ``permit.terminated`` (status ``revoked``); the employer
permits expired        webhook ``permit.expired`` each (the hourly job)
a permit expiring      the employer, ``notify_permit_expiry_days`` ahead (daily, once)
a departure suspected  webhook ``obligation.suspected``; the region's settlement
                       officials by e-mail
a claim issued         webhook ``claim.issued``
a claim paid,          the region's settlement officials by e-mail
contested
duplicates merged      webhook ``duplicate.merged``
=====================  =========================================================

Each function is one or two set-based statements; payloads hold ids, states, dates and
region codes, never names, IINs or coordinates.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend import clock
from backend.models import Alert, Permit, Person, Region, Registration, SettlementObligation
from backend.models.registries import URGENT_ALERT_KINDS
from backend.services.notify import outbox
from backend.services.register.registrations import registration_deadline

# One statement for both channels: e-mail to each officer with an address, Web Push to
# each browser an officer subscribed. The region's name in the officer's language rides
# in a push payload (the sender has no database); the names come as parameters, so on
# Citus the coordinator's users are not joined with the regions reference table.
_OFFICERS = text(
    """
    INSERT INTO outbox (message_id, channel, event_type, recipient, payload, batch_key,
                        next_attempt_at)
    SELECT gen_random_uuid(), t.channel, 'alert.opened', t.recipient,
           jsonb_build_object('template', :template, 'language', u.language,
                              'params', CAST(:params AS jsonb))
           || CASE WHEN t.channel = 'push' THEN jsonb_build_object('region',
                   CASE u.language WHEN 'kk' THEN CAST(:name_kk AS text)
                                   WHEN 'en' THEN CAST(:name_en AS text)
                                   ELSE CAST(:name_ru AS text) END)
                   ELSE '{}'::jsonb END,
           CASE WHEN :urgent OR u.alert_delivery = 'immediately' THEN NULL
                ELSE t.digest || ':' || :hour END,
           CASE WHEN :urgent OR u.alert_delivery = 'immediately' THEN now()
                ELSE CAST(:next_hour AS timestamptz) END
      FROM users u
      JOIN (SELECT id AS user_id, 'email' AS channel, email AS recipient,
                   'digest:' || id AS digest
              FROM users WHERE email IS NOT NULL
            UNION ALL
            SELECT user_id, 'push', endpoint, 'push:' || id FROM push_subscriptions) t
        ON t.user_id = u.id
     WHERE u.role = 'officer' AND NOT u.disabled
       AND (u.region_kato = :region OR u.region_kato IS NULL)
       AND (:urgent OR u.alert_delivery <> 'never')
    RETURNING id, batch_key IS NULL AS now
    """
)


# KATO -> the region's names (reference data: read once per process, not per alert).
_NAMES: dict[str, dict[str, str]] = {}


def _region_names(session: Session, kato: str | None) -> dict[str, str | None]:
    if kato is None:
        return {"name_ru": None, "name_kk": None, "name_en": None}
    if kato not in _NAMES:
        region = session.get(Region, kato)
        if region is None:
            return {"name_ru": None, "name_kk": None, "name_en": None}
        _NAMES[kato] = {
            "name_ru": region.name_ru,
            "name_kk": region.name_kk,
            "name_en": region.name_en,
        }
    return dict(_NAMES[kato])


def alert_opened(
    session: Session, alert_id: int, person_id: int, kind: str, region_kato: str | None
) -> None:
    outbox.add_webhooks(
        session,
        "alert.opened",
        {
            "alert_id": alert_id,
            "person_id": person_id,
            "kind": kind,
            "region_kato": region_kato,
            "status": "open",
        },
    )
    now = clock.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    urgent = kind in URGENT_ALERT_KINDS
    rows = session.execute(
        _OFFICERS,
        {
            **_region_names(session, region_kato),
            "template": "alert.sos" if urgent else "alert.opened",
            "params": json.dumps({"kind": kind, "at": clock.local(now).strftime("%H:%M")}),
            "urgent": urgent,
            "hour": hour.isoformat(),
            "next_hour": (hour + timedelta(hours=1)).isoformat(),
            "region": region_kato,
        },
    ).all()
    outbox.written(session, [r.id for r in rows if r.now])


def alert_closed(session: Session, alert: Alert) -> None:
    outbox.add_webhooks(
        session,
        "alert.closed",
        {
            "alert_id": alert.id,
            "person_id": alert.person_id,
            "kind": alert.kind,
            "region_kato": alert.region_kato,
            "status": alert.status,
        },
    )


def person_registered(session: Session, person: Person) -> None:
    outbox.add_webhooks(
        session, "person.registered", {"person_id": person.id, "category": person.category}
    )


_CONTACTS = text(
    """
    INSERT INTO outbox (message_id, channel, event_type, recipient, payload)
    SELECT gen_random_uuid(), c.channel, :event, c.address,
           jsonb_build_object('template', :template, 'language', c.language,
                              'params', CAST(:params AS jsonb))
      FROM (SELECT 'email' AS channel, email AS address, language FROM person_contacts
             WHERE person_id = :person AND email IS NOT NULL AND retain_until >= :today
            UNION ALL
            SELECT 'sms', phone, language FROM person_contacts
             WHERE person_id = :person AND phone IS NOT NULL AND retain_until >= :today) c
    RETURNING id
    """
)


def _contacts(
    session: Session, person_id: int, event: str, template: str, params: dict[str, Any]
) -> None:
    ids = session.scalars(
        _CONTACTS,
        {
            "person": person_id,
            "event": event,
            "template": template,
            "params": json.dumps(params, default=str),
            "today": clock.today(),
        },
    ).all()
    outbox.written(session, list(ids))


def registration_recorded(session: Session, registration: Registration) -> None:
    outbox.add_webhooks(
        session,
        "registration.recorded",
        {
            "registration_id": registration.id,
            "person_id": registration.person_id,
            "kind": registration.kind,
            "region_kato": registration.region_kato,
            "valid_from": registration.valid_from.isoformat(),
            "valid_to": registration.valid_to.isoformat() if registration.valid_to else None,
        },
    )
    _contacts(
        session,
        registration.person_id,
        "registration.recorded",
        "registration.recorded",
        {"date": registration.valid_from.isoformat()},
    )


def _permit_data(permit: Permit) -> dict[str, Any]:
    return {
        "permit_id": permit.id,
        "person_id": permit.person_id,
        "employer_bin": permit.employer_bin,
        "region_kato": permit.region_kato,
        "status": permit.status,
        "valid_from": permit.valid_from.isoformat(),
        "valid_to": permit.valid_to.isoformat(),
    }


def permit_issued(session: Session, permit: Permit) -> None:
    outbox.add_webhooks(session, "permit.issued", _permit_data(permit))


_EMPLOYERS = text(
    """
    INSERT INTO outbox (message_id, channel, event_type, recipient, payload)
    SELECT CASE WHEN CAST(:key AS text) IS NULL THEN gen_random_uuid()
                ELSE CAST(md5(:key || ':' || u.id) AS uuid) END,
           'email', :event, u.email,
           jsonb_build_object('template', :template, 'language', u.language,
                              'params', CAST(:params AS jsonb))
      FROM users u
     WHERE u.role = 'employer' AND NOT u.disabled AND u.email IS NOT NULL
       AND u.employer_bin = :bin
    ON CONFLICT (message_id) DO NOTHING
    RETURNING id
    """
)


def _employer(
    session: Session,
    employer_bin: str | None,
    event: str,
    template: str,
    params: dict[str, Any],
    key: str | None = None,
) -> None:
    """E-mail an employer's accounts; ``key`` makes the message once only (reminders)."""
    if employer_bin is None:
        return
    ids = session.scalars(
        _EMPLOYERS,
        {
            "bin": employer_bin,
            "event": event,
            "template": template,
            "params": json.dumps(params, default=str),
            "key": key,
        },
    ).all()
    outbox.written(session, list(ids))


def permit_ended(session: Session, permit: Permit, late_notice: bool | None = None) -> None:
    """A permit terminated by the employer's notice (``late_notice`` said) or revoked."""
    outbox.add_webhooks(session, "permit.terminated", _permit_data(permit))
    if permit.status == "revoked":
        template = "permit.revoked"
    else:
        template = "notice.late" if late_notice else "notice.received"
    _employer(
        session, permit.employer_bin, f"employer.{template}", template, {"number": permit.number}
    )


_EXPIRED_HOOKS = text(
    """
    INSERT INTO outbox (message_id, channel, event_type, recipient, subscription_id, payload)
    SELECT gen_random_uuid(), 'webhook', 'permit.expired', s.url, s.id,
           jsonb_build_object('type', 'permit.expired', 'timestamp', CAST(:at AS text),
               'data', jsonb_build_object(
                   'permit_id', p.id, 'person_id', p.person_id, 'employer_bin', p.employer_bin,
                   'region_kato', p.region_kato, 'status', p.status,
                   'valid_from', p.valid_from, 'valid_to', p.valid_to))
      FROM permits p CROSS JOIN webhook_subscriptions s
     WHERE p.id = ANY(:ids) AND s.deleted_at IS NULL AND 'permit.expired' = ANY(s.events)
    RETURNING id
    """
)


def permits_expired(session: Session, permit_ids: list[int]) -> None:
    if permit_ids:
        ids = session.scalars(
            _EXPIRED_HOOKS, {"ids": permit_ids, "at": clock.now().isoformat()}
        ).all()
        outbox.written(session, list(ids))


def permit_expiry_reminders(session: Session, days: int, today: date | None = None) -> int:
    """Employers of permits ending ``days`` from ``today``: once per permit and account."""
    ends = (today or clock.today()) + timedelta(days=days)
    permits = session.execute(
        text(
            "SELECT id, number, employer_bin FROM permits WHERE status = 'active' AND valid_to = :d"
        ),
        {"d": ends},
    ).all()
    for p in permits:
        _employer(
            session,
            p.employer_bin,
            "employer.permit.expiring",
            "permit.expiring",
            {"number": p.number, "date": ends.isoformat()},
            key=f"permit.expiring:{p.id}:{ends.isoformat()}",
        )
    return len(permits)


_OFFICIALS = text(
    """
    INSERT INTO outbox (message_id, channel, event_type, recipient, payload)
    SELECT gen_random_uuid(), 'email', :event, u.email,
           jsonb_build_object('template', :template, 'language', u.language,
                              'params', CAST(:params AS jsonb))
      FROM users u
     WHERE u.role = 'settlement_official' AND NOT u.disabled AND u.email IS NOT NULL
       AND (u.region_kato = :region OR u.region_kato IS NULL)
    RETURNING id
    """
)


def _officials(
    session: Session, region_kato: str, event: str, template: str, params: dict[str, Any]
) -> None:
    """E-mail the settlement officials: national accounts today (accounts.create_user
    limits only officers to a region); one limited to a region would hear only its own."""
    ids = session.scalars(
        _OFFICIALS,
        {
            "event": event,
            "template": template,
            "params": json.dumps(params, default=str),
            "region": region_kato,
        },
    ).all()
    outbox.written(session, list(ids))


def obligation_suspected(session: Session, obligation: SettlementObligation) -> None:
    _officials(
        session,
        obligation.region_kato,
        "official.obligation.suspected",
        "obligation.suspected",
        {"obligation": obligation.id, "date": obligation.departed_on},
    )
    outbox.add_webhooks(
        session,
        "obligation.suspected",
        {
            "obligation_id": obligation.id,
            "person_id": obligation.person_id,
            "status": obligation.status,
            "detected_on": (
                obligation.breach_detected_on.isoformat() if obligation.breach_detected_on else None
            ),
        },
    )


def claim_decided(session: Session, obligation: SettlementObligation) -> None:
    """A settlement official moved a claim on: issued (webhook ``claim.issued``), paid or
    contested (the region's officials by e-mail)."""
    state = obligation.claim_status
    if state == "claim_issued":
        outbox.add_webhooks(
            session,
            "claim.issued",
            {
                "obligation_id": obligation.id,
                "person_id": obligation.person_id,
                "status": state,
                "amount_due_kzt": str(obligation.amount_due_kzt),
                "issued_at": (
                    obligation.claim_issued_at.isoformat() if obligation.claim_issued_at else None
                ),
            },
        )
    elif state in ("paid", "contested"):
        _officials(
            session,
            obligation.region_kato,
            f"official.claim.{state}",
            f"claim.{state}",
            {"obligation": obligation.id},
        )


def duplicate_merged(session: Session, survivor_id: int, merged_id: int, merge_id: int) -> None:
    outbox.add_webhooks(
        session,
        "duplicate.merged",
        {"merge_id": merge_id, "survivor_id": survivor_id, "merged_id": merged_id},
    )


_DEADLINES = text(
    """
    INSERT INTO outbox (message_id, channel, event_type, recipient, payload)
    SELECT CAST(md5('registration.deadline:' || c.person_id || ':' || c.id || ':'
                    || c.channel || ':' || c.arrived_on) AS uuid),
           c.channel, 'registration.deadline', c.address,
           jsonb_build_object('template', 'registration.deadline', 'language', c.language,
                              'params', jsonb_build_object('date', CAST(:deadline AS text)))
      FROM (SELECT id, person_id, arrived_on, language, 'email' AS channel, email AS address
              FROM person_contacts
             WHERE email IS NOT NULL AND arrived_on = :arrived AND retain_until >= :today
            UNION ALL
            SELECT id, person_id, arrived_on, language, 'sms', phone
              FROM person_contacts
             WHERE phone IS NOT NULL AND arrived_on = :arrived AND retain_until >= :today) c
     WHERE NOT EXISTS (SELECT 1 FROM registrations r
                        WHERE r.person_id = c.person_id AND r.valid_from >= c.arrived_on)
    ON CONFLICT (message_id) DO NOTHING
    RETURNING id
    """
)


def registration_deadline_reminders(
    session: Session, days_ahead: int, today: date | None = None
) -> int:
    """Contacts given for an arrival with no registration since: told once, in their
    language, ``days_ahead`` working days before the host's deadline
    (:func:`backend.services.register.registrations.registration_deadline`, rule 8) or later while
    it has not passed. The message id is derived from the case, so a rerun adds nothing.
    """
    today = today or clock.today()
    arrivals = session.scalars(
        text(
            "SELECT DISTINCT arrived_on FROM person_contacts"
            " WHERE arrived_on IS NOT NULL AND arrived_on <= :today AND arrived_on >= :since"
        ),
        {"today": today, "since": today - timedelta(days=30)},
    ).all()
    told = 0
    for arrived in arrivals:
        deadline = registration_deadline(session, arrived, "host")
        if not (today <= deadline and clock.add_working_days(today, days_ahead) >= deadline):
            continue
        ids = session.scalars(
            _DEADLINES, {"arrived": arrived, "deadline": deadline.isoformat(), "today": today}
        ).all()
        outbox.written(session, list(ids))
        told += len(ids)
    return told
