"""Escalation rules: evaluate them on ticket events and in the per-minute sweep, and act."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, joinedload

from ticketing.domain.contact import Channel, Identity, IdentityKind, OutboundMessage
from ticketing.domain.escalation import (
    FIELDS,
    PRIORITIES,
    Anchor,
    ClockFacts,
    Condition,
    Match,
    RuleInvalid,
    RuleSpec,
    TicketFacts,
    default_rules,
    describe_action,
    describe_condition,
    evaluate,
    parse_condition,
    parse_rule,
    time_anchors,
)
from ticketing.extensions import db
from ticketing.models import (
    OPEN_STATUSES,
    Direction,
    EscalationFiring,
    EscalationRule,
    EscalationRuleState,
    Message,
    Notification,
    Priority,
    Role,
    SlaClock,
    Tag,
    Team,
    Ticket,
    User,
    customer_tags,
    ticket_tags,
)
from ticketing.services import outbox
from ticketing.services.events import record_event
from ticketing.services.tickets import change_priority, get_or_create_tag

log = logging.getLogger(__name__)

#: tickets whose facts are read and judged together in the sweep and the dry run
BATCH_SIZE = 200
#: the ticket event every firing writes; the ticket page shows it in the history
FIRED_EVENT = "escalation.fired"
#: at most this many people hear of one notify action (a large team gets its mailbox instead)
MAX_RECIPIENTS = 50
_SMS_LENGTH = 300
_TICK = timedelta(microseconds=1)

#: tickets being evaluated in this context: actions never start a nested evaluation of the same
#: ticket, so a rule that changes a ticket cannot trigger itself in a loop
_in_progress: ContextVar[frozenset[int]] = ContextVar("escalating_tickets", default=frozenset())


@dataclass(frozen=True)
class NotifySettings:
    """What staff notifications need from the configuration."""

    organisation_name: str = "Klantenservice"
    mail_from_address: str | None = None
    mail_from_name: str | None = None
    public_base_url: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> NotifySettings:
        return cls(
            organisation_name=config.get("ORGANISATION_NAME") or cls.organisation_name,
            mail_from_address=config.get("MAIL_FROM_ADDRESS"),
            mail_from_name=config.get("MAIL_FROM_NAME"),
            public_base_url=config.get("PUBLIC_BASE_URL"),
        )


def _settings(settings: NotifySettings | None) -> NotifySettings:
    if settings is not None:
        return settings
    # evaluate_ticket's signature is shared with ticket_changed, so the configuration is read
    # here rather than passed through every caller; outside an app the defaults apply.
    return NotifySettings.from_config(current_app.config) if has_app_context() else NotifySettings()


@dataclass
class _Rule:
    """An enabled rule with its evaluable form."""

    row: EscalationRule
    spec: RuleSpec


@dataclass
class _Outcome:
    """What one firing's actions did to the ticket, for the log and for follow-up work."""

    results: list[dict[str, Any]] = field(default_factory=list)
    ticket_changed: bool = False
    priority_changed: bool = False


# --- evaluation entry points ---------------------------------------------------------------


def evaluate_ticket(
    ticket: Ticket, *, now: datetime, trigger: str, settings: NotifySettings | None = None,
    rules: Sequence[_Rule] | None = None,
) -> list[EscalationFiring]:
    """Judge every enabled rule against a ticket after an event and fire those that became true.

    Called by `tickets.ticket_changed` after every event. Rules run in position order in one
    pass; a later rule sees what an earlier one changed. Nothing here calls `ticket_changed`
    again: events are recorded directly and the SLA is refreshed when a priority changed.
    """
    return evaluate_tickets([(ticket, now, trigger)], settings=settings, rules=rules)


def evaluate_tickets(
    changes: Sequence[tuple[Ticket, datetime, str]], *, settings: NotifySettings | None = None,
    rules: Sequence[_Rule] | None = None,
) -> list[EscalationFiring]:
    """`evaluate_ticket` for each (ticket, instant, trigger), their facts read in one go.

    `rules` is `enabled_rules()` when the caller already has it (a batch of tickets).
    """
    busy = _in_progress.get()
    changes = [
        change for change in changes
        if change[0].merged_into_id is None and change[0].id not in busy
    ]
    if not changes:
        return []
    return _evaluate_tickets(changes, enabled_rules() if rules is None else rules,
                             settings=_settings(settings))


def _evaluate_ticket(
    ticket: Ticket, rules: Sequence[_Rule], *, now: datetime, trigger: str,
    settings: NotifySettings,
) -> list[EscalationFiring]:
    return _evaluate_tickets([(ticket, now, trigger)], rules, settings=settings)


def _evaluate_tickets(
    changes: Sequence[tuple[Ticket, datetime, str]], rules: Sequence[_Rule], *,
    settings: NotifySettings,
) -> list[EscalationFiring]:
    if not rules:
        return []
    db.session.flush()
    ids = [ticket.id for ticket, _now, _trigger in changes]
    facts = load_facts(ids, parts=_parts_for(rules))
    states = _states(ids, [rule.row.id for rule in rules])
    firings: list[EscalationFiring] = []
    for ticket, now, trigger in changes:
        ticket_facts = facts.get(ticket.id)
        if ticket_facts is None:
            continue
        if not _has_transition(rules, ticket_facts, states.get(ticket.id, {}), now):
            continue
        result = _apply_transitions(ticket.id, rules, now=now, trigger=f"event:{trigger}",
                                    settings=settings)
        firings.extend(result.firings)
    return firings


