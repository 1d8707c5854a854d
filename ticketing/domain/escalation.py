"""Escalation rules judged against a frozen snapshot of a ticket: pure, no I/O, no clock."""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("new", "open", "pending", "on_hold", "solved", "closed")
CHANNELS = ("email", "sms", "web")
METRICS = ("first_response", "next_response", "resolution")
CLOCK_STATES = ("running", "at_risk", "paused", "met", "breached")
#: the ticket-wide SLA state: the worst of the clocks that still run
TICKET_SLA_STATES = ("running", "at_risk", "breached")
#: how a condition names "nobody" for the assignee and team fields
NOBODY_WORDS = frozenset({"unassigned", "none", "nobody", "no team", ""})
MAX_LEVEL = 10
MAX_NOTE_LENGTH = 5000
MAX_MESSAGE_LENGTH = 500
MAX_TAG_LENGTH = 64

_TAG_JUNK = re.compile(r"[^a-z0-9_:.\-]+")
_SEVERITY = {"running": 1, "at_risk": 2, "breached": 3}


class Op(str, enum.Enum):
    """Comparison operators a condition may use."""

    eq = "eq"
    ne = "ne"
    in_ = "in"
    not_in = "not_in"
    gte = "gte"
    lte = "lte"
    gt = "gt"
    lt = "lt"
    contains = "contains"
    is_empty = "is_empty"


OP_LABELS: Mapping[str, str] = {
    "eq": "is",
    "ne": "is not",
    "in": "is one of",
    "not_in": "is none of",
    "gte": "≥",
    "lte": "≤",
    "gt": ">",
    "lt": "<",
    "contains": "contains",
    "is_empty": "is empty",
}
_LIST_OPS = frozenset({"in", "not_in"})
_ORDER_OPS = frozenset({"gte", "lte", "gt", "lt"})
_EQUALITY_OPS = ("eq", "ne", "in", "not_in")


class FieldKind(str, enum.Enum):
    """How a field's value is read and compared."""

    choice = "choice"  # one word from a fixed list (priority is also ordered)
    reference = "reference"  # a team or user id; None means nobody
    tags = "tags"  # a set of tag names
    state = "state"  # an SLA clock state word, or None when there is no such clock
    count = "count"  # a whole number
    to_due = "to_due"  # minutes until a deadline (negative once it passed), None without one
    since = "since"  # minutes since an instant, None when it did not happen


class Anchor(str, enum.Enum):
    """Stored instants a time-dependent field is measured from (what the sweep indexes)."""

    ticket_next_due = "ticket.next_due_at"
    ticket_customer_message = "ticket.last_customer_message_at"
    clock_due = "clock.due_at"
    clock_warn = "clock.warn_at"


@dataclass(frozen=True)
class FieldSpec:
    """A ticket fact a condition can test."""

    name: str
    label: str
    kind: FieldKind
    ops: tuple[str, ...]
    choices: tuple[str, ...] = ()
    #: SLA metric the field reads; None for ticket-wide fields
    metric: str | None = None
    #: whether `choices` are ordered (priority), so gte/lte make sense
    ordered: bool = False

    @property
    def is_time_based(self) -> bool:
        """Whether the field's truth can change with time alone, without any event."""
        return self.kind in (FieldKind.to_due, FieldKind.since, FieldKind.state)


