import base64
from datetime import UTC, datetime, timedelta

import pytest

from backinstock import tokens

KEY = b"k" * 32
KEYS = tokens.Keyring.of(KEY)
SHOP = "shop-a.myshopify.com"
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def verify(token, purpose=tokens.UNSUBSCRIBE, keys=KEYS, now=NOW):
    return tokens.verify(keys, purpose, token, now=now)


def test_a_token_carries_its_shop_and_value():
    claims = verify(tokens.sign(KEYS, tokens.CLICK, 1234, shop="Shop-A.myshopify.com"), tokens.CLICK)
    assert (claims.shop, claims.value, claims.number, claims.expires_at) == (SHOP, "1234", 1234, None)


def flip_last_bits(token):
    """An altered copy a lenient base64 decoder reads as the same bytes (the last character's spare bits)."""
    kid, payload, mac = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(mac[-1])
    altered = alphabet[index ^ 1]
    assert base64.urlsafe_b64decode(mac[:-1] + altered + "==") == base64.urlsafe_b64decode(mac + "==")
    return f"{kid}.{payload}.{mac[:-1]}{altered}"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token.replace(token.split(".")[1][:2], "Zm", 1),  # another payload
        lambda token: token[:-2],  # a shortened signature
        flip_last_bits,  # same bytes to a lenient decoder, another text
        lambda token: token + "=",  # padding
        lambda token: token[:-1] + "+",  # standard base64, not base64url
        lambda token: token[:7] + " " + token[7:],  # junk a lenient decoder would skip
        lambda token: token + ".x",  # an extra part
        lambda token: "not-a-token",
        lambda token: "",
        lambda token: "A" * 10_000,  # refused by length before anything is decoded
    ],
)
def test_forged_or_damaged_tokens_are_refused(tamper):
    with pytest.raises(tokens.InvalidToken):
        verify(tamper(tokens.sign(KEYS, tokens.UNSUBSCRIBE, 7, shop=SHOP)))


def test_a_token_cannot_be_used_for_another_purpose_or_with_another_key():
    token = tokens.sign(KEYS, tokens.OPEN, 7, shop=SHOP)
    with pytest.raises(tokens.InvalidToken):
        verify(token, tokens.UNSUBSCRIBE)
    with pytest.raises(tokens.InvalidToken):
        verify(token, tokens.OPEN, keys=tokens.Keyring.of(b"other" * 8))


def test_the_shop_is_bound_into_the_signature():
    kid, _payload, mac = tokens.sign(KEYS, tokens.UNSUBSCRIBE, 7, shop=SHOP).split(".")
    moved = base64.urlsafe_b64encode(b"shop-b.myshopify.com|7|").rstrip(b"=").decode()
    with pytest.raises(tokens.InvalidToken, match="signature"):
        verify(f"{kid}.{moved}.{mac}")


def test_rotation_old_links_verify_until_their_key_is_retired():
    old, new = b"old-key" * 5, b"new-key" * 5
    sent_before = tokens.sign(tokens.Keyring.of(old), tokens.UNSUBSCRIBE, 7, shop=SHOP)
    rotated = tokens.Keyring.of(new, previous=[old])
    sent_after = tokens.sign(rotated, tokens.UNSUBSCRIBE, 8, shop=SHOP)
    assert sent_after.split(".")[0] == tokens.key_id(new) != sent_before.split(".")[0]
    assert verify(sent_before, keys=rotated).number == 7
    assert verify(sent_after, keys=rotated).number == 8
    retired = tokens.Keyring.of(new)
    with pytest.raises(tokens.InvalidToken, match="retired"):
        verify(sent_before, keys=retired)
    assert verify(sent_after, keys=retired).number == 8


def test_expiring_tokens():
    expires = NOW + timedelta(hours=72)
    token = tokens.sign(KEYS, tokens.CONFIRM, 5, shop=SHOP, expires_at=expires)
    assert verify(token, tokens.CONFIRM, now=expires - timedelta(seconds=1)).expires_at == expires
    with pytest.raises(tokens.ExpiredToken) as expired:
        verify(token, tokens.CONFIRM, now=expires)
    assert expired.value.claims.number == 5


def test_signing_refuses_what_a_token_cannot_carry():
    for value, shop in (("a|b", SHOP), ("x" * 65, SHOP), (1, ""), (1, "a|b")):
        with pytest.raises(ValueError):
            tokens.sign(KEYS, tokens.CLICK, value, shop=shop)
    with pytest.raises(ValueError):
        tokens.sign(KEYS, "reset-password", 1, shop=SHOP)
