"""The audit log, newest first, filtered by who, what, which target and when; pages back by id."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from backinstock.store import audit
from dashboards import auth
from dashboards.context import now_of, store_of
from dashboards.forms import given, refuse
from dashboards.web import NavItem, render

router = APIRouter()
NAV = [NavItem("view_queue", "/audit", "Audit log")]
PAGE_SIZE = 100


def _day(text: str | None, name: str) -> datetime | None:
    """The start of a day given as YYYY-MM-DD (UTC)."""
    if not given(text):
        return None
    try:
        return datetime.combine(date.fromisoformat(text.strip()), time(), tzinfo=UTC)
    except ValueError:
        raise refuse(f"{name}: a date as YYYY-MM-DD") from None


@router.get("/audit", response_class=HTMLResponse)
def audit_log(
    request: Request,
    _viewer: Annotated[auth.Viewer, Depends(auth.require("view_queue"))],
    actor: str | None = None,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
    before_id: int | None = None,
) -> HTMLResponse:
    filters = {
        "actor": given(actor),
        "action": given(action),
        "target_type": given(target_type),
        "target_id": given(target_id),
    }
    start, end = _day(since, "since"), _day(until, "until")
    with store_of(request).connect() as connection:
        rows = audit.entries(
            connection,
            **filters,
            since=start,
            until=end + timedelta(days=1) if end else None,
            limit=PAGE_SIZE,
            before_id=before_id,
        )
    for row in rows:
        details = row["details"] or {}
        row["source"] = details.get("source", "")
        row["reason"] = details.get("reason", "")
        row["change"] = {key: details[key] for key in ("before", "after") if key in details}
        row["change_text"] = json.dumps(row["change"], indent=1, default=str) if row["change"] else ""
    query = {
        key: value
        for key, value in {**filters, "since": given(since), "until": given(until)}.items()
        if value
    }
    return render(
        request,
        "audit.html",
        {
            "rows": rows,
            "filters": query,
            "next_before_id": rows[-1]["id"] if len(rows) == PAGE_SIZE else None,
        },
        as_of=now_of(request),
    )
