"""The event log: everything the outside world did, in order. It is the ground truth's only input.

Each event is a flat JSON-able dict: `seq` (order of recording), `at` (simulated instant, ISO Z), `kind`,
then the kind's fields. Kinds: shop, location, variant (the catalog, at the start), inventory (a level's
new `available`), webhook, view, signup, send (every provider call, with its status), open, click,
unsubscribe, order, gave_up (a shopper who came back to buy and found it sold out).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulator.instants import format_instant


class EventLog:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def record(self, at: datetime, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"seq": len(self.events) + 1, "at": format_instant(at), "kind": kind, **fields}
        self.events.append(event)
        return event

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["kind"] in kinds]
