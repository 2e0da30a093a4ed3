"""Rule history (every set and clear, so detection can read the rules in force at any past instant) and
manual releases of held targets.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

import backinstock.store.tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shop", sa.String(length=255), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.String(length=255), server_default="", nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("changed_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("changed_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_changes")),
    )
    op.create_index(
        op.f("ix_rule_changes_shop_changed_at"), "rule_changes", ["shop", "changed_at"], unique=False
    )
    op.create_table(
        "manual_releases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shop", sa.String(length=255), nullable=False),
        sa.Column("product_id", sa.String(length=255), nullable=False),
        sa.Column("released_at", backinstock.store.tables.UTCDateTime(), nullable=False),
        sa.Column("released_by", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manual_releases")),
    )
    op.create_index(
        op.f("ix_manual_releases_shop_product_id"), "manual_releases", ["shop", "product_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_manual_releases_shop_product_id"), table_name="manual_releases")
    op.drop_table("manual_releases")
    op.drop_index(op.f("ix_rule_changes_shop_changed_at"), table_name="rule_changes")
    op.drop_table("rule_changes")
