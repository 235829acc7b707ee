"""The pages' forms (Flask-WTF: each carries its CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FloatField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # stubs predate it
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp


class LoginForm(FlaskForm):  # type: ignore[misc]  # flask_wtf ships no type hints
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class TotpForm(FlaskForm):  # type: ignore[misc]
    code = StringField(
        _l("Code from the authenticator app"),
        validators=[DataRequired(), Regexp(r"^\s*[0-9]{6}\s*$", message=_l("Six digits"))],
    )


class PurposeForm(FlaskForm):  # type: ignore[misc]
    purpose = StringField(
        _l("Case reference"),
        validators=[
            DataRequired(),
            Regexp(r"^[\w\-./:# ]{3,200}$", message=_l("3-200 letters, digits or -./:#")),
        ],
    )


class PersonLookupForm(FlaskForm):  # type: ignore[misc]
    """An IIN, a document number or a person id, as typed (spaces and case do not matter)."""

    key = StringField(
        _l("IIN, document number or person id"), validators=[DataRequired(), Length(max=40)]
    )


class CheckForm(FlaskForm):  # type: ignore[misc]
    who = StringField(
        _l("IIN or document number"), validators=[DataRequired(), Length(min=1, max=32)]
    )
    lat = FloatField(_l("Latitude"), validators=[DataRequired(), NumberRange(-90, 90)])
    lon = FloatField(_l("Longitude"), validators=[DataRequired(), NumberRange(-180, 180)])


class NearForm(FlaskForm):  # type: ignore[misc]
    lat = FloatField(_l("Latitude"), validators=[DataRequired(), NumberRange(-90, 90)])
    lon = FloatField(_l("Longitude"), validators=[DataRequired(), NumberRange(-180, 180)])


class NoticeForm(FlaskForm):  # type: ignore[misc]
    last_working_day = DateField(_l("Last working day"), validators=[DataRequired()])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(min=1, max=500)])


class EmptyForm(FlaskForm):  # type: ignore[misc]
    """A form with nothing but its CSRF token (sign-out, buttons)."""


class ResolveForm(FlaskForm):  # type: ignore[misc]
    """Closing an alert from its person's card: the API's rules (a reason of 1-500)."""

    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(min=1, max=500)])
    confirmed = BooleanField(_l("Confirm the finding"))


class EnrolForm(FlaskForm):  # type: ignore[misc]
    """A phone for a person: a device token and the apps' QR codes."""

    person_id = IntegerField(
        _l("Person id"), validators=[DataRequired(), NumberRange(min=1, max=2**62)]
    )
    days = IntegerField(_l("Valid for, days"), validators=[Optional(), NumberRange(1, 3650)])
    loopback_ok = BooleanField(_l("This is a test on this machine: enrol anyway"))


class NotificationForm(FlaskForm):  # type: ignore[misc]
    """Where and how an account hears of things (its own, or an admin's for it)."""

    username = StringField(_l("Username"), validators=[Optional(), Length(max=64)])
    email = StringField(_l("E-mail"), validators=[Optional(), Length(max=254)])
    language = SelectField(
        _l("Language"),
        choices=[
            SelectChoice("ru", "Русский"),
            SelectChoice("kk", "Қазақша"),
            SelectChoice("en", "English"),
        ],
    )
    alert_delivery = SelectField(
        _l("Alerts by e-mail"),
        choices=[
            SelectChoice("immediately", _l("immediately")),
            SelectChoice("hourly", _l("hourly digest")),
            SelectChoice("never", _l("not at all")),
        ],
    )
    report_schedule = SelectField(
        _l("Scheduled report"),
        choices=[
            SelectChoice("", _l("none")),
            SelectChoice("weekly", _l("weekly")),
            SelectChoice("monthly", _l("monthly")),
        ],
    )
    report_region_kato = StringField(
        _l("Region"), validators=[Optional(), Regexp(r"^[0-9]{9}$", message=_l("Nine digits"))]
    )
