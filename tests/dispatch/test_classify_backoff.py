from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from dispatch import classify
from dispatch.backoff import retry_delay
from dispatch.providers.sendgrid import rejects_recipient

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("table", "key", "outcome", "suppress"),
    [
        (classify.SENDGRID_STATUS, 202, "accepted", None),
        (classify.SENDGRID_STATUS, 429, "rate_limited", None),
        (classify.SENDGRID_STATUS, 503, "transient", None),
        (classify.SENDGRID_STATUS, 413, "permanent", None),
        (classify.SENDGRID_STATUS, 403, "account", None),
        (classify.SENDGRID_STATUS, 418, "unknown", None),
        (classify.POSTMARK_CODE, 0, "accepted", None),
        (classify.POSTMARK_CODE, 10, "account", None),
        (classify.POSTMARK_CODE, 300, "permanent", "invalid_address"),
        (classify.POSTMARK_CODE, 406, "permanent", "inactive_recipient"),
        (classify.POSTMARK_CODE, 412, "account", None),
        (classify.SES_ERROR, "TooManyRequestsException", "rate_limited", None),
        (classify.SES_ERROR, "LimitExceededException", "rate_limited", None),
        (classify.SES_ERROR, "MessageRejected", "permanent", None),
        (classify.SES_ERROR, "MailFromDomainNotVerifiedException", "permanent", None),
        (classify.SES_ERROR, "AccountSuspendedException", "account", None),
        (classify.SES_ERROR, "SendingPausedException", "account", None),
        (classify.RESEND_ERROR, "rate_limit_exceeded", "rate_limited", None),
        (classify.RESEND_ERROR, "concurrent_idempotent_requests", "transient", None),
        (classify.RESEND_ERROR, "invalid_idempotent_request", "permanent", None),
        (classify.RESEND_ERROR, "invalid_api_key", "account", None),
        (classify.TWILIO_CODE, 20429, "rate_limited", None),
        (classify.TWILIO_CODE, 20003, "account", None),
        (classify.TWILIO_CODE, 21608, "account", None),
        (classify.TWILIO_CODE, 21211, "permanent", "invalid_address"),
        (classify.TWILIO_CODE, 21610, "permanent", "unsubscribed"),
        (classify.TWILIO_CODE, 21635, "permanent", "invalid_address"),
    ],
)
def test_each_providers_answers_map_to_the_delivery_classes(table, key, outcome, suppress):
    found = classify.verdict(table, key)
    assert (found.outcome, found.suppress) == (outcome, suppress)


@pytest.mark.parametrize(
    ("code", "outcome"),
    [(250, "accepted"), (421, "rate_limited"), (454, "rate_limited"), (450, "transient"), (451, "transient"),
     (452, "transient"), (471, "transient"), (535, "account"), (530, "account"), (550, "permanent"),
     (553, "permanent"), (552, "permanent"), (599, "permanent"), (300, "unknown")],
)  # fmt: skip
def test_smtp_reply_codes(code, outcome):
    assert classify.smtp_verdict(code).outcome == outcome


def test_only_sendgrid_errors_naming_the_recipient_reject_the_address():
    assert rejects_recipient('{"errors":[{"field":"personalizations.0.to.0.email","message":"bad"}]}')
    assert not rejects_recipient('{"errors":[{"field":"from.email","message":"bad"}]}')
    assert not rejects_recipient('{"errors":[{"field":null,"message":"too large"}]}')
    assert not rejects_recipient("<html>not json</html>")


def test_retry_hints_in_seconds_dates_and_reset_headers():
    assert classify.retry_hint_seconds({"Retry-After": "120"}, NOW) == 120
    date = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    assert classify.retry_hint_seconds({"retry-after": date}, NOW) == 90
    assert classify.retry_hint_seconds({"X-RateLimit-Reset": str(int(NOW.timestamp()) + 30)}, NOW) == 30
    assert classify.retry_hint_seconds({"ratelimit-reset": "7"}, NOW) == 7  # Resend: seconds from now
    both = {"Retry-After": "10", "X-RateLimit-Reset": str(int(NOW.timestamp()) + 30)}
    assert classify.retry_hint_seconds(both, NOW) == 30
    assert classify.retry_hint_seconds({"X-RateLimit-Reset": str(int(NOW.timestamp()) - 30)}, NOW) == 0
    assert classify.retry_hint_seconds({"Retry-After": "soon"}, NOW) is None
    assert classify.retry_hint_seconds({}, NOW) is None


def test_full_jitter_grows_to_the_cap_and_never_undercuts_the_hint():
    def delay(failures, draw, hint=None):
        return retry_delay(failures, base_seconds=30, cap_seconds=600, hint_seconds=hint, draw=lambda: draw)

    assert [delay(n, 1.0) for n in (1, 2, 3, 5, 6, 40)] == [30, 60, 120, 480, 600, 600]
    assert delay(3, 0.0) == 0
    assert delay(3, 0.5, hint=900) == 900
    assert delay(3, 0.5, hint=10) == 60
    assert delay(10_000, 1.0) == 600
