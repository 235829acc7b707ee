"""The texts of e-mails and SMS, in the recipient's language (Russian, Kazakh, English).

Texts are Babel catalogue entries (backend/translations), read here without Flask: a
message is rendered when it is sent, in the language stored with it. Each carries the
minimum — no coordinates, no IIN, no name — and a link to sign in for the details.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from babel.support import NullTranslations, Translations

from backend.models import labels

TRANSLATIONS = labels.TRANSLATIONS


def N_(message: str) -> str:
    """Marks a text for the catalogues; translated when a message is rendered."""
    return message


@dataclass(frozen=True)
class Template:
    subject: str
    body: str  # e-mail body; the SMS text is the subject and the link
    path: str  # where to sign in for the details


TEMPLATES: dict[str, Template] = {
    "alert.sos": Template(
        N_("SOS in your region"),
        N_("A person under monitoring sent an SOS in your region. Sign in to see it:"),
        "/",
    ),
    "alert.opened": Template(
        N_("New alert: {kind}"),
        N_('An alert "{kind}" was opened in your region. Sign in to see it:'),
        "/",
    ),
    "alert.digest": Template(
        N_("New alerts in your region: {count}"),
        N_("Alerts opened in your region in the last hour:"),
        "/",
    ),
    "permit.expiring": Template(
        N_("A work permit expires on {date}"),
        N_("Work permit {number} of your worker expires on {date}. Sign in for the details:"),
        "/employer",
    ),
    "permit.revoked": Template(
        N_("A work permit was revoked"),
        N_("Work permit {number} of your worker was revoked. Sign in for the details:"),
        "/employer",
    ),
    "notice.received": Template(
        N_("Termination notice received"),
        N_("Your termination notice for work permit {number} was received. Sign in:"),
        "/employer",
    ),
    "notice.late": Template(
        N_("Termination notice filed late"),
        N_(
            "Your termination notice for work permit {number} was filed after its deadline."
            " Sign in for the details:"
        ),
        "/employer",
    ),
    "registration.deadline": Template(
        N_("Registration due by {date}"),
        N_("The registration at the place of stay is due by {date}. Sign in for the details:"),
        "/",
    ),
    "registration.recorded": Template(
        N_("Registration recorded"),
        N_("The registration at the place of stay was recorded on {date}. Sign in:"),
        "/",
    ),
    "obligation.suspected": Template(
        N_("A departure is suspected: obligation {obligation}"),
        N_(
            "A family under settlement obligation {obligation} appears to have left the"
            " region on {date}. Sign in to review the claim:"
        ),
        "/",
    ),
    "claim.paid": Template(
        N_("Claim paid: obligation {obligation}"),
        N_("The repayment claim under settlement obligation {obligation} was paid. Sign in:"),
        "/",
    ),
    "claim.contested": Template(
        N_("Claim contested: obligation {obligation}"),
        N_(
            "The repayment claim under settlement obligation {obligation} was contested."
            " Sign in for the details:"
        ),
        "/",
    ),
    "report.scheduled": Template(
        N_("Indicators for {year}"),
        N_("The indicators for {year} ({region}) are attached as a PDF. Sign in for more:"),
        "/dashboard",
    ),
}


@cache
def translations(language: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS), [language])


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    sms: str
    lead: str = ""  # the body's text without the link (a push notification's body)
    link: str = ""


def render(template: str, language: str, params: dict[str, Any], public_url: str) -> Rendered:
    """The message ``template`` in ``language`` with ``params`` (ids, dates, numbers)."""
    t = translations(language)
    spec = TEMPLATES[template]
    values = dict(params)
    if "kind" in values:
        values["kind"] = t.gettext(labels.ALERT_KINDS.get(str(values["kind"]), str(values["kind"])))
    link = public_url.rstrip("/") + spec.path
    subject = t.gettext(spec.subject).format(**values)
    body = t.gettext(spec.body).format(**values)
    return Rendered(subject, f"{body}\n{link}\n", f"{subject}. {link}", body, link)


def render_digest(language: str, items: list[dict[str, Any]], public_url: str) -> Rendered:
    """One message for the hourly digest: one line per alert, by kind and time."""
    t = translations(language)
    spec = TEMPLATES["alert.digest"]
    lines = [
        f"- {t.gettext(labels.ALERT_KINDS.get(str(i['params'].get('kind')), 'SOS'))}"
        f" ({i['params'].get('at', '')})"
        for i in items
    ]
    subject = t.gettext(spec.subject).format(count=len(items))
    link = public_url.rstrip("/") + spec.path
    lead = t.gettext(spec.body) + "\n" + "\n".join(lines)
    return Rendered(subject, f"{lead}\n\n{link}\n", f"{subject}. {link}", lead, link)
