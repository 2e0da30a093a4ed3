"""Signed, opaque tokens for the links we send (unsubscribe, click, open, confirm, preferences).

A token is `<key id>.<payload>.<mac>`, each part base64url without padding:
- the payload is `<shop>|<value>|<expires>` (expires: epoch seconds, or empty for a link that never expires);
- the MAC is HMAC-SHA256 over the purpose, the key id and the payload, cut to 16 bytes.
So a token carries its shop and id, cannot be forged, moved to another purpose or another shop, and needs no
table lookup to check. The key id names the key that signed it: after a rotation, links already sent keep
verifying with the previous keys until those are retired (removed from the settings).

Decoding is strict: only the base64url alphabet, the canonical encoding only (an altered copy of a valid
token whose changed bits the lenient decoder would drop is refused), and bounded lengths, checked before any
MAC is computed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

UNSUBSCRIBE = "unsubscribe"
CLICK = "click"
OPEN = "open"
CONFIRM = "confirm"
PREFERENCES = "preferences"
PURPOSES = frozenset({UNSUBSCRIBE, CLICK, OPEN, CONFIRM, PREFERENCES})

MAC_BYTES = 16
KEY_ID_CHARS = 6
MAX_PAYLOAD_BYTES = 300  # a shop domain (<= 255) and an id
MAX_TOKEN_CHARS = KEY_ID_CHARS + 2 + (MAX_PAYLOAD_BYTES * 4 + 2) // 3 + (MAC_BYTES * 4 + 2) // 3
_MAC_CHARS = (MAC_BYTES * 4 + 2) // 3
_SHAPE = re.compile(
    rf"^(?P<kid>[A-Za-z0-9_-]{{{KEY_ID_CHARS}}})\.(?P<payload>[A-Za-z0-9_-]+)\.(?P<mac>[A-Za-z0-9_-]{{{_MAC_CHARS}}})$"
)
_VALUE = re.compile(r"^[A-Za-z0-9_:-]{1,64}$")
_SEPARATOR = "|"


class InvalidToken(ValueError):
    """The token was not made by us for this purpose (or was damaged on the way)."""


class ExpiredToken(InvalidToken):
    """A genuine token past its expiry; `claims` says what it was for."""

    def __init__(self, claims: Claims) -> None:
        super().__init__("token has expired")
        self.claims = claims


@dataclass(frozen=True)
class Claims:
    """What a verified token says."""

    shop: str
    value: str
    expires_at: datetime | None

    @property
    def number(self) -> int:
        """The value as an id; InvalidToken when it is not one."""
        if not self.value.isdigit():
            raise InvalidToken("token does not carry an id")
        return int(self.value)


def key_id(key: bytes) -> str:
    """A short, stable name for a key, derived from it (no one has to assign ids)."""
    return _b64(hashlib.sha256(b"backinstock-key-id|" + key).digest())[:KEY_ID_CHARS]


@dataclass(frozen=True)
class Keyring:
    """The key that signs new tokens and every key that still verifies old ones."""

    current_id: str
    keys: dict[str, bytes]

    @classmethod
    def of(cls, current: bytes, previous: Iterable[bytes] = ()) -> Keyring:
        if not current:
            raise ValueError("the signing key is empty")
        keys = {key_id(key): key for key in previous if key}
        keys[key_id(current)] = current
        return cls(current_id=key_id(current), keys=keys)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _strict_unb64(text: str) -> bytes:
    """Decode only the canonical encoding: re-encoding must give back exactly `text`."""
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as bad:
        raise InvalidToken("malformed token") from bad
    if _b64(data) != text:
        raise InvalidToken("malformed token")
    return data


def _mac(key: bytes, purpose: str, kid: str, payload: bytes) -> bytes:
    message = b"v1|" + purpose.encode() + b"|" + kid.encode() + b"|" + payload
    return hmac.new(key, message, hashlib.sha256).digest()[:MAC_BYTES]


def _epoch(instant: datetime) -> int:
    """Whole seconds, rounded up: a token never expires before the instant it was made for (the record it
    points at stays the authority on the exact instant)."""
    if instant.tzinfo is None:
        raise ValueError("expiry must be an aware instant")
    return math.ceil(instant.timestamp())


def sign(
    keys: Keyring, purpose: str, value: int | str, *, shop: str, expires_at: datetime | None = None
) -> str:
    """A token for `value` at `shop`, for one purpose, valid until `expires_at` (None: no expiry)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    value = str(value)
    if not _VALUE.match(value):
        raise ValueError("a token value is a short id")
    shop = shop.strip().lower()
    if not shop or _SEPARATOR in shop:
        raise ValueError("a token needs the shop it belongs to")
    expiry = "" if expires_at is None else str(_epoch(expires_at))
    payload = _SEPARATOR.join((shop, value, expiry)).encode()
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError("token payload too long")
    kid = keys.current_id
    return f"{kid}.{_b64(payload)}.{_b64(_mac(keys.keys[kid], purpose, kid, payload))}"


def verify(keys: Keyring, purpose: str, token: str, *, now: datetime) -> Claims:
    """The claims inside `token`, or InvalidToken (ExpiredToken for a genuine token past its expiry)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken("malformed token")
    shape = _SHAPE.match(token)
    if shape is None:
        raise InvalidToken("malformed token")
    key = keys.keys.get(shape["kid"])
    if key is None:
        raise InvalidToken("token signed with an unknown or retired key")
    payload, mac = _strict_unb64(shape["payload"]), _strict_unb64(shape["mac"])
    if len(payload) > MAX_PAYLOAD_BYTES or len(mac) != MAC_BYTES:
        raise InvalidToken("malformed token")
    if not hmac.compare_digest(mac, _mac(key, purpose, shape["kid"], payload)):
        raise InvalidToken("token signature does not match")
    claims = _claims(payload)
    if claims.expires_at is not None and now >= claims.expires_at:
        raise ExpiredToken(claims)
    return claims


def _claims(payload: bytes) -> Claims:
    """The payload of a token whose MAC verified (we wrote it, so a bad shape is a bug, but check anyway)."""
    try:
        shop, value, expiry = payload.decode("utf-8").split(_SEPARATOR)
    except (UnicodeDecodeError, ValueError) as bad:
        raise InvalidToken("malformed token payload") from bad
    if not shop or not _VALUE.match(value) or (expiry and not (expiry.isdigit() and len(expiry) <= 11)):
        raise InvalidToken("malformed token payload")
    expires_at = datetime.fromtimestamp(int(expiry), UTC) if expiry else None
    return Claims(shop=shop, value=value, expires_at=expires_at)
