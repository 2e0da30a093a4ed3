"""The delivery engine, no Dagster inside: claim due jobs, check eligibility, render, send, record."""

from dispatch.engine import DispatchReport, dispatch_due

__all__ = ["DispatchReport", "dispatch_due"]
