"""Verifiable credentials: signed with joserfc, verified here with jwcrypto from nothing
but the published JWKS; status lists republished by the job; key rotation."""

from __future__ import annotations

import base64
import inspect
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from jwcrypto import jwk, jws, jwt
from PIL import Image
from sqlalchemy import text

from backend.app import create_app
from backend.jobs import base as job_base
from backend.jobs import runner
from backend.jobs.credentials import publish_status_lists
from backend.services.credentials import credential_keys, status_lists
from backend.settings import Settings
from tests import factories as f


@pytest.fixture
def keys_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A key folder of this test's own, for the app and for the job (read from the
    environment, as a worker reads it)."""
    folder = tmp_path / "credential_keys"
    monkeypatch.setenv("QONYS_CREDENTIAL_KEYS_DIR", str(folder))
    job_base.job_settings.cache_clear()
    yield folder
    job_base.job_settings.cache_clear()


@pytest.fixture
def capp(migrated: Settings, keys_dir: Path) -> Iterator[Any]:
    application = create_app(replace(migrated, credential_keys_dir=keys_dir))
    yield application
    application.extensions["qonys.db"].dispose()


@pytest.fixture
def cclient(capp: Any) -> Any:
    return capp.test_client()


def _holder(client: Any, admin: dict[str, str], **permit: Any) -> dict[str, Any]:
    person = f.person(client, admin, surname="Каримов", given_name="Шерзод")
    return f.permit(client, admin, person["id"], **permit)


def _verify(client: Any, payload: str) -> dict[str, Any]:
    """Verify with jwcrypto and only the published keys; the claims."""
    keys = jwk.JWKSet.from_json(client.get("/.well-known/jwks.json").get_data(as_text=True))
    token = jws.JWS()
    token.deserialize(payload)
    kid = token.jose_header["kid"]
    token.verify(keys.get_key(kid), alg="Ed25519")
    claims: dict[str, Any] = json.loads(token.payload)
    return claims


def _status(client: Any, name: str, index: int) -> int:
    """The entry read from the published list, after checking its signature."""
    keys = jwk.JWKSet.from_json(client.get("/.well-known/jwks.json").get_data(as_text=True))
    raw = client.get(f"/api/v1/status-lists/{name}").get_data(as_text=True)
    token = jwt.JWT(jwt=raw, key=keys, algs=["Ed25519"], expected_type="JWS")
    assert json.loads(token.header)["typ"] == "statuslist+jwt"
    lst = json.loads(token.claims)["status_list"]
    return status_lists.decode(lst["lst"], index, lst["bits"])


def test_a_credential_verifies_with_only_the_published_keys(
    cclient: Any, admin: dict[str, str], db: Any
) -> None:
    permit = _holder(cclient, admin)
    with db.engine.connect() as conn:  # the audit trail is append-only: count from here
        since = conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one()
    resp = cclient.get(f"/api/v1/permits/{permit['id']}/credential", headers=admin)
    assert resp.status_code == 200
    answer = resp.get_json()
    assert set(answer) == {
        "format",
        "payload",
        "qr_url",
        "pdf_url",
        "keys_url",
        "status_list_url",
        "status_index",
    }
    claims = _verify(cclient, answer["payload"])
    assert claims["kind"] == "permit" and claims["no"] == permit["number"]
    assert claims["name"] == "Каримов Шерзод" and claims["by"] == 1990
    assert claims["region"] == f.ASTANA_KATO and claims["until"] == permit["valid_to"]
    assert claims["status"]["status_list"]["idx"] == answer["status_index"] == permit["id"]
    # The minimum: no IIN, no address, no coordinates anywhere in the signed text.
    signed = json.dumps(claims, ensure_ascii=False)
    person = cclient.get(f"/api/v1/persons/{permit['person_id']}", headers=admin).get_json()
    assert person["iin"] not in signed and "lat" not in signed and "address" not in signed
    # The QR code holds exactly the payload.
    png = cclient.get(answer["qr_url"], headers=admin)
    assert png.mimetype == "image/png"
    (found,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))
    assert found.text == answer["payload"]
    svg = cclient.get(answer["qr_url"].replace(".png", ".svg"), headers=admin)
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    sheet = cclient.get(answer["pdf_url"], headers=admin)
    assert sheet.mimetype == "application/pdf" and sheet.data.startswith(b"%PDF")
    assert b"/MediaBox [0 0 297.64 419.53]" in sheet.data  # A6 in points
    with db.engine.connect() as conn:
        issued = conn.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE action = 'permit.credential' AND id > :since"
            ),
            {"since": since},
        ).scalar_one()
    assert issued == 4  # JSON, PNG, SVG and PDF: each issue audited


def test_one_changed_byte_fails(cclient: Any, admin: dict[str, str]) -> None:
    permit = _holder(cclient, admin)
    payload = cclient.get(f"/api/v1/permits/{permit['id']}/credential", headers=admin).get_json()[
        "payload"
    ]
    header, body, signature = payload.split(".")
    claims = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    forged = claims.replace(b"2", b"3", 1)  # one byte: a later date, another number
    forged_body = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    flipped_sig = ("A" if signature[10] != "A" else "B").join((signature[:10], signature[11:]))
    for tampered in (f"{header}.{forged_body}.{signature}", f"{header}.{body}.{flipped_sig}"):
        with pytest.raises(jws.InvalidJWSSignature):
            _verify(cclient, tampered)


def test_a_revoked_permit_and_an_ended_registration_show_after_the_job(
    cclient: Any, admin: dict[str, str], token: Any
) -> None:
    revoked = _holder(cclient, admin)
    terminated = _holder(cclient, admin, employer_bin=f.employer(cclient, admin))
    registration = f.registration(cclient, admin, revoked["person_id"])
    publish_status_lists()
    assert _status(cclient, "permits", revoked["id"]) == status_lists.VALID
    assert _status(cclient, "registrations", registration["id"]) == status_lists.VALID
    resp = cclient.post(
        f"/api/v1/permits/{revoked['id']}/revocation", json={"reason": "подлог"}, headers=admin
    )
    assert resp.status_code in (200, 201), resp.get_json()
    employer = token("employer", employer_bin=terminated["employer_bin"])
    notice = {
        "permit_id": terminated["id"],
        "last_working_day": terminated["valid_from"],
        "reason": "Уволился",
    }
    resp = cclient.post(
        f"/api/v1/employers/{terminated['employer_bin']}/termination-notices",
        json=notice,
        headers=employer,
    )
    assert resp.status_code == 201, resp.get_json()
    # A registration elsewhere ends the current one.
    f.registration(
        cclient,
        admin,
        revoked["person_id"],
        location=f.ALMATY,
        valid_from=date.today().isoformat(),
    )
    # Before the job the published list is the old one; the job's run republishes it.
    assert _status(cclient, "permits", revoked["id"]) == status_lists.VALID
    changed = publish_status_lists()
    assert changed["permits"] is True
    assert _status(cclient, "permits", revoked["id"]) == status_lists.INVALID
    assert _status(cclient, "permits", terminated["id"]) == status_lists.ENDED
    assert _status(cclient, "registrations", registration["id"]) == status_lists.ENDED
    assert publish_status_lists() == {"permits": False, "registrations": False}


def test_a_rotated_key_still_verifies_old_credentials(
    cclient: Any, admin: dict[str, str], migrated: Settings, keys_dir: Path
) -> None:
    permit = _holder(cclient, admin)
    url = f"/api/v1/permits/{permit['id']}/credential"
    old = cclient.get(url, headers=admin).get_json()["payload"]
    old_kid = json.loads(base64.urlsafe_b64decode(old.split(".")[0] + "=="))["kid"]
    ring = replace(migrated, credential_keys_dir=keys_dir)
    new_key = credential_keys.rotate(ring)
    assert new_key.kid != old_kid
    new = cclient.get(url, headers=admin).get_json()["payload"]
    assert json.loads(base64.urlsafe_b64decode(new.split(".")[0] + "=="))["kid"] == new_key.kid
    published = cclient.get("/.well-known/jwks.json").get_json()["keys"]
    assert {k["kid"] for k in published} == {old_kid, new_key.kid}
    assert all("d" not in k for k in published)  # never a private member
    assert _verify(cclient, old)["no"] == _verify(cclient, new)["no"] == permit["number"]
    # Private keys on disk: owner-only.
    assert {p.stat().st_mode & 0o777 for p in keys_dir.glob("*.json")} == {0o600}
    # Past the grace period the retired key is no longer published.
    later = credential_keys.public_jwks(ring, now=10**11)
    assert [k["kid"] for k in later["keys"]] == [new_key.kid]


def test_who_may_have_a_credential(
    cclient: Any, admin: dict[str, str], token: Any, db: Any
) -> None:
    bin_ = f.employer(cclient, admin)
    mine = _holder(cclient, admin, employer_bin=bin_)
    theirs = _holder(cclient, admin)
    employer = token("employer", employer_bin=bin_)
    assert (
        cclient.get(f"/api/v1/permits/{mine['id']}/credential", headers=employer).status_code == 200
    )
    assert (
        cclient.get(f"/api/v1/permits/{theirs['id']}/credential", headers=employer).status_code
        == 404
    )
    officer = token("officer")
    assert (
        cclient.get(f"/api/v1/permits/{mine['id']}/credential", headers=officer).status_code == 403
    )
    registration = f.registration(cclient, admin, theirs["person_id"])
    answer = cclient.get(
        f"/api/v1/registrations/{registration['id']}/credential", headers=admin
    ).get_json()
    claims = _verify(cclient, answer["payload"])
    assert claims["kind"] == "registration" and claims["region"] == f.ASTANA_KATO
    assert answer["status_list_url"] == "/api/v1/status-lists/registrations"
    assert cclient.get("/api/v1/status-lists/nonsense").status_code == 404
    assert (
        cclient.get(f"/api/v1/permits/{mine['id']}/credential.gif", headers=admin).status_code
        == 404
    )


def test_outbox_sync_is_idempotent_and_keeps_both_times(
    cclient: Any, admin: dict[str, str], token: Any, db: Any
) -> None:
    person = f.person(cclient, admin)
    f.registration(cclient, admin, person["id"])
    permit = f.permit(cclient, admin, person["id"])
    officer = token("officer")
    item = {
        "key": "0b6d7f0e-5a4c-4d1e-9d0a-1f2e3d4c5b6a",
        "kind": "qr",
        "who": permit["number"],
        "doc_kind": "permit",
        "device_time": "2026-01-05T09:30:00+05:00",
        "lat": f.ASTANA["lat"],
        "lon": f.ASTANA["lon"],
        "offline_verdict": "valid",
    }
    first = cclient.post("/api/v1/checks/outbox", json=item, headers=officer)
    assert first.status_code == 200, first.get_json()
    again = cclient.post("/api/v1/checks/outbox", json=item, headers=officer)
    assert first.get_json()["verdict"] == "ok" and first.get_json()["duplicate"] is False
    assert again.get_json()["duplicate"] is True
    assert again.get_json()["check_id"] == first.get_json()["check_id"]
    # Another officer's item with the same key is another check.
    other = cclient.post("/api/v1/checks/outbox", json=item, headers=token("officer"))
    assert other.get_json()["check_id"] != first.get_json()["check_id"]
    with db.engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT device_checked_at, checked_at, offline_verdict FROM officer_checks"
                " WHERE id = :id"
            ),
            {"id": first.get_json()["check_id"]},
        ).one()
    assert stored.device_checked_at.isoformat().startswith("2026-01-05T04:30:00")
    assert stored.checked_at > stored.device_checked_at and stored.offline_verdict == "valid"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"key": "x"}, "key"),
        ({"kind": "radio"}, "kind"),
        ({"device_time": "yesterday"}, "device_time"),
        ({"device_time": "2026-01-05T09:30:00"}, "device_time"),  # no offset: ambiguous
        ({"lat": 123}, "lat"),
        ({"doc_kind": None}, "doc_kind"),
    ],
)
def test_outbox_refuses_bad_items_naming_the_field(
    cclient: Any, token: Any, change: dict[str, Any], field: str
) -> None:
    item: dict[str, Any] = {
        "key": "0b6d7f0e-5a4c-4d1e",
        "kind": "qr",
        "who": "KZ71-2026-0000001",
        "doc_kind": "permit",
        "device_time": "2026-01-05T09:30:00+05:00",
        "lat": 51.1,
        "lon": 71.4,
    }
    item.update(change)
    item = {k: v for k, v in item.items() if v is not None}
    resp = cclient.post("/api/v1/checks/outbox", json=item, headers=token("officer"))
    assert resp.status_code == 422, resp.get_json()
    assert resp.mimetype == "application/problem+json"
    assert field in json.dumps(resp.get_json())


def test_verify_page_needs_no_sign_in_and_is_rate_limited(migrated: Settings) -> None:
    strict = create_app(replace(migrated, verify_rate_limit="2/minute"))
    client = strict.test_client()
    try:
        first = client.get("/verify")
        assert first.status_code == 200 and "jsQR.js" in first.get_data(as_text=True)
        assert client.get("/verify").status_code == 200
        assert client.get("/verify").status_code == 429
        worker = client.get("/verify/sw.js")
        assert worker.headers["Service-Worker-Allowed"] == "/verify"
        assert "/.well-known/jwks.json" in worker.get_data(as_text=True)
    finally:
        strict.extensions["qonys.db"].dispose()


def test_the_lists_are_republished_within_a_minute_of_a_change() -> None:
    """The job's interval plus the scheduler's tick bound the delay: under 60 s."""
    interval = dict(runner.PERIODIC)["backend.jobs.credentials.publish_status_lists"]
    tick = inspect.signature(runner.run_worker).parameters["tick_s"].default
    assert interval + tick <= 60
