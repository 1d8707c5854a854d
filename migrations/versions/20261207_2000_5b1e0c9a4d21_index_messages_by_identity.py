"""Index messages by identity: SMS threading looks up the tickets a number wrote on

Revision ID: 5b1e0c9a4d21
Revises: c2fe7d2d637f
Create Date: 2026-12-07 20:00:00+00:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '5b1e0c9a4d21'
down_revision = 'c2fe7d2d637f'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        'ix_messages_identity_created', 'messages', ['identity_id', 'created_at'], unique=False
    )


def downgrade():
    op.drop_index('ix_messages_identity_created', table_name='messages')
