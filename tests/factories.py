"""Factories that build register data through the public API, as a client would."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

from backend.identifiers import make_bin, make_iin

ASTANA = {"lat": 51.1605, "lon": 71.4704}
ALMATY = {"lat": 43.2567, "lon": 76.9286}
PAVLODAR = {"lat": 52.2873, "lon": 76.9674}
BISHKEK = {"lat": 42.8746, "lon": 74.5698}
ASTANA_KATO = "710000000"
ALMATY_KATO = "750000000"
PAVLODAR_KATO = "550000000"

_serials = itertools.count(100)


def valid_iin(birth: date = date(1990, 5, 17), sex: str = "M") -> str:
    while True:
        iin = make_iin(birth, sex, next(_serials))
        if iin:
            return iin


def valid_bin() -> str:
    while True:
        bin_ = make_bin("2203", 4, next(_serials))
        if bin_:
            return bin_


def created(resp: Any) -> dict[str, Any]:
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def person(client: Any, admin: dict[str, str], **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "surname": "Каримов",
        "given_name": "Шерзод",
        "birth_date": "1990-05-17",
        "sex": "M",
        "citizenship": "UZB",
        "category": "labour_immigrant",
        "document": {"type": "passport", "number": f"FA{next(_serials):07d}"},
    }
    body.update(over)
    return created(client.post("/api/v1/persons", json=body, headers=admin))


def registration(client: Any, admin: dict[str, str], person_id: int, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "person_id": person_id,
        "kind": "temporary",
        "address": "ул. Кенесары, 1",
        "location": ASTANA,
        "valid_from": (date.today() - timedelta(days=30)).isoformat(),
        "valid_to": (date.today() + timedelta(days=150)).isoformat(),
    }
    body.update(over)
    return created(client.post("/api/v1/registrations", json=body, headers=admin))


def employer(client: Any, admin: dict[str, str], name: str = "ТОО Тест") -> str:
    bin_ = valid_bin()
    created(client.post("/api/v1/employers", json={"bin": bin_, "name": name}, headers=admin))
    return bin_


def permit(client: Any, admin: dict[str, str], person_id: int, **over: Any) -> dict[str, Any]:
    start = date.today() - timedelta(days=30)
    body: dict[str, Any] = {
        "person_id": person_id,
        "region_kato": ASTANA_KATO,
        "valid_from": start.isoformat(),
        "valid_to": (start + timedelta(days=180)).isoformat(),
    }
    body.update(over)
    return created(client.post("/api/v1/permits", json=body, headers=admin))
