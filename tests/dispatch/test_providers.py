"""Every provider lane against the simulator's fake of that provider: what is sent, and how each answer
(in the provider's own recorded words) moves the job, the lane and the suppression list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr
from seed_rows import NOW, SHOP

from backinstock.settings import LaneSettings
from backinstock.store import alerts, lanes, suppressions
from simulator.providers import Forced

EMAIL_LANES = ["sendgrid", "postmark", "ses", "resend", "smtp"]


def captured(delivery, provider):
    """Record the bodies the fake receives (its answers are unchanged)."""
    seen = []
    front = delivery.fakes.hub.fronts[provider]
    original = front.handle

    def handle(account, request, now):
        seen.append(request)
        return original(account, request, now)

    front.handle = handle
    return seen


@pytest.mark.parametrize("lane", EMAIL_LANES)
def test_each_email_lane_sends_one_accepted_message_that_carries_our_job(delivery, lane):
    delivery.enqueue(["ada@example.com"])
    report = delivery.run(lanes=[lane])
    assert (report.sent, report.lanes[lane].sent) == (1, 1)
    [job] = delivery.jobs()
    [accepted] = delivery.account(lane).accepted
    assert (accepted.recipient, accepted.job_id) == ("ada@example.com", str(job.id))
    assert job.status == "sent" and job.lane == lane and job.provider_message_id
    [attempt] = delivery.attempts()
    assert (attempt.provider, attempt.outcome, attempt.idempotency_key) == (
        lane,
        "accepted",
        f"backinstock-job-{job.id}",
    )


def test_the_provider_bodies_carry_subject_parts_unsubscribe_headers_and_ids(delivery):
    postmark, ses, resend = (captured(delivery, name) for name in ("postmark", "ses", "resend"))
    for lane, contact in (
        ("postmark", "ada@example.com"),
        ("ses", "bob@example.com"),
        ("resend", "cy@example.com"),
    ):
        delivery.enqueue([contact])
        assert delivery.run(lanes=[lane]).sent == 1
    pm, se, re = postmark[0].json(), ses[0].json(), resend[0].json()
    first, second, third = delivery.jobs()
    assert pm["To"] == "ada@example.com" and pm["From"] == "Back in Stock <alerts@example.com>"
    assert pm["Metadata"] == {
        "job_id": str(first.id),
        "shop": SHOP,
        "variant_id": "gid://shopify/ProductVariant/1",
    }
    assert {item["Name"] for item in pm["Headers"]} == {"List-Unsubscribe", "List-Unsubscribe-Post"}
    assert pm["TrackOpens"] is False and "Unsubscribe" in pm["HtmlBody"] and "/u/" in pm["TextBody"]
    simple = se["Content"]["Simple"]
    assert se["Destination"] == {"ToAddresses": ["bob@example.com"]}
    assert se["EmailTags"] == [{"Name": "job_id", "Value": str(second.id)}]
    assert simple["Subject"]["Data"] == "Linen Shirt 1 is back in stock at Test Shop"
    assert ses[0].headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert re["to"] == ["cy@example.com"] and re["tags"] == [{"name": "job_id", "value": str(third.id)}]
    assert resend[0].headers["idempotency-key"] == f"backinstock-job-{third.id}"
    assert re["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_smtp_goes_through_starttls_and_auth_with_a_multipart_message(delivery):
    delivery.enqueue(["ada@example.com"])
    assert delivery.run(lanes=["smtp"]).sent == 1
    [message] = delivery.fakes.relay.handler.messages
    [job] = delivery.jobs()
    assert message["X-Backinstock-Job-Id"] == str(job.id)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.walk()][1:] == ["text/plain", "text/html"]


def test_a_relay_that_refuses_our_password_stops_the_lane(delivery):
    delivery.enqueue(["ada@example.com"])
    wrong = delivery.settings.lane("smtp").model_copy(update={"password": SecretStr("nope")})
    settings = delivery.settings.model_copy(update={"lanes": [wrong]})
    report = delivery.run(lanes=["smtp"], settings=settings)
    assert report.lanes["smtp"].state.startswith("stopped: smtp refused the account: 535")
    assert delivery.fakes.relay.handler.messages == []


def test_a_relay_without_tls_is_refused_before_anything_is_sent(delivery):
    """STARTTLS is required: a lane configured without it fails against a relay that demands it, and no
    credentials or message cross in clear text."""
    delivery.enqueue(["ada@example.com"])
    plain = delivery.settings.lane("smtp").model_copy(update={"starttls": False})
    report = delivery.run(lanes=["smtp"], settings=delivery.settings.model_copy(update={"lanes": [plain]}))
    assert report.sent == 0 and delivery.fakes.relay.handler.messages == []
    [attempt] = delivery.attempts()
    assert attempt.outcome in ("account", "permanent")


SENDGRID_INVALID = {
    "errors": [{"field": "personalizations.0.to.0.email", "message": "Does not contain a valid address."}]
}
SENDGRID_TOO_LARGE = {"errors": [{"field": None, "message": "Request entity too large"}]}
POSTMARK_INVALID = {"ErrorCode": 300, "Message": "Error parsing 'To': Illegal email address 'ada@'."}
POSTMARK_TOKEN = {"ErrorCode": 10, "Message": "Request does not contain a valid Server token."}
POSTMARK_INACTIVE = {
    "ErrorCode": 406,
    "Message": "You tried to send to recipient(s) that have been marked as inactive. Found inactive"
    " addresses: ada@example.com. Inactive recipients are ones that have generated a hard bounce, a spam"
    " complaint, or a manual suppression.",
}
SES_REJECTED = {"type": "MessageRejected", "message": "Email address is not verified."}
SES_SUSPENDED = {"type": "AccountSuspendedException", "message": "Your account is suspended."}
SES_QUOTA = {"type": "LimitExceededException", "message": "Daily message quota exceeded."}
RESEND_TO = {"statusCode": 422, "name": "validation_error", "message": "Invalid `to` field."}
RESEND_KEY = {"statusCode": 403, "name": "invalid_api_key", "message": "API key is invalid."}
RESEND_BUSY = {"statusCode": 409, "name": "concurrent_idempotent_requests", "message": "in progress"}


@pytest.mark.parametrize(
    ("lane", "forced", "status", "error_class", "suppressed"),
    [
        ("sendgrid", Forced(400, body=SENDGRID_INVALID), "failed_permanent", "permanent", "invalid_address"),
        ("sendgrid", Forced(413, body=SENDGRID_TOO_LARGE), "failed_permanent", "permanent", None),
        ("sendgrid", Forced(500), "retry_scheduled", "transient", None),
        ("postmark", Forced(422, body=POSTMARK_INVALID), "failed_permanent", "permanent", "invalid_address"),
        (
            "postmark",
            Forced(422, body=POSTMARK_INACTIVE),
            "failed_permanent",
            "permanent",
            "inactive_recipient",
        ),
        ("postmark", Forced(401, body=POSTMARK_TOKEN), "retry_scheduled", "account", None),
        ("postmark", Forced(503), "retry_scheduled", "transient", None),
        ("ses", Forced(400, body=SES_REJECTED), "failed_permanent", "permanent", None),
        ("ses", Forced(400, body=SES_SUSPENDED), "retry_scheduled", "account", None),
        ("ses", Forced(400, body=SES_QUOTA), "retry_scheduled", "rate_limited", None),
        ("resend", Forced(422, body=RESEND_TO), "failed_permanent", "permanent", "invalid_address"),
        ("resend", Forced(403, body=RESEND_KEY), "retry_scheduled", "account", None),
        ("resend", Forced(409, body=RESEND_BUSY), "retry_scheduled", "transient", None),
        (
            "smtp",
            Forced(550, body="5.1.1 mailbox unavailable"),
            "failed_permanent",
            "permanent",
            "invalid_address",
        ),
        ("smtp", Forced(552, body="5.3.4 message too big"), "failed_permanent", "permanent", None),
        ("smtp", Forced(451, body="4.3.0 try again later"), "retry_scheduled", "transient", None),
        ("smtp", Forced(454, body="4.7.0 Throttling failure"), "retry_scheduled", "rate_limited", None),
    ],
    ids=lambda value: value.status if isinstance(value, Forced) else None,
)
def test_each_providers_answers_move_the_job_and_the_lane(
    delivery, lane, forced, status, error_class, suppressed
):
    delivery.enqueue(["ada@example.com"])
    delivery.account(lane).forced.append(forced)
    delivery.run(lanes=[lane])
    [job] = delivery.jobs()
    [attempt] = delivery.attempts()
    assert (job.status, job.last_error_class, attempt.outcome) == (status, error_class, error_class)
    assert attempt.status_code == forced.status
    with delivery.engine.connect() as connection:
        reason = suppressions.suppression_reason(
            connection, shop=SHOP, channel="email", contact="ada@example.com"
        )
        lane_row = lanes.get_lane(connection, lane)
        open_alerts = alerts.open_alerts(connection)
    assert reason == suppressed
    assert (lane_row["stopped_at"] is not None) == (error_class == "account") == bool(open_alerts)
    assert (lane_row["paused_until"] is not None) == (error_class == "rate_limited")
    if job.status == "failed_permanent":
        assert str(forced.status) in job.last_error


def test_an_ses_quota_pauses_the_lane_for_an_hour(delivery):
    delivery.enqueue(["ada@example.com"])
    delivery.account("ses").forced.append(Forced(400, body=SES_QUOTA))
    delivery.run(lanes=["ses"])
    with delivery.engine.connect() as connection:
        assert lanes.get_lane(connection, "ses")["paused_until"] == NOW + timedelta(hours=1)


def test_a_bad_ses_signature_is_refused_by_the_fake_and_stops_the_lane(delivery):
    delivery.enqueue(["ada@example.com"])
    wrong = delivery.settings.lane("ses").model_copy(
        update={"secret_access_key": SecretStr("not-the-secret")}
    )
    report = delivery.run(lanes=["ses"], settings=delivery.settings.model_copy(update={"lanes": [wrong]}))
    [attempt] = delivery.attempts()
    assert (attempt.status_code, attempt.outcome) == (403, "account")
    assert "SignatureDoesNotMatch" in attempt.error_message
    assert report.lanes["ses"].state.startswith("stopped")


def test_resend_with_the_same_idempotency_key_accepts_once(delivery):
    """What makes resending an unknown outcome safe: the repeat gets the first answer, nothing is sent."""
    delivery.enqueue(["ada@example.com"])
    delivery.account("resend").faults.accepted_then_slow_share = 1.0  # accepted, answered too late
    delivery.account("resend").faults.slow_seconds = 3.0
    quick = delivery.settings.lane("resend").model_copy(update={"timeout_seconds": 0.3})
    settings = delivery.with_settings(lanes=[quick], dispatch={"backoff_base_seconds": 0})
    report = delivery.run(lanes=["resend"], settings=settings)
    assert (report.retry_scheduled, report.sent) == (1, 1)  # unknown, resent under the same key, accepted
    [job] = delivery.jobs()
    assert [a.outcome for a in delivery.attempts()] == ["unknown", "accepted"]
    assert len(delivery.account("resend").accepted) == 1  # one message, whatever the number of requests
    assert [request.status for request in delivery.account("resend").requests] == [200, 200]
    assert job.provider_message_id == delivery.account("resend").accepted[0].message_id


SMS_CASES = [
    (Forced(400, body={"code": 21211, "message": "The 'To' number is not valid.", "status": 400}),
     "failed_permanent", "permanent", "invalid_address"),
    (Forced(400, body={"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}),
     "failed_permanent", "permanent", "unsubscribed"),
    (Forced(429, body={"code": 20429, "message": "Too Many Requests", "status": 429}),
     "retry_scheduled", "rate_limited", None),
    (Forced(401, body={"code": 20003, "message": "Authenticate", "status": 401}),
     "retry_scheduled", "account", None),
    (Forced(400, body={"code": 21608, "message": "The number is unverified.", "status": 400}),
     "retry_scheduled", "account", None),
]  # fmt: skip


def test_twilio_sends_an_sms_with_segments_counted_and_a_status_callback_naming_the_job(delivery):
    delivery.enqueue(["+4915112345678"], channel="sms", product_title="Leinenhemd")
    assert delivery.run(lanes=["twilio"]).sent == 1
    [job] = delivery.jobs()
    [accepted] = delivery.account("twilio").accepted
    sent = delivery.fakes.hub.fronts["twilio"].messages[accepted.message_id]
    assert (accepted.recipient, accepted.job_id, sent["from"]) == (
        "+4915112345678",
        str(job.id),
        "+15005550006",
    )
    assert (
        sent["callback"].endswith(f"?job_id={job.id}") and "/webhooks/providers/twilio/" in sent["callback"]
    )
    assert job.provider_message_id.startswith("SM")
    delivery.wait_for_events(2)  # sent, delivered: status callbacks signed with the auth token
    assert [status for _, status in delivery.fakes.poster.posted] == [200, 200]


@pytest.mark.parametrize(("forced", "status", "error_class", "suppressed"), SMS_CASES)
def test_twilio_error_codes(delivery, forced, status, error_class, suppressed):
    delivery.enqueue(["+4915112345678"], channel="sms")
    delivery.account("twilio").forced.append(forced)
    delivery.run(lanes=["twilio"])
    [job] = delivery.jobs()
    assert (job.status, job.last_error_class) == (status, error_class)
    with delivery.engine.connect() as connection:
        reason = suppressions.suppression_reason(
            connection, shop=SHOP, channel="sms", contact="+4915112345678"
        )
    assert reason == suppressed


def test_lane_settings_refuse_a_resend_policy_without_idempotency():
    with pytest.raises(ValueError, match="could send twice"):
        LaneSettings(name="pm", provider="postmark", unknown_outcome="resend")
    assert LaneSettings(name="r", provider="resend").outcome_policy == "resend"
    assert LaneSettings(name="s", provider="smtp", host="relay").outcome_policy == "hold"
    assert LaneSettings(name="t", provider="twilio", from_number="+1").channel == "sms"


def test_provider_events_come_back_through_the_storefront_for_every_provider(delivery):
    """A message accepted by each HTTP email provider comes back as a `delivered` event for its job; a
    hard bounce suppresses the address."""
    emails = ["ada@example.com", "bob@example.com", "cy@example.com", "bounce-dee@example.com"]
    for lane, contact in zip(("sendgrid", "postmark", "ses", "resend"), emails, strict=True):
        delivery.enqueue([contact])
        assert delivery.run(lanes=[lane]).sent == 1
    delivery.wait_for_events(4)
    assert {status for _, status in delivery.fakes.poster.posted} == {200}
    from backinstock.store import provider_events

    with delivery.engine.connect() as connection:
        found = {
            job.id: [event["event_type"] for event in provider_events.events_for_job(connection, job.id)]
            for job in delivery.jobs()
        }
        bounced = suppressions.suppression_reason(
            connection, shop=SHOP, channel="email", contact="bounce-dee@example.com"
        )
    ada, bob, cy, dee = delivery.jobs()
    assert found[ada.id] == ["processed", "delivered"]  # SendGrid posts both in one batch
    assert found[bob.id] == ["delivered"] and found[cy.id] == ["delivered"]
    assert found[dee.id] == ["bounced"] and bounced == "hard_bounce"


@pytest.fixture
def store_url(tmp_path):
    """What a provider answers and how it is classed does not depend on the store: SQLite only here (the
    store's own behaviour runs on PostgreSQL too in tests/store and the worker's tests)."""
    from backinstock.store.engine import create_store_engine
    from backinstock.store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(create_store_engine(url))
    return url