def evaluate_due(
    now: datetime, limit: int = 1000, *, settings: NotifySettings | None = None
) -> dict[str, int]:
    """Evaluate time-based rules for tickets whose thresholds were crossed since the last sweep.

    For each enabled rule with time conditions, the instants where its truth can flip
    (deadline minus 30 minutes, breach plus 2 hours, ...) are found with range queries on the
    indexed due columns, from the rule's own keyset cursor up to `now`. At most `limit` ticket
    candidates are read per call; `more` in the summary says the caller may call again.
    Safe on several workers at once: transitions happen under a row lock on the ticket, and the
    unique (rule, ticket, episode) constraint refuses a second firing.
    """
    summary = {"rules": 0, "candidates": 0, "fired": 0, "rearmed": 0, "more": 0}
    budget = max(limit, 1)
    settings = _settings(settings)
    changed_tickets: set[int] = set()
    rules = enabled_rules()
    for rule in rules:
        anchors = time_anchors(rule.spec)
        if not anchors:
            continue
        if budget <= 0:
            summary["more"] = 1
            break
        summary["rules"] += 1
        seen_updated_at = rule.row.updated_at
        cursor = (rule.row.swept_to, rule.row.swept_after_ticket_id or 0)
        candidates, complete = _candidates(anchors, cursor, now, budget)
        budget -= len(candidates)
        summary["candidates"] += len(candidates)
        ticket_ids = list(dict.fromkeys(ticket_id for _, ticket_id in candidates))
        for start in range(0, len(ticket_ids), BATCH_SIZE):
            batch = ticket_ids[start:start + BATCH_SIZE]
            facts = load_facts(batch, parts=_parts_for([rule]))
            states = _states(batch, [rule.row.id])
            for ticket_id in batch:
                ticket_facts = facts.get(ticket_id)
                if ticket_facts is None or ticket_facts.status not in _OPEN_WORDS:
                    continue
                if not _has_transition([rule], ticket_facts, states.get(ticket_id, {}), now):
                    continue
                result = _apply_transitions(ticket_id, [rule], now=now, trigger="sweep",
                                            settings=settings)
                summary["fired"] += len(result.firings)
                summary["rearmed"] += result.rearmed
                if result.ticket_changed:
                    changed_tickets.add(ticket_id)
        if not complete:
            summary["more"] = 1
        _advance_cursor(rule.row, (now, 0) if complete else candidates[-1], seen_updated_at)
    # A firing that changed a ticket (priority, team, tags) can make other rules true; give them
    # one pass now instead of waiting for the ticket's next event.
    for ticket_id in sorted(changed_tickets if len(rules) > 1 else ()):
        ticket = db.session.get(Ticket, ticket_id)
        if ticket is not None and ticket.merged_into_id is None:
            summary["fired"] += len(
                _evaluate_ticket(ticket, rules, now=now, trigger=FIRED_EVENT, settings=settings)
            )
    return summary


_OPEN_WORDS = frozenset(status.value for status in OPEN_STATUSES)


@dataclass
class _RunResult:
    firings: list[EscalationFiring] = field(default_factory=list)
    rearmed: int = 0
    ticket_changed: bool = False


def _has_transition(rules: Sequence[_Rule], facts: TicketFacts,
                    states: Mapping[int, EscalationRuleState], now: datetime) -> bool:
    """Whether any rule's match differs from its stored state (the lock-free first look)."""
    return any(
        evaluate(rule.spec, facts, now).matched != _is_matching(states.get(rule.row.id))
        for rule in rules
    )


def _apply_transitions(
    ticket_id: int,
    rules: Sequence[_Rule],
    *,
    now: datetime,
    trigger: str,
    settings: NotifySettings,
) -> _RunResult:
    """Lock the ticket, judge the rules again on fresh data, and apply what changed.

    The first look takes no locks because most evaluations change nothing. Everyone who
    changes rule states takes the ticket row lock first (an event already holds it from its own
    update), so two workers that saw the same transition decide one after the other, and the
    lock order is always ticket, then states.
    """
    db.session.flush()
    ticket = db.session.scalar(
        sa.select(Ticket).where(Ticket.id == ticket_id).with_for_update()
        .execution_options(populate_existing=True)
    )
    if ticket is None:
        return _RunResult()
    token = _in_progress.set(_in_progress.get() | {ticket_id})
    try:
        return _transitions_locked(ticket, rules, now=now, trigger=trigger, settings=settings)
    finally:
        _in_progress.reset(token)


def _transitions_locked(
    ticket: Ticket,
    rules: Sequence[_Rule],
    *,
    now: datetime,
    trigger: str,
    settings: NotifySettings,
) -> _RunResult:
    parts = _parts_for(rules)
    facts = load_facts([ticket.id], parts=parts)[ticket.id]
    states = _states([ticket.id], [rule.row.id for rule in rules], fresh=True).get(ticket.id, {})
    result = _RunResult()
    stale = False
    for rule in rules:
        if stale:
            # An earlier rule changed the ticket: later rules judge what it is now.
            facts = load_facts([ticket.id], parts=parts)[ticket.id]
            stale = False
        match = evaluate(rule.spec, facts, now)
        state = states.get(rule.row.id)
        if match.matched == _is_matching(state):
            continue
        if state is None:
            state = EscalationRuleState(
                rule_id=rule.row.id, ticket_id=ticket.id, episode=0, is_matching=False,
                changed_at=now,
            )
            db.session.add(state)
        state.is_matching = match.matched
        state.changed_at = now
        if not match.matched:
            result.rearmed += 1
            continue
        # A new episode: the condition was false (or never true) and now holds.
        state.episode += 1
        db.session.flush()
        fired = _fire(rule, ticket, state.episode, match, now=now, trigger=trigger,
                      settings=settings)
        if fired is None:
            continue
        firing, outcome = fired
        result.firings.append(firing)
        if outcome.priority_changed:
            # A priority change re-targets running clocks; later rules need the new deadlines.
            from ticketing.services import sla

            db.session.flush()
            sla.refresh_ticket_sla(ticket, now=now)
        if outcome.ticket_changed:
            result.ticket_changed = stale = True
    db.session.flush()
    return result


def _is_matching(state: EscalationRuleState | None) -> bool:
    return state is not None and state.is_matching


def _states(
    ticket_ids: Sequence[int], rule_ids: Sequence[int], *, fresh: bool = False
) -> dict[int, dict[int, EscalationRuleState]]:
    """Stored states by ticket id, then rule id; `fresh` re-reads rows already in the session."""
    query = sa.select(EscalationRuleState).where(
        EscalationRuleState.ticket_id.in_(ticket_ids),
        EscalationRuleState.rule_id.in_(rule_ids),
    )
    if fresh:
        query = query.execution_options(populate_existing=True)
    states: dict[int, dict[int, EscalationRuleState]] = defaultdict(dict)
    for state in db.session.scalars(query):
        states[state.ticket_id][state.rule_id] = state
    return states


