"""Application factory: configuration, extensions, channels, blueprints, CLI, error handlers."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, g, jsonify, render_template, request
from huey import RedisHuey, SqliteHuey
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

import config as config_module
from ticketing.db import WRITE_LOCK_OPTION, normalise_database_url
from ticketing.extensions import babel, csrf, db, huey, limiter, login_manager, migrate

log = logging.getLogger(__name__)


class ConfigurationError(RuntimeError):
    """The settings cannot work; raised at start-up, never later."""


def create_app(config: type | str | None = None, **overrides: Any) -> Flask:
    """Build the Flask application.

    Args:
        config: a config class, or the name of one ("development", "production", "test");
            default: the TICKETING_ENV environment variable, else "development".
        overrides: settings that win over the config class (tests).
    """
    app = Flask("ticketing", instance_relative_config=True)
    load_config(app, config, overrides)
    register_extensions(app)
    register_queue(app)
    register_channels(app)
    register_blueprints(app)
    register_cli(app)
    register_error_handlers(app)
    register_security_headers(app)
    return app


def load_config(app: Flask, config: type | str | None, overrides: dict[str, Any]) -> None:
    """Load the config class and overrides, fill embedded defaults and validate."""
    if config is None or isinstance(config, str):
        name = config or os.environ.get("TICKETING_ENV", "development")
        try:
            config = config_module.CONFIGS[name]
        except KeyError:
            raise ConfigurationError(f"unknown TICKETING_ENV {name!r}") from None
    app.config.from_object(config)
    app.config.update(overrides)
    # Decides where the embedded database, queue and secret land; a test or a second
    # installation on one host moves it elsewhere (TICKETING_INSTANCE_PATH).
    instance_path = app.config.get("INSTANCE_PATH")
    if instance_path:
        app.instance_path = str(Path(instance_path).resolve())
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    is_production = app.config["ENV_NAME"] == "production"
    if is_production:
        missing = [key for key in ("SECRET_KEY", "SQLALCHEMY_DATABASE_URI") if not app.config[key]]
        if missing:
            names = ", ".join("DATABASE_URL" if k.startswith("SQLALCHEMY") else k for k in missing)
            raise ConfigurationError(f"production needs {names} in the environment")
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        app.config["SQLALCHEMY_DATABASE_URI"] = (
            f"sqlite:///{Path(app.instance_path) / 'ticketing.db'}"
        )
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path) / "secret_key")
    if not app.config.get("ATTACHMENT_STORAGE_PATH"):
        app.config["ATTACHMENT_STORAGE_PATH"] = str(Path(app.instance_path) / "attachments")
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"] or "memory://"
    if app.config["SMTP_SECURITY"] not in {"starttls", "tls", "none"}:
        raise ConfigurationError("SMTP_SECURITY must be starttls, tls or none")
    if app.config["TWILIO_ACCOUNT_SID"] and not app.config["TWILIO_AUTH_TOKEN"]:
        raise ConfigurationError("TWILIO_ACCOUNT_SID is set but TWILIO_AUTH_TOKEN is not")
    if app.config["TWILIO_ACCOUNT_SID"] and not (
        app.config["TWILIO_FROM_NUMBER"] or app.config["TWILIO_MESSAGING_SERVICE_SID"]
    ):
        raise ConfigurationError("Twilio needs TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID")
    if app.config["TRUSTED_PROXY_COUNT"]:
        count = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_port=count
        )


def _instance_secret(path: Path) -> str:
    """Return the development secret kept in instance/, creating it on first use."""
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_hex(32)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    # Batch mode lets migrations alter tables on SQLite; type changes are part of the review.
    migrate.init_app(
        app,
        db,
        directory=str(Path(__file__).resolve().parent.parent / "migrations"),
        render_as_batch=True,
        compare_type=True,
    )
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    from ticketing.web.i18n import select_locale

    babel.init_app(app, locale_selector=select_locale, default_timezone="UTC")
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_pragmas)
            sa.event.listen(engine, "begin", _sqlite_begin)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINTs (which intake relies on); take it
    # over as SQLAlchemy's documentation recommends, and emit BEGIN ourselves.
    dbapi_connection.isolation_level = None
    # WAL lets the worker write while the web process reads; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Readers begin DEFERRED, so a long read (a report, a CSV export) never blocks writers in
    # WAL mode. Units of work that read and then write ask for the write lock up front
    # (ticketing.db.lock_for_writing): upgrading a read lock later fails at once with "database
    # is locked" when another transaction wrote in between, and the busy timeout does not help.
    if connection.get_execution_options().get(WRITE_LOCK_OPTION):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


def register_queue(app: Flask) -> None:
    """Point the task queue at Redis or the SQLite file in instance/ (or run tasks inline)."""
    if app.config["HUEY_IMMEDIATE"]:
        huey.immediate = True
        return
    if app.config["REDIS_URL"]:
        huey.storage_class = RedisHuey.storage_class
        huey.storage_kwargs = {"url": app.config["REDIS_URL"]}
    else:
        huey.storage_class = SqliteHuey.storage_class
        huey.storage_kwargs = {"filename": str(Path(app.instance_path) / "huey.db")}
    huey._immediate = False
    huey.storage = huey.create_storage()
    from ticketing import jobs

    jobs.bind_app(app)


def register_channels(app: Flask) -> None:
    from channels.registry import build_registry
    from ticketing.clock import utcnow

    app.extensions["channels"] = build_registry(app.config, utcnow)


def register_blueprints(app: Flask) -> None:
    from ticketing.web import register_web

    register_web(app)


def register_cli(app: Flask) -> None:
    from ticketing.cli import register_commands

    register_commands(app)


def register_error_handlers(app: Flask) -> None:
    def wants_json() -> bool:
        return request.path.startswith(("/api/", "/inbound/", "/healthz")) or (
            request.accept_mimetypes.best == "application/json"
        )

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Any:
        if request.path.startswith("/api/"):
            body = {
                "type": "about:blank",
                "title": error.name,
                "status": error.code,
                "detail": error.description,
            }
            return Response(
                app.json.dumps(body), status=error.code, mimetype="application/problem+json"
            )
        # Keep what the exception says beyond its body: WWW-Authenticate, Allow, Retry-After.
        headers = [
            (name, value) for name, value in error.get_headers()
            if name.lower() not in {"content-type", "content-length"}
        ]
        if wants_json():
            return jsonify(error=error.name, detail=error.description), error.code, headers
        return render_template("error.html", error=error), error.code, headers

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Any:
        if isinstance(error, HTTPException):
            return handle_http_error(error)
        log.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        if app.config.get("TESTING") and app.config.get("PROPAGATE_EXCEPTIONS", True):
            raise error
        if wants_json():
            return jsonify(error="Internal Server Error"), 500
        return render_template("error.html", error=None), 500


def register_security_headers(app: Flask) -> None:
    """Strict headers on every response; pages that need more say so through `g`."""

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        csp = getattr(g, "content_security_policy", None) or (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'; "
            "object-src 'none'"
        )
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response
