"""Pure domain logic: value objects, calendar, SLA, repeat contacts, escalation (stdlib only)."""