def _fire(
    rule: _Rule,
    ticket: Ticket,
    episode: int,
    match: Match,
    *,
    now: datetime,
    trigger: str,
    settings: NotifySettings,
) -> tuple[EscalationFiring, _Outcome] | None:
    """Run the rule's actions and record the firing, all or nothing, once per episode.

    Actions, the "escalation.fired" event and the firing row share one savepoint: if the unique
    (rule, ticket, episode) constraint refuses the row because another worker fired this episode
    first, everything this firing did is rolled back with it.
    """
    outcome = _Outcome()
    try:
        with db.session.begin_nested():
            for action in rule.spec.actions:
                _apply_action(action, rule, ticket, match, outcome, now=now, settings=settings)
            record_event(
                ticket, FIRED_EVENT, now=now, rule=rule.row.name, rule_id=rule.row.id,
                episode=episode, trigger=trigger, reason=match.reason,
                actions=[result["text"] for result in outcome.results],
                level=ticket.escalation_level,
            )
            firing = EscalationFiring(
                rule_id=rule.row.id,
                ticket_id=ticket.id,
                episode=episode,
                fired_at=now,
                trigger=trigger[:64],
                reason=match.reason,
                outcome=outcome.results,
            )
            db.session.add(firing)
    except IntegrityError:
        already = db.session.scalar(sa.select(EscalationFiring.id).where(
            EscalationFiring.rule_id == rule.row.id,
            EscalationFiring.ticket_id == ticket.id,
            EscalationFiring.episode == episode,
        ))
        if already is None:
            raise  # not our unique constraint: a real error in an action
        log.info("rule %s already fired for ticket %s episode %s", rule.row.id, ticket.id, episode)
        return None
    return firing, outcome


# --- actions -------------------------------------------------------------------------------


def _apply_action(
    action: Mapping[str, Any],
    rule: _Rule,
    ticket: Ticket,
    match: Match,
    outcome: _Outcome,
    *,
    now: datetime,
    settings: NotifySettings,
) -> None:
    kind = action["type"]
    reason = f"escalation rule “{rule.row.name}”"
    if kind == "set_priority":
        _set_priority(action, ticket, outcome, now=now, reason=reason)
    elif kind == "assign_team":
        _assign_team(action, ticket, outcome, now=now, reason=reason)
    elif kind == "assign_user":
        _assign_user(action, ticket, outcome, now=now, reason=reason)
    elif kind == "add_tag":
        _add_tag(action["tag"], ticket, outcome, now=now, reason=reason)
    elif kind == "add_note":
        _add_note(action["text"], rule, ticket, outcome, now=now)
    elif kind == "notify":
        _notify(action, rule, ticket, match, outcome, now=now, settings=settings)
    elif kind == "raise_level":
        _raise_level(action, ticket, outcome)
    else:  # stored by an older version; validation refuses unknown types on save
        _record(outcome, action, False, f"unknown action {kind!r} skipped")


def _record(outcome: _Outcome, action: Mapping[str, Any], done: bool, text: str,
            **extra: Any) -> None:
    outcome.results.append({"type": action["type"], "done": done, "text": text, **extra})


def _set_priority(action: Mapping[str, Any], ticket: Ticket, outcome: _Outcome, *,
                  now: datetime, reason: str) -> None:
    target = action["priority"]
    current = ticket.priority.value
    if action.get("raise_only") and PRIORITIES.index(current) >= PRIORITIES.index(target):
        _record(outcome, action, False, f"priority stays {current} (only raised)")
        return
    if not change_priority(ticket, Priority(target), now=now, reason=reason):
        _record(outcome, action, False, f"priority already {current}")
        return
    outcome.ticket_changed = outcome.priority_changed = True
    _record(outcome, action, True, f"priority {current} → {target}")


def _assign_team(action: Mapping[str, Any], ticket: Ticket, outcome: _Outcome, *,
                 now: datetime, reason: str) -> None:
    team = db.session.get(Team, action["team_id"])
    if team is None:
        _record(outcome, action, False, f"team #{action['team_id']} no longer exists")
        return
    if ticket.team_id == team.id:
        _record(outcome, action, False, f"already with team {team.name}")
        return
    old_team, old_assignee = ticket.team, ticket.assignee
    ticket.team = team
    # Handing a ticket to another team means that team picks it up; an assignee from outside
    # it would otherwise keep it.
    if old_assignee is not None and old_assignee.team_id != team.id:
        ticket.assignee = None
    _record_assignment(ticket, old_team, old_assignee, now=now, reason=reason)
    outcome.ticket_changed = True
    text = f"team {old_team.name if old_team else 'none'} → {team.name}"
    if old_assignee is not None and ticket.assignee is None:
        text += f"; {old_assignee.name} unassigned"
    _record(outcome, action, True, text)


def _assign_user(action: Mapping[str, Any], ticket: Ticket, outcome: _Outcome, *,
                 now: datetime, reason: str) -> None:
    user = db.session.get(User, action["user_id"])
    if user is None or not user.is_active_account:
        _record(outcome, action, False, f"user #{action['user_id']} cannot take tickets")
        return
    if ticket.assignee_id == user.id:
        _record(outcome, action, False, f"already assigned to {user.name}")
        return
    old_team, old_assignee = ticket.team, ticket.assignee
    ticket.assignee = user
    if ticket.team is None and user.team is not None:
        ticket.team = user.team
    _record_assignment(ticket, old_team, old_assignee, now=now, reason=reason)
    outcome.ticket_changed = True
    _record(outcome, action, True,
            f"assignee {old_assignee.name if old_assignee else 'nobody'} → {user.name}")


def _record_assignment(ticket: Ticket, old_team: Team | None, old_assignee: User | None, *,
                       now: datetime, reason: str) -> None:
    # The same shape as an agent's assignment (ticket_actions), so the history reads alike.
    assignee, team = ticket.assignee, ticket.team
    record_event(
        ticket,
        "assignment.changed",
        now=now,
        old_assignee=old_assignee.name if old_assignee else None,
        old_assignee_id=old_assignee.id if old_assignee else None,
        assignee=assignee.name if assignee else None,
        assignee_id=assignee.id if assignee else None,
        old_team=old_team.name if old_team else None,
        team=team.name if team else None,
        reason=reason,
    )


