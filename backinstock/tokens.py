"""Signed, opaque tokens for links in messages (unsubscribe, click, open).

A token is `base64url(purpose-free payload) . base64url(HMAC-SHA256(key, purpose | payload)[:16])`: it
carries an id, cannot be forged or moved to another purpose, and needs no table lookup to check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

UNSUBSCRIBE = "unsubscribe"
CLICK = "click"
OPEN = "open"
MAC_BYTES = 16


class InvalidToken(ValueError):
    """The token was not made by us for this purpose."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, purpose: str, payload: bytes) -> bytes:
    return hmac.new(key, purpose.encode() + b"|" + payload, hashlib.sha256).digest()[:MAC_BYTES]


def sign(key: bytes, purpose: str, value: int | str) -> str:
    payload = str(value).encode()
    return f"{_b64(payload)}.{_b64(_mac(key, purpose, payload))}"


def verify(key: bytes, purpose: str, token: str) -> str:
    """The value inside `token`, or InvalidToken."""
    try:
        encoded_payload, encoded_mac = token.split(".")
        payload, mac = _unb64(encoded_payload), _unb64(encoded_mac)
    except (ValueError, TypeError) as bad:
        raise InvalidToken("malformed token") from bad
    if not hmac.compare_digest(mac, _mac(key, purpose, payload)):
        raise InvalidToken("token signature does not match")
    return payload.decode()
