"""Click tokens carried from an alert to the order: set on the landing URL, read back from an order's cart
attribute or landing pages, and verified (a copied, altered or foreign token credits nothing)."""

from __future__ import annotations

import json

from backinstock import tokens
from backinstock.click_tokens import carried_job_ids, carried_tokens, with_click_token

KEY = b"test-key"


def test_the_landing_url_keeps_its_parameters_and_carries_one_token() -> None:
    url = with_click_token("https://s.example/products/hat?variant=7&bis_click=old&utm_source=x", "NEW")
    assert url == "https://s.example/products/hat?variant=7&utm_source=x&bis_click=NEW"


def test_tokens_come_from_the_cart_attribute_then_the_landing_pages() -> None:
    pages = ["https://s.example/p?bis_click=b", "https://s.example/p?x=1", "https://s.example/p?bis_click=a"]
    assert carried_tokens({"_bis_click": "a", "gift": "yes"}, pages) == ["a", "b"]
    assert carried_tokens({}, []) == []


def test_only_tokens_that_verify_as_click_tokens_count() -> None:
    seven, nine = tokens.sign(KEY, tokens.CLICK, 7), tokens.sign(KEY, tokens.CLICK, 9)
    unsubscribe = tokens.sign(KEY, tokens.UNSUBSCRIBE, 8)  # another purpose
    foreign = tokens.sign(b"another-shop-key", tokens.CLICK, 10)
    attributes = json.dumps({"_bis_click": nine})
    pages = json.dumps([f"https://s.example/p?bis_click={token}" for token in (seven, unsubscribe, foreign)])
    assert carried_job_ids(attributes, pages, KEY) == [7, 9]
    assert carried_job_ids(json.dumps({"_bis_click": seven[:-2]}), "[]", KEY) == []  # altered
    assert carried_job_ids("not json", None, KEY) == [] == carried_job_ids('["a list"]', "{}", KEY)