def _add_tag(name: str, ticket: Ticket, outcome: _Outcome, *, now: datetime,
             reason: str) -> None:
    action = {"type": "add_tag"}
    present = db.session.scalar(
        sa.select(sa.func.count()).select_from(ticket_tags.join(Tag)).where(
            ticket_tags.c.ticket_id == ticket.id, Tag.name == name
        )
    )
    if present:
        _record(outcome, action, False, f"already tagged {name}")
        return
    tag = get_or_create_tag(name)
    db.session.execute(sa.insert(ticket_tags).values(ticket_id=ticket.id, tag_id=tag.id))
    db.session.expire(ticket, ["tags"])
    record_event(ticket, "tags.changed", now=now, added=[name], reason=reason)
    outcome.ticket_changed = True
    _record(outcome, action, True, f"tag {name} added")


def _add_note(text: str, rule: _Rule, ticket: Ticket, outcome: _Outcome, *,
              now: datetime) -> None:
    note = Message(
        ticket=ticket,
        direction=Direction.note,
        channel=ticket.channel,
        kind="message",
        text=text,
        new_text=text,
        is_automatic=True,
        created_at=now,
        meta={"escalation_rule": rule.row.name, "escalation_rule_id": rule.row.id},
    )
    db.session.add(note)
    db.session.flush()
    record_event(ticket, "note.added", now=now, message=note, automatic=True)
    _record(outcome, {"type": "add_note"}, True, "internal note added", message_id=note.id)


def _raise_level(action: Mapping[str, Any], ticket: Ticket, outcome: _Outcome) -> None:
    current = ticket.escalation_level or 0
    target = action.get("level") or current + 1
    if current >= target:
        _record(outcome, action, False, f"escalation level stays {current}")
        return
    ticket.escalation_level = target
    outcome.ticket_changed = True
    _record(outcome, action, True, f"escalation level {current} → {target}")


# --- notifications -------------------------------------------------------------------------

_TEXTS = {
    "en": {
        "subject": "[{reference}] Escalation: {rule}",
        "body": (
            "Escalation rule “{rule}” fired for {reference}: {subject}\n\n"
            "Why: {reason}\n"
            "Priority: {priority} · Status: {status} · Escalation level: {level}\n"
            "{message}"
            "{link}"
        ),
        "link": "\nOpen the ticket: {url}\n",
        "sms": "{organisation} {reference}: {rule}. {message}",
        "backoffice": "{reference}: {rule} — {reason}",
    },
    "nl": {
        "subject": "[{reference}] Escalatie: {rule}",
        "body": (
            "Escalatieregel “{rule}” is afgegaan voor {reference}: {subject}\n\n"
            "Waarom: {reason}\n"
            "Prioriteit: {priority} · Status: {status} · Escalatieniveau: {level}\n"
            "{message}"
            "{link}"
        ),
        "link": "\nOpen de melding: {url}\n",
        "sms": "{organisation} {reference}: {rule}. {message}",
        "backoffice": "{reference}: {rule} — {reason}",
    },
}


def _notify(
    action: Mapping[str, Any],
    rule: _Rule,
    ticket: Ticket,
    match: Match,
    outcome: _Outcome,
    *,
    now: datetime,
    settings: NotifySettings,
) -> None:
    recipients, team_mailbox, who = _recipients(action, ticket)
    if not recipients and team_mailbox is None:
        _record(outcome, action, False, f"nobody to notify ({who})")
        return
    channels = set(action.get("channels") or ())
    notes: list[str] = []
    emailed = texted = 0
    values = _message_values(rule, ticket, match, action, settings)
    for user in recipients:
        texts = _TEXTS["nl" if user.language == "nl" else "en"]
        db.session.add(Notification(
            user_id=user.id, ticket_id=ticket.id, text=texts["backoffice"].format(**values)[:2000],
            created_at=now,
        ))
        if "email" in channels and team_mailbox is None:
            _queue_email(user.email, user.name, texts, values, ticket, now=now, settings=settings)
            emailed += 1
        if "sms" in channels:
            if user.phone:
                _queue_sms(user.phone, texts, values, ticket, now=now)
                texted += 1
            else:
                notes.append(f"{user.name} has no phone number")
    if "email" in channels and team_mailbox is not None:
        texts = _TEXTS["en"]
        _queue_email(team_mailbox[0], team_mailbox[1], texts, values, ticket, now=now,
                     settings=settings)
        emailed += 1
    names = ", ".join(user.name for user in recipients[:5])
    if len(recipients) > 5:
        names += f" and {len(recipients) - 5} more"
    via = ["back office"]
    if emailed:
        via.append(f"{emailed} e-mail")
    if texted:
        via.append(f"{texted} SMS")
    text = f"notified {who}"
    if names:
        text += f": {names}"
    text += f" ({', '.join(via)})"
    if notes:
        text += "; " + "; ".join(notes)
    _record(outcome, action, True, text, user_ids=[user.id for user in recipients])


def _recipients(
    action: Mapping[str, Any], ticket: Ticket
) -> tuple[list[User], tuple[str, str] | None, str]:
    """Who a notify action reaches: (users, team mailbox for e-mail or None, description).

    An unassigned ticket's "assignee" notification goes to its team, and a ticket without a team
    to the supervisors, so a warning about an ownerless ticket is never lost.
    """
    target = action["target"]
    if target == "user":
        user = db.session.get(User, action.get("user_id"))
        active = [user] if user is not None and user.is_active_account else []
        return active, None, "the chosen user"
    if target == "assignee":
        assignee = ticket.assignee
        if assignee is not None and assignee.is_active_account:
            return [assignee], None, "the assignee"
        target = "team" if ticket.team is not None else "supervisors"
    if target == "team" and ticket.team is not None:
        members = list(db.session.scalars(
            sa.select(User)
            .where(User.team_id == ticket.team_id, User.is_active_account.is_(True))
            .order_by(User.id)
            .limit(MAX_RECIPIENTS)
        ))
        mailbox = (ticket.team.email, ticket.team.name) if ticket.team.email else None
        return members, mailbox, f"team {ticket.team.name}"
    supervisors = _users_with_role(Role.supervisor) or _users_with_role(Role.admin)
    return supervisors, None, "supervisors"


def _users_with_role(role: Role) -> list[User]:
    return list(db.session.scalars(
        sa.select(User)
        .where(User.role == role, User.is_active_account.is_(True))
        .order_by(User.id)
        .limit(MAX_RECIPIENTS)
    ))


