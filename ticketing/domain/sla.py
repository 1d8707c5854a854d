"""SLA clocks computed from a ticket's event history, a policy and a business calendar."""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from ticketing.domain.calendar import BusinessCalendar

_ZERO = timedelta(0)


class Metric(str, enum.Enum):
    """What a clock measures."""

    first_response = "first_response"
    next_response = "next_response"
    resolution = "resolution"


class ClockState(str, enum.Enum):
    """Where a clock stands at the evaluation instant."""

    running = "running"
    at_risk = "at_risk"
    paused = "paused"
    met = "met"
    breached = "breached"


class SlaEventType(str, enum.Enum):
    """The ticket events the SLA engine understands (plain strings compare equal to these)."""

    customer_message = "customer_message"
    agent_reply = "agent_reply"  # a public reply; the only thing that answers a customer
    note = "note"  # internal, invisible to the customer
    auto_reply = "auto_reply"  # automatic acknowledgement: not an answer
    status = "status"
    priority = "priority"
    solved = "solved"
    reopened = "reopened"


#: Statuses that mean the work is done; a status event to one of these solves the ticket.
DONE_STATUSES = frozenset({"solved", "closed"})
#: Statuses a customer message moves back to "open" (it shows the customer is waiting on us).
CUSTOMER_REOPENS_STATUSES = frozenset({"new", "pending", "on_hold"}) | DONE_STATUSES
_METRIC_NAMES = frozenset(metric.value for metric in Metric)
_EVENT_TYPES = frozenset(event_type.value for event_type in SlaEventType)


@dataclass(frozen=True)
class SlaEvent:
    """One thing that happened to a ticket, as far as its SLA clocks care."""

    at: datetime
    type: str
    status: str | None = None  # for "status" events
    priority: str | None = None  # for "priority" events

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError(f"event time must be timezone-aware, got {self.at!r}")
        if self.type not in _EVENT_TYPES:
            raise ValueError(f"unknown event type {self.type!r}")
        if self.type == SlaEventType.status and not self.status:
            raise ValueError("a status event needs a status")
        if self.type == SlaEventType.priority and not self.priority:
            raise ValueError("a priority event needs a priority")


@dataclass(frozen=True)
class SlaPolicy:
    """Per-priority targets in minutes, the statuses that pause resolution, and the warn ratio.

    A metric missing from a priority's targets means no clock for it at that priority.
    """

    targets: Mapping[str, Mapping[str, int]]
    pause_statuses: frozenset[str] = frozenset({"pending"})
    warn_ratio: float = 0.75

    def __post_init__(self) -> None:
        targets: dict[str, Mapping[str, int]] = {}
        for priority, metrics in self.targets.items():
            checked: dict[str, int] = {}
            for metric, minutes in metrics.items():
                if metric not in _METRIC_NAMES:
                    raise ValueError(f"unknown SLA metric {metric!r} for priority {priority!r}")
                is_number = isinstance(minutes, int | float) and not isinstance(minutes, bool)
                if not is_number or not math.isfinite(minutes) or minutes < 0:
                    raise ValueError(f"target {priority}.{metric} must be minutes >= 0")
                checked[metric] = minutes
            targets[priority] = MappingProxyType(checked)
        pause_statuses = frozenset(self.pause_statuses)
        if pause_statuses & DONE_STATUSES:
            raise ValueError("solved and closed cannot be pause statuses")
        if not 0 < self.warn_ratio <= 1:
            raise ValueError("warn_ratio must be above 0 and at most 1")
        object.__setattr__(self, "targets", MappingProxyType(targets))
        object.__setattr__(self, "pause_statuses", pause_statuses)

    def __hash__(self) -> int:
        frozen_targets = tuple(
            (priority, tuple(sorted(metrics.items())))
            for priority, metrics in sorted(self.targets.items())
        )
        return hash((frozen_targets, self.pause_statuses, self.warn_ratio))

    def target_for(self, priority: str, metric: Metric) -> timedelta | None:
        """Return the target of `metric` at `priority`, or None when there is no clock for it."""
        minutes = self.targets.get(priority, {}).get(metric.value)
        return None if minutes is None else timedelta(seconds=round(minutes * 60))


@dataclass(frozen=True)
class ClockSegment:
    """A turning point in a clock's life: start, pause, resume, stop or retarget."""

    kind: str  # "start" | "pause" | "resume" | "stop" | "retarget"
    at: datetime
    detail: str | None = None  # e.g. "pending", "agent_reply", "priority high"


