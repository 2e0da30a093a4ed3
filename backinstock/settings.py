"""One settings object for every part of the product.

Values come from, highest priority first: keyword arguments, `BACKINSTOCK_*` environment variables
(nested keys with `__`, e.g. `BACKINSTOCK_EMAIL__API_URL`; lists as JSON, e.g. `BACKINSTOCK_SHOPS`), and a
TOML file (`BACKINSTOCK_CONFIG`, else `./backinstock.toml` when it exists). Defaults put every file under
`./data/`. Settings are read when used (`load_settings()`), never at import time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from contextvars import ContextVar
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from backinstock.clock import Clock, FileClock, SystemClock
from backinstock.tokens import Keyring

DEFAULT_API_VERSION = "2026-10"
_config_file: ContextVar[Path | None] = ContextVar("backinstock_config_file", default=None)


class AttributionSettings(BaseModel):
    """Last-touch windows, Klaviyo's defaults (5 days after an email click or open, 12 hours after an SMS is
    delivered), and which lines of an order a touch can be credited with (docs/architecture.md)."""

    click_window_hours: int = Field(default=120, ge=0)
    open_window_hours: int = Field(default=120, ge=0)
    sms_window_hours: int = Field(default=12, ge=0)
    scope: Literal["same_variant", "same_product", "any"] = "same_product"


class HoldoutSettings(BaseModel):
    """The incrementality holdout: `share` of each restock's targets is sent `delay_minutes` late."""

    share: float = Field(default=0.0, ge=0.0, le=1.0)
    delay_minutes: int = Field(default=60, ge=1)


