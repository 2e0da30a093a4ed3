"""A contact's unsent messages found from an index: an unsubscribe cancels them, and without it the
statement read every pending message of every shop (a burst of signups leaves thousands pending).
`status` is in the index so SQLite prefers it to the (status, due_at) one.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_outbox_messages_shop_contact_status"),
        "outbox_messages",
        ["shop", "contact", "status"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_messages_shop_contact_status"), table_name="outbox_messages")
