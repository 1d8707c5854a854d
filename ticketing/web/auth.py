"""Back-office login and logout."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from ticketing.clock import utcnow
from ticketing.extensions import db, limiter, login_manager
from ticketing.services.accounts import LoginPolicy, authenticate, load_session_user

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.session_protection = "strong"
login_manager.login_message = None


@login_manager.user_loader
def load_user(session_id: str):
    return load_session_user(session_id)


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=500)])


def _safe_next(target: str | None) -> str:
    # Only local paths: an absolute URL in ?next= would make the login an open redirect.
    if target and target.startswith("/") and not target.startswith("//"):
        if not urlsplit(target).netloc:
            return target
    return url_for("agent.queue")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        policy = LoginPolicy(
            max_attempts=current_app.config["LOGIN_MAX_ATTEMPTS"],
            lock_minutes=current_app.config["LOGIN_LOCK_MINUTES"],
        )
        user = authenticate(form.email.data, form.password.data, now=utcnow(), policy=policy)
        db.session.commit()
        if user is not None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        current_app.logger.warning("failed login for %r from %s", form.email.data,
                                   request.remote_addr)
        flash(_("Wrong e-mail or password, or the account is locked for a while."), "error")
    status = 401 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
def logout():
    logout_user()
    return redirect(url_for("auth.login"))