def _message_values(rule: _Rule, ticket: Ticket, match: Match, action: Mapping[str, Any],
                    settings: NotifySettings) -> dict[str, Any]:
    custom = action.get("message") or ""
    url = (
        f"{settings.public_base_url.rstrip('/')}/tickets/{ticket.reference}"
        if settings.public_base_url else ""
    )
    return {
        "reference": ticket.reference,
        "rule": rule.row.name,
        "subject": ticket.subject or "",
        "reason": match.reason,
        "priority": ticket.priority.value,
        "status": ticket.status.value,
        "level": ticket.escalation_level,
        "message": f"\n{custom}\n" if custom else "",
        "sms_message": custom or match.reason,
        "url": url,
        "organisation": settings.organisation_name,
    }


def _queue_email(address: str, name: str | None, texts: Mapping[str, str],
                 values: Mapping[str, Any], ticket: Ticket, *, now: datetime,
                 settings: NotifySettings) -> None:
    link = texts["link"].format(**values) if values["url"] else ""
    outbound = OutboundMessage(
        channel=Channel.email,
        to=Identity(IdentityKind.email, address, name),
        subject=texts["subject"].format(**values)[:250],
        text=texts["body"].format(**{**values, "link": link}),
        from_address=settings.mail_from_address,
        from_name=settings.mail_from_name,
        is_automatic=True,
        ticket_ref=ticket.reference,
    )
    outbox.enqueue(outbound, now=now, purpose="notification", ticket=ticket)


def _queue_sms(phone: str, texts: Mapping[str, str], values: Mapping[str, Any], ticket: Ticket,
               *, now: datetime) -> None:
    body = texts["sms"].format(**{**values, "message": values["sms_message"]})
    outbound = OutboundMessage(
        channel=Channel.sms,
        to=Identity(IdentityKind.phone, phone),
        text=body[:_SMS_LENGTH],
        is_automatic=True,
        ticket_ref=ticket.reference,
    )
    outbox.enqueue(outbound, now=now, purpose="notification", ticket=ticket)


# --- facts ---------------------------------------------------------------------------------


#: one alias for all calls: a fresh alias per call would defeat SQLAlchemy's statement cache
_ASSIGNEE = aliased(User, name="assignee")
#: what `load_facts` can read besides the ticket row itself
ALL_PARTS = frozenset({"clocks", "tags", "customer_tags"})


def _parts_for(rules: Sequence[_Rule]) -> frozenset[str]:
    return _parts_for_specs([rule.spec for rule in rules])


def _parts_for_specs(specs: Iterable[RuleSpec]) -> frozenset[str]:
    """The fact groups the rules' conditions read: every event pays only for what they need."""
    parts: set[str] = set()
    for spec in specs:
        for condition in spec.conditions:
            if condition.field in ("tags", "customer_tags"):
                parts.add(condition.field)
            elif FIELDS[condition.field].metric is not None or condition.field == "sla_state":
                parts.add("clocks")
    return frozenset(parts)


def load_facts(
    ticket_ids: Sequence[int], *, parts: frozenset[str] = ALL_PARTS
) -> dict[int, TicketFacts]:
    """Snapshot tickets for the evaluator: one query per part, whatever the batch size.

    Parts not asked for stay empty in the snapshot (no clocks, no tags).
    """
    if not ticket_ids:
        return {}
    ids = list(ticket_ids)
    assignee = _ASSIGNEE
    rows = db.session.execute(
        sa.select(
            Ticket.id, Ticket.status, Ticket.priority, Ticket.channel, Ticket.team_id,
            Team.name, Ticket.assignee_id, assignee.name, Ticket.sla_state, Ticket.next_due_at,
            Ticket.repeat_contacts, Ticket.again_mentions, Ticket.escalation_level,
            Ticket.last_customer_message_at,
        )
        .outerjoin(Team, Team.id == Ticket.team_id)
        .outerjoin(assignee, assignee.id == Ticket.assignee_id)
        .where(Ticket.id.in_(ids))
    ).all()
    clocks: dict[int, list[ClockFacts]] = defaultdict(list)
    tags: dict[int, set[str]] = defaultdict(set)
    owner_tags: dict[int, set[str]] = defaultdict(set)
    if "clocks" in parts:
        for row in db.session.execute(
            sa.select(
                SlaClock.ticket_id, SlaClock.metric, SlaClock.cycle, SlaClock.state,
                SlaClock.is_running, SlaClock.due_at, SlaClock.warn_at, SlaClock.breached_at,
            ).where(SlaClock.ticket_id.in_(ids))
        ):
            clocks[row.ticket_id].append(ClockFacts(
                metric=row.metric, cycle=row.cycle, state=row.state, is_running=row.is_running,
                due_at=row.due_at, warn_at=row.warn_at, breached_at=row.breached_at,
            ))
    if "tags" in parts:
        for ticket_id, name in db.session.execute(
            sa.select(ticket_tags.c.ticket_id, Tag.name)
            .join(Tag, Tag.id == ticket_tags.c.tag_id)
            .where(ticket_tags.c.ticket_id.in_(ids))
        ):
            tags[ticket_id].add(name)
    if "customer_tags" in parts:
        for ticket_id, name in db.session.execute(
            sa.select(Ticket.id, Tag.name)
            .join(customer_tags, customer_tags.c.customer_id == Ticket.customer_id)
            .join(Tag, Tag.id == customer_tags.c.tag_id)
            .where(Ticket.id.in_(ids))
        ):
            owner_tags[ticket_id].add(name)
    facts: dict[int, TicketFacts] = {}
    for (ticket_id, status, priority, channel, team_id, team_name, assignee_id, assignee_name,
         sla_state, next_due_at, repeats, agains, level, last_customer) in rows:
        facts[ticket_id] = TicketFacts(
            ticket_id=ticket_id,
            status=status.value,
            priority=priority.value,
            channel=channel,
            team_id=team_id,
            team_name=team_name,
            assignee_id=assignee_id,
            assignee_name=assignee_name,
            tags=frozenset(tags.get(ticket_id, ())),
            customer_tags=frozenset(owner_tags.get(ticket_id, ())),
            clocks=tuple(clocks.get(ticket_id, ())),
            sla_state=sla_state,
            next_due_at=next_due_at,
            repeat_contacts=repeats or 0,
            again_mentions=agains or 0,
            escalation_level=level or 0,
            last_customer_message_at=last_customer,
        )
    return facts


