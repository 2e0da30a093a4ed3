"""The operational store: subscriptions, jobs, attempts, suppressions, rules, templates, events, inbox, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

import backinstock.store.tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("occurred_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.String(length=255), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_table(
        "catalog_variants",
        sa.Column("shop", sa.String(length=255), nullable=False),
        sa.Column("variant_id", sa.String(length=255), nullable=False),
        sa.Column("product_id", sa.String(length=255), nullable=False),
        sa.Column("product_title", sa.String(length=512), nullable=False),
        sa.Column("variant_title", sa.String(length=512), nullable=False),
        sa.Column("handle", sa.String(length=255), nullable=False),
        sa.Column("sku", sa.String(length=255), nullable=True),
        sa.Column("price", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("inventory_policy", sa.String(length=16), nullable=False),
        sa.Column("tracked", sa.Boolean(), nullable=False),
        sa.Column("updated_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("synced_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("shop", "variant_id", name=op.f("pk_catalog_variants")),
    )
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shop", sa.String(length=255), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.String(length=255), server_default="", nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rules")),
        sa.UniqueConstraint(
            "shop", "scope", "scope_id", "name", name=op.f("uq_rules_shop_scope_scope_id_name")
        ),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shop", sa.String(length=255), nullable=False),
        sa.Column("variant_id", sa.String(length=255), nullable=False),
        sa.Column("product_id", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("contact", sa.String(length=320), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("notified_at", backinstock.store.tables.UTCDateTime(), nullable=True),
        sa.Column("unsubscribed_at", backinstock.store.tables.UTCDateTime(), nullable=True),
        sa.Column("consent_text", sa.Text(), nullable=False),
        sa.Column("consent_method", sa.String(length=64), nullable=False),
        sa.Column("consent_source", sa.String(length=1024), nullable=True),
        sa.Column("consent_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("consent_ip", sa.String(length=64), nullable=True),
        sa.Column("consent_user_agent", sa.String(length=1024), nullable=True),
        sa.CheckConstraint(
            "status IN ('active', 'notified', 'unsubscribed')", name=op.f("ck_subscriptions_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subscriptions_shop_contact"), ["shop", "contact"], unique=False)
        batch_op.create_index(
            "uq_subscriptions_one_active",
            ["shop", "variant_id", "channel", "contact"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )

    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shop", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("contact", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=True),
        sa.Column("created_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint("shop", "channel", "contact", name=op.f("uq_suppressions_shop_channel_contact")),
    )
    op.create_table(
        "templates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shop", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("updated_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_templates")),
        sa.UniqueConstraint(
            "shop", "name", "channel", "locale", name=op.f("uq_templates_shop_name_channel_locale")
        ),
    )
    op.create_table(
        "webhook_inbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shop", sa.String(length=255), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("webhook_id", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=True),
        sa.Column("api_version", sa.String(length=16), nullable=True),
        sa.Column("triggered_at", backinstock.store.tables.UTCDateTime(), nullable=True),
        sa.Column("received_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_inbox")),
        sa.UniqueConstraint("webhook_id", name=op.f("uq_webhook_inbox_webhook_id")),
    )
    with op.batch_alter_table("webhook_inbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_inbox_topic_received_at"), ["topic", "received_at"], unique=False
        )

    op.create_table(
        "notification_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shop", sa.String(length=255), nullable=False),
        sa.Column("restock_event_id", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("variant_id", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("contact", sa.String(length=320), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("due_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("attempt_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", backinstock.store.tables.UTCDateTime(), nullable=True),
        sa.Column("provider_message_id", sa.String(length=255), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("sent_at", backinstock.store.tables.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'retry_scheduled', 'failed_permanent', 'dead_letter', 'skipped', 'deferred')",
            name=op.f("ck_notification_jobs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_notification_jobs_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_jobs")),
        sa.UniqueConstraint("subscription_id", name=op.f("uq_notification_jobs_subscription_id")),
    )
    with op.batch_alter_table("notification_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notification_jobs_restock_event_id"), ["restock_event_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_notification_jobs_status_due_at"), ["status", "due_at"], unique=False
        )

    op.create_table(
        "notification_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("attempt_number", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("started_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("finished_at", backinstock.store.tables.UTCDateTime(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("provider_message_id", sa.String(length=255), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("retry_after_seconds", sa.Float(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('accepted', 'transient', 'rate_limited', 'permanent', 'account', 'unknown')",
            name=op.f("ck_notification_attempts_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["notification_jobs.id"],
            name=op.f("fk_notification_attempts_job_id_notification_jobs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_attempts")),
        sa.UniqueConstraint(
            "job_id", "attempt_number", name=op.f("uq_notification_attempts_job_id_attempt_number")
        ),
    )
    op.create_table(
        "tracking_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shop", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("variant_id", sa.String(length=255), nullable=True),
        sa.Column("product_id", sa.String(length=255), nullable=True),
        sa.Column("client_id", sa.String(length=128), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("user_agent", sa.String(length=1024), nullable=True),
        sa.CheckConstraint(
            "event_type IN ('product_viewed', 'open', 'click')", name=op.f("ck_tracking_events_event_type")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["notification_jobs.id"], name=op.f("fk_tracking_events_job_id_notification_jobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_events")),
    )
    with op.batch_alter_table("tracking_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tracking_events_occurred_at"), ["occurred_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tracking_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracking_events_occurred_at"))

    op.drop_table("tracking_events")
    op.drop_table("notification_attempts")
    with op.batch_alter_table("notification_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_jobs_status_due_at"))
        batch_op.drop_index(batch_op.f("ix_notification_jobs_restock_event_id"))

    op.drop_table("notification_jobs")
    with op.batch_alter_table("webhook_inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_inbox_topic_received_at"))

    op.drop_table("webhook_inbox")
    op.drop_table("templates")
    op.drop_table("suppressions")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_subscriptions_one_active",
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index(batch_op.f("ix_subscriptions_shop_contact"))

    op.drop_table("subscriptions")
    op.drop_table("rules")
    op.drop_table("catalog_variants")
    op.drop_table("audit_log")
