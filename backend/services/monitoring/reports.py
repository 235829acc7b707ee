"""The analysts' scheduled report: the dashboard as a PDF, in the reader's language, for
the year and region they chose, e-mailed weekly (on Mondays) or monthly (on the 1st).

The PDF is drawn with fpdf2 and a DejaVu font (Cyrillic and Kazakh letters); nothing in
it identifies a person: indicators, quota fill and open alerts counted by kind.
"""

from __future__ import annotations

import base64
from datetime import date, datetime, time, timedelta
from pathlib import Path

from babel.dates import format_date
from babel.numbers import format_decimal, format_percent
from fpdf import FPDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock
from backend.models import Region, User, labels
from backend.services.monitoring import indicators, monitoring
from backend.services.notify import messages, outbox
from backend.services.settlement import quotas

FIRST_YEAR = 2023  # the Concept 2023-2027 (as the dashboard)
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))

# The indicators' names as the dashboard shows them (backend/web/words.py, same msgids).
INDICATOR_NAMES = {
    "internal_mobility_share": "Internal mobility to the north and east",
    "monitoring_coverage": "Monitoring coverage of household labour immigrants",
    "retention_3y": "Kandas and resettlers living 3+ years in the macroregion",
    "quota_fill": "Quota fill",
    "external_migration_balance": "External migration balance, thousand people",
    "qualified_arrivals_share": "Qualified share of working-age arrivals",
    "kazakh_card_holders": "Kazakh Card holders",
    "foreign_students_share": "Foreign students' share",
    "investment_visas": "Investment visas issued",
}
COUNTED = ("external_migration_balance", "kazakh_card_holders", "investment_visas")


def _font() -> Path:
    for folder in FONT_DIRS:
        if (folder / "DejaVuSans.ttf").exists():
            return folder
    raise RuntimeError("the DejaVu fonts are missing (Debian: fonts-dejavu-core)")


def region_name(session: Session, kato: str | None, language: str) -> str | None:
    if kato is None:
        return None
    region = session.get(Region, kato)
    if region is None:
        return kato
    return str({"kk": region.name_kk, "en": region.name_en}.get(language) or region.name_ru)


