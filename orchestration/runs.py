"""What schedules and sensors ask the instance before they start a run: is one of this job still going?"""

from __future__ import annotations

import dagster as dg

IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def run_in_progress(instance: dg.DagsterInstance, job_name: str) -> bool:
    """Whether a run of `job_name` is queued or running: a tick that overlaps it is skipped, not stacked."""
    return bool(instance.get_run_records(dg.RunsFilter(job_name=job_name, statuses=IN_PROGRESS), limit=1))
