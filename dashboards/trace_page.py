"""The execution trace: a restock event as detection decided it (variant, quantity, the rules in force), its
frozen targets and release batches (published marts), each job with every attempt (provider answer,
classified error, retry schedule, outcome) from the store; one job in full with the provider's later events
and the subscription's proof of consent; found by restock event, job, email or phone, or order. Contacts and
consent details are masked unless the viewer holds view_contacts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from backinstock.store import trace
from backinstock.store.tables import JOB_STATUSES
from dashboards import auth, trace_marts
from dashboards.context import now_of, store_of
from dashboards.forms import given, refuse
from dashboards.kpi_pages import marts_of
from dashboards.masking import shown_contact
from dashboards.web import NavItem, render

router = APIRouter()
NAV = [NavItem("view_queue", "/trace", "Trace")]
JOBS_SHOWN = 100  # in full with their attempts; the counts cover every job found (up to trace.LIMIT)


def _shown(jobs: list[dict[str, Any]], viewer: auth.Viewer) -> list[dict[str, Any]]:
    for job in jobs:
        job["shown_contact"] = shown_contact(job["contact"], viewer.may("view_contacts"))
    return jobs


@router.get("/trace", response_class=HTMLResponse)
def trace_search(
    request: Request,
    viewer: Annotated[auth.Viewer, Depends(auth.require("view_queue"))],
    restock_event: str | None = None,
    job: str | None = None,
    contact: str | None = None,
    order: str | None = None,
) -> Response:
    restock_event, job, contact, order = given(restock_event), given(job), given(contact), given(order)
    if job is not None:
        if not job.isdigit():
            raise refuse("job: a job number")
        return RedirectResponse(f"/trace/jobs/{int(job)}", status_code=303)
    if contact is not None and len(contact) > 320:
        raise refuse("contact: an email address or an E.164 phone number")
    if restock_event is not None and len(restock_event) > 64:
        raise refuse("restock_event: a restock event id")
    order_id = trace_marts.order_gid(order) if order else None
    if order is not None and order_id is None:
        raise refuse("order: an order number or gid://shopify/Order/N")
    marts = marts_of(request)
    decided = trace_marts.restock_event(marts, restock_event) if restock_event else None
    credited = trace_marts.jobs_of_order(marts, order_id) if order_id else None
    jobs: list[dict[str, Any]] = []
    with store_of(request).connect() as connection:
        if restock_event:
            jobs = trace.jobs_of_restock(connection, restock_event)
        elif contact:
            jobs = trace.jobs_of_contact(connection, contact)
        elif credited:
            jobs = trace.jobs_by_ids(connection, credited[: trace.LIMIT])
        attempts = trace.attempts_of(connection, [row["id"] for row in jobs[:JOBS_SHOWN]])
    may_see = viewer.may("view_contacts")
    targets = [
        {**target, "shown_contact": shown_contact(target["contact"], may_see)}
        for target in (decided["targets"] if decided else [])
    ]
    counts = {status: sum(1 for row in jobs if row["status"] == status) for status in JOB_STATUSES}
    return render(
        request,
        "trace.html",
        {
            "restock_event": restock_event,
            "contact": contact,
            "order": order_id,
            "attributions_published": credited is not None,
            "searched": bool(restock_event or contact or order_id),
            "decided": decided,
            "targets": targets,
            "recent": [] if restock_event or contact or order_id else trace_marts.recent_events(marts),
            "jobs": _shown(jobs[:JOBS_SHOWN], viewer),
            "found": len(jobs),
            "attempts": attempts,
            "counts": {status: count for status, count in counts.items() if count},
            "limit": trace.LIMIT,
            "shown": JOBS_SHOWN,
        },
        as_of=now_of(request),
    )


@router.get("/trace/jobs/{job_id}", response_class=HTMLResponse)
def job_page(
    request: Request, job_id: int, viewer: Annotated[auth.Viewer, Depends(auth.require("view_queue"))]
) -> HTMLResponse:
    with store_of(request).connect() as connection:
        found = trace.job_trace(connection, job_id)
    if found is None:
        raise HTTPException(404, f"no job {job_id}")
    _shown([found["job"]], viewer)
    return render(
        request,
        "trace_job.html",
        {**found, "may_see_contacts": viewer.may("view_contacts")},
        as_of=now_of(request),
    )
