"""The only place that reads the system clock; everything else takes `now` as an argument."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current instant as a timezone-aware UTC datetime."""
    return datetime.now(UTC)