@dataclass(frozen=True)
class Clock:
    """One SLA clock instance as it stands at the evaluation instant."""

    metric: Metric
    cycle: int
    state: ClockState
    started_at: datetime
    due_at: datetime | None
    stopped_at: datetime | None
    breached_at: datetime | None
    elapsed_seconds: int
    paused_seconds: int
    target_seconds: int
    segments: tuple[ClockSegment, ...]
    priority: str


@dataclass(frozen=True)
class SlaReport:
    """Every clock of a ticket, plus the earliest deadline still ticking."""

    clocks: tuple[Clock, ...]
    next_due_at: datetime | None


def policy_from_spec(spec: Mapping[str, Any]) -> SlaPolicy:
    """Build a policy from the policy file's "targets", "pause_statuses" and "warn_ratio"."""
    targets = spec.get("targets")
    if not isinstance(targets, Mapping) or not all(
        isinstance(metrics, Mapping) for metrics in targets.values()
    ):
        raise ValueError('"targets" must map priorities to {metric: minutes} objects')
    pause_statuses = spec.get("pause_statuses", ["pending"])
    if not isinstance(pause_statuses, list) or not all(
        isinstance(status, str) for status in pause_statuses
    ):
        raise ValueError('"pause_statuses" must be a list of status names')
    warn_ratio = spec.get("warn_ratio", 0.75)
    if not isinstance(warn_ratio, int | float) or isinstance(warn_ratio, bool):
        raise ValueError('"warn_ratio" must be a number')
    return SlaPolicy(
        targets=targets, pause_statuses=frozenset(pause_statuses), warn_ratio=float(warn_ratio)
    )


