"""Click tokens carried from an alert to the order: set on the landing URL, read back from an order's cart
attribute or landing pages, and verified (a copied, altered, foreign or expired token credits nothing)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from backinstock import tokens
from backinstock.click_tokens import carried_job_ids, carried_tokens, with_click_token

KEYS = tokens.Keyring.of(b"test-key")
SHOP = "s.myshopify.com"
ORDERED_AT = datetime(2026, 11, 5, 12, tzinfo=UTC)


def click(job_id: int, *, keys: tokens.Keyring = KEYS, shop: str = SHOP, **options) -> str:
    return tokens.sign(keys, tokens.CLICK, job_id, shop=shop, **options)


def test_the_landing_url_keeps_its_parameters_and_carries_one_token() -> None:
    url = with_click_token("https://s.example/products/hat?variant=7&bis_click=old&utm_source=x", "NEW")
    assert url == "https://s.example/products/hat?variant=7&utm_source=x&bis_click=NEW"


def test_tokens_come_from_the_cart_attribute_then_the_landing_pages() -> None:
    pages = ["https://s.example/p?bis_click=b", "https://s.example/p?x=1", "https://s.example/p?bis_click=a"]
    assert carried_tokens({"_bis_click": "a", "gift": "yes"}, pages) == ["a", "b"]
    assert carried_tokens({}, []) == []


def test_only_click_tokens_of_the_orders_shop_valid_when_it_was_placed_count() -> None:
    carried = {
        "7": click(7),
        "9": click(9, expires_at=ORDERED_AT + timedelta(seconds=1)),
        "unsubscribe": tokens.sign(KEYS, tokens.UNSUBSCRIBE, 8, shop=SHOP),  # another purpose
        "foreign key": click(10, keys=tokens.Keyring.of(b"another-product")),
        "other shop": click(11, shop="other.myshopify.com"),
        "expired": click(12, expires_at=ORDERED_AT),
    }
    attributes = json.dumps({"_bis_click": carried["9"]})
    pages = json.dumps([f"https://s.example/p?bis_click={token}" for token in carried.values()])
    assert carried_job_ids(attributes, pages, KEYS, SHOP, ORDERED_AT) == [7, 9]


def test_damaged_tokens_and_attributes_credit_nothing() -> None:
    altered = json.dumps({"_bis_click": click(7)[:-2] + "AA"})
    assert carried_job_ids(altered, "[]", KEYS, SHOP, ORDERED_AT) == []
    assert carried_job_ids("not json", None, KEYS, SHOP, ORDERED_AT) == []
    assert carried_job_ids('["a list"]', "{}", KEYS, SHOP, ORDERED_AT) == []
