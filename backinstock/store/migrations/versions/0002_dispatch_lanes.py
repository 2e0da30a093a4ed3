"""Dispatch: lanes and their shared state, fenced jobs with the `held` state, provider events, template
versions, alerts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

import backinstock.store.tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OLD_JOB_STATUSES = "'pending', 'sending', 'sent', 'retry_scheduled', 'failed_permanent', 'dead_letter', 'skipped', 'deferred'"
CLAIMABLE = "status IN ('pending', 'retry_scheduled')"


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raised_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("resolved_at", backinstock.store.tables.UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alerts_kind_subject_resolved_at"), ["kind", "subject", "resolved_at"], unique=False
        )

    op.create_table(
        "lane_domain_counts",
        sa.Column("lane", sa.String(length=64), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("minute", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("lane", "domain", "minute", name=op.f("pk_lane_domain_counts")),
    )
    op.create_table(
        "lanes",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("shops", sa.JSON(), nullable=True),
        sa.Column("rate_per_second", sa.Float(), nullable=True),
        sa.Column("burst", sa.Integer(), server_default="1", nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("per_domain_per_minute", sa.Integer(), nullable=True),
        sa.Column("domain_caps", sa.JSON(), nullable=True),
        sa.Column("quiet_hours", sa.String(length=16), nullable=True),
        sa.Column("unknown_outcome", sa.String(length=16), nullable=False),
        sa.Column("next_slot_epoch", sa.Float(), nullable=True),
        sa.Column("paused_until", backinstock.store.tables.UTCDateTime(), nullable=True),
        sa.Column("pause_reason", sa.Text(), nullable=True),
        sa.Column("stopped_at", backinstock.store.tables.UTCDateTime(), nullable=True),
        sa.Column("stopped_reason", sa.Text(), nullable=True),
        sa.Column("configured_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "unknown_outcome IN ('evidence', 'resend', 'hold')", name=op.f("ck_lanes_unknown_outcome")
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_lanes")),
    )
    op.create_table(
        "provider_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lane", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("event_type", sa.String(length=16), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("provider_message_id", sa.String(length=255), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("occurred_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("received_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "event_type IN ('processed', 'deferred', 'delivered', 'bounced', 'complained', 'dropped', 'failed')",
            name=op.f("ck_provider_events_event_type"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_events")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_provider_events_dedupe_key")),
    )
    with op.batch_alter_table("provider_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_provider_events_job_id"), ["job_id"], unique=False)

    op.create_table(
        "template_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shop", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("published_at", backinstock.store.tables.UTCDateTime(), nullable=True),
        sa.Column("published_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template_versions")),
        sa.UniqueConstraint(
            "shop",
            "name",
            "channel",
            "locale",
            "version",
            name=op.f("uq_template_versions_shop_name_channel_locale_version"),
        ),
    )
    with op.batch_alter_table("notification_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lane", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("resolved_by", sa.String(length=255), nullable=True))

    with op.batch_alter_table("notification_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lane", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("fence", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("attempt_in_flight", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("failures", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("rate_limited", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("last_error_class", sa.String(length=32), nullable=True))
        batch_op.drop_constraint(batch_op.f("ck_notification_jobs_status"), type_="check")
        batch_op.create_check_constraint("status", f"status IN ({OLD_JOB_STATUSES}, 'held')")
        batch_op.create_index(
            "ix_notification_jobs_claimable",
            ["channel", "due_at", "priority", "id"],
            unique=False,
            sqlite_where=sa.text(CLAIMABLE),
            postgresql_where=sa.text(CLAIMABLE),
        )

    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.drop_column("version")
    with op.batch_alter_table("notification_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_jobs_claimable")
        batch_op.drop_constraint(batch_op.f("ck_notification_jobs_status"), type_="check")
        batch_op.create_check_constraint("status", f"status IN ({OLD_JOB_STATUSES})")
        for column in ("last_error_class", "rate_limited", "failures", "attempt_in_flight", "fence", "lane"):
            batch_op.drop_column(column)
    with op.batch_alter_table("notification_attempts", schema=None) as batch_op:
        for column in ("resolved_by", "idempotency_key", "lane"):
            batch_op.drop_column(column)
    op.drop_table("template_versions")
    with op.batch_alter_table("provider_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_events_job_id"))
    op.drop_table("provider_events")
    op.drop_table("lanes")
    op.drop_table("lane_domain_counts")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_kind_subject_resolved_at"))
    op.drop_table("alerts")
