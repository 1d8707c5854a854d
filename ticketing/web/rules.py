"""Supervisor pages for escalation rules: list, edit, switch, dry run and the escalation log."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ticketing.clock import utcnow
from ticketing.domain.escalation import (
    FIELDS,
    NOTIFY_TARGETS,
    OP_LABELS,
    PRIORITIES,
    FieldKind,
    RuleInvalid,
)
from ticketing.extensions import db
from ticketing.models import EscalationRule, Role, Ticket
from ticketing.services import escalations
from ticketing.services.escalations import FiringFilter, FormChoices, RuleInput
from ticketing.web.access import role_required

bp = Blueprint("rules", __name__, url_prefix="/supervisor/rules")

#: empty condition and notification rows a form offers beyond the rule's own
SPARE_ROWS = 2
MAX_ROWS = 30
LOG_PAGE_SIZE = 50
DRY_RUN_LIMIT = 100


# --- pages ---------------------------------------------------------------------------------


@bp.get("/")
@role_required(Role.supervisor)
def index():
    rules = escalations.list_rules()
    names = escalations.reference_names(rules)
    return render_template(
        "rules/index.html",
        rules=rules,
        described={rule.id: escalations.describe_rule(rule, names) for rule in rules},
        choices=escalations.form_choices(),
    )


@bp.post("/seed")
@role_required(Role.supervisor)
def seed():
    team_id = request.form.get("escalation_team_id", type=int)
    created = escalations.seed_default_rules(utcnow(), escalation_team_id=team_id or None)
    db.session.commit()
    if created:
        flash(_("Added %(count)d default rules.", count=len(created)), "success")
    else:
        flash(_("The default rules exist already."), "info")
    return redirect(url_for("rules.index"))


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.supervisor)
def new():
    return _edit(None)


@bp.route("/<int:rule_id>/edit", methods=["GET", "POST"])
@role_required(Role.supervisor)
def edit(rule_id: int):
    return _edit(_rule_or_404(rule_id))


def _edit(rule: EscalationRule | None):
    choices = escalations.form_choices()
    if request.method == "GET":
        data = escalations.rule_input(rule) if rule is not None else RuleInput(
            name="", conditions=[], actions=[], is_enabled=False,
            position=_next_position(),
        )
        form = RuleForm.from_input(data, choices)
        return _render_form(rule, form, choices)

    form = RuleForm.from_request(request.form, choices)
    intent = request.form.get("intent", "save")
    if intent == "add_rows":
        form.spare += SPARE_ROWS
        return _render_form(rule, form, choices)
    if form.errors:
        return _render_form(rule, form, choices), 422
    data = form.to_input()
    if intent == "dry_run":
        try:
            spec = escalations.validate_rule(data, rule_id=rule.id if rule else None)
        except RuleInvalid as error:
            form.errors.extend(error.errors)
            return _render_form(rule, form, choices), 422
        result = escalations.dry_run(spec, utcnow(), DRY_RUN_LIMIT)
        return _render_form(rule, form, choices, dry=result)
    try:
        if rule is None:
            rule = escalations.create_rule(data, now=utcnow())
        else:
            escalations.update_rule(rule, data, now=utcnow())
    except RuleInvalid as error:
        form.errors.extend(error.errors)
        return _render_form(rule, form, choices), 422
    db.session.commit()
    flash(_("Rule “%(name)s” saved.", name=rule.name), "success")
    return redirect(url_for("rules.index"))


@bp.post("/<int:rule_id>/toggle")
@role_required(Role.supervisor)
def toggle(rule_id: int):
    rule = _rule_or_404(rule_id)
    enable = request.form.get("enable") == "1"
    escalations.set_rule_enabled(rule, enable, now=utcnow())
    db.session.commit()
    message = _("Rule “%(name)s” enabled.", name=rule.name) if enable else _(
        "Rule “%(name)s” disabled.", name=rule.name
    )
    flash(message, "success")
    return redirect(url_for("rules.index"))


@bp.post("/<int:rule_id>/delete")
@role_required(Role.supervisor)
def delete(rule_id: int):
    rule = _rule_or_404(rule_id)
    name = rule.name
    escalations.delete_rule(rule)
    db.session.commit()
    flash(_("Rule “%(name)s” deleted.", name=name), "success")
    return redirect(url_for("rules.index"))


@bp.get("/<int:rule_id>/dry-run")
@role_required(Role.supervisor)
def dry_run(rule_id: int):
    rule = _rule_or_404(rule_id)
    try:
        result = escalations.dry_run(rule, utcnow(), DRY_RUN_LIMIT)
    except RuleInvalid as error:
        flash(_("This rule cannot be evaluated: %(error)s", error=str(error)), "error")
        return redirect(url_for("rules.edit", rule_id=rule.id))
    names = escalations.reference_names([rule])
    return render_template(
        "rules/dry_run.html", rule=rule, dry=result,
        described=escalations.describe_rule(rule, names),
    )


@bp.get("/log")
@role_required(Role.supervisor)
def log():
    filters, values = _log_filters(request.args)
    before = _parse_before(request.args.get("before"))
    page = escalations.list_firings(filters, before=before, limit=LOG_PAGE_SIZE)
    next_before = None
    if page.next_before is not None:
        fired_at, firing_id = page.next_before
        next_before = f"{fired_at.isoformat()}_{firing_id}"
    return render_template(
        "rules/log.html",
        firings=page.firings,
        rules=escalations.list_rules(),
        values=values,
        next_before=next_before,
        is_first_page=before is None,
    )


def _rule_or_404(rule_id: int) -> EscalationRule:
    rule = escalations.get_rule(rule_id)
    if rule is None:
        abort(404)
    return rule


def _next_position() -> int:
    rules = escalations.list_rules()
    return (max(rule.position for rule in rules) + 10) if rules else 10


def _render_form(rule: EscalationRule | None, form: RuleForm, choices: FormChoices,
                 dry: escalations.DryRun | None = None) -> str:
    return render_template(
        "rules/form.html",
        rule=rule,
        form=form,
        choices=choices,
        fields=FIELDS,
        op_labels=OP_LABELS,
        priorities=PRIORITIES,
        notify_targets=NOTIFY_TARGETS,
        dry=dry,
        value_hints={name: _value_hint(name) for name in FIELDS},
    )


def _value_hint(field_name: str) -> str:
    spec = FIELDS[field_name]
    if spec.choices:
        return ", ".join(spec.choices)
    return {
        FieldKind.reference: _("a team name or “no team”") if field_name == "team" else _(
            "an e-mail address or “unassigned”"
        ),
        FieldKind.tags: _("tags, comma-separated"),
        FieldKind.count: _("a whole number"),
        FieldKind.to_due: _("minutes; negative once the deadline passed"),
        FieldKind.since: _("minutes"),
    }.get(spec.kind, "")


# --- the log's filters ---------------------------------------------------------------------


def _log_filters(args: Mapping[str, str]) -> tuple[FiringFilter, dict[str, str]]:
    values = {key: (args.get(key) or "").strip() for key in ("rule", "ticket", "trigger", "since",
                                                             "until")}
    rule_id = int(values["rule"]) if values["rule"].isdigit() else None
    ticket_id = Ticket.id_from_reference(values["ticket"]) if values["ticket"] else None
    if values["ticket"] and ticket_id is None:
        ticket_id = -1  # an unknown reference matches nothing rather than everything
    trigger = values["trigger"] if values["trigger"] in ("event", "sweep") else None
    zone = ZoneInfo(current_app.config["DISPLAY_TIMEZONE"])
    since = _local_day(values["since"], zone)
    until = _local_day(values["until"], zone)
    return FiringFilter(
        rule_id=rule_id,
        ticket_id=ticket_id,
        trigger=trigger,
        since=since,
        until=until + timedelta(days=1) if until is not None else None,
    ), values


def _local_day(text: str, zone: ZoneInfo) -> datetime | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _parse_before(text: str | None) -> tuple[datetime, int] | None:
    if not text or "_" not in text:
        return None
    instant, _sep, number = text.rpartition("_")
    try:
        fired_at = datetime.fromisoformat(instant)
        firing_id = int(number)
    except ValueError:
        return None
    if fired_at.tzinfo is None:
        return None
    return fired_at.astimezone(UTC), firing_id


# --- the rule form -------------------------------------------------------------------------


@dataclass
class ConditionRow:
    field: str = ""
    op: str = ""
    value: str = ""


@dataclass
class NotifyRow:
    target: str = ""
    user_id: int | None = None
    email: bool = True
    sms: bool = False
    message: str = ""


@dataclass
class RuleForm:
    """The structured rule form (and its JSON mode), parsed from or rendered into HTML fields.

    Actions are laid out one fieldset per kind (notifications in rows) and saved in a fixed
    order, changes before notifications so a message shows the ticket as it now is. A rule
    whose actions do not fit that layout (the same kind twice, say) opens in JSON mode instead.
    """

    name: str = ""
    description: str = ""
    position: int = 0
    match: str = "all"
    is_enabled: bool = False
    mode: str = "form"
    conditions: list[ConditionRow] = field(default_factory=list)
    assign_team: int | None = None
    assign_user: int | None = None
    priority: str = ""
    raise_only: bool = True
    tags: str = ""
    note: str = ""
    notifies: list[NotifyRow] = field(default_factory=list)
    level_enabled: bool = False
    level: int | None = None
    rule_json: str = ""
    spare: int = SPARE_ROWS
    errors: list[str] = field(default_factory=list)
    #: conditions and actions as submitted, ready for validation
    parsed_conditions: list[dict[str, Any]] = field(default_factory=list)
    json_actions: list[dict[str, Any]] = field(default_factory=list)

    # -- from a stored rule ---------------------------------------------------------------

    @classmethod
    def from_input(cls, data: RuleInput, choices: FormChoices) -> RuleForm:
        form = cls(
            name=data.name,
            description=data.description,
            position=data.position,
            match=data.match,
            is_enabled=data.is_enabled,
        )
        teams = dict(choices.teams)
        emails = {user_id: email for user_id, _name, email in choices.users}
        for raw in data.conditions:
            form.conditions.append(ConditionRow(
                field=str(raw.get("field", "")),
                op=str(raw.get("op", "")),
                value=_show_value(raw, teams, emails),
            ))
        fits = form._take_actions(data.actions)
        form.rule_json = json.dumps(
            {"match": data.match, "conditions": data.conditions, "actions": data.actions},
            indent=2, ensure_ascii=False,
        )
        if not fits:
            form.mode = "json"
        return form

    def _take_actions(self, actions: list[dict[str, Any]]) -> bool:
        """Fill the fieldsets; return False when the actions do not fit them."""
        seen: set[str] = set()
        tags: list[str] = []
        fits = True
        for action in actions:
            kind = action.get("type")
            if kind in seen and kind not in ("notify", "add_tag"):
                fits = False
                continue
            seen.add(str(kind))
            if kind == "set_priority":
                self.priority = str(action.get("priority") or "")
                self.raise_only = bool(action.get("raise_only"))
            elif kind == "assign_team":
                self.assign_team = action.get("team_id")
            elif kind == "assign_user":
                self.assign_user = action.get("user_id")
            elif kind == "add_tag":
                tags.append(str(action.get("tag") or ""))
            elif kind == "add_note":
                self.note = str(action.get("text") or "")
            elif kind == "notify":
                channels = action.get("channels") or []
                self.notifies.append(NotifyRow(
                    target=str(action.get("target") or ""),
                    user_id=action.get("user_id"),
                    email="email" in channels,
                    sms="sms" in channels,
                    message=str(action.get("message") or ""),
                ))
            elif kind == "raise_level":
                self.level_enabled = True
                self.level = action.get("level")
            else:
                fits = False
        self.tags = ", ".join(tags)
        return fits

    # -- from a submitted form ------------------------------------------------------------

    @classmethod
    def from_request(cls, values: Mapping[str, str], choices: FormChoices) -> RuleForm:
        form = cls(
            name=(values.get("name") or "").strip(),
            description=(values.get("description") or "").strip(),
            match=values.get("match") or "all",
            is_enabled=values.get("is_enabled") == "1",
            mode="json" if values.get("mode") == "json" else "form",
            rule_json=values.get("rule_json") or "",
        )
        try:
            form.position = int(values.get("position") or 0)
        except ValueError:
            form.errors.append(_("Position must be a whole number."))
        rows = _row_count(values.get("condition_rows"))
        for index in range(rows):
            row = ConditionRow(
                field=(values.get(f"cond-{index}-field") or "").strip(),
                op=(values.get(f"cond-{index}-op") or "").strip(),
                value=(values.get(f"cond-{index}-value") or "").strip(),
            )
            if row.field or row.value:
                form.conditions.append(row)
        form.assign_team = _optional_int(values.get("assign_team"))
        form.assign_user = _optional_int(values.get("assign_user"))
        form.priority = values.get("priority") or ""
        form.raise_only = values.get("raise_only") == "1"
        form.tags = (values.get("tags") or "").strip()
        form.note = (values.get("note") or "").strip()
        for index in range(_row_count(values.get("notify_rows"))):
            target = (values.get(f"notify-{index}-target") or "").strip()
            if not target:
                continue
            form.notifies.append(NotifyRow(
                target=target,
                user_id=_optional_int(values.get(f"notify-{index}-user")),
                email=values.get(f"notify-{index}-email") == "1",
                sms=values.get(f"notify-{index}-sms") == "1",
                message=(values.get(f"notify-{index}-message") or "").strip(),
            ))
        form.level_enabled = values.get("level_enabled") == "1"
        form.level = _optional_int(values.get("level"))
        form._resolve(choices)
        return form

    def _resolve(self, choices: FormChoices) -> None:
        """Turn team names and user e-mails in condition values into ids; JSON mode as given."""
        if self.mode == "json":
            try:
                parsed = json.loads(self.rule_json or "{}")
            except json.JSONDecodeError as error:
                self.errors.append(_("The JSON is not valid: %(error)s", error=str(error)))
                return
            if not isinstance(parsed, dict):
                self.errors.append(_("The JSON must be an object with conditions and actions."))
                return
            self.match = str(parsed.get("match") or self.match)
            conditions = parsed.get("conditions")
            actions = parsed.get("actions")
            if not isinstance(conditions, list) or not isinstance(actions, list):
                self.errors.append(_("The JSON needs a list of conditions and a list of actions."))
                return
            self.parsed_conditions = conditions
            self.json_actions = actions
            return
        teams = {name.lower(): team_id for team_id, name in choices.teams}
        users = {email.lower(): user_id for user_id, _name, email in choices.users}
        users.update({name.lower(): user_id for user_id, name, _email in choices.users})
        self.parsed_conditions = [
            {"field": row.field, "op": row.op,
             "value": _condition_value(row, teams, users)}
            for row in self.conditions
        ]
        # Keep the JSON view in step with the form, for a supervisor who switches modes.
        self.rule_json = json.dumps(
            {"match": self.match, "conditions": self.parsed_conditions,
             "actions": self._form_actions()},
            indent=2, ensure_ascii=False,
        )

    def to_input(self) -> RuleInput:
        actions = self.json_actions if self.mode == "json" else self._form_actions()
        return RuleInput(
            name=self.name,
            description=self.description,
            position=self.position,
            match=self.match,
            is_enabled=self.is_enabled,
            conditions=self.parsed_conditions,
            actions=actions,
        )

    def _form_actions(self) -> list[dict[str, Any]]:
        actions: list[dict[str, Any]] = []
        if self.assign_team:
            actions.append({"type": "assign_team", "team_id": self.assign_team})
        if self.assign_user:
            actions.append({"type": "assign_user", "user_id": self.assign_user})
        if self.priority:
            actions.append({"type": "set_priority", "priority": self.priority,
                            "raise_only": self.raise_only})
        if self.level_enabled:
            actions.append({"type": "raise_level", "level": self.level})
        for tag in (part.strip() for part in self.tags.split(",")):
            if tag:
                actions.append({"type": "add_tag", "tag": tag})
        if self.note:
            actions.append({"type": "add_note", "text": self.note})
        for row in self.notifies:
            action: dict[str, Any] = {
                "type": "notify",
                "target": row.target,
                "channels": [name for name, on in (("email", row.email), ("sms", row.sms)) if on],
            }
            if row.target == "user":
                action["user_id"] = row.user_id
            if row.message:
                action["message"] = row.message
            actions.append(action)
        return actions

    # -- for the template -----------------------------------------------------------------

    @property
    def condition_rows(self) -> list[ConditionRow]:
        rows = list(self.conditions)
        rows += [ConditionRow() for _ in range(self.spare)]
        return rows[:MAX_ROWS]

    @property
    def notify_rows(self) -> list[NotifyRow]:
        rows = list(self.notifies)
        rows += [NotifyRow(email=True) for _ in range(max(1, self.spare - 1))]
        return rows[:MAX_ROWS]


def _row_count(text: str | None) -> int:
    try:
        return max(0, min(int(text or 0), MAX_ROWS))
    except ValueError:
        return 0


def _optional_int(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None


def _condition_value(row: ConditionRow, teams: Mapping[str, int], users: Mapping[str, int]) -> Any:
    """A typed value from the form's text: lists for list operators, ids for teams and users."""
    if row.op == "is_empty":
        return row.value.lower() not in ("no", "false", "0")
    parts = [part.strip() for part in row.value.split(",")] if row.op in (
        "in", "not_in", "contains"
    ) else [row.value]
    if row.field in ("team", "assignee"):
        lookup = teams if row.field == "team" else users
        parts = [lookup.get(part.lower(), part) for part in parts]
    return parts if row.op in ("in", "not_in", "contains") else parts[0]


def _show_value(raw: Mapping[str, Any], teams: Mapping[int, str], emails: Mapping[int, str]) -> str:
    """A stored condition value as the form shows it (names instead of ids)."""
    value = raw.get("value")
    field_name = raw.get("field")
    if raw.get("op") == "is_empty":
        return "yes" if value in (True, None) else "no"
    items = value if isinstance(value, list) else [value]

    def show(item: Any) -> str:
        if field_name == "team":
            return "no team" if item is None else teams.get(item, str(item))
        if field_name == "assignee":
            return "unassigned" if item is None else emails.get(item, str(item))
        return "" if item is None else str(item)

    return ", ".join(show(item) for item in items)
