"""Locale selection: an explicit choice in the session, else the browser's preference."""

from flask import current_app, has_request_context, request, session
from flask_login import current_user


def select_locale() -> str:
    """Pick "nl" or "en" for this request."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        # The worker and the CLI write for no one in particular: the organisation's language.
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = request.args.get("lang")
    if chosen in languages:
        session["lang"] = chosen
        return chosen
    if session.get("lang") in languages:
        return session["lang"]
    if getattr(current_user, "is_authenticated", False) and current_user.language in languages:
        return current_user.language
    best = request.accept_languages.best_match(languages)
    return best or current_app.config["BABEL_DEFAULT_LOCALE"]
