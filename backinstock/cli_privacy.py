"""`backinstock privacy exports`: the data Shopify's `customers/data_request` webhooks asked for, as JSON for
the merchant to hand over (`backinstock.privacy`)."""

from __future__ import annotations

import argparse

from backinstock import privacy
from backinstock.settings import load_settings
from backinstock.store import open_store


def exports_command(options: argparse.Namespace) -> int:
    engine = open_store(load_settings())
    with engine.connect() as connection:
        requests = privacy.exports(connection, options.shop)
    engine.dispose()
    if options.request is not None:
        requests = [request for request in requests if request["id"] == options.request]
        if not requests:
            print(f"no data request {options.request}")
            return 1
    print(privacy.dumps([{key: request[key] for key in EXPORT_KEYS} for request in requests]))
    return 0


EXPORT_KEYS = ("id", "shop", "shopify_request_id", "received_at", "completed_at", "order_ids", "export")


def add_parsers(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("privacy", help="data exports for customers' data requests (JSON)")
    actions = command.add_subparsers(dest="privacy_command", required=True)
    listing = actions.add_parser("exports", help="every data request with the person's data, newest first")
    listing.add_argument("--shop")
    listing.add_argument("--request", type=int, help="only this request (its id)")
    listing.set_defaults(handler=exports_command)