# --- the sweep's candidates ----------------------------------------------------------------


def _anchor_columns(anchor: Anchor) -> tuple[Any, Any, list[Any]]:
    """(instant column, ticket id column, filters) for an anchor."""
    if anchor == Anchor.ticket_next_due:
        return Ticket.next_due_at, Ticket.id, [Ticket.status.in_(OPEN_STATUSES)]
    if anchor == Anchor.ticket_customer_message:
        return Ticket.last_customer_message_at, Ticket.id, [Ticket.status.in_(OPEN_STATUSES)]
    # Spelled like the partial indexes' predicate, so both databases use them.
    running = sa.literal_column("sla_clocks.is_running")
    if anchor == Anchor.clock_warn:
        return SlaClock.warn_at, SlaClock.ticket_id, [running]
    return SlaClock.due_at, SlaClock.ticket_id, [running]


def _candidates(
    anchors: Iterable[tuple[Anchor, str | None, timedelta]],
    cursor: tuple[datetime | None, int],
    now: datetime,
    budget: int,
) -> tuple[list[tuple[datetime, int]], bool]:
    """The next `budget` (flip instant, ticket id) pairs after the cursor, and whether that is all.

    Each anchor is one range query on an indexed instant column, ordered and limited; merging
    their first `budget` rows gives the first `budget` flips overall.
    """
    swept_to, after_id = cursor
    merged: set[tuple[datetime, int]] = set()
    truncated = False
    for anchor, metric, offset in anchors:
        column, ticket_id, filters = _anchor_columns(anchor)
        query = sa.select(column, ticket_id).where(
            *filters, column.is_not(None), column <= now - offset
        )
        if metric is not None:
            query = query.where(SlaClock.metric == metric)
        if swept_to is not None:
            lower = swept_to - offset
            # The plain range term lets the planner use the index; the OR is the keyset tiebreak.
            query = query.where(
                column >= lower,
                sa.or_(column > lower, sa.and_(column == lower, ticket_id > after_id)),
            )
        rows = db.session.execute(query.order_by(column, ticket_id).limit(budget)).all()
        truncated = truncated or len(rows) >= budget
        merged.update((instant + offset, row_ticket) for instant, row_ticket in rows)
    ordered = sorted(merged)
    taken = ordered[:budget]
    return taken, not truncated and len(ordered) <= budget


def _advance_cursor(rule: EscalationRule, position: tuple[datetime, int],
                    seen_updated_at: datetime) -> None:
    """Move the rule's cursor forward, never back, and not over an edit made meanwhile."""
    swept_to, after_id = position
    db.session.execute(
        sa.update(EscalationRule)
        .where(
            EscalationRule.id == rule.id,
            EscalationRule.updated_at == seen_updated_at,
            sa.or_(
                EscalationRule.swept_to.is_(None),
                EscalationRule.swept_to < swept_to,
                sa.and_(EscalationRule.swept_to == swept_to,
                        EscalationRule.swept_after_ticket_id < after_id),
            ),
        )
        .values(swept_to=swept_to, swept_after_ticket_id=after_id)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(rule, ["swept_to", "swept_after_ticket_id"])


# --- rules ---------------------------------------------------------------------------------


def enabled_rules() -> list[_Rule]:
    rows = list(db.session.scalars(
        sa.select(EscalationRule)
        .where(EscalationRule.is_enabled.is_(True))
        .order_by(EscalationRule.position, EscalationRule.id)
    ))
    names = reference_names(rows)
    rules: list[_Rule] = []
    for row in rows:
        try:
            rules.append(_Rule(row, rule_spec(row, names)))
        except RuleInvalid as error:
            # Saved rules are validated; one broken by hand in the database must not stop
            # every other rule.
            log.warning("escalation rule %s is invalid and skipped: %s", row.id, error)
    return rules


def rule_spec(rule: EscalationRule, names: Mapping[str, str] | None = None) -> RuleSpec:
    """The evaluable form of a stored rule, with team and user names for its reasons.

    :raise RuleInvalid: if the stored rule no longer validates.
    """
    spec = parse_rule(rule.name, rule.conditions or [], match=rule.match,
                      actions=rule.actions or [], rule_id=rule.id)
    if names is None:
        names = reference_names([rule])
    return RuleSpec(
        name=spec.name,
        match=spec.match,
        actions=spec.actions,
        rule_id=spec.rule_id,
        conditions=tuple(_labelled(condition, names) for condition in spec.conditions),
    )


def _labelled(condition: Condition, names: Mapping[str, str]) -> Condition:
    if condition.field not in ("team", "assignee") or condition.op == "is_empty":
        return condition
    prefix = "team" if condition.field == "team" else "user"
    nobody = "no team" if condition.field == "team" else "unassigned"
    values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
    label = ", ".join(
        nobody if value is None else names.get(f"{prefix}:{value}", f"#{value}")
        for value in values
    )
    return Condition(condition.field, condition.op, condition.value, value_label=label)


def reference_names(rules: Iterable[EscalationRule]) -> dict[str, str]:
    """Names of the teams and users rules refer to, keyed "team:<id>" and "user:<id>"."""
    team_ids: set[int] = set()
    user_ids: set[int] = set()
    for rule in rules:
        for condition in rule.conditions or []:
            target = team_ids if condition.get("field") == "team" else (
                user_ids if condition.get("field") == "assignee" else None
            )
            if target is None:
                continue
            value = condition.get("value")
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, int):
                    target.add(item)
                elif isinstance(item, str) and item.isdigit():
                    target.add(int(item))
        for action in rule.actions or []:
            if isinstance(action.get("team_id"), int):
                team_ids.add(action["team_id"])
            if isinstance(action.get("user_id"), int):
                user_ids.add(action["user_id"])
    names: dict[str, str] = {}
    if team_ids:
        for team_id, name in db.session.execute(
            sa.select(Team.id, Team.name).where(Team.id.in_(team_ids))
        ):
            names[f"team:{team_id}"] = name
    if user_ids:
        for user_id, name in db.session.execute(
            sa.select(User.id, User.name).where(User.id.in_(user_ids))
        ):
            names[f"user:{user_id}"] = name
    return names


