"""Where providers post their events for a lane: `{storefront}/webhooks/providers/{lane}/{token}`.

The token is derived from the signing key and the lane's name, so the URL itself authenticates the caller
for providers that cannot sign (SES through SNS, SendGrid without its signed webhook, Postmark); Twilio
and Resend sign their requests as well and are checked for that too. Dispatch builds the URL (Twilio's
status callback), the storefront checks it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

PATH = "/webhooks/providers/{lane}/{token}"


def lane_token(key: bytes, lane: str) -> str:
    digest = hmac.new(key, b"provider-events|" + lane.encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def events_url(storefront_url: str, key: bytes, lane: str) -> str:
    return storefront_url.rstrip("/") + PATH.format(lane=lane, token=lane_token(key, lane))


def verified(key: bytes, lane: str, token: str) -> bool:
    return hmac.compare_digest(lane_token(key, lane).encode(), token.encode())
