"""Locale selection: an explicit choice in the session, else the browser's preference."""

from flask import current_app, request, session
from flask_login import current_user


def select_locale() -> str:
    """Pick "nl" or "en" for this request."""
    languages = current_app.config["LANGUAGES"]
    chosen = request.args.get("lang") if request else None
    if chosen in languages:
        session["lang"] = chosen
        return chosen
    if session.get("lang") in languages:
        return session["lang"]
    if getattr(current_user, "is_authenticated", False) and current_user.language in languages:
        return current_user.language
    best = request.accept_languages.best_match(languages) if request else None
    return best or current_app.config["BABEL_DEFAULT_LOCALE"]