def compute_sla(
    events: Sequence[SlaEvent],
    policy: SlaPolicy,
    calendar: BusinessCalendar,
    now: datetime,
    initial_priority: str = "normal",
) -> SlaReport:
    """Replay a ticket's events and report every SLA clock as it stands at `now`.

    DESIGN.md "SLA semantics" is the contract. Where it is silent, these rules apply:

    - Events are sorted stably by time: events at one instant keep their given order, except
      that priority events at the opening instant set the opening priority. Events after `now`
      have not happened yet and are ignored.
    - The ticket opens at its first customer message; agent replies before that answer
      nothing. A next_response cycle starts only after a public agent reply, so a customer
      reopening a ticket that was solved without a reply gets no reply clock.
    - A status event to "solved" or "closed" solves the ticket. A customer message moves
      new/pending/on_hold/solved/closed back to "open"; other custom statuses stay.
    - Cycles count customer turns, reported or not: a turn at a priority without a
      next_response target leaves a gap in the numbering (stable if the priority changes).
    - A priority change re-targets every clock that has not stopped, paused ones included;
      a clock stopped by solving takes the current priority when it is reopened. A priority
      without a target for the metric drops the clock from the report, unless it breached.
    - A breached clock keeps its target, due_at and priority; it still counts elapsed time.
    - A clock paused and then stopped gets due_at = stop + the target time it had left.
    - Elapsed and paused seconds are floored to whole seconds.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    ordered = sorted((event for event in events if event.at <= now), key=lambda event: event.at)
    engine = _SlaEngine(policy, calendar, initial_priority)
    engine.replay(ordered)
    return engine.report(now)


# -- the engine --------------------------------------------------------------------------------


@dataclass
class _Track:
    """Mutable bookkeeping for one clock while the events are replayed."""

    metric: Metric
    cycle: int
    started_at: datetime
    priority: str
    target: timedelta | None  # None: no SLA for this metric at this priority (not reported)
    segments: list[ClockSegment] = field(default_factory=list)
    #: Completed running stretches as (from, to, business time counted in between).
    history: list[tuple[datetime, datetime, timedelta]] = field(default_factory=list)
    counted: timedelta = _ZERO  # business time of the completed stretches
    running_since: datetime | None = None
    paused_since: datetime | None = None
    paused_total: timedelta = _ZERO
    stopped_at: datetime | None = None
    due_at: datetime | None = None
    breached_at: datetime | None = None


class _SlaEngine:
    """Applies events in order to the ticket's status, priority and clocks."""

    def __init__(self, policy: SlaPolicy, calendar: BusinessCalendar, priority: str) -> None:
        self.policy = policy
        self.calendar = calendar
        self.priority = priority
        self.status = "new"
        self.is_opened = False
        # True from a customer message until the next public agent reply.
        self.customer_waiting = False
        self.agent_has_replied = False
        self.tracks: list[_Track] = []
        self.resolution: _Track | None = None
        self.reply_clock: _Track | None = None  # the running first or next response clock
        self.next_response_cycles = 0

    # -- event dispatch ---------------------------------------------------------------------

    def replay(self, events: Sequence[SlaEvent]) -> None:
        consumed: set[int] = set()
        for index, event in enumerate(events):
            if index in consumed:
                continue
            at = event.at.astimezone(UTC)
            for track in self.tracks:
                self._check_breach(track, at)
            if event.type == SlaEventType.customer_message:
                if not self.is_opened:
                    consumed |= self._apply_opening_priority(events, index)
                self._on_customer_message(at)
            elif event.type == SlaEventType.agent_reply:
                self._on_agent_reply(at)
            elif event.type == SlaEventType.status:
                self._on_status(at, str(event.status))
            elif event.type == SlaEventType.priority:
                self._on_priority(at, str(event.priority))
            elif event.type == SlaEventType.solved:
                self._on_status(at, "solved")
            elif event.type == SlaEventType.reopened:
                if self.status in DONE_STATUSES:
                    self._on_status(at, "open")
            # Notes and automatic replies are not answers: they change nothing.

    def _apply_opening_priority(self, events: Sequence[SlaEvent], index: int) -> set[int]:
        """Give the opening the priority set at the same instant, even if listed after it."""
        opening_at = events[index].at
        same_instant = set()
        for later in range(index + 1, len(events)):
            if events[later].at != opening_at:
                break
            if events[later].type == SlaEventType.priority:
                same_instant.add(later)
                self.priority = str(events[later].priority)
        return same_instant

    def _on_customer_message(self, at: datetime) -> None:
        if not self.is_opened:
            self.is_opened = True
            self.status = "open"
            self.customer_waiting = True
            self.reply_clock = self._start(Metric.first_response, 1, at)
            self.resolution = self._start(Metric.resolution, 1, at)
            return
        if self.status in CUSTOMER_REOPENS_STATUSES:
            self._on_status(at, "open")
        if not self.customer_waiting and self.agent_has_replied:
            self.next_response_cycles += 1
            self.reply_clock = self._start(Metric.next_response, self.next_response_cycles, at)
        self.customer_waiting = True

    def _on_agent_reply(self, at: datetime) -> None:
        if not self.is_opened:
            return  # outreach before the customer wrote: no clock to answer yet
        self.agent_has_replied = True
        self.customer_waiting = False
        if self.reply_clock is not None and self.reply_clock.stopped_at is None:
            self._stop(self.reply_clock, at, "agent_reply")
        self.reply_clock = None

    def _on_status(self, at: datetime, status: str) -> None:
        previous, self.status = self.status, status
        resolution = self.resolution
        if not self.is_opened or resolution is None:
            return
        if status in DONE_STATUSES:
            if previous not in DONE_STATUSES:
                for track in self.tracks:
                    if track.stopped_at is None:
                        self._stop(track, at, status)
                self.reply_clock = None
            return
        if previous in DONE_STATUSES:
            self._reopen(resolution, at, status)
        elif status in self.policy.pause_statuses and resolution.running_since is not None:
            self._pause(resolution, at, status)
        elif status not in self.policy.pause_statuses and resolution.paused_since is not None:
            self._resume(resolution, at, status)

    def _on_priority(self, at: datetime, priority: str) -> None:
        if priority == self.priority:
            return
        self.priority = priority
        for track in self.tracks:
            if track.stopped_at is None:
                self._retarget(track, at)

    # -- clock transitions ------------------------------------------------------------------

    def _start(self, metric: Metric, cycle: int, at: datetime) -> _Track:
        track = _Track(
            metric=metric,
            cycle=cycle,
            started_at=at,
            priority=self.priority,
            target=self.policy.target_for(self.priority, metric),
            running_since=at,
        )
        track.segments.append(ClockSegment("start", at))
        self.tracks.append(track)
        self._refresh_due(track, at)
        return track

    def _pause(self, track: _Track, at: datetime, status: str) -> None:
        self._close_running_stretch(track, at)
        track.paused_since = at
        if track.breached_at is None:
            track.due_at = None  # a paused clock has no deadline
        track.segments.append(ClockSegment("pause", at, status))

    def _resume(self, track: _Track, at: datetime, detail: str) -> None:
        self._close_paused_stretch(track, at)
        track.stopped_at = None
        track.running_since = at
        track.segments.append(ClockSegment("resume", at, detail))
        if track.priority != self.priority:
            self._retarget(track, at)  # the priority changed while the clock was stopped
        else:
            self._refresh_due(track, at)

    def _reopen(self, track: _Track, at: datetime, status: str) -> None:
        if status in self.policy.pause_statuses:
            # Reopened straight into a pause status: from stopped to paused, never running.
            track.stopped_at = None
            track.paused_since = at
            track.segments.append(ClockSegment("pause", at, status))
            if track.priority != self.priority:
                self._retarget(track, at)
            if track.breached_at is None:
                track.due_at = None
        else:
            self._resume(track, at, "reopened")

    def _stop(self, track: _Track, at: datetime, detail: str) -> None:
        if track.running_since is not None:
            self._close_running_stretch(track, at)  # due_at stays what it was while running
        elif track.paused_since is not None:
            self._close_paused_stretch(track, at)
            if track.breached_at is None and track.target is not None:
                # "Had it kept running from where it stopped": the rest of the target from here.
                left = max(track.target - track.counted, _ZERO)
                track.due_at = self._add(at, left)
        track.stopped_at = at
        track.segments.append(ClockSegment("stop", at, detail))

    def _retarget(self, track: _Track, at: datetime) -> None:
        if track.breached_at is not None:
            return  # a breach is final; its target and deadline stay as they were
        track.priority = self.priority
        track.target = self.policy.target_for(self.priority, track.metric)
        track.segments.append(ClockSegment("retarget", at, f"priority {self.priority}"))
        self._refresh_due(track, at)

    def _close_running_stretch(self, track: _Track, at: datetime) -> None:
        assert track.running_since is not None
        counted = self._between(track.running_since, at)
        track.history.append((track.running_since, at, counted))
        track.counted += counted
        track.running_since = None

    def _close_paused_stretch(self, track: _Track, at: datetime) -> None:
        if track.paused_since is not None:
            track.paused_total += self._between(track.paused_since, at)
            track.paused_since = None

    # -- deadlines --------------------------------------------------------------------------

    def _check_breach(self, track: _Track, at: datetime) -> None:
        """Mark a running clock breached once `at` is past its deadline."""
        if (
            track.running_since is not None
            and track.breached_at is None
            and track.due_at is not None
            and at > track.due_at
        ):
            track.breached_at = track.due_at

    def _refresh_due(self, track: _Track, at: datetime) -> None:
        """Recompute the deadline from the clock's whole history under its current target.

        A target lowered by a priority change can lie in the past: if the clock was running
        after the instant its business time reached the new target, it breached right then.
        """
        if track.breached_at is not None:
            return
        track.due_at = None
        if track.target is None:
            return
        reached = _ZERO
        for stretch_start, stretch_end, counted in track.history:
            left = track.target - reached
            if counted >= left:
                reach_at = self._add(stretch_start, left)
                if reach_at < stretch_end:
                    track.due_at = track.breached_at = reach_at
                    return
            reached += counted
        if track.running_since is not None:
            track.due_at = self._add(track.running_since, max(track.target - reached, _ZERO))
            self._check_breach(track, at)

    def _add(self, start: datetime, amount: timedelta) -> datetime:
        return self.calendar.add_business_time(start, amount.total_seconds())

    def _between(self, start: datetime, end: datetime) -> timedelta:
        return timedelta(seconds=self.calendar.business_seconds_between(start, end))

    # -- the result -------------------------------------------------------------------------

    def report(self, now: datetime) -> SlaReport:
        for track in self.tracks:
            self._check_breach(track, now)
        order = list(Metric)
        reported = sorted(
            (track for track in self.tracks if track.target is not None),
            key=lambda track: (order.index(track.metric), track.cycle),
        )
        clocks = tuple(self._freeze(track, now) for track in reported)
        running_deadlines = [
            clock.due_at
            for clock, track in zip(clocks, reported, strict=True)
            if track.running_since is not None and clock.due_at is not None
        ]
        return SlaReport(clocks=clocks, next_due_at=min(running_deadlines, default=None))

    def _freeze(self, track: _Track, now: datetime) -> Clock:
        assert track.target is not None
        elapsed = track.counted
        if track.running_since is not None:
            elapsed += self._between(track.running_since, now)
        paused = track.paused_total
        if track.paused_since is not None:
            paused += self._between(track.paused_since, now)
        if track.breached_at is not None:
            state = ClockState.breached
        elif track.stopped_at is not None:
            state = ClockState.met
        elif track.paused_since is not None:
            state = ClockState.paused
        elif elapsed >= self.policy.warn_ratio * track.target:
            state = ClockState.at_risk
        else:
            state = ClockState.running
        return Clock(
            metric=track.metric,
            cycle=track.cycle,
            state=state,
            started_at=track.started_at,
            due_at=track.due_at,
            stopped_at=track.stopped_at,
            breached_at=track.breached_at,
            elapsed_seconds=_whole_seconds(elapsed),
            paused_seconds=_whole_seconds(paused),
            target_seconds=_whole_seconds(track.target),
            segments=tuple(track.segments),
            priority=track.priority,
        )


