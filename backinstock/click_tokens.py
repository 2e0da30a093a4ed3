"""Click tokens carried from an alert to the order: how they travel, and reading them back.

The click redirect sends the shopper to the product page with the alert's signed click token in the
`bis_click` parameter. The shop's theme copies it into the cart attribute `_bis_click`, and Shopify keeps the
landing page of the order's visits; either brings the token to the order, where it credits the alert even
when the shopper checks out with another email address. Only tokens that verify with the product's keys,
for the order's shop, and had not expired when the order was placed count: a copied, forged or foreign value
credits nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from backinstock import tokens

PARAMETER = "bis_click"
CART_ATTRIBUTE = "_bis_click"


def with_click_token(url: str, token: str) -> str:
    """The landing URL with the click token set (other query parameters kept)."""
    parts = urlsplit(url)
    kept = [pair for pair in parse_qsl(parts.query, keep_blank_values=True) if pair[0] != PARAMETER]
    return urlunsplit(parts._replace(query=urlencode([*kept, (PARAMETER, token)])))


def carried_tokens(custom_attributes: dict[str, str], landing_pages: Iterable[str]) -> list[str]:
    """Every click token an order carries: its cart attribute, then its visits' landing pages."""
    found = [custom_attributes.get(CART_ATTRIBUTE) or ""]
    for page in landing_pages:
        found += [value for key, value in parse_qsl(urlsplit(page).query) if key == PARAMETER]
    return [token for token in dict.fromkeys(found) if token]


def carried_job_ids(
    custom_attributes_json: str | None,
    landing_pages_json: str | None,
    keys: tokens.Keyring,
    shop: str,
    ordered_at: datetime,
) -> list[int]:
    """The jobs whose click tokens an order of `shop` carries and that verify (sorted, distinct)."""
    attributes = _json(custom_attributes_json, {})
    pages = _json(landing_pages_json, [])
    if not isinstance(attributes, dict) or not isinstance(pages, list):
        return []
    job_ids = set()
    for token in carried_tokens(
        {str(k): str(v) for k, v in attributes.items()}, [p for p in pages if isinstance(p, str)]
    ):
        try:
            claims = tokens.verify(keys, tokens.CLICK, token, now=ordered_at)
            if claims.shop == shop.strip().lower():
                job_ids.add(claims.number)
        except tokens.InvalidToken:
            continue
    return sorted(job_ids)


def _json(text: str | None, default: object) -> object:
    try:
        return json.loads(text) if text else default
    except ValueError:
        return default
