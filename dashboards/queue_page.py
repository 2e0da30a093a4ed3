"""The queue monitor (refreshes itself) and the actions on it: replay dead letters and held jobs (one, a
filter, or all, with a reason) and resume a paused or stopped lane. Both through the spine functions the CLI
calls (`store.jobs.replay`, `store.lanes.resume`), audited with the user and the client's address."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from backinstock.store import jobs, lanes, queue
from backinstock.store.tables import JOB_STATUSES, REPLAYABLE_PREDICATE, notification_jobs
from dashboards import auth
from dashboards.context import client_ip, now_of, settings_of, store_of
from dashboards.forms import given, refuse
from dashboards.masking import shown_contact
from dashboards.queue_snapshots import QueueSnapshots
from dashboards.web import NavItem, render

router = APIRouter()
NAV = [NavItem("view_queue", "/queue", "Queue")]
REFRESH_SECONDS = 15
REPLAYABLE_SHOWN = 50  # dead letters and held jobs listed for a one-by-one replay


def _snapshots(request: Request) -> QueueSnapshots:
    """The app's queue counts (one set per console process)."""
    state = request.app.state
    if not hasattr(state, "queue_snapshots"):
        state.queue_snapshots = QueueSnapshots()
    return state.queue_snapshots


def _replayable(connection: sa.Connection, shop: str | None) -> list[dict]:
    """The latest dead letters and held jobs, newest first: one walk of their partial index, whose
    predicate the query repeats word for word (SQLite uses a partial index only then)."""
    table = notification_jobs.c
    scope = [table.shop == shop] if shop else []
    columns = (
        table.id, table.shop, table.status, table.lane, table.channel, table.contact,
        table.restock_event_id, table.last_error_class, table.last_error, table.updated_at,
    )  # fmt: skip
    rows = connection.execute(
        sa.select(*columns)
        .where(sa.text(REPLAYABLE_PREDICATE), *scope)
        .order_by(table.updated_at.desc(), table.id.desc())
        .limit(REPLAYABLE_SHOWN)
    )
    return [dict(row._mapping) for row in rows]


@router.get("/queue", response_class=HTMLResponse)
def queue_monitor(
    request: Request,
    viewer: Annotated[auth.Viewer, Depends(auth.require("view_queue"))],
    shop: str | None = None,
    replayed: int | None = None,
    resumed: str | None = None,
) -> HTMLResponse:
    shop = given(shop)
    engine = store_of(request)

    def count() -> queue.QueueState:
        with engine.connect() as connection:
            return queue.queue_state(connection, now=now_of(request), shop=shop)

    state = _snapshots(request).get(shop, count)
    with engine.connect() as connection:
        waiting = _replayable(connection, shop)
    for row in waiting:
        row["shown_contact"] = shown_contact(row["contact"], viewer.may("view_contacts"))
    return render(
        request,
        "queue.html",
        {
            "state": state,
            "statuses": JOB_STATUSES,
            "waiting": waiting,
            "shops": [configured.domain for configured in settings_of(request).shops],
            "shop": shop,
            "replayed": replayed,
            "resumed": resumed if resumed and any(lane["name"] == resumed for lane in state.lanes) else None,
            "refresh_seconds": REFRESH_SECONDS,
            "replayable": jobs.REPLAYABLE,
        },
        as_of=state.as_of,
    )


@router.post("/queue/replay")
def replay(
    request: Request,
    viewer: Annotated[auth.Viewer, Depends(auth.require("replay"))],
    reason: Annotated[str, Form(max_length=1000)] = "",
    job_id: Annotated[str, Form(max_length=20)] = "",
    lane: Annotated[str, Form(max_length=64)] = "",
    error_class: Annotated[str, Form(max_length=32)] = "",
    restock_event_id: Annotated[str, Form(max_length=64)] = "",
    status: Annotated[str, Form(max_length=20)] = "",
    everything: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    job = given(job_id)
    if job is not None and not job.isdigit():
        raise refuse("job_id: a job number")
    try:
        with store_of(request).begin() as connection:
            replayed = jobs.replay(
                connection,
                actor=viewer.name,
                now=now_of(request),
                reason=reason,
                source=client_ip(request),
                job_id=int(job) if job else None,
                lane=given(lane),
                error_class=given(error_class),
                restock_event_id=given(restock_event_id),
                status=given(status),
                everything=everything == "yes",
            )
    except ValueError as refused:
        raise refuse(refused) from None
    _snapshots(request).invalidate()
    return RedirectResponse(f"/queue?replayed={len(replayed)}", status_code=303)


@router.post("/lanes/{name}/resume")
def resume_lane(
    request: Request,
    name: str,
    viewer: Annotated[auth.Viewer, Depends(auth.require("replay"))],
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        with store_of(request).begin() as connection:
            lanes.resume(
                connection,
                name,
                actor=viewer.name,
                now=now_of(request),
                reason=reason,
                source=client_ip(request),
            )
    except LookupError as missing:
        raise HTTPException(404, str(missing)) from None
    except ValueError as refused:
        raise refuse(refused) from None
    _snapshots(request).invalidate()
    return RedirectResponse(f"/queue?resumed={name}", status_code=303)
