"""GET /healthz: is the database reachable, and the task queue?"""

from flask import Blueprint, jsonify

from ticketing.extensions import db, huey

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
    healthy = all(check["ok"] for check in checks.values())
    return jsonify(status="ok" if healthy else "unavailable", checks=checks), (
        200 if healthy else 503
    )
