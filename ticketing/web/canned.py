"""Supervisor pages for canned responses: list by language, create, edit, preview and delete."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from ticketing.clock import utcnow
from ticketing.extensions import db
from ticketing.models import CannedResponse, Role
from ticketing.services import canned
from ticketing.services.canned import LANGUAGES, PLACEHOLDERS, CannedError
from ticketing.web.access import role_required

bp = Blueprint("canned", __name__, url_prefix="/supervisor/canned")

LANGUAGE_NAMES = {"nl": _l("Dutch"), "en": _l("English")}
#: what each placeholder becomes in a reply, shown next to the text box
PLACEHOLDER_HINTS = {
    "customer_name": _l("the customer's name, or “klant” / “customer” when it is not known"),
    "ticket_ref": _l("the ticket's reference, such as T-1042"),
    "agent_name": _l("the name of the agent who sends the reply"),
}
#: made-up values for the preview; the agent's name is the editor's own
PREVIEW_CUSTOMER = "Jan de Vries"
PREVIEW_TICKET = "T-1042"


class CannedForm(FlaskForm):
    title = StringField(
        _l("Title"),
        validators=[DataRequired(_l("Give the response a title.")), Length(max=200)],
        description=_l("What agents see in the list of the reply box."),
    )
    language = SelectField(
        _l("Language"), choices=[SelectChoice(code, LANGUAGE_NAMES[code]) for code in LANGUAGES]
    )
    body = TextAreaField(_l("Text"), validators=[DataRequired(_l("Write the text."))])


class DeleteForm(FlaskForm):
    """The delete button: only the CSRF token."""


@bp.get("/")
@role_required(Role.supervisor)
def index():
    responses = canned.canned_responses()
    groups = [
        (code, LANGUAGE_NAMES[code], [item for item in responses if item.language == code])
        for code in LANGUAGES
    ]
    return render_template("canned/index.html", groups=groups, total=len(responses))


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.supervisor)
def new():
    return _edit(None)


@bp.route("/<int:canned_id>/edit", methods=["GET", "POST"])
@role_required(Role.supervisor)
def edit(canned_id: int):
    return _edit(_canned_or_404(canned_id))


def _edit(item: CannedResponse | None) -> Any:
    form = CannedForm(obj=item)
    if item is None and request.method == "GET":
        form.language.data = _new_language()
    preview = None
    if form.validate_on_submit():
        if request.form.get("intent") == "preview":
            values = {"customer_name": PREVIEW_CUSTOMER, "ticket_ref": PREVIEW_TICKET,
                      "agent_name": current_user.name}
            preview = canned.fill_placeholders(form.body.data, values)
        else:
            try:
                saved = canned.save_canned(
                    title=form.title.data, language=form.language.data, body=form.body.data,
                    now=utcnow(), canned=item,
                )
                db.session.commit()
            except CannedError as error:
                form.form_errors.append(_problem_text(error))
            except IntegrityError:
                # Someone saved the same title in this language a moment ago.
                db.session.rollback()
                form.form_errors.append(_("A canned response with this title and language "
                                          "was saved just now; choose another title."))
            else:
                flash(_("Canned response “%(title)s” saved.", title=saved.title), "success")
                return redirect(url_for("canned.index", _anchor=f"canned-{saved.id}"))
    page = render_template(
        "canned/form.html", form=form, canned=item, preview=preview,
        placeholders=[(name, PLACEHOLDER_HINTS.get(name, "")) for name in PLACEHOLDERS],
    )
    return page, 422 if form.errors else 200


@bp.get("/<int:canned_id>/delete")
@role_required(Role.supervisor)
def confirm_delete(canned_id: int):
    item = _canned_or_404(canned_id)
    return render_template("canned/delete.html", canned=item, form=DeleteForm(),
                           language_name=LANGUAGE_NAMES.get(item.language, item.language))


@bp.post("/<int:canned_id>/delete")
@role_required(Role.supervisor)
def delete(canned_id: int):
    item = _canned_or_404(canned_id)
    if not DeleteForm().validate_on_submit():
        abort(400)
    title = item.title
    canned.delete_canned(item)
    db.session.commit()
    flash(_("Canned response “%(title)s” deleted.", title=title), "success")
    return redirect(url_for("canned.index"))


def _problem_text(error: CannedError) -> str:
    """What save_canned refused, in the user's language."""
    details = error.details
    if error.problem == "no_title":
        return _("Give the response a title.")
    if error.problem == "no_text":
        return _("Write the text.")
    if error.problem == "bad_language":
        return _("Choose one of these languages: %(allowed)s.", allowed=details["allowed"])
    if error.problem == "unknown_placeholder":
        return _("Unknown placeholder %(found)s; use %(allowed)s.", **details)
    if error.problem == "duplicate_title":
        return _("There is already a canned response called “%(title)s” in %(language)s.",
                 title=details["title"],
                 language=LANGUAGE_NAMES.get(details["language"], details["language"]))
    return str(error)


def _canned_or_404(canned_id: int) -> CannedResponse:
    return db.session.get(CannedResponse, canned_id) or abort(404)


def _new_language() -> str:
    """A new response starts in the language asked for (?language=en), else the user's own."""
    for language in (request.args.get("language"), current_user.language,
                     current_app.config["BABEL_DEFAULT_LOCALE"]):
        if language in LANGUAGES:
            return language
    return LANGUAGES[0]