def _fields() -> dict[str, FieldSpec]:
    numeric = ("eq", "ne", "gte", "lte", "gt", "lt")
    minutes = ("gte", "lte", "gt", "lt", "is_empty")
    specs = [
        FieldSpec("priority", "priority", FieldKind.choice, (*_EQUALITY_OPS, "gte", "lte", "gt",
                  "lt"), PRIORITIES, ordered=True),
        FieldSpec("status", "status", FieldKind.choice, _EQUALITY_OPS, STATUSES),
        FieldSpec("channel", "channel", FieldKind.choice, _EQUALITY_OPS, CHANNELS),
        FieldSpec("team", "team", FieldKind.reference, (*_EQUALITY_OPS, "is_empty")),
        FieldSpec("assignee", "assignee", FieldKind.reference, (*_EQUALITY_OPS, "is_empty")),
        FieldSpec("tags", "tags", FieldKind.tags, ("contains", "in", "not_in", "is_empty")),
        FieldSpec("customer_tags", "customer tags", FieldKind.tags,
                  ("contains", "in", "not_in", "is_empty")),
        FieldSpec("sla_state", "SLA state", FieldKind.state, (*_EQUALITY_OPS, "is_empty"),
                  TICKET_SLA_STATES),
        FieldSpec("minutes_to_due", "minutes to the earliest deadline", FieldKind.to_due,
                  minutes),
        FieldSpec("minutes_since_breach", "minutes since the earliest breach", FieldKind.since,
                  minutes),
    ]
    for metric in METRICS:
        words = metric.replace("_", " ")
        specs += [
            FieldSpec(f"{metric}_state", f"{words} state", FieldKind.state,
                      (*_EQUALITY_OPS, "is_empty"), CLOCK_STATES, metric=metric),
            FieldSpec(f"{metric}_minutes_to_due", f"minutes to {words} deadline",
                      FieldKind.to_due, minutes, metric=metric),
            FieldSpec(f"{metric}_minutes_since_breach", f"minutes since {words} breach",
                      FieldKind.since, minutes, metric=metric),
        ]
    specs += [
        FieldSpec("minutes_since_customer_message", "minutes since the customer's last message",
                  FieldKind.since, minutes),
        FieldSpec("repeat_contacts", "repeat contacts", FieldKind.count, numeric),
        FieldSpec("again_mentions", "again-mentions", FieldKind.count, numeric),
        FieldSpec("escalation_level", "escalation level", FieldKind.count, numeric),
    ]
    return {spec.name: spec for spec in specs}


#: every field a condition may name, in the order forms list them
FIELDS: Mapping[str, FieldSpec] = _fields()


class ActionType(str, enum.Enum):
    """What a rule can do when it fires."""

    set_priority = "set_priority"
    assign_team = "assign_team"
    assign_user = "assign_user"
    add_tag = "add_tag"
    add_note = "add_note"
    notify = "notify"
    raise_level = "raise_level"


NOTIFY_TARGETS = ("assignee", "team", "supervisors", "user")
NOTIFY_CHANNELS = ("email", "sms")


# --- snapshot ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockFacts:
    """One stored SLA clock as the evaluator needs it."""

    metric: str
    cycle: int
    #: the state as of the clock's last refresh
    state: str
    #: not stopped and not paused
    is_running: bool
    due_at: datetime | None = None
    warn_at: datetime | None = None
    breached_at: datetime | None = None

    def state_at(self, now: datetime) -> str:
        """The state at `now`: a running clock crosses its warning and due instants by itself.

        The stored state can be up to a sweep interval old; deriving it from the instants keeps
        event triggers and the sweep in agreement. A breach is final, as the SLA contract says.
        """
        if not self.is_running or self.state in ("breached", "met", "paused"):
            return self.state
        if self.due_at is not None and now > self.due_at:
            return "breached"
        if self.warn_at is not None and now >= self.warn_at:
            return "at_risk"
        return "running"

    def breach_instant(self, now: datetime) -> datetime | None:
        """When a still-running clock breached, or None if it has not (or has stopped)."""
        if not self.is_running or self.state_at(now) != "breached":
            return None
        return self.breached_at or self.due_at


@dataclass(frozen=True)
class TicketFacts:
    """Everything a rule can test about one ticket, copied from the database by the service."""

    ticket_id: int
    status: str
    priority: str
    channel: str
    team_id: int | None = None
    team_name: str | None = None
    assignee_id: int | None = None
    assignee_name: str | None = None
    tags: frozenset[str] = frozenset()
    customer_tags: frozenset[str] = frozenset()
    clocks: tuple[ClockFacts, ...] = ()
    #: the stored ticket-wide state; used only when no clock rows exist
    sla_state: str | None = None
    #: earliest due instant among clocks that still run (breached ones included)
    next_due_at: datetime | None = None
    repeat_contacts: int = 0
    again_mentions: int = 0
    escalation_level: int = 0
    last_customer_message_at: datetime | None = None

    def current_clock(self, metric: str) -> ClockFacts | None:
        """The latest cycle of a metric (next_response has one clock per customer turn)."""
        latest: ClockFacts | None = None
        for clock in self.clocks:
            if clock.metric == metric and (latest is None or clock.cycle > latest.cycle):
                latest = clock
        return latest


# --- rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One test: `field op value`, with the value already normalised by `parse_condition`."""

    field: str
    op: str
    value: Any = None
    #: how to show the value (team or user names); the service fills it in
    value_label: str | None = None

    def as_json(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"field": self.field, "op": self.op, "value": value}


