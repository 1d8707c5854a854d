"""Template filters and globals shared by every back-office and public page."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app


def local_time(value: datetime | None, fmt: str = "%a %d %b %Y %H:%M") -> str:
    """Show a UTC instant in the display timezone."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(current_app.config["DISPLAY_TIMEZONE"])).strftime(fmt)


def duration(seconds: float | int | None) -> str:
    """Render a number of seconds as "2 d 3 h", "3 h 10 m" or "45 s"."""
    if seconds is None:
        return ""
    seconds = int(seconds)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days} d {hours} h"
    if hours:
        return f"{sign}{hours} h {minutes} m"
    if minutes:
        return f"{sign}{minutes} m"
    return f"{sign}{secs} s"


def iso_utc(value: datetime | None) -> str:
    """Machine-readable instant for <time datetime> and scripts."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


def register_filters(app: Flask) -> None:
    app.add_template_filter(local_time)
    app.add_template_filter(duration)
    app.add_template_filter(iso_utc)
