"""The delivery engine, no Dagster inside: a worker that claims due jobs, checks them at send time, renders
them, sends them through its lanes' providers under their limits, and records every answer.

`dispatch.worker.run(engine, settings, clock=..., for_seconds=..., worker_id=...)` is the entry point.
"""