@dataclass(frozen=True)
class RuleSpec:
    """A rule as the evaluator sees it."""

    name: str
    conditions: tuple[Condition, ...]
    match: str = "all"
    actions: tuple[Mapping[str, Any], ...] = ()
    rule_id: int | None = None


@dataclass(frozen=True)
class Check:
    """The outcome of one condition, in words."""

    condition: Condition
    passed: bool
    text: str


@dataclass(frozen=True)
class Match:
    """Whether a rule matches, and why (or why not)."""

    matched: bool
    reasons: list[str]
    checks: tuple[Check, ...] = ()

    @property
    def failed(self) -> list[str]:
        return [check.text for check in self.checks if not check.passed]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


class RuleInvalid(ValueError):
    """A rule, condition or action that cannot be evaluated; `errors` says what is wrong."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)


# --- evaluation ----------------------------------------------------------------------------


def evaluate(rule: RuleSpec, facts: TicketFacts, now: datetime) -> Match:
    """Judge a rule against a ticket at an instant.

    A rule without conditions never matches: it would fire on every ticket at once.
    """
    if not rule.conditions:
        return Match(False, ["the rule has no conditions"])
    checks = tuple(check_condition(condition, facts, now) for condition in rule.conditions)
    if rule.match == "any":
        matched = any(check.passed for check in checks)
        reasons = [c.text for c in checks if c.passed] if matched else [c.text for c in checks]
    else:
        matched = all(check.passed for check in checks)
        reasons = [c.text for c in checks] if matched else [c.text for c in checks if not c.passed]
    return Match(matched, reasons, checks)


def check_condition(condition: Condition, facts: TicketFacts, now: datetime) -> Check:
    """Evaluate one condition and describe the outcome."""
    spec = FIELDS[condition.field]
    actual = field_value(spec, facts, now)
    passed = _compare(spec, condition.op, actual, condition.value)
    shown = _show_actual(spec, actual, facts)
    expected = describe_expected(condition)
    return Check(condition, passed, f"{spec.label} {shown} ({expected})")


def field_value(spec: FieldSpec, facts: TicketFacts, now: datetime) -> Any:
    """Read one field from the snapshot; time-based fields are measured at `now`."""
    name = spec.name
    if name in ("priority", "status", "channel"):
        return getattr(facts, name)
    if name == "team":
        return facts.team_id
    if name == "assignee":
        return facts.assignee_id
    if name == "tags":
        return facts.tags
    if name == "customer_tags":
        return facts.customer_tags
    if name == "sla_state":
        return ticket_sla_state(facts, now)
    if name == "minutes_to_due":
        return facts.next_due_at - now if facts.next_due_at is not None else None
    if name == "minutes_since_breach":
        # next_due_at is the earliest deadline of a running clock, so once it has passed it is
        # the earliest breach still open.
        due = facts.next_due_at
        return now - due if due is not None and now > due else None
    if name == "minutes_since_customer_message":
        last = facts.last_customer_message_at
        return now - last if last is not None else None
    if name in ("repeat_contacts", "again_mentions", "escalation_level"):
        return getattr(facts, name)
    clock = facts.current_clock(spec.metric) if spec.metric else None
    if spec.kind == FieldKind.state:
        return clock.state_at(now) if clock is not None else None
    if clock is None:
        return None
    if spec.kind == FieldKind.to_due:
        return clock.due_at - now if clock.is_running and clock.due_at is not None else None
    breached = clock.breach_instant(now)
    return now - breached if breached is not None else None


def ticket_sla_state(facts: TicketFacts, now: datetime) -> str | None:
    """The worst state among running clocks at `now`, or None when no clock runs."""
    if not facts.clocks:
        if facts.next_due_at is not None and now > facts.next_due_at:
            return "breached"
        return facts.sla_state
    worst: str | None = None
    for clock in facts.clocks:
        if not clock.is_running:
            continue
        state = clock.state_at(now)
        if state in _SEVERITY and (worst is None or _SEVERITY[state] > _SEVERITY[worst]):
            worst = state
    return worst


def _compare(spec: FieldSpec, op: str, actual: Any, expected: Any) -> bool:
    if op == "is_empty":
        empty = actual is None or actual == frozenset()
        return empty == bool(expected)
    if spec.kind == FieldKind.tags:
        wanted = frozenset(expected)
        if op == "contains":
            return wanted <= actual
        if op == "in":
            return bool(wanted & actual)
        if op == "not_in":
            return not wanted & actual
        return False
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if op == "in":
        return actual in expected
    if op == "not_in":
        return actual not in expected
    if actual is None:
        return False
    left, right = _ordered(spec, actual, expected)
    if op == "gte":
        return left >= right
    if op == "lte":
        return left <= right
    if op == "gt":
        return left > right
    if op == "lt":
        return left < right
    return False


def _ordered(spec: FieldSpec, actual: Any, expected: Any) -> tuple[Any, Any]:
    if spec.ordered:
        return spec.choices.index(actual), spec.choices.index(expected)
    if spec.kind in (FieldKind.to_due, FieldKind.since):
        return actual, timedelta(minutes=expected)
    return actual, expected


def _show_actual(spec: FieldSpec, actual: Any, facts: TicketFacts) -> str:
    if spec.name == "team":
        return f"is {facts.team_name or _id_word(actual, 'no team')}"
    if spec.name == "assignee":
        return f"is {facts.assignee_name or _id_word(actual, 'unassigned')}"
    if spec.kind == FieldKind.tags:
        return f"are {', '.join(sorted(actual))}" if actual else "are none"
    if spec.kind in (FieldKind.to_due, FieldKind.since):
        if actual is None:
            return "is not applicable"
        return f"is {format_minutes(actual)}"
    if actual is None:
        return "is none"
    return f"is {actual}"


def _id_word(value: Any, nobody: str) -> str:
    return nobody if value is None else f"#{value}"


def format_minutes(delta: timedelta) -> str:
    """Whole minutes for reasons; rounded toward zero so "29.5 minutes left" reads 29."""
    minutes = delta.total_seconds() / 60
    return str(int(minutes)) if minutes >= 0 else f"-{int(-minutes)}"


def describe_expected(condition: Condition) -> str:
    """The condition's test without its field, e.g. "≤ 30" or "is one of high, urgent"."""
    op_label = OP_LABELS.get(condition.op, condition.op)
    if condition.op == "is_empty":
        return "is empty" if condition.value else "is not empty"
    if condition.value_label is not None:
        return f"{op_label} {condition.value_label}"
    return f"{op_label} {_show_value(condition.field, condition.value)}"


