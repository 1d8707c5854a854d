"""Back-office pages for integrations: personal API tokens and (admins) webhook endpoints."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectMultipleField, StringField, URLField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from ticketing.clock import utcnow
from ticketing.extensions import db
from ticketing.models import ApiToken, Role, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from ticketing.schemas import WEBHOOK_EVENTS
from ticketing.services import integrations, webhooks
from ticketing.services.accounts import create_api_token
from ticketing.web.access import role_required
from ticketing.webhook_delivery import encode_body

backoffice_bp = Blueprint("integrations", __name__, url_prefix="/settings/integrations")

#: deliveries on one page of an endpoint's log
LOG_PAGE_SIZE = 50
DELIVERY_STATUSES = ("pending", "delivered", "failed")


class TokenForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(), Length(max=200)],
        description=_l("What the token is for, e.g. \"webshop sync\"."),
    )


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class WebhookForm(FlaskForm):
    url = URLField(_l("URL"), validators=[DataRequired(), Length(max=1000)])
    description = StringField(_l("Description"), validators=[Length(max=200)])
    events = SelectMultipleField(
        _l("Events"),
        choices=[SelectChoice(name, name) for name in WEBHOOK_EVENTS],
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
        description=_l("None ticked means every event, including ones added later."),
    )
    is_active = BooleanField(_l("Active"), default=True)


def _no_store(body: str, status: int = 200) -> Response:
    # Pages that show a secret must not be kept by the browser or a proxy.
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- API tokens: every user, their own ---------------------------------------------------------


@backoffice_bp.get("/")
@login_required
def index() -> str:
    endpoints = []
    if current_user.has_role(Role.admin):
        endpoints = list(
            db.session.scalars(sa.select(WebhookEndpoint).order_by(WebhookEndpoint.id))
        )
    return render_template(
        "integrations/index.html",
        form=TokenForm(),
        action=ActionForm(),
        tokens=integrations.tokens_of(current_user),
        other_tokens=integrations.active_tokens_of_others(current_user),
        endpoints=endpoints,
        pending=_pending_counts(),
    )


def _pending_counts() -> dict[int, int]:
    if not current_user.has_role(Role.admin):
        return {}
    return dict(
        db.session.execute(
            sa.select(WebhookDelivery.endpoint_id, sa.func.count())
            .where(WebhookDelivery.status == "pending")
            .group_by(WebhookDelivery.endpoint_id)
        ).all()
    )


@backoffice_bp.post("/tokens")
@login_required
def create_token() -> Any:
    form = TokenForm()
    if not form.validate_on_submit():
        flash(_("Give the token a name."), "error")
        return redirect(url_for(".index"))
    token, secret = create_api_token(current_user, form.name.data, now=utcnow())
    db.session.commit()
    page = render_template("integrations/token_created.html", token=token, secret=secret)
    return _no_store(page, 201)


@backoffice_bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Any:
    if not ActionForm().validate_on_submit():
        abort(400)
    token = db.session.get(ApiToken, token_id) or abort(404)
    try:
        revoked = integrations.revoke_token(token, actor=current_user, now=utcnow())
    except integrations.TokenError:
        abort(403)
    db.session.commit()
    if revoked:
        flash(_("Token %(prefix)s… is revoked.", prefix=token.prefix), "success")
    return redirect(url_for(".index"))


# --- webhook endpoints: admins ------------------------------------------------------------------


@backoffice_bp.route("/webhooks/new", methods=["GET", "POST"])
@role_required(Role.admin)
def new_webhook() -> Any:
    form = WebhookForm()
    if form.validate_on_submit():
        try:
            endpoint = webhooks.create_endpoint(
                url=form.url.data,
                events=form.events.data or [],
                description=form.description.data or "",
                actor=current_user,
                now=utcnow(),
            )
        except webhooks.WebhookError as error:
            form.url.errors.append(str(error))
        else:
            endpoint.is_active = bool(form.is_active.data)
            db.session.commit()
            flash(_("Webhook added. Give its signing secret to the receiving system."), "success")
            return redirect(url_for(".webhook", endpoint_id=endpoint.id))
    status = 422 if form.errors else 200
    return render_template("integrations/webhook_form.html", form=form, endpoint=None), status


def _endpoint_or_404(endpoint_id: int) -> WebhookEndpoint:
    return db.session.get(WebhookEndpoint, endpoint_id) or abort(404)


@backoffice_bp.get("/webhooks/<int:endpoint_id>")
@role_required(Role.admin)
def webhook(endpoint_id: int) -> Any:
    """The endpoint, its settings and its delivery log (newest first)."""
    endpoint = _endpoint_or_404(endpoint_id)
    status = request.args.get("status")
    before = request.args.get("before", type=int)
    query = (
        sa.select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(LOG_PAGE_SIZE + 1)
    )
    if status in DELIVERY_STATUSES:
        query = query.where(WebhookDelivery.status == status)
    if before:
        query = query.where(WebhookDelivery.id < before)
    deliveries = list(db.session.scalars(query))
    has_more = len(deliveries) > LOG_PAGE_SIZE
    deliveries = deliveries[:LOG_PAGE_SIZE]
    form = WebhookForm(
        data={
            "url": endpoint.url,
            "description": endpoint.description,
            "events": list(endpoint.events or []),
            "is_active": endpoint.is_active,
        }
    )
    page = render_template(
        "integrations/webhook.html",
        endpoint=endpoint,
        form=form,
        action=ActionForm(),
        deliveries=deliveries,
        status=status,
        statuses=DELIVERY_STATUSES,
        next_before=deliveries[-1].id if has_more and deliveries else None,
    )
    return _no_store(page)


@backoffice_bp.post("/webhooks/<int:endpoint_id>")
@role_required(Role.admin)
def update_webhook(endpoint_id: int) -> Any:
    endpoint = _endpoint_or_404(endpoint_id)
    form = WebhookForm()
    if form.validate_on_submit():
        try:
            webhooks.update_endpoint(
                endpoint,
                url=form.url.data,
                events=form.events.data or [],
                description=form.description.data or "",
                is_active=bool(form.is_active.data),
                now=utcnow(),
            )
        except webhooks.WebhookError as error:
            db.session.rollback()
            flash(str(error), "error")
        else:
            db.session.commit()
            flash(_("Webhook saved."), "success")
    else:
        for errors in form.errors.values():
            for message in errors:
                flash(str(message), "error")
    return redirect(url_for(".webhook", endpoint_id=endpoint.id))


@backoffice_bp.post("/webhooks/<int:endpoint_id>/rotate")
@role_required(Role.admin)
def rotate_webhook_secret(endpoint_id: int) -> Any:
    endpoint = _endpoint_or_404(endpoint_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    webhooks.rotate_secret(endpoint, now=utcnow())
    db.session.commit()
    flash(_("New signing secret made; deliveries from now on use it."), "success")
    return redirect(url_for(".webhook", endpoint_id=endpoint.id))


@backoffice_bp.post("/webhooks/<int:endpoint_id>/ping")
@role_required(Role.admin)
def ping_webhook(endpoint_id: int) -> Any:
    endpoint = _endpoint_or_404(endpoint_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    webhooks.queue_ping(endpoint, actor=current_user, now=utcnow())
    db.session.commit()
    flash(_("A ping is queued; the worker sends it within a minute."), "success")
    return redirect(url_for(".webhook", endpoint_id=endpoint.id))


@backoffice_bp.post("/webhooks/<int:endpoint_id>/delete")
@role_required(Role.admin)
def delete_webhook(endpoint_id: int) -> Any:
    endpoint = _endpoint_or_404(endpoint_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    webhooks.delete_endpoint(endpoint)
    db.session.commit()
    flash(_("Webhook deleted with its delivery log."), "success")
    return redirect(url_for(".index"))


@backoffice_bp.get("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>")
@role_required(Role.admin)
def delivery(endpoint_id: int, delivery_id: int) -> Any:
    """One delivery: the payload as sent and every attempt with the receiver's answer."""
    endpoint = _endpoint_or_404(endpoint_id)
    found = db.session.get(WebhookDelivery, delivery_id)
    if found is None or found.endpoint_id != endpoint.id:
        abort(404)
    attempts = list(
        db.session.scalars(
            sa.select(WebhookAttempt)
            .where(WebhookAttempt.webhook_delivery_id == found.id)
            .order_by(WebhookAttempt.id)
        )
    )
    body = json.dumps(found.payload, ensure_ascii=False, indent=2)
    return render_template(
        "integrations/delivery.html",
        endpoint=endpoint,
        delivery=found,
        attempts=attempts,
        body=body,
        size=len(encode_body(found.payload)),
        action=ActionForm(),
    )


@backoffice_bp.post("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver")
@role_required(Role.admin)
def redeliver(endpoint_id: int, delivery_id: int) -> Any:
    endpoint = _endpoint_or_404(endpoint_id)
    found = db.session.get(WebhookDelivery, delivery_id)
    if found is None or found.endpoint_id != endpoint.id:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    webhooks.redeliver(found, now=utcnow())
    db.session.commit()
    flash(_("Delivery %(id)s is queued again.", id=found.delivery_id), "success")
    return redirect(url_for(".delivery", endpoint_id=endpoint.id, delivery_id=found.id))