class ShopSettings(BaseModel):
    """A Shopify shop the product serves: where its Admin API is and how to prove who we are."""

    domain: str
    api_version: str = DEFAULT_API_VERSION
    access_token: SecretStr = SecretStr("")
    webhook_secret: SecretStr = SecretStr("")
    # Base URL of the Admin API; empty means https://{domain}. The simulator sets it to a loopback URL.
    admin_api_url: str = ""
    # Shoppers confirm their signup by email before it counts (GDPR Art. 7(1); required in e.g. Germany).
    double_opt_in: bool = True
    # Origins of the shop's own storefront besides https://{domain} (custom domains), allowed by CORS.
    storefront_origins: list[str] = Field(default_factory=list)
    attribution: AttributionSettings | None = None  # None: the product-wide [attribution]
    holdout: HoldoutSettings = Field(default_factory=HoldoutSettings)
    # IANA time zone for quiet hours; empty means the shop's own (`shop.ianaTimezone`, asked once per run).
    timezone: str = ""

    @field_validator("domain")
    @classmethod
    def _lowercase_domain(cls, value: str) -> str:
        value = value.strip().lower()
        if not value or "/" in value:
            raise ValueError("shop domain must look like name.myshopify.com")
        return value

    @field_validator("storefront_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        origins = [value.strip().rstrip("/").lower() for value in values]
        for origin in origins:
            if not origin.startswith(("https://", "http://")) or "/" in origin.split("://", 1)[1]:
                raise ValueError(f"an origin is scheme://host[:port], got {origin!r}")
        return origins

    @property
    def origins(self) -> frozenset[str]:
        """Where a browser may call the storefront API from for this shop (CORS)."""
        return frozenset({f"https://{self.domain}", *self.storefront_origins})

    @property
    def graphql_url(self) -> str:
        base = (self.admin_api_url or f"https://{self.domain}").rstrip("/")
        return f"{base}/admin/api/{self.api_version}/graphql.json"


class EmailSettings(BaseModel):
    """The sender, and the email lane used when no `[[lanes]]` are configured (SendGrid's v3 API)."""

    provider: Literal["sendgrid"] = "sendgrid"
    api_url: str = "https://api.sendgrid.com"
    api_key: SecretStr = SecretStr("")
    from_email: str = "alerts@example.com"
    from_name: str = "Back in Stock"
    timeout_seconds: float = 10.0


PROVIDERS = ("sendgrid", "postmark", "ses", "resend", "smtp", "twilio")
PROVIDER_CHANNEL = {"twilio": "sms"}  # every other provider sends email
PROVIDER_URLS = {
    "sendgrid": "https://api.sendgrid.com",
    "postmark": "https://api.postmarkapp.com",
    "resend": "https://api.resend.com",
    "twilio": "https://api.twilio.com",
}
IDEMPOTENT_PROVIDERS = ("resend",)  # take an Idempotency-Key: a resend of an unknown outcome is safe
QUIET_HOURS = r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$"


class LaneSettings(BaseModel):
    """One provider account and its limits: how fast, how many at once, how many per recipient domain and
    minute, when not to send (quiet hours in the shop's time zone), and what to do when an outcome is
    unknown. Credentials stay here (never in the store); the limits are mirrored into the store's `lanes`
    table, where every worker shares the lane's state."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    provider: Literal["sendgrid", "postmark", "ses", "resend", "smtp", "twilio"]
    shops: list[str] = Field(default_factory=list)  # empty: every shop
    api_url: str = ""  # empty: the provider's public endpoint (SES: from the region)
    api_key: SecretStr = SecretStr("")  # SendGrid, Resend; Postmark's server token
    region: str = "us-east-1"  # SES
    access_key_id: str = ""  # SES
    secret_access_key: SecretStr = SecretStr("")  # SES
    configuration_set: str = ""  # SES: the set whose event destination publishes to SNS
    host: str = ""  # SMTP
    port: int = 587  # SMTP
    username: str = ""  # SMTP
    password: SecretStr = SecretStr("")  # SMTP
    starttls: bool = True  # SMTP: refuse to authenticate or send in clear text
    tls_ca_file: str = ""  # SMTP: a CA bundle to trust instead of the system's (a private relay)
    account_sid: str = ""  # Twilio
    auth_token: SecretStr = SecretStr("")  # Twilio
    from_number: str = ""  # Twilio: E.164 sender, or
    messaging_service_sid: str = ""  # Twilio
    webhook_secret: SecretStr = SecretStr("")  # Resend: the Svix signing secret of its webhook
    from_email: str = ""  # empty: [email].from_email
    from_name: str = ""  # empty: [email].from_name
    timeout_seconds: float = Field(default=10.0, gt=0)
    rate_per_second: float | None = Field(default=None, gt=0)  # None: unlimited
    burst: int = Field(default=1, ge=1)
    concurrency: int = Field(default=32, ge=1)
    per_domain_per_minute: int | None = Field(default=None, ge=1)
    domain_caps: dict[str, int] = Field(default_factory=dict)  # per recipient domain, per minute
    quiet_hours: str | None = Field(default=None, pattern=QUIET_HOURS)  # "21:00-08:00"
    unknown_outcome: Literal["evidence", "resend", "hold"] | None = None  # None: the provider's default

    @property
    def channel(self) -> str:
        return PROVIDER_CHANNEL.get(self.provider, "email")

    @property
    def idempotent(self) -> bool:
        return self.provider in IDEMPOTENT_PROVIDERS

    @property
    def outcome_policy(self) -> str:
        """Resend where the provider deduplicates; else look for the provider's event evidence; a plain
        SMTP relay has neither, so its unknown outcomes are held for review."""
        if self.unknown_outcome:
            return self.unknown_outcome
        if self.idempotent:
            return "resend"
        return "hold" if self.provider == "smtp" else "evidence"

    @property
    def base_url(self) -> str:
        if self.api_url:
            return self.api_url.rstrip("/")
        if self.provider == "ses":
            return f"https://email.{self.region}.amazonaws.com"
        return PROVIDER_URLS.get(self.provider, "")

    @model_validator(mode="after")
    def _coherent(self) -> LaneSettings:
        if self.unknown_outcome == "resend" and not self.idempotent:
            raise ValueError(
                f"lane {self.name}: unknown_outcome = resend needs a provider that deduplicates "
                f"({', '.join(IDEMPOTENT_PROVIDERS)}); {self.provider} could send twice"
            )
        if self.provider == "smtp" and not self.host:
            raise ValueError(f"lane {self.name}: an SMTP lane needs a host")
        if self.provider == "twilio" and not (self.from_number or self.messaging_service_sid):
            raise ValueError(f"lane {self.name}: a Twilio lane needs from_number or messaging_service_sid")
        return self


class DetectionSettings(BaseModel):
    """Shop-wide defaults of the restock rules; `backinstock rules` sets shop, product and variant overrides
    in the operational store (`backinstock/rules.py` says what each rule means)."""

    threshold: int = Field(default=1, ge=1)
    debounce_minutes: int = Field(default=5, ge=0)
    cooldown_hours: int = Field(default=24, ge=0)
    batch_multiplier: float = Field(default=0.0, ge=0)  # 0: everyone waiting is released at the restock
    batch_interval_minutes: int = Field(default=60, ge=1)
    release: Literal["automatic", "manual"] = "automatic"
    # A full read of every inventory level this often: levels no longer returned stop counting.
    full_inventory_read_hours: float = Field(default=24.0, gt=0)


class DispatchSettings(BaseModel):
    """How the dispatcher works its queue: claim size, leases, retry policy, send-time checks."""

    batch_size: int = Field(default=200, ge=1)  # jobs per claim
    max_attempts: int = Field(default=5, ge=1)  # transient or unknown answers before dead letter
    max_rate_limited: int = Field(default=20, ge=1)  # 429s before dead letter (the lane pauses on each)
    lease_seconds: float = Field(default=60.0, gt=0)  # renewed by heartbeat while the worker holds a job
    backoff_base_seconds: float = Field(default=30.0, ge=0)
    backoff_cap_seconds: float = Field(default=3600.0, ge=0)
    retry_after_cap_seconds: float = Field(default=3600.0, gt=0)  # a provider's hint is honoured up to this
    run_seconds: float = Field(default=55.0, gt=0)  # how long `backinstock dispatch` runs by default
    # The alerts run sends the jobs it enqueued itself, until nothing is due or this long (0: it leaves
    # them to the dispatch job), so a restock's first messages leave with the run that decided it.
    after_enqueue_seconds: float = Field(default=10.0, ge=0)
    stock_check: bool = True  # live sellable check through the Shopify client before sending
    stock_check_max_age_seconds: float = Field(default=5.0, ge=0)  # one check serves a variant this long


class AlertSettings(BaseModel):
    """Where operators hear that something needs them (Dagster's sensors send it), and what counts: a run
    failed, a lane stopped or paused long, dead letters piling up, inputs gone stale."""

    webhook_url: str = ""  # JSON POST per alert (Slack-style `text` included); empty: kept in the store only
    dead_letters_over: int = Field(default=10, ge=0)
    lane_paused_minutes: float = Field(default=5.0, ge=0)  # a pause longer than this is an alert
    stale_inventory_minutes: float = Field(default=30.0, gt=0)  # no inventory ingest for this long
    pending_over_minutes: float = Field(default=10.0, gt=0)  # a due job not sent for this long


class RateLimit(BaseModel):
    """At most `count` requests in any `seconds` (a burst of `count`, then refilled evenly)."""

    count: int = Field(ge=1)
    seconds: float = Field(gt=0)


class StorefrontSettings(BaseModel):
    """What the public app accepts from strangers: sizes, depth, rates, and whom it believes about IPs."""

    max_json_bytes: int = Field(default=16_384, ge=1024)
    max_form_bytes: int = Field(default=8_192, ge=256)
    max_webhook_bytes: int = Field(default=2_097_152, ge=65_536)
    max_json_depth: int = Field(default=8, ge=2)
    # Proxies (IPs or networks) whose X-Forwarded-For names the real client; nobody else is believed.
    trusted_proxies: list[str] = Field(default_factory=list)
    app_proxy_max_skew_seconds: int = Field(default=90, ge=1)  # Shopify's own libraries allow 90 s
    signups_per_ip: RateLimit = RateLimit(count=10, seconds=60)
    signups_per_contact: RateLimit = RateLimit(count=5, seconds=3600)
    signups_per_shop: RateLimit = RateLimit(count=600, seconds=60)
    events_per_ip: RateLimit = RateLimit(count=120, seconds=60)
    events_per_shop: RateLimit = RateLimit(count=30_000, seconds=60)
    # One-click unsubscribes: how long one waits for a busy store (retrying) before it is spooled
    # (backinstock.unsubscribes), how many write at once, and how often the storefront applies the spool.
    unsubscribe_wait_seconds: float = Field(default=2.0, gt=0, le=20)
    unsubscribe_writers: int = Field(default=4, ge=1)
    spool_apply_seconds: float = Field(default=5.0, gt=0)
    # Threads doing the store work of signups and unsubscribes (storefront/store_threads.py); 0: one on
    # SQLite (one writer at a time), four on PostgreSQL.
    store_threads: int = Field(default=0, ge=0, le=64)


class ConsentSettings(BaseModel):
    """Double opt-in: how long a confirm link is valid, and how often a pending signup may be re-sent one."""

    confirm_hours: float = Field(default=72.0, gt=0)
    resend_after_minutes: float = Field(default=10.0, ge=0)


class DashboardsSettings(BaseModel):
    """The internal console (`python -m dashboards`): where it listens and how long a sign-in lasts."""

    host: str = "127.0.0.1"
    port: int = 8001
    session_hours: float = Field(default=12.0, gt=0)
    # Cookies marked Secure (sent over HTTPS only). None: when the request itself came over HTTPS; set true
    # behind a proxy that ends TLS, so the cookie never travels in clear text.
    secure_cookies: bool | None = None


class PrivacySettings(BaseModel):
    """How long personal data is kept (backinstock.privacy)."""

    contact_retention_days: int = Field(default=365, ge=1)  # contacts of ended alerts, then pseudonymised
    events_retention_days: int = Field(default=180, ge=1)  # tracking events, webhook inbox, data exports
    erase_after_uninstall_hours: float = Field(default=48.0, ge=0)  # Shopify sends shop/redact after 48 h
    # Keys the contact digests of the redaction ledger. It never rotates (the ledger's digests must match
    # for ever); empty: fixed once into data_dir/privacy_digest_key. Set it where several machines share a
    # store, as secret_key.
    digest_key: SecretStr = SecretStr("")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BACKINSTOCK_", env_nested_delimiter="__", extra="ignore", frozen=False
    )

    data_dir: Path = Path("data")
    store_url: str = ""  # operational store; empty means SQLite at data_dir/backinstock.db
    warehouse_path: Path | None = None  # empty means data_dir/warehouse.duckdb
    # DuckDB's memory_limit in dbt's runs: the detection rebuild at 100k variants peaks under 2 GiB with it
    # (bigger builds spill to disk); dbt_project/profiles.yml has the same default for dbt run by hand
    duckdb_memory_limit: str = "1536MB"
    # CPU priority (nice value) of the warehouse runs (ingest, dbt, DuckDB), below the storefront, the console
    # and the dispatcher when they share the cores (orchestration/priority.py); 0: the same priority
    batch_nice: int = Field(default=10, ge=0, le=19)
    marts_dir: Path | None = None  # published marts (Parquet) for the web apps; data_dir/marts
    secret_key: SecretStr = SecretStr("")  # empty: generated once into data_dir/secret_key
    # Keys that signed links already sent: they still verify until removed from this list (rotation).
    previous_secret_keys: list[SecretStr] = Field(default_factory=list)
    storefront_url: str = "http://127.0.0.1:8000"  # public base URL for links in messages
    storefront_host: str = "127.0.0.1"
    storefront_port: int = 8000
    clock_file: Path | None = None  # when set, "now" is read from this file (simulated time)
    shops: list[ShopSettings] = Field(default_factory=list)
    email: EmailSettings = Field(default_factory=EmailSettings)
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    attribution: AttributionSettings = Field(default_factory=AttributionSettings)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    storefront: StorefrontSettings = Field(default_factory=StorefrontSettings)
    lanes: list[LaneSettings] = Field(default_factory=list)
    consent: ConsentSettings = Field(default_factory=ConsentSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    dashboards: DashboardsSettings = Field(default_factory=DashboardsSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        toml_file = _config_file.get() or _default_config_file()
        if toml_file is not None:
            sources += (TomlConfigSettingsSource(settings_cls, toml_file=toml_file),)
        return sources

    @property
    def operational_store_url(self) -> str:
        return self.store_url or f"sqlite:///{(self.data_dir / 'backinstock.db').resolve()}"

    @property
    def warehouse(self) -> Path:
        return (self.warehouse_path or self.data_dir / "warehouse.duckdb").resolve()

    @property
    def marts(self) -> Path:
        return (self.marts_dir or self.data_dir / "marts").resolve()

    @cached_property
    def signing_key(self) -> bytes:
        """The key for signed links; generated once per data dir when not configured."""
        if self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value().encode()
        return _written_once(self.data_dir / "secret_key", lambda: secrets.token_urlsafe(32)).encode()

    @cached_property
    def privacy_digest_key(self) -> str:
        """The key of the redaction ledger's contact digests. Not the signing key, which rotates: a ledger
        digested under a retired key would stop matching and re-redaction would miss the person. When not
        configured, it is fixed once per data dir to what earlier versions derived from the signing key then
        in use, so ledgers written before keep matching."""
        if self.privacy.digest_key.get_secret_value():
            return self.privacy.digest_key.get_secret_value()
        return _written_once(
            self.data_dir / "privacy_digest_key",
            lambda: hmac.new(self.signing_key, b"backinstock privacy digest", hashlib.sha256).hexdigest(),
        )

    @cached_property
    def token_keys(self) -> Keyring:
        """The signing key for new links, and the previous keys that still verify old ones."""
        return Keyring.of(
            self.signing_key, [key.get_secret_value().encode() for key in self.previous_secret_keys]
        )

    def clock(self) -> Clock:
        return FileClock(self.clock_file) if self.clock_file else SystemClock()

    def attribution_of(self, shop: ShopSettings) -> AttributionSettings:
        return shop.attribution or self.attribution

    def shop(self, domain: str) -> ShopSettings | None:
        domain = domain.strip().lower()
        return next((shop for shop in self.shops if shop.domain == domain), None)

    def delivery_lanes(self) -> list[LaneSettings]:
        """The configured lanes, or one SendGrid lane named `email` from `[email]` when none are."""
        if self.lanes:
            return list(self.lanes)
        email = self.email
        return [
            LaneSettings(
                name="email",
                provider="sendgrid",
                api_url=email.api_url,
                api_key=email.api_key,
                timeout_seconds=email.timeout_seconds,
            )
        ]

    def lane(self, name: str) -> LaneSettings | None:
        return next((lane for lane in self.delivery_lanes() if lane.name == name), None)


def _default_config_file() -> Path | None:
    named = os.environ.get("BACKINSTOCK_CONFIG")
    if named:
        return Path(named)
    local = Path("backinstock.toml")
    return local if local.exists() else None


def load_settings(config_file: Path | str | None = None, **overrides: object) -> Settings:
    """Read settings now; `config_file` names the TOML file (else BACKINSTOCK_CONFIG, ./backinstock.toml)."""
    token = _config_file.set(Path(config_file) if config_file else None)
    try:
        return Settings(**overrides)
    finally:
        _config_file.reset(token)


def _written_once(path: Path, make: Callable[[], str]) -> str:
    """The secret in `path`, made and written by whichever process asks first: written whole under a
    temporary name, then linked into place (atomic; a process that loses the race reads the winner's)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(make())
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    return path.read_text().strip()