def describe_condition(condition: Condition) -> str:
    """A condition in words, e.g. "minutes to the earliest deadline ≤ 30"."""
    spec = FIELDS.get(condition.field)
    label = spec.label if spec is not None else condition.field
    return f"{label} {describe_expected(condition)}"


def _show_value(field_name: str, value: Any) -> str:
    nobody = "unassigned" if field_name == "assignee" else "no team"
    if isinstance(value, (list, tuple, frozenset)):
        items = sorted(value, key=str) if isinstance(value, frozenset) else value
        return ", ".join(_show_one(item, field_name, nobody) for item in items)
    return _show_one(value, field_name, nobody)


def _show_one(value: Any, field_name: str, nobody: str) -> str:
    if value is None:
        return nobody
    if field_name in ("team", "assignee"):
        return f"#{value}"
    return str(value)


def time_anchors(rule: RuleSpec) -> frozenset[tuple[Anchor, str | None, timedelta]]:
    """Where the rule's truth can flip with time alone: (anchor, metric, offset) triples.

    A flip happens at the anchor's stored instant plus the offset, e.g. "minutes to the earliest
    deadline ≤ 30" flips at `tickets.next_due_at - 30 min`. The sweep selects tickets whose flip
    instants fell since it last looked, instead of re-reading every open ticket each minute.
    """
    anchors: set[tuple[Anchor, str | None, timedelta]] = set()
    for condition in rule.conditions:
        spec = FIELDS[condition.field]
        if not spec.is_time_based:
            continue
        if spec.kind == FieldKind.state:
            anchors.add((Anchor.clock_due, spec.metric, timedelta(0)))
            anchors.add((Anchor.clock_warn, spec.metric, timedelta(0)))
            if spec.metric is None:
                anchors.add((Anchor.ticket_next_due, None, timedelta(0)))
            continue
        minutes = 0.0 if condition.op == "is_empty" else float(condition.value)
        if spec.name == "minutes_since_customer_message":
            anchors.add((Anchor.ticket_customer_message, None, timedelta(minutes=minutes)))
            continue
        offset = timedelta(minutes=-minutes if spec.kind == FieldKind.to_due else minutes)
        if spec.metric is None:
            anchors.add((Anchor.ticket_next_due, None, offset))
        else:
            anchors.add((Anchor.clock_due, spec.metric, offset))
    return frozenset(anchors)


