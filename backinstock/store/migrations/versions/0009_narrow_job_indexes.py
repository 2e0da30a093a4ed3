"""Two of the jobs' console indexes hold only the rows they are read for: `sent_at` only where it is set
(recent sends), and `(status, updated_at)` becomes `(updated_at, id)` over dead letters and held jobs
only (the queue page's list, newest first, both states in one walk). A claim then writes no entry in
them: on PostgreSQL a claimed row's new version got an entry in every index of the table, and on SQLite
the claim rewrote its `(status, updated_at)` entry.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Word for word as in `backinstock.store.tables` (SQLite matches a partial index's predicate as written).
SENT = "sent_at IS NOT NULL"
REPLAYABLE = "status IN ('dead_letter', 'held')"


def upgrade() -> None:
    op.drop_index("ix_notification_jobs_sent_at", table_name="notification_jobs")
    op.drop_index("ix_notification_jobs_status_updated_at", table_name="notification_jobs")
    op.create_index(
        "ix_notification_jobs_sent_at",
        "notification_jobs",
        ["sent_at"],
        unique=False,
        sqlite_where=sa.text(SENT),
        postgresql_where=sa.text(SENT),
    )
    op.create_index(
        "ix_notification_jobs_replayable",
        "notification_jobs",
        ["updated_at", "id"],
        unique=False,
        sqlite_where=sa.text(REPLAYABLE),
        postgresql_where=sa.text(REPLAYABLE),
    )


def downgrade() -> None:
    op.drop_index("ix_notification_jobs_replayable", table_name="notification_jobs")
    op.drop_index("ix_notification_jobs_sent_at", table_name="notification_jobs")
    op.create_index("ix_notification_jobs_status_updated_at", "notification_jobs", ["status", "updated_at"])
    op.create_index("ix_notification_jobs_sent_at", "notification_jobs", ["sent_at"])