def describe_rule(rule: EscalationRule, names: Mapping[str, str]) -> dict[str, list[str]]:
    """Conditions and actions of a stored rule in words, for lists and logs."""
    conditions: list[str] = []
    for raw in rule.conditions or []:
        try:
            conditions.append(describe_condition(_labelled(parse_condition(raw), names)))
        except RuleInvalid as error:
            conditions.append(f"invalid: {error}")
    actions = [describe_action(action, names) for action in rule.actions or []]
    return {"conditions": conditions, "actions": actions}


@dataclass(frozen=True)
class RuleInput:
    """A rule as a supervisor submits it (form or JSON), before validation."""

    name: str
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    match: str = "all"
    description: str = ""
    position: int = 0
    is_enabled: bool = True


def validate_rule(data: RuleInput, *, rule_id: int | None = None) -> RuleSpec:
    """Check a rule completely: shape, values, and that the teams and users it names exist.

    :raise RuleInvalid: with every problem found.
    """
    spec = parse_rule(data.name, data.conditions, match=data.match, actions=data.actions,
                      rule_id=rule_id)
    errors: list[str] = []
    team_ids = {a["team_id"] for a in spec.actions if "team_id" in a}
    user_ids = {a["user_id"] for a in spec.actions if "user_id" in a}
    for condition in spec.conditions:
        if condition.field in ("team", "assignee") and condition.op != "is_empty":
            values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
            bucket = team_ids if condition.field == "team" else user_ids
            bucket.update(value for value in values if value is not None)
    known_teams = set(db.session.scalars(sa.select(Team.id).where(Team.id.in_(team_ids))))
    known_users = set(db.session.scalars(sa.select(User.id).where(User.id.in_(user_ids))))
    errors += [f"team #{team_id} does not exist" for team_id in sorted(team_ids - known_teams)]
    errors += [f"user #{user_id} does not exist" for user_id in sorted(user_ids - known_users)]
    clash = sa.select(EscalationRule.id).where(
        sa.func.lower(EscalationRule.name) == spec.name.lower()
    )
    if rule_id is not None:
        clash = clash.where(EscalationRule.id != rule_id)
    if db.session.scalar(clash.limit(1)) is not None:
        errors.append(f"another rule is already called {spec.name!r}")
    if len(spec.name) > 200:
        errors.append("the name is longer than 200 characters")
    if errors:
        raise RuleInvalid(errors)
    return spec


def create_rule(data: RuleInput, *, now: datetime) -> EscalationRule:
    """Store a new rule after validating it.

    :raise RuleInvalid: if it does not validate.
    """
    spec = validate_rule(data)
    rule = EscalationRule(
        name=spec.name,
        description=data.description.strip(),
        is_enabled=data.is_enabled,
        position=data.position,
        match=spec.match,
        conditions=[condition.as_json() for condition in spec.conditions],
        actions=[dict(action) for action in spec.actions],
        created_at=now,
        updated_at=now,
        swept_to=None,
        swept_after_ticket_id=0,
    )
    try:
        with db.session.begin_nested():
            db.session.add(rule)
    except IntegrityError:
        raise RuleInvalid([f"another rule is already called {spec.name!r}"]) from None
    return rule


def update_rule(rule: EscalationRule, data: RuleInput, *, now: datetime) -> EscalationRule:
    """Replace a rule's definition; the sweep looks at past thresholds again for it.

    Tickets the old definition already matched keep their state, so an edit does not make a
    rule fire a second time for the same episode.

    :raise RuleInvalid: if it does not validate.
    """
    spec = validate_rule(data, rule_id=rule.id)
    rule.name = spec.name
    rule.description = data.description.strip()
    rule.is_enabled = data.is_enabled
    rule.position = data.position
    rule.match = spec.match
    rule.conditions = [condition.as_json() for condition in spec.conditions]
    rule.actions = [dict(action) for action in spec.actions]
    _touch(rule, now)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise RuleInvalid([f"another rule is already called {spec.name!r}"]) from None
    return rule


def set_rule_enabled(rule: EscalationRule, enabled: bool, *, now: datetime) -> bool:
    """Switch a rule on or off; return whether that changed anything."""
    if rule.is_enabled == enabled:
        return False
    rule.is_enabled = enabled
    _touch(rule, now)
    db.session.flush()
    return True


def _touch(rule: EscalationRule, now: datetime) -> None:
    # A changed or re-enabled rule sweeps from the beginning: tickets that crossed its
    # thresholds while it was off, or under its old definition, are judged too. updated_at
    # always moves, so a sweep that read the old definition cannot move the cursor back.
    previous = rule.updated_at
    rule.updated_at = now if previous is None or now > previous else previous + _TICK
    rule.swept_to = None
    rule.swept_after_ticket_id = 0


def delete_rule(rule: EscalationRule) -> None:
    """Delete a rule with its states and firing rows; the tickets' history events remain."""
    db.session.execute(sa.delete(EscalationRuleState).where(EscalationRuleState.rule_id == rule.id))
    db.session.execute(sa.delete(EscalationFiring).where(EscalationFiring.rule_id == rule.id))
    db.session.delete(rule)
    db.session.flush()


def list_rules() -> list[EscalationRule]:
    return list(db.session.scalars(
        sa.select(EscalationRule).order_by(EscalationRule.position, EscalationRule.id)
    ))


def get_rule(rule_id: int) -> EscalationRule | None:
    return db.session.get(EscalationRule, rule_id)


def rule_input(rule: EscalationRule) -> RuleInput:
    """A stored rule as editable input."""
    return RuleInput(
        name=rule.name,
        description=rule.description or "",
        is_enabled=rule.is_enabled,
        position=rule.position,
        match=rule.match,
        conditions=[dict(condition) for condition in rule.conditions or []],
        actions=[dict(action) for action in rule.actions or []],
    )


def seed_default_rules(
    now: datetime, *, escalation_team_id: int | None = None
) -> list[EscalationRule]:
    """Create the default warning ladder and repeat-contact rule; existing names are kept.

    Idempotent: a rule whose name already exists is left as the supervisor changed it.
    """
    existing = {name.lower() for name in db.session.scalars(sa.select(EscalationRule.name))}
    created: list[EscalationRule] = []
    for data in default_rules(escalation_team_id):
        if data["name"].lower() in existing:
            continue
        rule = create_rule(
            RuleInput(
                name=data["name"],
                description=data["description"],
                position=data["position"],
                match=data["match"],
                conditions=data["conditions"],
                actions=data["actions"],
            ),
            now=now,
        )
        created.append(rule)
    db.session.flush()
    return created


