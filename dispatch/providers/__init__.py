"""Providers, one per kind of account a lane can use. Each turns a `Message` into a classified
`ProviderResult`; `for_lane` builds the one a lane's settings name."""

from __future__ import annotations

from backinstock.settings import LaneSettings
from dispatch.providers.base import Message, Provider, ProviderResult
from dispatch.providers.postmark import Postmark
from dispatch.providers.resend import Resend
from dispatch.providers.sendgrid import SendGrid
from dispatch.providers.transport import LaneHttp
from dispatch.providers.twilio import Twilio

__all__ = ["Message", "Provider", "ProviderResult", "for_lane", "http_client"]


def http_client(lane: LaneSettings) -> LaneHttp:
    """One client per lane: as many connections as the lane sends at once (see `transport`), its timeout
    per call."""
    return LaneHttp(lane.concurrency, lane.timeout_seconds)


def for_lane(lane: LaneSettings, client: LaneHttp) -> Provider:
    secret = lane.api_key.get_secret_value()
    if lane.provider == "sendgrid":
        return SendGrid(lane.base_url, secret, client)
    if lane.provider == "postmark":
        return Postmark(lane.base_url, secret, client)
    if lane.provider == "resend":
        return Resend(lane.base_url, secret, client)
    if lane.provider == "ses":
        from dispatch.providers.ses import SES  # botocore: imported only where a lane needs it

        return SES(
            lane.base_url,
            region=lane.region,
            access_key_id=lane.access_key_id,
            secret_access_key=lane.secret_access_key.get_secret_value(),
            configuration_set=lane.configuration_set,
            client=client,
        )
    if lane.provider == "twilio":
        return Twilio(
            lane.base_url,
            account_sid=lane.account_sid,
            auth_token=lane.auth_token.get_secret_value(),
            from_number=lane.from_number,
            messaging_service_sid=lane.messaging_service_sid,
            client=client,
        )
    if lane.provider == "smtp":
        from dispatch.providers.smtp import Smtp

        return Smtp(lane)
    raise ValueError(f"no provider named {lane.provider!r}")