# --- parsing and validation ----------------------------------------------------------------


def parse_rule(
    name: str,
    conditions: Iterable[Mapping[str, Any]],
    *,
    match: str = "all",
    actions: Iterable[Mapping[str, Any]] = (),
    rule_id: int | None = None,
) -> RuleSpec:
    """Validate a rule's parts and return it normalised.

    :raise RuleInvalid: listing every problem found, so a form can show them all at once.
    """
    errors: list[str] = []
    if not (name or "").strip():
        errors.append("the rule needs a name")
    if match not in ("all", "any"):
        errors.append("match must be 'all' or 'any'")
    parsed_conditions: list[Condition] = []
    for number, raw in enumerate(conditions or (), start=1):
        try:
            parsed_conditions.append(parse_condition(raw))
        except RuleInvalid as error:
            errors.extend(f"condition {number}: {message}" for message in error.errors)
    if not parsed_conditions and not any(e.startswith("condition") for e in errors):
        errors.append("the rule needs at least one condition")
    parsed_actions: list[dict[str, Any]] = []
    for number, raw in enumerate(actions or (), start=1):
        try:
            parsed_actions.append(parse_action(raw))
        except RuleInvalid as error:
            errors.extend(f"action {number}: {message}" for message in error.errors)
    if not parsed_actions and not any(e.startswith("action") for e in errors):
        errors.append("the rule needs at least one action")
    if errors:
        raise RuleInvalid(errors)
    return RuleSpec(
        name=name.strip(),
        conditions=tuple(parsed_conditions),
        match=match,
        actions=tuple(parsed_actions),
        rule_id=rule_id,
    )


def parse_condition(raw: Mapping[str, Any]) -> Condition:
    """Validate one condition and normalise its value for its field and operator.

    :raise RuleInvalid: if the field, operator or value cannot work.
    """
    if not isinstance(raw, Mapping):
        raise RuleInvalid(["a condition must be an object with field, op and value"])
    field_name = str(raw.get("field") or "").strip()
    op = str(raw.get("op") or "").strip()
    spec = FIELDS.get(field_name)
    if spec is None:
        raise RuleInvalid([f"unknown field {field_name!r}"])
    if op not in spec.ops:
        raise RuleInvalid(
            [f"{spec.label} cannot use {op!r}; use one of {', '.join(spec.ops)}"]
        )
    value = raw.get("value")
    if op == "is_empty":
        return Condition(field_name, op, _parse_bool(value, default=True))
    if op in _LIST_OPS or op == "contains":
        items = _as_list(value)
        if not items:
            raise RuleInvalid([f"{spec.label} {OP_LABELS[op]}: give at least one value"])
        normalised = tuple(_parse_scalar(spec, op, item) for item in items)
        return Condition(field_name, op, tuple(dict.fromkeys(normalised)))
    if isinstance(value, (list, tuple)):
        raise RuleInvalid([f"{spec.label} {OP_LABELS[op]} takes one value, not a list"])
    return Condition(field_name, op, _parse_scalar(spec, op, value))


def _parse_scalar(spec: FieldSpec, op: str, value: Any) -> Any:
    if spec.kind in (FieldKind.choice, FieldKind.state):
        word = str(value if value is not None else "").strip().lower()
        if word not in spec.choices:
            raise RuleInvalid(
                [f"{spec.label} must be one of {', '.join(spec.choices)}, not {value!r}"]
            )
        return word
    if spec.kind == FieldKind.reference:
        if value is None or (isinstance(value, str) and value.strip().lower() in NOBODY_WORDS):
            return None
        number = _parse_number(value, integer=True)
        if number is None or number < 1:
            raise RuleInvalid([f"{spec.label} must be an id or 'unassigned', not {value!r}"])
        return number
    if spec.kind == FieldKind.tags:
        tag = normalise_tag(str(value if value is not None else ""))
        if not tag:
            raise RuleInvalid([f"{spec.label}: empty tag"])
        return tag
    if spec.kind == FieldKind.count:
        number = _parse_number(value, integer=True)
        if number is None or number < 0:
            raise RuleInvalid([f"{spec.label} must be a whole number ≥ 0, not {value!r}"])
        return number
    number = _parse_number(value, integer=False)
    if number is None or not math.isfinite(number) or abs(number) > 525_600 * 5:
        raise RuleInvalid([f"{spec.label} must be a number of minutes, not {value!r}"])
    return int(number) if float(number).is_integer() else number


