"""Warehouse runs yield the CPU to the processes that answer people.

On one machine the storefront (shoppers signing up and unsubscribing), the console and the dispatcher
share the cores with the pipeline's batch work: Dagster's steps, dbt's processes and DuckDB's threads,
which take every core they are given for seconds at a time. So the runs of the warehouse paths (the jobs
tagged `PRIORITY_TAG: BATCH`: alerts, analytics, data quality) run at a lower CPU priority: when such a run
sets up its resources, its thread takes the nice value `settings.batch_nice` (10 by default, 0 leaves it
as it is), and what that thread starts afterwards inherits it (DuckDB's worker threads, dbt's processes).
At nice 10 a busy batch thread gets about a tenth of a core that a serving process also wants; on an idle
machine it runs as fast as before.

Linux keeps a nice value per thread, and an unprivileged thread cannot raise its priority again: a process
that runs a warehouse path in process (the demo's cycle, `orchestration.cycle`) keeps the lower priority
for whatever that thread runs next, dispatch included. Under the daemon every run has a process of its
own, and the dispatch job, not a batch job, keeps the normal priority.
"""

from __future__ import annotations

import os
import threading

PRIORITY_TAG = "backinstock/priority"
BATCH = "batch"


def nice_of_this_thread() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def lower_this_thread(nice: int) -> int:
    """Give this thread (and the threads and processes it starts from now on) the nice value `nice` when
    that is a lower priority than it has; never raises its priority. Returns the nice value in force."""
    current = nice_of_this_thread()
    if nice > current:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        return nice
    return current
