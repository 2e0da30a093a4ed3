"""No input gives a 5xx: property-based tests against the running storefront, on SQLite and PostgreSQL.

Schemathesis generates valid and invalid requests for every operation of the app's OpenAPI schema; a
Hypothesis test signs arbitrary bodies and headers as Shopify would, so webhooks get past the HMAC check and
their headers and bodies are exercised too. Every answer must be below 500, and every JSON error answer
must be in the documented shape.
"""

import json
import string

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from seed_rows import NOW, SHOP, variant_row
from sf_helpers import WEBHOOK_SECRET, shopify_headers

from backinstock.settings import RateLimit
from backinstock.store.catalog import upsert_variants
from storefront.errors import ErrorBody
from storefront.proxy import proxy_signature

EXAMPLES = 50
GENEROUS = RateLimit(count=1_000_000, seconds=1)


@pytest.fixture
def settings(settings):
    """Rate limits out of the way, so generated requests reach the store instead of a 429."""
    limits = {name: GENEROUS for name in ("signups_per_ip", "signups_per_contact", "signups_per_shop")}
    return settings.model_copy(update={"storefront": settings.storefront.model_copy(update=limits)})


@pytest.fixture(autouse=True)
def catalog(store_engine):
    with store_engine.begin() as connection:
        upsert_variants(connection, [variant_row(1), variant_row(2)], NOW)


STEERS = ("as generated", "known shop", "known variant", "valid contact")


def steer(case, how):
    """Most generated requests fail early (unknown shop, no proxy signature): steer a share of them deeper,
    keeping every other generated field as it is."""
    if how == "as generated":
        return case
    if case.path.startswith("/proxy/"):
        parameters = [("shop", SHOP), ("path_prefix", "/apps/bis"), ("timestamp", str(int(NOW.timestamp())))]
        case.query = dict([*parameters, ("signature", proxy_signature(WEBHOOK_SECRET, parameters))])
    if isinstance(case.body, dict):
        if not case.path.startswith("/proxy/"):
            case.body["shop"] = SHOP
        if how in ("known variant", "valid contact"):
            case.body["variant_id"] = 1
        if how == "valid contact":
            known = {
                "email": "fuzz@example.com",
                "name": "product_viewed",
                "channel": "email",
                "locale": "en",
            }
            case.body.update({key: value for key, value in known.items() if key in case.body})
    return case


def test_no_generated_request_gives_a_5xx(storefront):
    """Every operation of the OpenAPI schema, with valid and invalid requests."""
    schema = schemathesis.openapi.from_url(f"{storefront.client.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {operation.path for operation in operations} >= {
        "/api/subscriptions",
        "/proxy/api/events",
        "/u/{token}",
    }
    for operation in operations:
        generated = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
            GenerationMode.NEGATIVE
        )
        cases = st.builds(steer, generated, st.sampled_from(STEERS))

        @given(case=cases)
        @examples(max_examples=EXAMPLES, suppress_health_check=list(HealthCheck), deadline=None)
        def answers_below_500(case):
            response = case.call()
            case.validate_response(response, checks=[not_a_server_error])
            if response.status_code >= 400 and response.headers.get("content-type") == ["application/json"]:
                ErrorBody.model_validate(json.loads(response.content))

        answers_below_500()


HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
BODIES = st.one_of(
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=200),
    st.integers(1, 50_000).map(lambda depth: b"[" * depth + b"]" * depth),
)
TOPICS = (
    st.sampled_from(
        [
            "inventory_levels/update",
            "customers/redact",
            "shop/redact",
            "customers/data_request",
            "app/uninstalled",
        ]
    )
    | HEADER_TEXT
)


@given(
    body=BODIES,
    topic=TOPICS,
    webhook_id=HEADER_TEXT,
    event_id=HEADER_TEXT,
    version=HEADER_TEXT,
    triggered=st.one_of(HEADER_TEXT, st.datetimes().map(lambda t: t.isoformat() + "Z")),
)
@examples(max_examples=EXAMPLES * 3, suppress_health_check=list(HealthCheck), deadline=None)
def test_no_signed_webhook_gives_a_5xx(storefront, body, topic, webhook_id, event_id, version, triggered):
    headers = shopify_headers(
        body,
        X_Shopify_Topic=topic.strip() or "x",
        X_Shopify_Webhook_Id=webhook_id.strip() or "x",
        X_Shopify_Event_Id=event_id.strip() or "x",
        X_Shopify_API_Version=version.strip() or "x",
        X_Shopify_Triggered_At=triggered.strip() or "x",
    )
    response = storefront.client.post("/webhooks/shopify", content=body, headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        ErrorBody.model_validate(response.json())


@given(email=st.text(alphabet=string.printable + "\x00\u200b\u202e\u2028é@.", max_size=80))
@examples(max_examples=EXAMPLES * 3, suppress_health_check=list(HealthCheck), deadline=None)
def test_no_email_gives_a_5xx(storefront, email):
    response = storefront.client.post(
        "/api/subscriptions", json={"shop": SHOP, "variant_id": 1, "email": email}
    )
    assert response.status_code < 500, response.text