@dataclass(frozen=True)
class FormChoices:
    """Teams and users a rule form offers."""

    teams: list[tuple[int, str]]
    users: list[tuple[int, str, str]]


def form_choices() -> FormChoices:
    """Teams by name and active users by name (id, name, e-mail)."""
    teams = [(row.id, row.name) for row in db.session.execute(
        sa.select(Team.id, Team.name).order_by(Team.name)
    )]
    users = [(row.id, row.name, row.email) for row in db.session.execute(
        sa.select(User.id, User.name, User.email)
        .where(User.is_active_account.is_(True))
        .order_by(User.name)
    )]
    return FormChoices(teams, users)


# --- dry run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DryRunMatch:
    ticket_id: int
    reference: str
    subject: str
    status: str
    priority: str
    reasons: list[str]
    #: False when the rule already fired for the ticket's current episode
    would_fire: bool


@dataclass(frozen=True)
class DryRun:
    matches: list[DryRunMatch]
    #: how many open tickets were judged, and how many matched (can exceed len(matches))
    examined: int
    matched: int
    #: True when `scan_limit` stopped the scan before every open ticket was judged
    truncated: bool


def dry_run(
    rule: EscalationRule | RuleSpec, now: datetime, limit: int = 100, *, scan_limit: int = 50_000
) -> DryRun:
    """Which open tickets a rule matches right now, without firing or changing anything.

    Reads open tickets in id order, a batch at a time, up to `scan_limit`; lists the first
    `limit` matches and counts the rest.
    """
    if isinstance(rule, EscalationRule):
        spec = rule_spec(rule)
        rule_id: int | None = rule.id
    else:
        spec = rule
        rule_id = rule.rule_id
    matches: list[DryRunMatch] = []
    examined = matched = 0
    after_id = 0
    truncated = False
    while True:
        size = min(BATCH_SIZE, scan_limit - examined)
        if size <= 0:
            truncated = db.session.scalar(
                sa.select(Ticket.id).where(Ticket.status.in_(OPEN_STATUSES), Ticket.id > after_id)
                .limit(1)
            ) is not None
            break
        rows = db.session.execute(
            sa.select(Ticket.id, Ticket.subject)
            .where(Ticket.status.in_(OPEN_STATUSES), Ticket.id > after_id,
                   Ticket.merged_into_id.is_(None))
            .order_by(Ticket.id)
            .limit(size)
        ).all()
        if not rows:
            break
        after_id = rows[-1].id
        examined += len(rows)
        facts = load_facts([row.id for row in rows], parts=_parts_for_specs([spec]))
        hits: list[tuple[Any, TicketFacts, Match]] = []
        for row in rows:
            ticket_facts = facts.get(row.id)
            if ticket_facts is None:
                continue
            match = evaluate(spec, ticket_facts, now)
            if match.matched:
                matched += 1
                if len(matches) + len(hits) < limit:
                    hits.append((row, ticket_facts, match))
        states = _matching_states(rule_id, [row.id for row, _, _ in hits])
        for row, ticket_facts, match in hits:
            matches.append(DryRunMatch(
                ticket_id=row.id,
                reference=f"T-{row.id}",
                subject=row.subject or "",
                status=ticket_facts.status,
                priority=ticket_facts.priority,
                reasons=match.reasons,
                would_fire=row.id not in states,
            ))
    return DryRun(matches=matches, examined=examined, matched=matched, truncated=truncated)


def _matching_states(rule_id: int | None, ticket_ids: Sequence[int]) -> set[int]:
    if rule_id is None or not ticket_ids:
        return set()
    return set(db.session.scalars(
        sa.select(EscalationRuleState.ticket_id).where(
            EscalationRuleState.rule_id == rule_id,
            EscalationRuleState.ticket_id.in_(ticket_ids),
            EscalationRuleState.is_matching.is_(True),
        )
    ))


# --- the log -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FiringFilter:
    rule_id: int | None = None
    ticket_id: int | None = None
    #: "event" or "sweep"
    trigger: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class FiringPage:
    firings: list[EscalationFiring]
    #: pass as `before` for the next (older) page; None on the last page
    next_before: tuple[datetime, int] | None


def list_firings(
    filters: FiringFilter, *, before: tuple[datetime, int] | None = None, limit: int = 50
) -> FiringPage:
    """Firings newest first, across the system or filtered; keyset-paginated on (fired_at, id)."""
    query = (
        sa.select(EscalationFiring)
        .options(joinedload(EscalationFiring.rule), joinedload(EscalationFiring.ticket))
        .order_by(EscalationFiring.fired_at.desc(), EscalationFiring.id.desc())
        .limit(limit + 1)
    )
    if filters.rule_id is not None:
        query = query.where(EscalationFiring.rule_id == filters.rule_id)
    if filters.ticket_id is not None:
        query = query.where(EscalationFiring.ticket_id == filters.ticket_id)
    if filters.trigger == "sweep":
        query = query.where(EscalationFiring.trigger == "sweep")
    elif filters.trigger == "event":
        query = query.where(EscalationFiring.trigger.like("event:%"))
    if filters.since is not None:
        query = query.where(EscalationFiring.fired_at >= filters.since)
    if filters.until is not None:
        query = query.where(EscalationFiring.fired_at < filters.until)
    if before is not None:
        fired_at, firing_id = before
        query = query.where(sa.or_(
            EscalationFiring.fired_at < fired_at,
            sa.and_(EscalationFiring.fired_at == fired_at, EscalationFiring.id < firing_id),
        ))
    firings = list(db.session.scalars(query).unique())
    has_more = len(firings) > limit
    firings = firings[:limit]
    next_before = (firings[-1].fired_at, firings[-1].id) if has_more and firings else None
    return FiringPage(firings, next_before)


def ticket_firings(ticket_id: int, *, limit: int = 100) -> list[EscalationFiring]:
    """A ticket's escalation log, newest first."""
    return list_firings(FiringFilter(ticket_id=ticket_id), limit=limit).firings
