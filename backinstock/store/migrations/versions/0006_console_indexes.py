"""Indexes the console reads by: jobs per shop, channel, lane and state; recent sends; jobs by contact.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_notification_jobs_shop_channel_lane_status"),
        "notification_jobs",
        ["shop", "channel", "lane", "status"],
        unique=False,
    )
    op.create_index(op.f("ix_notification_jobs_sent_at"), "notification_jobs", ["sent_at"], unique=False)
    op.create_index(op.f("ix_notification_jobs_contact"), "notification_jobs", ["contact"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_notification_jobs_contact"), table_name="notification_jobs")
    op.drop_index(op.f("ix_notification_jobs_sent_at"), table_name="notification_jobs")
    op.drop_index(op.f("ix_notification_jobs_shop_channel_lane_status"), table_name="notification_jobs")