def _whole_seconds(amount: timedelta) -> int:
    # Floor on the exact integer parts, so float rounding can never turn 3600 into 3599.
    return amount.days * 86_400 + amount.seconds


# -- output ------------------------------------------------------------------------------------


def format_instant(instant: datetime | None) -> str | None:
    """Format an instant as UTC to the second, e.g. "2026-01-05T12:00:00Z" (None stays None)."""
    if instant is None:
        return None
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_as_json(report: SlaReport) -> dict[str, Any]:
    """Return the report in the `flask sla replay` output format."""
    return {
        "clocks": [
            {
                "metric": clock.metric.value,
                "cycle": clock.cycle,
                "state": clock.state.value,
                "started_at": format_instant(clock.started_at),
                "due_at": format_instant(clock.due_at),
                "stopped_at": format_instant(clock.stopped_at),
                "breached_at": format_instant(clock.breached_at),
                "elapsed_seconds": clock.elapsed_seconds,
                "paused_seconds": clock.paused_seconds,
                "target_seconds": clock.target_seconds,
            }
            for clock in report.clocks
        ],
        "next_due_at": format_instant(report.next_due_at),
    }


# -- explanation in words ------------------------------------------------------------------------

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_STOP_REASONS = {"agent_reply": "an agent reply", "solved": "solving", "closed": "closing"}


