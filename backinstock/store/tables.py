"""The operational store's tables: everything that must accept writes at any moment.

SQLAlchemy Core, dialect-neutral (SQLite by default, PostgreSQL by URL). Instants are stored as naive UTC
and read back as aware UTC (`UTCDateTime`), so both dialects hand the same values to the code.
Shopify ids are kept as the GraphQL gid strings (`gid://shopify/ProductVariant/123`).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


class UTCDateTime(TypeDecorator):
    """Aware UTC in, naive UTC stored, aware UTC out."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing a naive datetime: pass an aware UTC instant")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


SUBSCRIPTION_STATUSES = ("pending", "active", "notified", "unsubscribed")
# One live subscription (waiting for its confirmation, or confirmed and waiting for a restock) per shop,
# variant, channel and contact. Repeated word for word where the partial index must be found.
LIVE_SUBSCRIPTION = "status IN ('pending', 'active')"
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "cancelled")
PRIVACY_TOPICS = ("customers/data_request", "customers/redact", "shop/redact")
JOB_STATUSES = (
    "pending",
    "sending",
    "sent",
    "retry_scheduled",
    "failed_permanent",
    "dead_letter",
    "skipped",
    "deferred",
    "held",
)
ATTEMPT_OUTCOMES = ("accepted", "transient", "rate_limited", "permanent", "account", "unknown")
TRACKING_EVENT_TYPES = ("product_viewed", "open", "click")
CLAIMABLE_PREDICATE = "status IN ('pending', 'retry_scheduled')"
REPLAYABLE_PREDICATE = "status IN ('dead_letter', 'held')"
SENT_PREDICATE = "sent_at IS NOT NULL"
PROVIDER_EVENT_TYPES = ("processed", "deferred", "delivered", "bounced", "complained", "dropped", "failed")
UNKNOWN_OUTCOME_POLICIES = ("evidence", "resend", "hold")

