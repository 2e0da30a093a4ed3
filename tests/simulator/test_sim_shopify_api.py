"""The simulated Admin GraphQL API, read by the product's own client and reads over loopback HTTP."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from graphql import parse, validate
from sim_harness import SHOP, TOKEN, FakeStorefront, serving, world_config

from backinstock.settings import ShopSettings
from backinstock.shopify import queries, reads
from backinstock.shopify.client import ShopifyAuthError, ShopifyClient
from simulator.gids import gid
from simulator.schema import admin_schema
from simulator.store import DENY, Checkout, Customer, Level, Variant
from simulator.world import World

BERLIN, HAMBURG, LEIPZIG, KREUZBERG = 70_000_001, 70_000_002, 70_000_003, 70_000_004
EXTRA_VARIANTS = 320  # more than one page of variants (250) and of levels per location (150)


def graphql_url(base: str) -> str:
    return f"{base}/admin/api/2026-10/graphql.json"


def client_for(url: str, token: str = TOKEN) -> ShopifyClient:
    return ShopifyClient(ShopSettings(domain=SHOP, access_token=token, admin_api_url=url))


@pytest.fixture
def busy_world(storefront) -> World:
    """The small shop plus many variants (to page through) and orders, one with 12 line items; its bucket
    refills fast, so these tests wait for nothing."""
    small_world = World(world_config(storefront.url, restore_rate=100_000))
    store = small_world.store
    opened = small_world.config.start - timedelta(days=1)
    product_id = next(iter(store.products))
    for number in range(EXTRA_VARIANTS):
        variant = Variant(
            60_001 + number, product_id, f"Extra {number}", f"X-{number}", Decimal("9.50"), DENY,
            7_000_001 + number, True, opened,
        )  # fmt: skip
        store.add_variant(variant)
        for location_id in (BERLIN, HAMBURG):
            level_number = 900_000 + 2 * number + (location_id == HAMBURG)
            store.add_level(Level(location_id, variant.inventory_item_id, 5, opened, opened, level_number))
    extras = [store.variants[60_001 + n] for n in range(12)]
    start = small_world.config.start
    store.place_order(Checkout("Big.Spender@example.com"), [(v, 1) for v in extras], start)
    for number in range(30):
        store.place_order(Checkout(f"shopper-{number:04d}@example.com"), [(extras[number % 12], 1)], start)
    # paid in USD at the order's own rate, 10 % off, an account; seven returns of one unit each, later
    usd = Checkout(
        "Dollar@Example.com", Customer(7_000_042, "dollar@example.com"), "USD", Decimal("0.921337"),
        Decimal(10), (("_bis_click", "tok"),), "https://shop.example/products/x?bis_click=tok",
    )  # fmt: skip
    dollar, _ = store.place_order(usd, [(extras[0], 4), (extras[1], 4)], start, Decimal("4.90"))
    for hour in range(1, 8):
        store.refund(dollar, [(dollar.lines[hour % 2], 1)], start + timedelta(hours=hour))
    cancelled, _ = store.place_order(Checkout("quitter@example.com"), [(extras[2], 1)], start)
    store.cancel(cancelled, start + timedelta(hours=2))
    return small_world


@pytest.fixture
def busy_url(busy_world: World):
    with serving(busy_world) as url:
        yield url


def test_every_product_document_validates_against_the_official_schema() -> None:
    for name, document in queries.ALL.items():
        assert validate(admin_schema(), parse(document)) == [], name


def test_every_product_document_executes(busy_url: str, http: httpx.Client) -> None:
    variables = {
        "locationId": gid("Location", BERLIN),
        "orderId": gid("Order", 5_000_001),
        "refundId": gid("Refund", 9_000_001),
        "query": "updated_at:>='2026-01-01T00:00:00Z'",
    }
    for name, document in queries.ALL.items():
        answer = http.post(
            graphql_url(busy_url), json={"query": document, "variables": variables},
            headers={"X-Shopify-Access-Token": TOKEN},
        )  # fmt: skip
        body = answer.json()
        assert answer.status_code == 200 and "errors" not in body, (name, body)
        cost = body["extensions"]["cost"]
        assert 0 < cost["actualQueryCost"] <= cost["requestedQueryCost"] <= 1000, (name, cost)


def test_reads_shop_and_locations(busy_url: str) -> None:
    with client_for(busy_url) as client:
        shop = reads.read_shop(client)
        locations = list(reads.read_locations(client))
    assert shop == {
        "shop": SHOP,
        "shop_id": "gid://shopify/Shop/60000001",
        "name": "Demo Outfitters",
        "currency_code": "EUR",
        "iana_timezone": "Europe/Berlin",
    }
    assert [(row["location_id"], row["is_active"], row["fulfills_online_orders"]) for row in locations] == [
        (gid("Location", BERLIN), True, True),
        (gid("Location", HAMBURG), True, True),
        (gid("Location", LEIPZIG), False, False),
        (gid("Location", KREUZBERG), True, False),  # the retail store: its stock is not for online orders
    ]


def test_reads_inventory_levels_across_pages_and_since_an_instant(busy_world: World, busy_url: str) -> None:
    store = busy_world.store
    location_ids = [gid("Location", BERLIN), gid("Location", HAMBURG)]
    with client_for(busy_url) as client:
        everything = list(reads.read_inventory_levels(client, location_ids))
        assert client.requests_sent >= 4  # at least two pages per location
        later = busy_world.config.start + timedelta(hours=3)
        variant = store.variants[60_100]
        store.adjust(HAMBURG, variant.inventory_item_id, -2, later, "test")
        changed = list(reads.read_inventory_levels(client, location_ids, updated_since=later))
        deactivated = store.variants[60_101]
        store.levels[(BERLIN, deactivated.inventory_item_id)].is_active = False  # its updated_at stays
        inactive = [row for row in reads.read_inventory_levels(client, location_ids) if not row["is_active"]]
    expected = {
        (gid("Location", level.location_id), gid("InventoryItem", level.inventory_item_id))
        for level in store.levels.values()
        if level.location_id in (BERLIN, HAMBURG)
    }
    assert len(everything) == len(expected) > 2 * EXTRA_VARIANTS
    assert {(row["location_id"], row["inventory_item_id"]) for row in everything} == expected
    assert [(row["inventory_item_id"], row["available"], row["updated_at"]) for row in changed] == [
        (gid("InventoryItem", variant.inventory_item_id), 3, later)
    ]
    level = store.levels[(HAMBURG, variant.inventory_item_id)]
    assert changed[0]["inventory_level_id"] == (
        f"gid://shopify/InventoryLevel/{level.id}?inventory_item_id={variant.inventory_item_id}"
    )
    assert level.id != HAMBURG  # a level's number is its own, never its location's
    # a deactivated level is still returned (the product asks for inactive ones), marked inactive
    assert [(row["inventory_item_id"], row["location_id"]) for row in inactive] == [
        (gid("InventoryItem", deactivated.inventory_item_id), gid("Location", BERLIN))
    ]


def test_reads_products_and_variants(busy_world: World, busy_url: str) -> None:
    with client_for(busy_url) as client:
        products = list(reads.read_products(client))
        variants = list(reads.read_variants(client))
    assert [row["product_id"] for row in products] == [
        gid("Product", p) for p in sorted(busy_world.store.products)
    ]
    assert [row["variant_id"] for row in variants] == [
        gid("ProductVariant", v) for v in sorted(busy_world.store.variants)
    ]
    by_title = {row["title"]: row for row in variants}
    assert by_title["Default"]["tracked"] is False  # the gift card
    assert {row["inventory_policy"] for row in variants} == {"DENY", "CONTINUE"}
    assert by_title["Extra 7"]["price"] == "9.50"


def test_reads_orders_with_more_than_five_line_items(busy_world: World, busy_url: str) -> None:
    with client_for(busy_url) as client:
        orders = list(reads.read_orders(client))
        since = busy_world.config.start + timedelta(hours=3)
        assert [read.order["name"] for read in reads.read_orders(client, updated_since=since)] == ["#1032"]
    assert len(orders) == 33  # seven pages of five
    big = next(read for read in orders if read.order["email"] == "big.spender@example.com")
    assert big.order["total_price"] == "114.00" and big.order["currency_code"] == "EUR"
    assert big.order["name"] == "#1001" and big.refund_lines == []
    assert len(big.lines) == 12
    assert [line["variant_id"] for line in big.lines] == [
        gid("ProductVariant", 60_001 + n) for n in range(12)
    ]
    assert {
        (line["original_total"], line["discount_total"], line["current_total"]) for line in big.lines
    } == {("9.50", "0.00", "9.50")}


def test_reads_presentment_money_discounts_refunds_and_cancellations(busy_url: str) -> None:
    """Every amount is Shopify's shop money (EUR) at the order's own rate, beside the USD the customer
    paid; discounts allocated from the order are read per line; seven refunds (more than come with the
    order) each take a unit off; a cancelled order is a refund of everything."""
    with client_for(busy_url) as client:
        orders = {read.order["email"]: read for read in reads.read_orders(client)}
    dollar = orders["dollar@example.com"]
    order = dollar.order
    assert (order["presentment_currency_code"], order["currency_code"]) == ("USD", "EUR")
    # 9.50 EUR is 10.31 USD at 0.921337; 8 units, 10 % off: 82.48 - 8.25 + 5.32 USD shipping = 79.55 USD,
    # which is 73.29 EUR at the order's rate
    assert (order["total_price_presentment"], order["total_price"]) == ("79.55", "73.29")
    assert (order["customer_id"], order["customer_email"]) == (
        "gid://shopify/Customer/7000042",
        "dollar@example.com",
    )
    assert json.loads(order["custom_attributes"]) == {"_bis_click": "tok"}
    assert json.loads(order["landing_pages"]) == ["https://shop.example/products/x?bis_click=tok"]
    first = dollar.lines[0]
    assert (first["original_total"], first["discount_total"]) == ("38.00", "3.80")  # 41.24 and 4.12 USD
    assert len(dollar.refund_lines) == 7
    assert {line["quantity"] for line in dollar.refund_lines} == {1}
    refunded = sum(
        Decimal(line["subtotal"])
        for line in dollar.refund_lines
        if line["line_item_id"] == first["line_item_id"]
    )
    assert (
        first["current_total"]
        == f"{Decimal(first['original_total']) - Decimal(first['discount_total']) - refunded:.2f}"
    )
    cancelled = orders["quitter@example.com"]
    assert cancelled.order["cancelled_at"] is not None and cancelled.order["current_total_price"] == "0.00"
    assert [(line["quantity"], line["subtotal"]) for line in cancelled.refund_lines] == [(1, "9.50")]


def test_a_dry_bucket_throttles_and_the_client_still_gets_every_row(storefront, http: httpx.Client) -> None:
    world = World(world_config(storefront.url, bucket_size=800, restore_rate=400))
    bucket = world.api.bucket
    with serving(world) as url:
        bucket.refill()
        bucket.available = 0
        answer = http.post(
            graphql_url(url), json={"query": queries.LOCATIONS}, headers={"X-Shopify-Access-Token": TOKEN}
        ).json()
        assert answer["errors"] == [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]
        assert "data" not in answer
        cost = answer["extensions"]["cost"]
        assert cost["requestedQueryCost"] == 252 and cost["actualQueryCost"] is None
        assert cost["throttleStatus"]["maximumAvailable"] == 800
        assert cost["throttleStatus"]["restoreRate"] == 400
        assert cost["throttleStatus"]["currentlyAvailable"] < 252
        bucket.refill()
        bucket.available = 0
        with client_for(url) as client:
            variants = list(reads.read_variants(client))
            locations = list(reads.read_locations(client))
            assert client.throttled_responses >= 1
    assert len(variants) == len(world.store.variants)
    assert len(locations) == 4


def test_cost_follows_shopifys_rules(simulator_url: str, http: httpx.Client) -> None:
    def cost(query: str) -> dict:
        answer = http.post(
            graphql_url(simulator_url), json={"query": query}, headers={"X-Shopify-Access-Token": TOKEN}
        )
        return answer.json()["extensions"]["cost"]

    assert cost("{ shop { name } }")["requestedQueryCost"] == 1
    flat = cost("{ locations(first: 10) { nodes { id name } pageInfo { hasNextPage } } }")
    assert (flat["requestedQueryCost"], flat["actualQueryCost"]) == (12, 5)  # 2 + 10 x 1; 2 + 3 active
    nested = cost("{ products(first: 5) { edges { node { variants(first: 4) { nodes { id } } } } } }")
    assert nested["requestedQueryCost"] == 2 + 5 * (1 + 2 + 4)


def test_too_costly_a_query_is_refused_like_shopify(simulator_url: str, http: httpx.Client) -> None:
    query = "{ products(first: 250) { nodes { variants(first: 250) { nodes { id } } } } }"
    body = http.post(
        graphql_url(simulator_url), json={"query": query}, headers={"X-Shopify-Access-Token": TOKEN}
    ).json()
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert body["extensions"]["cost"]["requestedQueryCost"] > 1000


def test_invalid_queries_get_graphql_errors_with_http_200(simulator_url: str, http: httpx.Client) -> None:
    answer = http.post(
        graphql_url(simulator_url),
        json={"query": "{ shop { nope } }"},
        headers={"X-Shopify-Access-Token": TOKEN},
    )
    assert answer.status_code == 200
    assert "Cannot query field 'nope' on type 'Shop'" in answer.json()["errors"][0]["message"]


def test_a_wrong_token_is_401(simulator_url: str, http: httpx.Client) -> None:
    answer = http.post(
        graphql_url(simulator_url), json={"query": queries.SHOP}, headers={"X-Shopify-Access-Token": "x"}
    )
    assert answer.status_code == 401
    with client_for(simulator_url, token="wrong") as client, pytest.raises(ShopifyAuthError):
        reads.read_shop(client)


def test_an_uninstall_revokes_the_token_and_sends_app_uninstalled_until_the_app_is_installed_again(
    simulator_url: str, http: httpx.Client, storefront: FakeStorefront
) -> None:
    def read(token: str = TOKEN) -> int:
        headers = {"X-Shopify-Access-Token": token}
        return http.post(
            graphql_url(simulator_url), json={"query": queries.SHOP}, headers=headers
        ).status_code

    assert http.post(f"{simulator_url}/_sim/app", json={"installed": "no"}).status_code == 400
    assert http.post(f"{simulator_url}/_sim/app", json={"installed": False}).status_code == 200
    http.post(f"{simulator_url}/_sim/app", json={"installed": False})  # already uninstalled: nothing sent
    assert read() == 401
    [webhook] = storefront.webhooks
    assert webhook["headers"]["X-Shopify-Topic"] == "app/uninstalled"
    assert webhook["payload"]["myshopify_domain"] == webhook["headers"]["X-Shopify-Shop-Domain"]
    assert http.post(f"{simulator_url}/_sim/app", json={"installed": True}).status_code == 200
    assert (read(), read("wrong")) == (200, 401)
    assert len(storefront.webhooks) == 1
