"""What schedules and sensors ask the instance before they start a run: is one of this job still going, and
has one already been asked for as of a late enough instant?"""

from __future__ import annotations

from datetime import datetime

import dagster as dg

from backinstock.clock import parse_instant
from orchestration.jobs import AS_OF_TAG

IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
# A run that will see, or saw, what happened up to its `as_of`.
NOT_FAILED = [*IN_PROGRESS, dg.DagsterRunStatus.SUCCESS]


def run_in_progress(instance: dg.DagsterInstance, job_name: str) -> bool:
    """Whether a run of `job_name` is queued or running: a tick that overlaps it is skipped, not stacked."""
    return bool(instance.get_run_records(dg.RunsFilter(job_name=job_name, statuses=IN_PROGRESS), limit=1))


def latest_as_of(instance: dg.DagsterInstance, job_name: str) -> datetime | None:
    """The `as_of` of the newest run of `job_name` that is going or succeeded. The alerts path decides as of
    its instant on everything known by then, so a change confirmable by that instant needs no run of its
    own: the webhook sensor and the reconciliation check never ask twice for the same restock."""
    for record in instance.get_run_records(dg.RunsFilter(job_name=job_name, statuses=NOT_FAILED), limit=1):
        tag = record.dagster_run.tags.get(AS_OF_TAG)
        return parse_instant(tag) if tag else None
    return None
