"""Initial schema: customers, tickets, messages, events, SLA clocks, outbox, rules, API

Revision ID: c2fe7d2d637f
Revises:
Create Date: 2026-11-23 16:38:52.309971+00:00

"""
import sqlalchemy as sa
from alembic import op

import ticketing.db

# revision identifiers, used by Alembic.
revision = 'c2fe7d2d637f'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('canned_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_canned_responses')),
    sa.UniqueConstraint('title', 'language', name=op.f('uq_canned_responses_title_language'))
    )
    op.create_table('customers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('created_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers'))
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        if op.get_bind().dialect.name == "postgresql":  # word search index
            batch_op.create_index('ix_customers_name_search', [sa.literal_column("to_tsvector('simple', name)")], unique=False, postgresql_using='gin')

    op.create_table('escalation_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('is_enabled', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('match', sa.String(length=8), nullable=False),
    sa.Column('conditions', sa.JSON(), nullable=False),
    sa.Column('actions', sa.JSON(), nullable=False),
    sa.Column('created_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('swept_to', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('swept_after_ticket_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_rules')),
    sa.UniqueConstraint('name', name=op.f('uq_escalation_rules_name'))
    )
    op.create_table('sla_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('conditions', sa.JSON(), nullable=False),
    sa.Column('calendar', sa.JSON(), nullable=False),
    sa.Column('targets', sa.JSON(), nullable=False),
    sa.Column('pause_statuses', sa.JSON(), nullable=False),
    sa.Column('warn_ratio', sa.Double(), nullable=False),
    sa.Column('created_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_policies')),
    sa.UniqueConstraint('name', name=op.f('uq_sla_policies_name'))
    )
    op.create_table('sweep_state',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('last_swept_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_event_id', sa.Integer(), nullable=True),
    sa.Column('high_event_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_sweep_state'))
    )
    op.create_table('tags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tags')),
    sa.UniqueConstraint('name', name=op.f('uq_tags_name'))
    )
    op.create_table('teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('created_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams')),
    sa.UniqueConstraint('name', name=op.f('uq_teams_name'))
    )
    op.create_table('customer_identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('opted_out_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('opt_out_reason', sa.String(length=200), nullable=True),
    sa.Column('created_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_identities_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_identities')),
    sa.UniqueConstraint('kind', 'address', name=op.f('uq_customer_identities_kind_address'))
    )
    with op.batch_alter_table('customer_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_identities_customer_id'), ['customer_id'], unique=False)

    op.create_table('customer_tags',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_tags_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tag_id'], ['tags.id'], name=op.f('fk_customer_tags_tag_id_tags'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', 'tag_id', name=op.f('pk_customer_tags'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.Enum('agent', 'supervisor', 'admin', name='role', native_enum=False, length=20), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('is_active_account', sa.Boolean(), nullable=False),
    sa.Column('session_version', sa.Integer(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_login_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_users_team_id_teams'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('created_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('tickets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('status', sa.Enum('new', 'open', 'pending', 'on_hold', 'solved', 'closed', name='ticketstatus', native_enum=False, length=20), nullable=False),
    sa.Column('priority', sa.Enum('low', 'normal', 'high', 'urgent', name='priority', native_enum=False, length=20), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('policy_id', sa.Integer(), nullable=True),
    sa.Column('sla_policy_snapshot', sa.JSON(), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('opened_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_customer_message_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_agent_reply_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('first_responded_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('solved_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('first_response_due_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_response_due_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolution_due_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_due_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_warn_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sla_state', sa.String(length=16), nullable=True),
    sa.Column('has_breached', sa.Boolean(), nullable=False),
    sa.Column('contact_count', sa.Integer(), nullable=False),
    sa.Column('repeat_contacts', sa.Integer(), nullable=False),
    sa.Column('again_mentions', sa.Integer(), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('repeat_of_id', sa.Integer(), nullable=True),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_tickets_assignee_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_tickets_customer_id_customers')),
    sa.ForeignKeyConstraint(['merged_into_id'], ['tickets.id'], name=op.f('fk_tickets_merged_into_id_tickets'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['policy_id'], ['sla_policies.id'], name=op.f('fk_tickets_policy_id_sla_policies'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['repeat_of_id'], ['tickets.id'], name=op.f('fk_tickets_repeat_of_id_tickets'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_tickets_team_id_teams'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tickets'))
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_assignee_id', ['assignee_id', 'id'], unique=False)
        batch_op.create_index('ix_tickets_assignee_status', ['assignee_id', 'status'], unique=False)
        batch_op.create_index('ix_tickets_channel_id', ['channel', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_tickets_customer_opened', ['customer_id', 'opened_at'], unique=False)
        batch_op.create_index('ix_tickets_last_customer_message_at', ['last_customer_message_at'], unique=False)
        batch_op.create_index('ix_tickets_next_due_at', ['next_due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_next_warn_at'), ['next_warn_at'], unique=False)
        batch_op.create_index('ix_tickets_open_assignee_due', ['assignee_id', 'next_due_at', 'id'], unique=False, postgresql_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold')"), sqlite_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold')"))
        batch_op.create_index('ix_tickets_open_due', ['next_due_at', 'id'], unique=False, postgresql_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold')"), sqlite_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold')"))
        batch_op.create_index('ix_tickets_open_repeat_due', ['next_due_at', 'id'], unique=False, postgresql_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold') AND (repeat_contacts > 0 OR repeat_of_id IS NOT NULL)"), sqlite_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold') AND (repeat_contacts > 0 OR repeat_of_id IS NOT NULL)"))
        batch_op.create_index('ix_tickets_open_team_due', ['team_id', 'next_due_at', 'id'], unique=False, postgresql_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold')"), sqlite_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold')"))
        batch_op.create_index('ix_tickets_open_warn_due', ['next_warn_at', 'next_due_at', 'id'], unique=False, postgresql_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold')"), sqlite_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold')"))
        batch_op.create_index('ix_tickets_opened_at', ['opened_at'], unique=False)
        batch_op.create_index('ix_tickets_solved_at', ['solved_at'], unique=False)
        batch_op.create_index('ix_tickets_status_next_due', ['status', 'next_due_at', 'id'], unique=False)
        if op.get_bind().dialect.name == "postgresql":  # word search index
            batch_op.create_index('ix_tickets_subject_search', [sa.literal_column("to_tsvector('simple', subject)")], unique=False, postgresql_using='gin')
        batch_op.create_index('ix_tickets_team_id', ['team_id', 'id'], unique=False)
        batch_op.create_index('ix_tickets_team_status', ['team_id', 'status'], unique=False)
        batch_op.create_index('ix_tickets_updated_at_id', ['updated_at', 'id'], unique=False)

    op.create_table('webhook_endpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('secret', sa.String(length=200), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('starts_after_event_id', sa.Integer(), nullable=False),
    sa.Column('disabled_reason', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_webhook_endpoints_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints'))
    )
    op.create_table('escalation_firings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('episode', sa.Integer(), nullable=False),
    sa.Column('fired_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('trigger', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('outcome', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['rule_id'], ['escalation_rules.id'], name=op.f('fk_escalation_firings_rule_id_escalation_rules'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_escalation_firings_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_firings')),
    sa.UniqueConstraint('rule_id', 'ticket_id', 'episode', name=op.f('uq_escalation_firings_rule_id_ticket_id_episode'))
    )
    with op.batch_alter_table('escalation_firings', schema=None) as batch_op:
        batch_op.create_index('ix_escalation_firings_fired_at', ['fired_at'], unique=False)
        batch_op.create_index('ix_escalation_firings_ticket', ['ticket_id', 'fired_at'], unique=False)

    op.create_table('escalation_rule_states',
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('episode', sa.Integer(), nullable=False),
    sa.Column('is_matching', sa.Boolean(), nullable=False),
    sa.Column('changed_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['rule_id'], ['escalation_rules.id'], name=op.f('fk_escalation_rule_states_rule_id_escalation_rules'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_escalation_rule_states_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('rule_id', 'ticket_id', name=op.f('pk_escalation_rule_states'))
    )
    op.create_table('inbound_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('received_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=500), nullable=True),
    sa.Column('envelope', sa.JSON(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Enum('received', 'processed', 'duplicate', 'ignored', 'quarantined', name='inboundstatus', native_enum=False, length=16), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('processed_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolution', sa.String(length=16), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], name=op.f('fk_inbound_records_resolved_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_inbound_records_ticket_id_tickets'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_records'))
    )
    with op.batch_alter_table('inbound_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_records_sha256'), ['sha256'], unique=False)
        batch_op.create_index('ix_inbound_records_status_received', ['status', 'received_at'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_notifications_ticket_id_tickets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_user_unread', ['user_id', 'read_at'], unique=False)

    op.create_table('sla_clocks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('cycle', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=True),
    sa.Column('started_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('warn_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('stopped_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('breached_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('elapsed_seconds', sa.Integer(), nullable=False),
    sa.Column('paused_seconds', sa.Integer(), nullable=False),
    sa.Column('target_seconds', sa.Integer(), nullable=False),
    sa.Column('segments', sa.JSON(), nullable=False),
    sa.Column('is_running', sa.Boolean(), nullable=False),
    sa.Column('computed_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['policy_id'], ['sla_policies.id'], name=op.f('fk_sla_clocks_policy_id_sla_policies'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_sla_clocks_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_clocks')),
    sa.UniqueConstraint('ticket_id', 'metric', 'cycle', name=op.f('uq_sla_clocks_ticket_id_metric_cycle'))
    )
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.create_index('ix_sla_clocks_breached_at', ['breached_at'], unique=False, postgresql_include=['metric', 'state', 'ticket_id', 'priority', 'policy_id'], postgresql_where=sa.text('breached_at IS NOT NULL'), sqlite_where=sa.text('breached_at IS NOT NULL'))
        batch_op.create_index('ix_sla_clocks_running_due', ['due_at'], unique=False, postgresql_where=sa.text('is_running'), sqlite_where=sa.text('is_running = 1'))
        batch_op.create_index('ix_sla_clocks_running_warn', ['warn_at'], unique=False, postgresql_where=sa.text('is_running'), sqlite_where=sa.text('is_running = 1'))
        batch_op.create_index('ix_sla_clocks_stopped', ['stopped_at'], unique=False, postgresql_include=['metric', 'state', 'elapsed_seconds', 'ticket_id', 'priority', 'policy_id'])

    op.create_table('ticket_presence',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('last_seen_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('is_replying', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_presence_ticket_id_tickets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_ticket_presence_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ticket_id', 'user_id', name=op.f('pk_ticket_presence'))
    )
    op.create_table('ticket_tags',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tag_id'], ['tags.id'], name=op.f('fk_ticket_tags_tag_id_tags'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_tags_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ticket_id', 'tag_id', name=op.f('pk_ticket_tags'))
    )
    op.create_table('tracking_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_tracking_tokens_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tracking_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_tracking_tokens_token_hash'))
    )
    with op.batch_alter_table('tracking_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tracking_tokens_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('endpoint_id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('ticket_event_id', sa.Integer(), nullable=True),
    sa.Column('locked_until', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], name=op.f('fk_webhook_deliveries_endpoint_id_webhook_endpoints'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_webhook_deliveries_ticket_id_tickets'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
    sa.UniqueConstraint('delivery_id', name=op.f('uq_webhook_deliveries_delivery_id'))
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_endpoint_id_desc', ['endpoint_id', 'id'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_endpoint_ticket', ['endpoint_id', 'ticket_id', 'ticket_event_id'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_status_next', ['status', 'next_attempt_at'], unique=False)

    op.create_table('breach_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clock_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clock_id'], ['sla_clocks.id'], name=op.f('fk_breach_reviews_clock_id_sla_clocks'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_breach_reviews_reviewer_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_breach_reviews')),
    sa.UniqueConstraint('clock_id', name=op.f('uq_breach_reviews_clock_id'))
    )
    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.Enum('in', 'out', 'note', name='direction', native_enum=False, length=8), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('external_id', sa.String(length=500), nullable=True),
    sa.Column('rfc_message_id', sa.String(length=500), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('identity_id', sa.Integer(), nullable=True),
    sa.Column('inbound_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=500), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('new_text', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('again_cues', sa.JSON(), nullable=False),
    sa.Column('is_automatic', sa.Boolean(), nullable=False),
    sa.Column('created_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivery_state', sa.Enum('queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'read', name='deliverystate', native_enum=False, length=16), nullable=True),
    sa.Column('delivery_error', sa.String(length=500), nullable=True),
    sa.Column('delivery_error_code', sa.String(length=16), nullable=True),
    sa.Column('delivery_updated_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('provider_id', sa.String(length=500), nullable=True),
    sa.Column('meta', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_messages_author_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['identity_id'], ['customer_identities.id'], name=op.f('fk_messages_identity_id_customer_identities'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['inbound_id'], ['inbound_records.id'], name=op.f('fk_messages_inbound_id_inbound_records'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_messages_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('channel', 'external_id', name=op.f('uq_messages_channel_external_id'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        if op.get_bind().dialect.name == "postgresql":  # word search index
            batch_op.create_index('ix_messages_new_text_search', [sa.literal_column("to_tsvector('simple', new_text)")], unique=False, postgresql_using='gin')
        batch_op.create_index(batch_op.f('ix_messages_provider_id'), ['provider_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_messages_rfc_message_id'), ['rfc_message_id'], unique=False)
        batch_op.create_index('ix_messages_ticket_created', ['ticket_id', 'created_at'], unique=False)

    op.create_table('webhook_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('webhook_delivery_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('attempted_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=1000), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('response_excerpt', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['webhook_delivery_id'], ['webhook_deliveries.id'], name=op.f('fk_webhook_attempts_webhook_delivery_id_webhook_deliveries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempts'))
    )
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_attempts_webhook_delivery_id'), ['webhook_delivery_id'], unique=False)

    op.create_table('attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=255), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('url', sa.String(length=1000), nullable=True),
    sa.Column('content_id', sa.String(length=255), nullable=True),
    sa.Column('is_inline', sa.Boolean(), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('fetch_attempts', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_attachments_message_id_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attachments'))
    )
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attachments_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attachments_sha256'), ['sha256'], unique=False)

    op.create_table('message_references',
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('rfc_message_id', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_references_message_id_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('message_id', 'rfc_message_id', name=op.f('pk_message_references'))
    )
    with op.batch_alter_table('message_references', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_references_rfc_message_id'), ['rfc_message_id'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'sent', 'failed', name='outboxstatus', native_enum=False, length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('provider_id', sa.String(length=500), nullable=True),
    sa.Column('created_at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', ticketing.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_via', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_outbox_message_id_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_outbox_ticket_id_tickets'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_message_id'), ['message_id'], unique=False)
        batch_op.create_index('ix_outbox_recipient_purpose_created', ['recipient', 'purpose', 'created_at'], unique=False)
        batch_op.create_index('ix_outbox_status_next_attempt', ['status', 'next_attempt_at'], unique=False)

    op.create_table('ticket_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('at', ticketing.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('dedup_key', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_ticket_events_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_ticket_events_message_id_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_events_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_events')),
    sa.UniqueConstraint('ticket_id', 'type', 'dedup_key', name=op.f('uq_ticket_events_ticket_id_type_dedup_key'))
    )
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_events_ticket_at', ['ticket_id', 'at'], unique=False)
        batch_op.create_index('ix_ticket_events_type_at', ['type', 'at'], unique=False)



def downgrade():
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_events_type_at')
        batch_op.drop_index('ix_ticket_events_ticket_at')

    op.drop_table('ticket_events')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_next_attempt')
        batch_op.drop_index('ix_outbox_recipient_purpose_created')
        batch_op.drop_index(batch_op.f('ix_outbox_message_id'))

    op.drop_table('outbox')
    with op.batch_alter_table('message_references', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_references_rfc_message_id'))

    op.drop_table('message_references')
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attachments_sha256'))
        batch_op.drop_index(batch_op.f('ix_attachments_message_id'))

    op.drop_table('attachments')
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_attempts_webhook_delivery_id'))

    op.drop_table('webhook_attempts')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_ticket_created')
        batch_op.drop_index(batch_op.f('ix_messages_rfc_message_id'))
        batch_op.drop_index(batch_op.f('ix_messages_provider_id'))
        if op.get_bind().dialect.name == "postgresql":  # word search index
            batch_op.drop_index('ix_messages_new_text_search', postgresql_using='gin')

    op.drop_table('messages')
    op.drop_table('breach_reviews')
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_status_next')
        batch_op.drop_index('ix_webhook_deliveries_endpoint_ticket')
        batch_op.drop_index('ix_webhook_deliveries_endpoint_id_desc')

    op.drop_table('webhook_deliveries')
    with op.batch_alter_table('tracking_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tracking_tokens_ticket_id'))

    op.drop_table('tracking_tokens')
    op.drop_table('ticket_tags')
    op.drop_table('ticket_presence')
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.drop_index('ix_sla_clocks_stopped', postgresql_include=['metric', 'state', 'elapsed_seconds', 'ticket_id', 'priority', 'policy_id'])
        batch_op.drop_index('ix_sla_clocks_running_warn', postgresql_where=sa.text('is_running'), sqlite_where=sa.text('is_running = 1'))
        batch_op.drop_index('ix_sla_clocks_running_due', postgresql_where=sa.text('is_running'), sqlite_where=sa.text('is_running = 1'))
        batch_op.drop_index('ix_sla_clocks_breached_at', postgresql_include=['metric', 'state', 'ticket_id', 'priority', 'policy_id'], postgresql_where=sa.text('breached_at IS NOT NULL'), sqlite_where=sa.text('breached_at IS NOT NULL'))

    op.drop_table('sla_clocks')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_user_unread')

    op.drop_table('notifications')
    with op.batch_alter_table('inbound_records', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_records_status_received')
        batch_op.drop_index(batch_op.f('ix_inbound_records_sha256'))

    op.drop_table('inbound_records')
    op.drop_table('escalation_rule_states')
    with op.batch_alter_table('escalation_firings', schema=None) as batch_op:
        batch_op.drop_index('ix_escalation_firings_ticket')
        batch_op.drop_index('ix_escalation_firings_fired_at')

    op.drop_table('escalation_firings')
    op.drop_table('webhook_endpoints')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_updated_at_id')
        batch_op.drop_index('ix_tickets_team_status')
        batch_op.drop_index('ix_tickets_team_id')
        if op.get_bind().dialect.name == "postgresql":  # word search index
            batch_op.drop_index('ix_tickets_subject_search', postgresql_using='gin')
        batch_op.drop_index('ix_tickets_status_next_due')
        batch_op.drop_index('ix_tickets_solved_at')
        batch_op.drop_index('ix_tickets_opened_at')
        batch_op.drop_index('ix_tickets_open_warn_due', postgresql_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold')"), sqlite_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold')"))
        batch_op.drop_index('ix_tickets_open_team_due', postgresql_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold')"), sqlite_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold')"))
        batch_op.drop_index('ix_tickets_open_repeat_due', postgresql_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold') AND (repeat_contacts > 0 OR repeat_of_id IS NOT NULL)"), sqlite_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold') AND (repeat_contacts > 0 OR repeat_of_id IS NOT NULL)"))
        batch_op.drop_index('ix_tickets_open_due', postgresql_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold')"), sqlite_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold')"))
        batch_op.drop_index('ix_tickets_open_assignee_due', postgresql_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold')"), sqlite_where=sa.text("status IN ('new', 'open', 'pending', 'on_hold')"))
        batch_op.drop_index(batch_op.f('ix_tickets_next_warn_at'))
        batch_op.drop_index('ix_tickets_next_due_at')
        batch_op.drop_index('ix_tickets_last_customer_message_at')
        batch_op.drop_index('ix_tickets_customer_opened')
        batch_op.drop_index(batch_op.f('ix_tickets_customer_id'))
        batch_op.drop_index('ix_tickets_channel_id')
        batch_op.drop_index('ix_tickets_assignee_status')
        batch_op.drop_index('ix_tickets_assignee_id')

    op.drop_table('tickets')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    op.drop_table('users')
    op.drop_table('customer_tags')
    with op.batch_alter_table('customer_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_identities_customer_id'))

    op.drop_table('customer_identities')
    op.drop_table('teams')
    op.drop_table('tags')
    op.drop_table('sweep_state')
    op.drop_table('sla_policies')
    op.drop_table('escalation_rules')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        if op.get_bind().dialect.name == "postgresql":  # word search index
            batch_op.drop_index('ix_customers_name_search', postgresql_using='gin')

    op.drop_table('customers')
    op.drop_table('canned_responses')