def dashboard_pdf(
    session: Session, year: int, region_kato: str | None, language: str, today: date
) -> bytes:
    """The dashboard of ``year`` (and ``region_kato``, else the country) as an A4 PDF."""
    t = messages.translations(language)
    years = list(range(FIRST_YEAR, max(year, today.year) + 1))
    by_year = {
        y: {i.name: i for i in items}
        for y, items in indicators.series(session, years, region_kato).items()
    }
    fills = sorted(
        (k, f) for k, f in quotas.quota_fills(session, year, region_kato).items() if f.set
    )
    alerts = monitoring.by_kind(monitoring.open_alerts_now(session, region_kato))
    place = region_name(session, region_kato, language) or t.gettext("All regions")

    pdf = FPDF(orientation="landscape", format="A4")
    fonts = _font()
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    pdf.cell(
        0,
        10,
        f"{t.gettext('Migration register: indicators')} — {year}, {place}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("DejaVu", "", 9)
    # Dates and numbers as the reader writes them (30.11.2026, 75,0 %), by Babel's CLDR data.
    day = format_date(today, "medium" if language == "en" else "dd.MM.yyyy", locale=language)
    pdf.cell(0, 6, f"{t.gettext('Generated')}: {day}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    widths = (125, 28, 28, 40, 50)
    pdf.set_font("DejaVu", "B", 10)
    for width, head, align in zip(
        widths,
        (t.gettext("Indicator"), t.gettext("Value"), t.gettext("Target"), "n / N", ""),
        ("L", "R", "R", "R", "L"),
        strict=True,
    ):
        pdf.cell(width, 8, head, border="B", align=align)
    pdf.ln()
    pdf.set_font("DejaVu", "", 10)
    for name, item in by_year[year].items():
        counted = name in COUNTED
        value = "—" if item.value is None else _percent(item.value, language)
        goal = (
            "—"
            if item.target is None
            else (
                format_decimal(item.target, locale=language)
                if counted
                else _percent(item.target, language)
            )
        )
        ratio = (
            f"{format_decimal(item.numerator, locale=language)} / "
            f"{format_decimal(item.denominator, locale=language)}"
            if item.computed and item.numerator is not None and item.denominator is not None
            else ""
        )
        x, y = pdf.get_x(), pdf.get_y()
        pdf.cell(widths[0], 9, _fit(pdf, t.gettext(INDICATOR_NAMES.get(name, name)), widths[0] - 3))
        pdf.cell(widths[1], 9, value, align="R")
        pdf.cell(widths[2], 9, goal, align="R")
        pdf.cell(widths[3], 9, ratio, align="R")
        values = [by_year[y_].get(name) for y_ in years]
        _sparkline(
            pdf, x + sum(widths[:4]) + 5, y + 1, 40, 7, [v.value if v else None for v in values]
        )
        pdf.ln(9)

    pdf.ln(4)
    pdf.set_font("DejaVu", "B", 12)
    pdf.cell(0, 8, t.gettext("Quota fill"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    for kato, fill in fills:
        parts = ", ".join(f"{k}: {fill.fill[k]} / {fill.limits[k]}" for k in fill.limits)
        pdf.cell(
            0, 6, f"{region_name(session, kato, language)}: {parts}", new_x="LMARGIN", new_y="NEXT"
        )
    if not fills:
        pdf.cell(0, 6, "—", new_x="LMARGIN", new_y="NEXT")

    pdf.ln(4)
    pdf.set_font("DejaVu", "B", 12)
    pdf.cell(0, 8, t.gettext("Open alerts"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    for kind, count in alerts.items():
        label = t.gettext(labels.ALERT_KINDS.get(kind, kind))
        pdf.cell(0, 6, f"{label}: {count}", new_x="LMARGIN", new_y="NEXT")
    if not alerts:
        pdf.cell(0, 6, "—", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _percent(share: float, language: str) -> str:
    return str(format_percent(share, "#,##0.0 %", locale=language))


def _fit(pdf: FPDF, label: str, width: float) -> str:
    """``label`` shortened with an ellipsis to ``width`` millimetres."""
    if pdf.get_string_width(label) <= width:
        return label
    while label and pdf.get_string_width(label + "…") > width:
        label = label[:-1]
    return label.rstrip() + "…"


def _sparkline(
    pdf: FPDF, x: float, y: float, w: float, h: float, values: list[float | None]
) -> None:
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(known) < 2:
        return
    low, high = min(v for _, v in known), max(v for _, v in known)
    span = (high - low) or 1.0
    step = w / max(len(values) - 1, 1)
    points = [(x + i * step, y + h - (v - low) / span * h) for i, v in known]
    pdf.set_draw_color(8, 81, 156)
    pdf.polyline(points)
    for px, py in points:
        pdf.circle(px, py, 0.8, style="F")
    pdf.set_draw_color(0, 0, 0)


def period_start(schedule: str, now: datetime) -> datetime:
    """This week's Monday or this month's first day, 00:00 in Kazakhstan."""
    day = clock.today(now)
    first = day - timedelta(days=day.weekday()) if schedule == "weekly" else day.replace(day=1)
    return datetime.combine(first, time(0), clock.LOCAL_TZ)


def due(session: Session, now: datetime) -> list[User]:
    """Accounts whose report of this period has not gone yet."""
    found = session.scalars(
        select(User)
        .where(
            User.report_schedule.is_not(None),
            User.email.is_not(None),
            User.disabled.is_(False),
            User.role.in_(("analyst", "admin")),
        )
        .order_by(User.id)
        .with_for_update(skip_locked=True)
    ).all()
    return [
        u
        for u in found
        if u.report_schedule
        and (
            u.report_last_sent_at is None
            or u.report_last_sent_at < period_start(u.report_schedule, now)
        )
    ]


def queue_report(session: Session, user: User, now: datetime) -> None:
    """Draw the user's report and put it in the outbox, in this transaction."""
    today = clock.today(now)
    year = today.year
    pdf = dashboard_pdf(session, year, user.report_region_kato, user.language, today)
    place = region_name(session, user.report_region_kato, user.language)
    assert user.email is not None
    outbox.add(
        session,
        "email",
        "report.scheduled",
        user.email,
        {
            "template": "report.scheduled",
            "language": user.language,
            "params": {
                "year": year,
                "region": place or messages.translations(user.language).gettext("All regions"),
            },
            "attachment": {
                "filename": f"qonys-indicators-{year}-{today.isoformat()}.pdf",
                "data_b64": base64.b64encode(pdf).decode("ascii"),
            },
        },
    )
    user.report_last_sent_at = now
