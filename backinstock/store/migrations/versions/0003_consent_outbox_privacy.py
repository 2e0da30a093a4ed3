"""Consent and privacy: double opt-in (`pending` subscriptions, confirmed_at), server-side consent texts, the
outbox for confirmation messages, privacy requests and shop installations.

Subscriptions that exist already were active from their signup: their confirmed_at is their created_at.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

import backinstock.store.tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

LIVE = sa.text("status IN ('pending', 'active')")
ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    op.create_table(
        "consent_texts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shop", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_texts")),
    )
    with op.batch_alter_table("consent_texts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_texts_shop_channel_locale"), ["shop", "channel", "locale"], unique=False
        )

    op.create_table(
        "privacy_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shop", sa.String(length=255), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("webhook_id", sa.String(length=128), nullable=False),
        sa.Column("shopify_request_id", sa.String(length=64), nullable=True),
        sa.Column("received_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("completed_at", backinstock.store.tables.UTCDateTime(), nullable=True),
        sa.Column("contact_digests", sa.JSON(), nullable=True),
        sa.Column("order_ids", sa.JSON(), nullable=True),
        sa.Column("export", sa.JSON(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "topic IN ('customers/data_request', 'customers/redact', 'shop/redact')",
            name=op.f("ck_privacy_requests_topic"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_requests")),
        sa.UniqueConstraint("webhook_id", name=op.f("uq_privacy_requests_webhook_id")),
    )
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_requests_shop_topic"), ["shop", "topic"], unique=False)

    op.create_table(
        "shop_installations",
        sa.Column("shop", sa.String(length=255), nullable=False),
        sa.Column("uninstalled_at", backinstock.store.tables.UTCDateTime(), nullable=True),
        sa.Column("erase_after", backinstock.store.tables.UTCDateTime(), nullable=True),
        sa.Column("erased_at", backinstock.store.tables.UTCDateTime(), nullable=True),
        sa.Column("updated_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("shop", name=op.f("pk_shop_installations")),
    )
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shop", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("contact", sa.String(length=320), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
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
            "status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')",
            name=op.f("ck_outbox_messages_status"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_outbox_messages_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_messages_status_due_at"), ["status", "due_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_messages_subscription_id"), ["subscription_id"], unique=False
        )

    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent_version_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("confirm_by", backinstock.store.tables.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("confirmed_at", backinstock.store.tables.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("confirmed_ip", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("confirmed_user_agent", sa.String(length=1024), nullable=True))
        batch_op.drop_index("uq_subscriptions_one_active", sqlite_where=ACTIVE, postgresql_where=ACTIVE)
        batch_op.drop_constraint(op.f("ck_subscriptions_status"), type_="check")
        batch_op.create_check_constraint(
            "status", "status IN ('pending', 'active', 'notified', 'unsubscribed')"
        )
        batch_op.create_index(
            batch_op.f("ix_subscriptions_status_confirm_by"), ["status", "confirm_by"], unique=False
        )
        batch_op.create_index(
            "uq_subscriptions_one_live",
            ["shop", "variant_id", "channel", "contact"],
            unique=True,
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_subscriptions_consent_version_id_consent_texts"),
            "consent_texts",
            ["consent_version_id"],
            ["id"],
        )
    op.execute("UPDATE subscriptions SET confirmed_at = created_at")


def downgrade() -> None:
    op.execute("DELETE FROM subscriptions WHERE status = 'pending'")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_subscriptions_consent_version_id_consent_texts"), type_="foreignkey"
        )
        batch_op.drop_index("uq_subscriptions_one_live", sqlite_where=LIVE, postgresql_where=LIVE)
        batch_op.drop_index(batch_op.f("ix_subscriptions_status_confirm_by"))
        batch_op.drop_constraint(op.f("ck_subscriptions_status"), type_="check")
        batch_op.create_check_constraint("status", "status IN ('active', 'notified', 'unsubscribed')")
        batch_op.create_index(
            "uq_subscriptions_one_active",
            ["shop", "variant_id", "channel", "contact"],
            unique=True,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        )
        batch_op.drop_column("confirmed_user_agent")
        batch_op.drop_column("confirmed_ip")
        batch_op.drop_column("confirmed_at")
        batch_op.drop_column("confirm_by")
        batch_op.drop_column("consent_version_id")

    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_messages_subscription_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_messages_status_due_at"))
    op.drop_table("outbox_messages")
    op.drop_table("shop_installations")
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_requests_shop_topic"))
    op.drop_table("privacy_requests")
    with op.batch_alter_table("consent_texts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_texts_shop_channel_locale"))
    op.drop_table("consent_texts")
