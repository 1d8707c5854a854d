"""`flask sla replay`: the SLA contract run on a policy file and a JSON-lines event list."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ticketing.domain.sla import SlaEvent, compute_sla, policy_from_spec, report_as_json
from ticketing.services.calendars import build_calendar, calendar_years


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant ("Z" allowed); one without an offset is taken as UTC."""
    if not isinstance(text, str):
        raise ValueError(f"expected an ISO 8601 instant, got {text!r}")
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise ValueError(f"{text!r} is not an ISO 8601 instant") from error
    if instant.tzinfo is None:
        # Lenient on purpose: hand-written event files often omit the "Z".
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def parse_event_lines(lines: Iterable[str]) -> list[SlaEvent]:
    """Parse JSON lines like {"at": ..., "type": ..., "status": ..., "priority": ...}.

    Blank lines are skipped; anything else that is not a valid event raises ValueError
    naming the line, because a silently skipped event would give a wrong report.
    """
    events: list[SlaEvent] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, Mapping):
                raise ValueError("expected a JSON object")
            if "at" not in record or "type" not in record:
                raise ValueError('an event needs "at" and "type"')
            events.append(
                SlaEvent(
                    at=parse_instant(record["at"]),
                    type=str(record["type"]),
                    status=_optional_text(record.get("status")),
                    priority=_optional_text(record.get("priority")),
                )
            )
        except ValueError as error:
            raise ValueError(f"event line {number}: {error}") from error
    return events


def replay(policy: Mapping[str, Any], event_lines: Iterable[str], now: datetime) -> dict[str, Any]:
    """Return the `flask sla replay` JSON for a policy file's content and event lines at `now`.

    Raises:
        ValueError: for a malformed policy or event line; the message says which.
    """
    if not isinstance(policy, Mapping):
        raise ValueError("the policy file must hold a JSON object")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    events = parse_event_lines(event_lines)
    sla_policy = policy_from_spec(policy)
    calendar_spec = policy.get("calendar")
    if calendar_spec is None:
        raise ValueError('the policy needs a "calendar"')
    calendar = build_calendar(calendar_spec, calendar_years(now, *(event.at for event in events)))
    report = compute_sla(events, sla_policy, calendar, now)
    return report_as_json(report)


def _optional_text(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


@click.command("replay")
@click.option(
    "--policy",
    "policy_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Policy JSON file: calendar, targets, pause_statuses, warn_ratio.",
)
@click.option(
    "--now",
    "now_text",
    default=None,
    help="Evaluation instant, ISO 8601 (e.g. 2026-01-05T12:00:00Z). Default: the current time.",
)
def replay_command(policy_path: Path, now_text: str | None) -> None:
    """Replay ticket events (JSON lines on stdin) against a policy and print the SLA report."""
    # The CLI is an entry point, so it is allowed to read the system clock (STYLE.md).
    from ticketing.clock import utcnow

    try:
        now = utcnow() if now_text is None else parse_instant(now_text)
        policy = json.loads(policy_path.read_text(encoding="utf-8"))
        result = replay(policy, sys.stdin, now)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    click.echo(json.dumps(result, indent=2))