def describe_duration(seconds: float) -> str:
    """Say a duration the way a person would: "1 h 5 m", "45 m", "30 s"."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(seconds // 60, 60)
    if hours and minutes:
        return f"{hours} h {minutes} m"
    return f"{hours} h" if hours else f"{minutes} m"


def describe_instant(instant: datetime, timezone: str) -> str:
    """Say an instant in local time, e.g. "Mon 5 Jan 09:12" (English, whatever the locale)."""
    local = instant.astimezone(ZoneInfo(timezone))
    weekday, month = _WEEKDAYS[local.weekday()], _MONTHS[local.month - 1]
    return f"{weekday} {local.day} {month} {local:%H:%M}"


def describe_clock(clock: Clock, timezone: str) -> list[str]:
    """Explain a clock in plain English sentences, one per turning point, then the outcome.

    Times are shown in `timezone` (the calendar's). Business time is counted time: durations
    of pauses are wall-clock, the totals at the end are business time.
    """
    sentences: list[str] = []
    paused_at: datetime | None = None
    for segment in clock.segments:
        when = describe_instant(segment.at, timezone)
        if segment.kind == "start":
            sentences.append(f"started {when}")
        elif segment.kind == "pause":
            paused_at = segment.at
            sentences.append(f"paused {when} while {_status_words(segment.detail)}")
        elif segment.kind == "resume":
            sentence = f"resumed {when}"
            if paused_at is not None:
                waited = (segment.at - paused_at).total_seconds()
                sentence += f" after {describe_duration(waited)} paused"
            sentences.append(sentence)
            paused_at = None
        elif segment.kind == "stop":
            reason = _STOP_REASONS.get(segment.detail or "", segment.detail or "a stop")
            sentences.append(f"stopped {when} by {reason}")
            paused_at = None
        elif segment.kind == "retarget":
            sentences.append(f"re-targeted {when} for {segment.detail}")
    sentences.extend(_describe_outcome(clock, timezone))
    return sentences


def _describe_outcome(clock: Clock, timezone: str) -> Iterable[str]:
    used = describe_duration(clock.elapsed_seconds)
    target = describe_duration(clock.target_seconds)
    if clock.paused_seconds:
        yield f"paused {describe_duration(clock.paused_seconds)} of business time in all"
    if clock.state is ClockState.breached and clock.breached_at is not None:
        yield f"breached {describe_instant(clock.breached_at, timezone)} (target {target})"
    elif clock.state is ClockState.met:
        spare = max(clock.target_seconds - clock.elapsed_seconds, 0)
        yield f"met with {describe_duration(spare)} to spare ({used} used of {target})"
    elif clock.state is ClockState.paused:
        yield f"paused now with {used} used of {target}; no deadline while paused"
    else:
        words = "at risk" if clock.state is ClockState.at_risk else "running"
        due = f", due {describe_instant(clock.due_at, timezone)}" if clock.due_at else ""
        yield f"{words}: {used} used of {target}{due}"


def _status_words(status: str | None) -> str:
    return (status or "paused").replace("_", " ")
