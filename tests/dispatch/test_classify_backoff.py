from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from dispatch.backoff import retry_delay
from dispatch.classify import classify_sendgrid, retry_hint_seconds, sendgrid_rejects_recipient

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (202, "accepted"),
        (429, "rate_limited"),
        (500, "transient"),
        (503, "transient"),
        (400, "permanent"),
        (413, "permanent"),
        (401, "account"),
        (403, "account"),
        (418, "unknown"),
    ],
)
def test_sendgrid_statuses(status, outcome):
    assert classify_sendgrid(status) == outcome


def test_only_errors_naming_the_recipient_reject_the_address():
    assert sendgrid_rejects_recipient(
        '{"errors":[{"field":"personalizations.0.to.0.email","message":"bad"}]}'
    )
    assert not sendgrid_rejects_recipient('{"errors":[{"field":"from.email","message":"bad"}]}')
    assert not sendgrid_rejects_recipient('{"errors":[{"field":null,"message":"too large"}]}')
    assert not sendgrid_rejects_recipient("<html>not json</html>")


def test_retry_hints_in_seconds_dates_and_reset_epochs():
    assert retry_hint_seconds({"Retry-After": "120"}, NOW) == 120
    assert (
        retry_hint_seconds({"retry-after": format_datetime(NOW + timedelta(seconds=90), usegmt=True)}, NOW)
        == 90
    )
    assert retry_hint_seconds({"X-RateLimit-Reset": str(int(NOW.timestamp()) + 30)}, NOW) == 30
    both = {"Retry-After": "10", "X-RateLimit-Reset": str(int(NOW.timestamp()) + 30)}
    assert retry_hint_seconds(both, NOW) == 30
    assert retry_hint_seconds({"X-RateLimit-Reset": str(int(NOW.timestamp()) - 30)}, NOW) == 0
    assert retry_hint_seconds({"Retry-After": "soon"}, NOW) is None
    assert retry_hint_seconds({}, NOW) is None


def test_full_jitter_grows_to_the_cap_and_never_undercuts_the_hint():
    def delay(failures, draw, hint=None):
        return retry_delay(failures, base_seconds=30, cap_seconds=600, hint_seconds=hint, draw=lambda: draw)

    assert [delay(n, 1.0) for n in (1, 2, 3, 5, 6, 40)] == [30, 60, 120, 480, 600, 600]
    assert delay(3, 0.0) == 0
    assert delay(3, 0.5, hint=900) == 900
    assert delay(3, 0.5, hint=10) == 60
    assert delay(10_000, 1.0) == 600
