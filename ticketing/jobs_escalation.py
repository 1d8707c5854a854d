"""The per-minute escalation sweep as a Huey periodic task (imported by ticketing.jobs)."""

from __future__ import annotations

import logging

from huey import crontab

from ticketing.clock import utcnow
from ticketing.db import lock_for_writing
from ticketing.extensions import db, huey

log = logging.getLogger(__name__)

#: ticket candidates one round reads; a backlog (a new rule, a stopped worker) takes more rounds
SWEEP_LIMIT = 1000
#: rounds per run, each committed on its own, so one run cannot hold locks for long
MAX_ROUNDS = 10


def sweep_escalations(limit: int = SWEEP_LIMIT, max_rounds: int = MAX_ROUNDS) -> dict[str, int]:
    """Run the escalation sweep until it has caught up (or `max_rounds`), committing each round.

    Needs an app context. Queued notifications are handed to the outbox worker afterwards.
    """
    from ticketing.jobs import kick_outbox
    from ticketing.services.escalations import evaluate_due

    total = {"rules": 0, "candidates": 0, "fired": 0, "rearmed": 0, "rounds": 0}
    for _round in range(max_rounds):
        try:
            lock_for_writing()
            summary = evaluate_due(utcnow(), limit)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        total["rounds"] += 1
        for key in ("candidates", "fired", "rearmed"):
            total[key] += summary[key]
        total["rules"] = max(total["rules"], summary["rules"])
        if not summary["more"]:
            break
    if total["fired"]:
        kick_outbox()
    if total["fired"] or total["rearmed"]:
        log.info("escalation sweep: %s", total)
    return total


@huey.periodic_task(crontab(minute="*"))
def sweep_escalations_periodically() -> dict[str, int]:
    from ticketing.jobs import _context

    with _context():
        return sweep_escalations()
