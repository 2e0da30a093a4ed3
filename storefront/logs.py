"""Logs without personal data or tokens.

Access log lines keep the method, the route, the status and a coarse client network, but never a link's
token (`/u/<token>` would let whoever reads the log unsubscribe that person), a query string (App Proxy
requests carry the customer id and a signature) or a full IP address (personal data under GDPR: the last
octet of IPv4, the last 80 bits of IPv6 are zeroed).
"""

from __future__ import annotations

import copy
import ipaddress
import logging
import re
from functools import lru_cache
from typing import Any

from uvicorn.config import LOGGING_CONFIG

TOKEN_SEGMENT = re.compile(r"/(u|c|o|p|confirm)/[^/?#\s]+")


def redact_path(path: str) -> str:
    """The path without its query string, and with any token in a link replaced by `<token>`."""
    return TOKEN_SEGMENT.sub(lambda match: f"/{match.group(1)}/<token>", path.split("?", 1)[0])


@lru_cache(maxsize=4096)  # every access line asks; clients come back
def mask_ip(address: str) -> str:
    """The client's network, not the client: 203.0.113.7 -> 203.0.113.0/24, IPv6 to its /48."""
    host = address.rsplit(":", 1)[0] if address.count(":") == 1 else address
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return "-"
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


class AccessLogFilter(logging.Filter):
    """Rewrites uvicorn's access record `(client, method, path, http version, status)` in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            client, method, path, version, status = args
            record.args = (mask_ip(str(client)), method, redact_path(str(path)), version, status)
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with the access log filtered, and the app's own logger beside it."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": AccessLogFilter}
    config["handlers"]["access"]["filters"] = ["redact"]
    config["loggers"]["storefront"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
