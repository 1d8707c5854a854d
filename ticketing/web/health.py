"""GET /healthz: is the database reachable, and the task queue? How many inbound records wait?"""

import sqlalchemy as sa
from flask import Blueprint, jsonify

from ticketing.clock import utcnow
from ticketing.extensions import db, huey
from ticketing.models import InboundRecord, InboundStatus

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    checks: dict[str, dict[str, object]] = {}
    try:
        db.session.execute(db.text("SELECT 1"))
        checks["database"] = {"ok": True, "dialect": db.engine.dialect.name}
    except Exception as error:  # noqa: BLE001 - any failure means "not reachable"
        checks["database"] = {"ok": False, "error": error.__class__.__name__}
    try:
        pending = huey.pending_count()
        checks["queue"] = {
            "ok": True,
            "backend": "inline" if huey.immediate else huey.storage.__class__.__name__,
            "pending": pending,
        }
    except Exception as error:  # noqa: BLE001
        checks["queue"] = {"ok": False, "error": error.__class__.__name__}
    try:
        # Not a condition of health (web nodes serve fine with a backlog), but what shows that
        # the worker is keeping up: raw records stored and not yet taken in.
        waiting, oldest = db.session.execute(
            sa.select(sa.func.count(InboundRecord.id), sa.func.min(InboundRecord.received_at))
            .where(InboundRecord.status == InboundStatus.received)
        ).one()
        checks["inbound"] = {
            "ok": True,
            "waiting": waiting,
            "oldest_waiting_seconds": (
                round((utcnow() - oldest).total_seconds()) if oldest is not None else None
            ),
        }
    except Exception as error:  # noqa: BLE001
        db.session.rollback()
        checks["inbound"] = {"ok": False, "error": error.__class__.__name__}
    healthy = checks["database"]["ok"] and checks["queue"]["ok"]
    return jsonify(status="ok" if healthy else "unavailable", checks=checks), (
        200 if healthy else 503
    )
