"""The analysts' scheduled report arrives as a PDF attachment, in their language."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backend import clock
from backend.jobs.base import job_settings
from backend.jobs.reports import send_scheduled_reports
from backend.services.access import accounts
from backend.settings import PROJECT_ROOT
from tests import factories as f
from tests import helpers as h
from tests.receivers import smtp_server

ARTIFACTS = PROJECT_ROOT / "artifacts"

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def test_the_weekly_report_arrives_once_as_a_pdf_in_kazakh(
    app: Any, client: Any, admin: Any, db: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with db.transaction() as session:
        user = accounts.create_user(
            session,
            "asel",
            "analyst",
            "correct-horse-battery",
            email="asel@stat.example.kz",
            language="kk",
        )
        accounts.set_report(session, user, "weekly", f.ASTANA_KATO)
    monday = datetime.combine(
        clock.today() - timedelta(days=clock.today().weekday()),
        datetime.min.time(),
        clock.LOCAL_TZ,
    ) + timedelta(hours=9)
    with smtp_server() as server:
        monkeypatch.setenv("QONYS_SMTP_URL", server.url)
        monkeypatch.setenv("QONYS_QUEUE_NAME", app.extensions["qonys.queue"].name)
        job_settings.cache_clear()
        assert send_scheduled_reports(monday) == 1
        assert send_scheduled_reports(monday + timedelta(hours=1)) == 0  # once a week
        h.run_jobs(app)
        job_settings.cache_clear()
    assert len(server.messages) == 1
    first = server.messages[0]
    assert first["To"] == "asel@stat.example.kz"
    assert first["Subject"] == f"{clock.today().year} жылғы көрсеткіштер"
    [attachment] = list(first.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    pdf = tmp_path / attachment.get_filename()
    pdf.write_bytes(attachment.get_content())
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        words = subprocess.run(
            ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert "Көші-қон тізілімі: көрсеткіштер" in words and "Астана" in words
        # Dates and numbers as a Kazakh reader writes them.
        assert monday.strftime("%d.%m.%Y") in words, words
        assert monday.date().isoformat() not in words
    if shutil.which("pdftoppm"):
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "60",
                "-f",
                "1",
                "-l",
                "1",
                str(pdf),
                str(tmp_path / "page"),
            ],
            check=True,
        )
        (page,) = tmp_path.glob("page*.png")
        # Kept for a person to look at, beside the browser tests' screenshots.
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(page, ARTIFACTS / "report-kk-page1.png")
