"""Flask extensions, instantiated here and initialised by create_app."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf import CSRFProtect
from huey import Huey

from ticketing.db import db

migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
#: The task queue. It starts in immediate (in-memory) mode so importing never touches a file;
#: create_app points it at SQLite or Redis. Tasks are fire-and-forget and nothing reads their
#: return values, so none are stored: Huey keeps an unread result until someone reads it, which
#: on a busy queue (a task per inbound text) is a store that only grows.
huey = Huey("ticketing", immediate=True, results=False)

__all__ = ["babel", "csrf", "db", "huey", "limiter", "login_manager", "migrate"]
