"""The latest dead letters and held jobs, newest first, read from an index (the console's queue page).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_notification_jobs_status_updated_at"),
        "notification_jobs",
        ["status", "updated_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_notification_jobs_status_updated_at"), table_name="notification_jobs")