def parse_action(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one action and return it with only the keys its type uses.

    Whether a team or user id exists is the service's question; here it only has to be an id.

    :raise RuleInvalid: if the action cannot work.
    """
    if not isinstance(raw, Mapping):
        raise RuleInvalid(["an action must be an object with a type"])
    kind = str(raw.get("type") or "").strip()
    if kind not in {member.value for member in ActionType}:
        names = ", ".join(member.value for member in ActionType)
        raise RuleInvalid([f"unknown action type {kind!r}; use one of {names}"])
    if kind == ActionType.set_priority:
        priority = str(raw.get("priority") or "").strip().lower()
        if priority not in PRIORITIES:
            raise RuleInvalid([f"priority must be one of {', '.join(PRIORITIES)}"])
        return {"type": kind, "priority": priority,
                "raise_only": _parse_bool(raw.get("raise_only"), default=False)}
    if kind == ActionType.assign_team:
        return {"type": kind, "team_id": _required_id(raw.get("team_id"), "team")}
    if kind == ActionType.assign_user:
        return {"type": kind, "user_id": _required_id(raw.get("user_id"), "user")}
    if kind == ActionType.add_tag:
        tag = normalise_tag(str(raw.get("tag") or ""))
        if not tag:
            raise RuleInvalid(["add tag needs a tag"])
        return {"type": kind, "tag": tag}
    if kind == ActionType.add_note:
        text = str(raw.get("text") or "").strip()
        if not text:
            raise RuleInvalid(["add note needs a text"])
        if len(text) > MAX_NOTE_LENGTH:
            raise RuleInvalid([f"the note is longer than {MAX_NOTE_LENGTH} characters"])
        return {"type": kind, "text": text}
    if kind == ActionType.notify:
        return _parse_notify(raw)
    level = raw.get("level")
    if level in (None, ""):
        return {"type": kind, "level": None}
    number = _parse_number(level, integer=True)
    if number is None or not 1 <= number <= MAX_LEVEL:
        raise RuleInvalid([f"escalation level must be between 1 and {MAX_LEVEL}"])
    return {"type": kind, "level": number}


def _parse_notify(raw: Mapping[str, Any]) -> dict[str, Any]:
    target = str(raw.get("target") or "").strip()
    if target not in NOTIFY_TARGETS:
        raise RuleInvalid([f"notify target must be one of {', '.join(NOTIFY_TARGETS)}"])
    channels = _as_list(raw.get("channels"))
    unknown = [channel for channel in channels if channel not in NOTIFY_CHANNELS]
    if unknown:
        raise RuleInvalid([f"notify channels are email and sms, not {', '.join(unknown)}"])
    action: dict[str, Any] = {
        "type": ActionType.notify.value,
        "target": target,
        "channels": [channel for channel in NOTIFY_CHANNELS if channel in channels],
    }
    if target == "user":
        action["user_id"] = _required_id(raw.get("user_id"), "user")
    message = str(raw.get("message") or "").strip()
    if len(message) > MAX_MESSAGE_LENGTH:
        raise RuleInvalid([f"the message is longer than {MAX_MESSAGE_LENGTH} characters"])
    if message:
        action["message"] = message
    return action


def _required_id(value: Any, what: str) -> int:
    number = _parse_number(value, integer=True)
    if number is None or number < 1:
        raise RuleInvalid([f"choose a {what}"])
    return number


def describe_action(action: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """An action in words; `names` maps "team:3" / "user:5" to display names."""
    names = names or {}
    kind = action.get("type")
    if kind == ActionType.set_priority:
        prefix = "raise priority to" if action.get("raise_only") else "set priority to"
        return f"{prefix} {action.get('priority')}"
    if kind == ActionType.assign_team:
        team = action.get("team_id")
        return f"assign to team {names.get(f'team:{team}', f'#{team}')}"
    if kind == ActionType.assign_user:
        user = action.get("user_id")
        return f"assign to {names.get(f'user:{user}', f'user #{user}')}"
    if kind == ActionType.add_tag:
        return f"add tag {action.get('tag')}"
    if kind == ActionType.add_note:
        text = str(action.get("text") or "")
        return f"add internal note “{text[:60]}{'…' if len(text) > 60 else ''}”"
    if kind == ActionType.notify:
        target = action.get("target")
        if target == "user":
            user = action.get("user_id")
            target = names.get(f"user:{user}", f"user #{user}")
        via = ["back office", *(action.get("channels") or [])]
        return f"notify {target} ({', '.join(via)})"
    if kind == ActionType.raise_level:
        level = action.get("level")
        return f"raise escalation level to {level}" if level else "raise escalation level by one"
    return str(kind)


def normalise_tag(text: str) -> str:
    """Tags as the back office stores them: lower-case [a-z0-9_:.-], other runs become "-"."""
    return _TAG_JUNK.sub("-", text.strip().lower()).strip("-")[:MAX_TAG_LENGTH]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [item.strip() if isinstance(item, str) else item for item in value
                if not (isinstance(item, str) and not item.strip())]
    return [value]


def _parse_bool(value: Any, *, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in ("1", "true", "yes", "on", "y"):
        return True
    if word in ("0", "false", "no", "off", "n"):
        return False
    raise RuleInvalid([f"expected yes or no, not {value!r}"])


def _parse_number(value: Any, *, integer: bool) -> Any:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if integer:
            return int(value) if value.is_integer() else None
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        if integer:
            return None
    try:
        return float(text)
    except ValueError:
        return None


def default_rules(escalation_team_id: int | None = None) -> list[dict[str, Any]]:
    """A warning ladder around SLA deadlines plus a repeat-contact rule, as rule dicts.

    Steps: 30 minutes before the earliest deadline the assignee hears of it (or the team, when
    nobody is assigned); at the breach supervisors do; two hours later the ticket goes to the
    escalation team (when one is named) and becomes urgent.
    """
    # Changes first, notifications last: the message then shows the ticket as it now is.
    late_actions: list[dict[str, Any]] = [
        {"type": "set_priority", "priority": "urgent", "raise_only": True},
        {"type": "raise_level", "level": 3},
        {"type": "add_tag", "tag": "escalated"},
        {"type": "notify", "target": "supervisors", "channels": ["email"]},
    ]
    late_description = (
        "Two hours after a breach the ticket becomes urgent, is tagged and supervisors hear again."
    )
    if escalation_team_id is not None:
        late_actions.insert(0, {"type": "assign_team", "team_id": escalation_team_id})
        late_description += " It moves to the escalation team."
    else:
        late_description += " Add an 'assign to team' action to hand it to an escalation team."
    return [
        {
            "name": "SLA warning: 30 minutes before the deadline",
            "description": "Tell whoever owns the ticket that a deadline is 30 minutes away.",
            "position": 10,
            "match": "all",
            # "gt 0": a deadline that already passed is the next step's business, and the
            # rule re-arms at the breach, ready for the ticket's next deadline.
            "conditions": [
                {"field": "minutes_to_due", "op": "lte", "value": 30},
                {"field": "minutes_to_due", "op": "gt", "value": 0},
            ],
            "actions": [
                {"type": "raise_level", "level": 1},
                {"type": "notify", "target": "assignee", "channels": ["email"]},
            ],
        },
        {
            "name": "SLA breached: notify supervisors",
            "description": "A deadline passed while the clock was running.",
            "position": 20,
            "match": "all",
            "conditions": [{"field": "minutes_since_breach", "op": "gte", "value": 0}],
            "actions": [
                {"type": "raise_level", "level": 2},
                {"type": "notify", "target": "supervisors", "channels": ["email"]},
            ],
        },
        {
            "name": "Breached for 2 hours: escalate",
            "description": late_description,
            "position": 30,
            "match": "all",
            "conditions": [{"field": "minutes_since_breach", "op": "gte", "value": 120}],
            "actions": late_actions,
        },
        {
            "name": "Customer keeps coming back",
            "description": "A second repeat contact makes the ticket high priority.",
            "position": 40,
            "match": "all",
            "conditions": [{"field": "repeat_contacts", "op": "gte", "value": 2}],
            "actions": [
                {"type": "set_priority", "priority": "high", "raise_only": True},
                {"type": "add_tag", "tag": "repeat"},
                {"type": "notify", "target": "team", "channels": ["email"]},
            ],
        },
    ]