catalog_variants = sa.Table(
    "catalog_variants",
    metadata,
    sa.Column("shop", sa.String(255), primary_key=True),
    sa.Column("variant_id", sa.String(255), primary_key=True),
    sa.Column("product_id", sa.String(255), nullable=False),
    sa.Column("product_title", sa.String(512), nullable=False),
    sa.Column("variant_title", sa.String(512), nullable=False),
    sa.Column("handle", sa.String(255), nullable=False),
    sa.Column("sku", sa.String(255)),
    sa.Column("price", sa.Numeric(14, 2)),
    sa.Column("inventory_policy", sa.String(16), nullable=False),
    sa.Column("tracked", sa.Boolean, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("synced_at", UTCDateTime, nullable=False),
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("shop", sa.String(255), nullable=False),
    sa.Column("variant_id", sa.String(255), nullable=False),
    sa.Column("product_id", sa.String(255), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("contact", sa.String(320), nullable=False),  # email, lower-cased; or E.164 phone
    sa.Column("locale", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("client_id", sa.String(128)),  # the storefront pixel's client id, when known
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("notified_at", UTCDateTime),
    sa.Column("unsubscribed_at", UTCDateTime),
    # Proof of consent (GDPR Art. 7(1)): what was shown, when, how, where, from whom.
    sa.Column("consent_text", sa.Text, nullable=False),
    sa.Column("consent_method", sa.String(64), nullable=False),
    sa.Column("consent_source", sa.String(1024)),
    sa.Column("consent_at", UTCDateTime, nullable=False),
    sa.Column("consent_ip", sa.String(64)),
    sa.Column("consent_user_agent", sa.String(1024)),
    # The server-side consent text shown (consent_text above is its copy, so the proof stands alone).
    sa.Column("consent_version_id", sa.Integer, sa.ForeignKey("consent_texts.id")),
    # Double opt-in: a `pending` subscription waits for its confirmation until confirm_by; confirmed_at is
    # when it became active (equal to created_at when the shop does not ask for confirmation). Detection
    # and KPIs count a subscription as signed up at confirmed_at.
    sa.Column("confirm_by", UTCDateTime),
    sa.Column("confirmed_at", UTCDateTime),
    sa.Column("confirmed_ip", sa.String(64)),
    sa.Column("confirmed_user_agent", sa.String(1024)),
    sa.CheckConstraint(sa.column("status").in_(SUBSCRIPTION_STATUSES), name="status"),
    sa.Index(
        "uq_subscriptions_one_live",
        "shop",
        "variant_id",
        "channel",
        "contact",
        unique=True,
        sqlite_where=sa.text(LIVE_SUBSCRIPTION),
        postgresql_where=sa.text(LIVE_SUBSCRIPTION),
    ),
    sa.Index(None, "shop", "contact"),
    sa.Index(None, "status", "confirm_by"),
)

# The consent texts shops show beside the signup form, versioned on the server: a subscription records the
# version its person saw, never a text the client sends.
consent_texts = sa.Table(
    "consent_texts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("shop", sa.String(255), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("locale", sa.String(16), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Index(None, "shop", "channel", "locale"),
)

# Messages that are not alerts (the double opt-in confirmation), written by the storefront and sent by the
# delivery engine through its lanes; the web request never calls a provider.
outbox_messages = sa.Table(
    "outbox_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("shop", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),  # confirmation
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("contact", sa.String(320), nullable=False),
    sa.Column("locale", sa.String(16), nullable=False),
    sa.Column("subscription_id", sa.Integer, sa.ForeignKey("subscriptions.id")),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("attempt_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lease_owner", sa.String(128)),
    sa.Column("lease_expires_at", UTCDateTime),
    sa.Column("provider_message_id", sa.String(255)),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.CheckConstraint(sa.column("status").in_(OUTBOX_STATUSES), name="status"),
    sa.Index(None, "status", "due_at"),
    sa.Index(None, "subscription_id"),
    sa.Index(None, "shop", "contact", "status"),  # a contact's unsent messages (an unsubscribe cancels them)
)

# Shopify's mandatory privacy webhooks, acted on: a data request's export for the merchant, a redaction's
# ledger (a keyed digest of the contact, never the contact) that every cycle re-applies to the warehouse.
privacy_requests = sa.Table(
    "privacy_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("shop", sa.String(255), nullable=False),
    sa.Column("topic", sa.String(32), nullable=False),
    sa.Column("webhook_id", sa.String(128), nullable=False, unique=True),
    sa.Column("shopify_request_id", sa.String(64)),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("completed_at", UTCDateTime),
    sa.Column("contact_digests", sa.JSON),  # keyed digests of the person's email and phone
    sa.Column("order_ids", sa.JSON),  # Shopify order gids named by the request
    sa.Column("export", sa.JSON),  # customers/data_request: the person's data, for the merchant
    sa.Column("summary", sa.JSON),  # what was done: rows erased per table, no personal data
    sa.CheckConstraint(sa.column("topic").in_(PRIVACY_TOPICS), name="topic"),
    sa.Index(None, "shop", "topic"),
)

# A shop that uninstalled the app: nothing is sent for it any more, and its data is erased when due.
shop_installations = sa.Table(
    "shop_installations",
    metadata,
    sa.Column("shop", sa.String(255), primary_key=True),
    sa.Column("uninstalled_at", UTCDateTime),
    sa.Column("erase_after", UTCDateTime),
    sa.Column("erased_at", UTCDateTime),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

notification_jobs = sa.Table(
    "notification_jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("shop", sa.String(255), nullable=False),
    sa.Column("restock_event_id", sa.String(64), nullable=False),
    # One job per subscription: a subscription is answered by exactly one notification, so a second
    # enqueue of the same target (a re-run, a restart, a later restock) cannot send twice.
    sa.Column("subscription_id", sa.Integer, sa.ForeignKey("subscriptions.id"), nullable=False, unique=True),
    sa.Column("variant_id", sa.String(255), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("contact", sa.String(320), nullable=False),
    sa.Column("locale", sa.String(16), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),  # rank among the event's targets, by signup time
    sa.Column("context", sa.JSON, nullable=False),  # what the message says, frozen at restock time
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("attempt_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lease_owner", sa.String(128)),
    sa.Column("lease_expires_at", UTCDateTime),
    sa.Column("provider_message_id", sa.String(255)),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    # Dispatch: the lane of the latest claim; a fencing token every claim, recovery and release bumps (a
    # worker's every later move names it, so a worker that lost its job cannot move it); the number of the
    # attempt whose provider call may be under way; retryable failures and rate-limited answers since the
    # job was enqueued or replayed; the class of the last error (replay filters on it).
    sa.Column("lane", sa.String(64)),
    sa.Column("fence", sa.Integer, nullable=False, server_default="0"),
    sa.Column("attempt_in_flight", sa.Integer),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rate_limited", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error_class", sa.String(32)),
    sa.CheckConstraint(sa.column("status").in_(JOB_STATUSES), name="status"),
    sa.Index(None, "status", "due_at"),
    sa.Index(None, "restock_event_id"),
    # The console's: the queue monitor counts per shop, channel, lane and state from this index alone; the
    # achieved send rate reads recent sends; the trace finds a person's jobs by contact; the latest dead
    # letters and held jobs are read newest first. The last two are partial, holding only the rows they are
    # read for, so a claim writes no entry in them (on PostgreSQL a claim's new row version gets an entry
    # in every index whose predicate it meets; queries repeat the predicate word for word, as for SQLite).
    sa.Index(None, "shop", "channel", "lane", "status"),
    sa.Index(
        "ix_notification_jobs_sent_at",
        "sent_at",
        sqlite_where=sa.text(SENT_PREDICATE),
        postgresql_where=sa.text(SENT_PREDICATE),
    ),
    sa.Index(None, "contact"),
    sa.Index(
        "ix_notification_jobs_replayable",
        "updated_at",
        "id",
        sqlite_where=sa.text(REPLAYABLE_PREDICATE),
        postgresql_where=sa.text(REPLAYABLE_PREDICATE),
    ),
    # The claim's index: only claimable rows, in claim order, so a claim reads a few entries whatever the
    # size of the queue. Queries must repeat the predicate word for word for SQLite to use it.
    sa.Index(
        "ix_notification_jobs_claimable",
        "channel",
        "due_at",
        "priority",
        "id",
        sqlite_where=sa.text(CLAIMABLE_PREDICATE),
        postgresql_where=sa.text(CLAIMABLE_PREDICATE),
    ),
)

notification_attempts = sa.Table(
    "notification_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.Integer, sa.ForeignKey("notification_jobs.id"), nullable=False),
    sa.Column("attempt_number", sa.Integer, nullable=False),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("status_code", sa.Integer),
    sa.Column("outcome", sa.String(16)),  # null while the provider has not answered
    sa.Column("provider_message_id", sa.String(255)),
    sa.Column("error_message", sa.Text),
    sa.Column("retry_after_seconds", sa.Float),
    sa.Column("latency_ms", sa.Float),
    sa.Column("lane", sa.String(64)),
    sa.Column("idempotency_key", sa.String(255)),
    # Set when an unanswered attempt's outcome was learned later (a late answer, a provider event).
    sa.Column("resolved_by", sa.String(255)),
    sa.UniqueConstraint("job_id", "attempt_number"),
    sa.CheckConstraint(
        sa.or_(sa.column("outcome").is_(None), sa.column("outcome").in_(ATTEMPT_OUTCOMES)), name="outcome"
    ),
)

suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("shop", sa.String(255), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("contact", sa.String(320), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),  # unsubscribed, hard_bounce, complaint, manual
    sa.Column("source", sa.String(255)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("shop", "channel", "contact"),
)

rules = sa.Table(
    "rules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("shop", sa.String(255), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),  # shop, product, variant
    sa.Column("scope_id", sa.String(255), nullable=False, server_default=""),  # "" for the shop scope
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("updated_by", sa.String(255), nullable=False),
    sa.UniqueConstraint("shop", "scope", "scope_id", "name"),
)

# Every set and clear of a rule, in order: detection reads the rules in force at any past instant from it,
# so a later change never rewrites a decision already made. `value` is null for a clear.
rule_changes = sa.Table(
    "rule_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("shop", sa.String(255), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("scope_id", sa.String(255), nullable=False, server_default=""),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("value", sa.JSON),
    sa.Column("changed_at", UTCDateTime, nullable=False),
    sa.Column("changed_by", sa.String(255), nullable=False),
    sa.Index(None, "shop", "changed_at"),
)

# A person's release of the targets a manual-release product holds (detection releases them from then on).
manual_releases = sa.Table(
    "manual_releases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("shop", sa.String(255), nullable=False),
    sa.Column("product_id", sa.String(255), nullable=False),
    sa.Column("released_at", UTCDateTime, nullable=False),
    sa.Column("released_by", sa.String(255), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Index(None, "shop", "product_id"),
)

templates = sa.Table(
    "templates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("shop", sa.String(255), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("locale", sa.String(16), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("updated_by", sa.String(255), nullable=False),
    sa.Column("version", sa.Integer),  # the published version (template_versions); null before versions
    sa.UniqueConstraint("shop", "name", "channel", "locale"),
)

# Every saved version of a template; `templates` holds the published one, which is what dispatch sends.
template_versions = sa.Table(
    "template_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("shop", sa.String(255), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("locale", sa.String(16), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("published_at", UTCDateTime),
    sa.Column("published_by", sa.String(255)),
    sa.UniqueConstraint("shop", "name", "channel", "locale", "version"),
)

# One row per provider lane (a provider account): its limits, mirrored from the settings by every worker
# at start, and the state all workers share: the rate limiter's next free slot (epoch seconds, GCRA), a
# pause until a hinted instant, and a stop that only a person lifts.
lanes = sa.Table(
    "lanes",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("shops", sa.JSON),  # null: every shop
    sa.Column("rate_per_second", sa.Float),  # null: unlimited
    sa.Column("burst", sa.Integer, nullable=False, server_default="1"),
    sa.Column("concurrency", sa.Integer, nullable=False),
    sa.Column("per_domain_per_minute", sa.Integer),
    sa.Column("domain_caps", sa.JSON),
    sa.Column("quiet_hours", sa.String(16)),  # "21:00-08:00" in the shop's time zone
    sa.Column("unknown_outcome", sa.String(16), nullable=False),
    sa.Column("next_slot_epoch", sa.Float),
    sa.Column("paused_until", UTCDateTime),
    sa.Column("pause_reason", sa.Text),
    sa.Column("stopped_at", UTCDateTime),
    sa.Column("stopped_reason", sa.Text),
    sa.Column("configured_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(sa.column("unknown_outcome").in_(UNKNOWN_OUTCOME_POLICIES), name="unknown_outcome"),
)

# Sends per recipient domain per clock minute and lane, for per-domain caps shared by all workers.
lane_domain_counts = sa.Table(
    "lane_domain_counts",
    metadata,
    sa.Column("lane", sa.String(64), primary_key=True),
    sa.Column("domain", sa.String(255), primary_key=True),
    sa.Column("minute", UTCDateTime, primary_key=True),
    sa.Column("sent", sa.Integer, nullable=False),
)

# What providers told us later through their event webhooks (SendGrid Event Webhook, Postmark webhooks,
# SES through SNS, Twilio status callbacks, Resend webhooks), normalised; `job_id` is ours, carried in
# the message. Evidence for unknown outcomes, and for KPIs (delivered) once copied to the warehouse.
provider_events = sa.Table(
    "provider_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("lane", sa.String(64), nullable=False),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("event_type", sa.String(16), nullable=False),
    sa.Column("job_id", sa.Integer),
    sa.Column("provider_message_id", sa.String(255)),
    sa.Column("recipient", sa.String(320)),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("detail", sa.Text),
    sa.Column("dedupe_key", sa.String(255), nullable=False, unique=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.CheckConstraint(sa.column("event_type").in_(PROVIDER_EVENT_TYPES), name="event_type"),
    sa.Index(None, "job_id"),
)

# Things a person must look at (a lane stopped on an account error); resolved when acted on.
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(255), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("raised_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime),
    sa.Column("resolved_by", sa.String(255)),
    sa.Index(None, "kind", "subject", "resolved_at"),
)

tracking_events = sa.Table(
    "tracking_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("shop", sa.String(255), nullable=False),
    sa.Column("event_type", sa.String(32), nullable=False),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("job_id", sa.Integer, sa.ForeignKey("notification_jobs.id")),
    sa.Column("variant_id", sa.String(255)),
    sa.Column("product_id", sa.String(255)),
    sa.Column("client_id", sa.String(128)),
    sa.Column("url", sa.String(2048)),
    sa.Column("user_agent", sa.String(1024)),
    sa.CheckConstraint(sa.column("event_type").in_(TRACKING_EVENT_TYPES), name="event_type"),
    sa.Index(None, "occurred_at"),
)

webhook_inbox = sa.Table(
    "webhook_inbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("shop", sa.String(255), nullable=False),
    sa.Column("topic", sa.String(64), nullable=False),
    sa.Column("webhook_id", sa.String(128), nullable=False, unique=True),  # redeliveries share it
    sa.Column("event_id", sa.String(128)),
    sa.Column("api_version", sa.String(16)),
    sa.Column("triggered_at", UTCDateTime),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # the verified raw body, exactly as signed
    sa.Index(None, "topic", "received_at"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target_type", sa.String(64), nullable=False),
    sa.Column("target_id", sa.String(255)),
    sa.Column("details", sa.JSON),
)

# People who sign in to the console: an argon2 hash (never the password), permissions granted one by one.
PERMISSIONS = (
    "view_kpis",
    "view_queue",
    "view_contacts",
    "replay",
    "edit_rules",
    "edit_templates",
    "manage_users",
)
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("permissions", sa.JSON, nullable=False),  # a sorted list of PERMISSIONS
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("disabled_at", UTCDateTime),
)

# Signed-in console sessions. The cookie carries a random token; only its SHA-256 is stored, so a copy of
# the store signs nobody in. A new session (new token) at every sign-in: a token planted before it is useless.
user_sessions = sa.Table(
    "user_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("ip", sa.String(64)),
    sa.Index(None, "user_id"),
)
