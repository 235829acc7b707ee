"""Verifiable credentials: a permit or a registration as a signed JWS in a QR code.

Format: a compact JWS (RFC 7515) signed with Ed25519 by the credential key ring,
its payload a JSON object of the minimum a checker needs — the document's kind and
number, the name as on the document, the birth year, the region and validity, the
issuer, and the IETF Token Status List reference (``status.status_list.idx/uri``). The
header names the key (``kid``). No IIN, no address, no coordinates.

JWS rather than COSE/CBOR: current browsers verify Ed25519 with WebCrypto alone, so the
offline checker needs no crypto library, and the status list (``statuslist+jwt``) is the
same format, signed by the same keys, published as an ordinary JWKS.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import segno
from fpdf import FPDF
from joserfc import jws
from sqlalchemy.orm import Session

from backend.errors import NotFound
from backend.models import Permit, Person, Registration
from backend.services.access.tokens import Principal
from backend.services.credentials.credential_keys import ALGORITHM, signing_key
from backend.services.credentials.status_lists import list_uri
from backend.settings import Settings

KINDS = ("permit", "registration")
FORMAT = "jws-ed25519"
# A4/A6 printing: Debian's fonts-dejavu-core (the Makefile installs it) has Kazakh letters.
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@dataclass(frozen=True)
class Document:
    """What a credential says about one permit or registration, and whose it is."""

    kind: str
    id: int
    person_id: int
    number: str
    name: str
    birth_year: int
    region_kato: str
    valid_from: date
    valid_to: date | None
    # When the document was issued: the credential's ``iat``, so that signing the same
    # document again gives the same text (Ed25519 is deterministic).
    issued_at: int


def find(db: Session, kind: str, doc_id: int, who: Principal) -> Document:
    """The document, if ``who`` may have its credential: an administrator; an employer
    for the permits naming it; a device token for its own person. Anyone else: 404."""
    row = db.get(Permit, doc_id) if kind == "permit" else db.get(Registration, doc_id)
    if row is None or not _may_see(row, who):
        raise NotFound(f"{kind} {doc_id} not found")
    person = db.get(Person, row.person_id)
    if person is None:
        raise NotFound(f"{kind} {doc_id} not found")
    number = row.number if isinstance(row, Permit) else f"R{row.id}"
    return Document(
        kind,
        row.id,
        row.person_id,
        number,
        f"{person.surname} {person.given_name}",
        person.birth_date.year,
        row.region_kato,
        row.valid_from,
        row.valid_to,
        int(row.created_at.timestamp()),
    )


def _may_see(row: Permit | Registration, who: Principal) -> bool:
    if who.role == "admin":
        return True
    if who.role == "employer":
        return isinstance(row, Permit) and row.employer_bin == who.employer_bin
    return who.role == "device" and who.person_id == row.person_id


def claims(settings: Settings, doc: Document) -> dict[str, Any]:
    """The signed payload: the minimum, in a fixed order (the QR's size is predictable)."""
    lists = "permits" if doc.kind == "permit" else "registrations"
    return {
        "iss": settings.credential_issuer,
        "iat": doc.issued_at,
        "kind": doc.kind,
        "no": doc.number,
        "name": doc.name,
        "by": doc.birth_year,
        "region": doc.region_kato,
        "from": doc.valid_from.isoformat(),
        "until": doc.valid_to.isoformat() if doc.valid_to else None,
        "status": {"status_list": {"idx": doc.id, "uri": list_uri(settings, lists)}},
    }


def sign(settings: Settings, doc: Document) -> str:
    """The credential: the compact JWS, exactly the text in the QR code."""
    key = signing_key(settings)
    body = json.dumps(claims(settings, doc), ensure_ascii=False, separators=(",", ":"))
    return jws.serialize_compact(
        {"alg": ALGORITHM, "kid": key.kid}, body.encode(), key.key, algorithms=[ALGORITHM]
    )


def qr(payload: str) -> segno.QRCode:
    """Error correction M: a printed code survives a fold or a smudge."""
    return segno.make(payload, error="m", micro=False)


def qr_png(payload: str) -> bytes:
    out = io.BytesIO()
    qr(payload).save(out, kind="png", scale=4, border=4)
    return out.getvalue()


def qr_svg(payload: str) -> bytes:
    out = io.BytesIO()
    qr(payload).save(out, kind="svg", scale=4, border=4, xmldecl=True)
    return out.getvalue()


# The printed copy carries both languages on one A6 sheet: Russian, then Kazakh.
_TITLES = {
    "permit": ("Разрешение на работу", "Жұмысқа рұқсат"),
    "registration": ("Регистрация по месту пребывания", "Тұратын жері бойынша тіркеу"),
}
_FIELDS = (
    ("Номер", "Нөмірі"),
    ("Ф. И. О.", "Т. А. Ә."),
    ("Год рождения", "Туған жылы"),
    ("Регион", "Өңір"),
    ("Действительно", "Жарамды"),
)
_FOOT = (
    "Проверка: отсканируйте код на странице /verify",
    "Тексеру: кодты /verify бетінде сканерлеңіз",
)


def pdf(doc: Document, payload: str, region_names: dict[str, tuple[str, str]]) -> bytes:
    """An A6 sheet to print: the QR code and the signed fields, in Russian and Kazakh."""
    sheet = FPDF(format=(105, 148), unit="mm")  # A6
    sheet.set_margins(7, 7, 7)
    sheet.set_auto_page_break(False)
    sheet.add_page()
    sheet.add_font("DejaVu", fname=str(FONT))
    sheet.set_font("DejaVu", size=10)
    ru, kk = _TITLES[doc.kind]
    sheet.multi_cell(0, 5, f"{ru}\n{kk}", align="C", new_x="LMARGIN", new_y="NEXT")
    sheet.image(io.BytesIO(qr_png(payload)), x=22.5, y=sheet.get_y() + 1, w=60, h=60)
    sheet.set_y(sheet.get_y() + 63)
    region_ru, region_kk = region_names.get(doc.region_kato, (doc.region_kato, doc.region_kato))
    until = doc.valid_to.strftime("%d.%m.%Y") if doc.valid_to else "—"
    values = (
        doc.number,
        doc.name,
        str(doc.birth_year),
        f"{region_ru} / {region_kk}",
        f"{doc.valid_from.strftime('%d.%m.%Y')} – {until}",
    )
    sheet.set_font("DejaVu", size=7.5)
    for (label_ru, label_kk), value in zip(_FIELDS, values, strict=True):
        sheet.multi_cell(0, 3.6, f"{label_ru} / {label_kk}: {value}", new_x="LMARGIN", new_y="NEXT")
    sheet.set_font("DejaVu", size=6.5)
    sheet.set_y(-16)
    sheet.multi_cell(0, 3.2, "\n".join(_FOOT), align="C", new_x="LMARGIN", new_y="NEXT")
    return bytes(sheet.output())
