"""The dispatcher: a worker that keeps up to N requests in flight per lane, claims jobs in batches, paces
sends by the lane's shared rate, and records every answer, for a bounded time.

    report = run(engine, settings, clock=settings.clock(), for_seconds=55, worker_id="host:pid")

`run` is the one entry point (the `backinstock dispatch` command, Dagster's dispatch job and the pipeline
cycle call it); it returns a `WorkerReport`. Several workers may run at once against one store: every
decision about who owns a job is the store's (claims, fences, lease recovery), every lane limit is shared
through the store (rate slots, domain counts, pauses).

Per lane, three tasks: the feeder claims a batch, checks it (eligibility, a live stock check, rendering)
and queues what may go; the launcher takes queued jobs in small groups, reserves their rate slots, takes
free concurrency slots, records their attempts in one transaction and calls the provider at each slot,
readying the next group while the current one is sending (a lane with a backlog never idles between
groups); the flusher
writes the answers in batches. Answers that concern the whole lane act at once in this worker (a 429
pauses its launcher before another request leaves) and, through the store, in every other worker.

The clock is read as the worker goes (leases, due times, slots, attempt times), so the same code runs on
real time and on the demo's simulated time; `for_seconds` is real (monotonic) time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa

from backinstock import templates
from backinstock.clock import Clock, format_instant
from backinstock.settings import LaneSettings, Settings
from backinstock.store import jobs, lanes, suppressions
from backinstock.store.jobs import Job, Started
from backinstock.unsubscribes import spool_of
from dispatch import classify, eligibility, outbox, pacing
from dispatch.backoff import retry_delay
from dispatch.providers import Message, Provider, ProviderResult, for_lane, http_client
from dispatch.render import compose, idempotency_key
from dispatch.stock import Stock, StockChecker, rules_for

T = TypeVar("T")
FLUSH_SECONDS = 0.01  # answers are written at least this often
FLUSH_SIZE = 64  # ... or as soon as this many are waiting
LAUNCH_GROUP = 16  # attempts recorded in one transaction at most
LAUNCH_GATHER_SECONDS = 0.002  # a freed slot waits this long for others before a group is recorded
SLOTS_AHEAD_SECONDS = 0.25  # a rate-limited lane reserves this much time's worth of slots at once
CATCH_UP_SPACING = 0.5  # late sends catch up at most twice as fast as the rate
IDLE_POLL_SECONDS = 1.0
MAINTENANCE_SECONDS = 10.0
DOMAIN_COUNTS_KEPT = timedelta(hours=1)
QUIET_HOURS = "quiet hours in the shop"


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class LaneReport:
    provider: str
    sent: int = 0
    failed_permanent: int = 0
    dead_letter: int = 0
    retry_scheduled: int = 0
    held: int = 0
    skipped: int = 0
    deferred: int = 0
    released: int = 0
    lease_lost: int = 0
    rate_limited_answers: int = 0
    state: str = "open"


@dataclass
class WorkerReport:
    """What one run did. `achieved_rate` is messages accepted per second of the run."""

    worker_id: str
    started_at: str = ""
    finished_at: str = ""
    seconds: float = 0.0
    claimed: int = 0
    sent: int = 0
    failed_permanent: int = 0
    dead_letter: int = 0
    retry_scheduled: int = 0
    held: int = 0
    skipped: int = 0
    deferred: int = 0
    released: int = 0
    lease_lost: int = 0
    rate_limited_answers: int = 0
    recovered_requeued: int = 0
    recovered_held: int = 0
    confirmations_sent: int = 0  # double opt-in messages from the outbox
    unsubscribes_applied: int = 0  # one-click unsubscribes the storefront spooled while the store was busy
    resolved: dict[str, int] = field(default_factory=dict)
    stock_checks: int = 0
    stock_unchecked: int = 0
    achieved_rate: float = 0.0
    lanes: dict[str, LaneReport] = field(default_factory=dict)
    stopped: str | None = None
    drained: bool = False  # `until_idle`, and every lane had nothing it could send now before the bound

    def count(self, lane: str, what: str, amount: int = 1) -> None:
        setattr(self, what, getattr(self, what) + amount)
        report = self.lanes[lane]
        setattr(report, what, getattr(report, what) + amount)

    def as_metadata(self) -> dict[str, Any]:
        data = asdict(self)
        data["lanes"] = {name: lane for name, lane in data["lanes"].items()}
        return data


def run(
    engine: sa.Engine,
    settings: Settings,
    *,
    clock: Clock | None = None,
    for_seconds: float | None = None,
    worker_id: str | None = None,
    until_idle: bool = False,
    lane_names: Sequence[str] = (),
) -> WorkerReport:
    """Dispatch for `for_seconds` of real time (default `dispatch.run_seconds`), or until nothing is due
    when `until_idle`; returns the report. Safe to call from a thread that already runs an event loop."""
    worker = Worker(
        engine,
        settings,
        clock=clock or settings.clock(),
        for_seconds=settings.dispatch.run_seconds if for_seconds is None else for_seconds,
        worker_id=worker_id or default_worker_id(),
        until_idle=until_idle,
        lane_names=lane_names,
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(worker.run())
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, worker.run()).result()


@dataclass
class Outcome:
    job: Job
    started: Started
    result: ProviderResult
    at: datetime


class Worker:
    def __init__(
        self,
        engine: sa.Engine,
        settings: Settings,
        *,
        clock: Clock,
        for_seconds: float,
        worker_id: str,
        until_idle: bool,
        lane_names: Sequence[str] = (),
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.policy = settings.dispatch
        self.clock = clock
        self.for_seconds = for_seconds
        self.worker_id = worker_id
        self.until_idle = until_idle
        configured = settings.delivery_lanes()
        self.lanes = [lane for lane in configured if not lane_names or lane.name in lane_names]
        self.policies = {lane.name: lane.outcome_policy for lane in configured}
        self.report = WorkerReport(worker_id=worker_id)
        self.report.lanes = {lane.name: LaneReport(lane.provider) for lane in self.lanes}
        self.held: dict[int, int] = {}  # job id -> fence, for every job this worker holds a lease on
        self.stopping = asyncio.Event()
        self.database = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dispatch-db")
        self.stock = StockChecker(settings)
        self.spool = spool_of(settings.data_dir)

    # --- plumbing -------------------------------------------------------------------------------------

    async def db(self, work: Callable[[sa.Connection], T]) -> T:
        """Run `work` in one store transaction, on the worker's database thread."""

        def in_transaction() -> T:
            with self.engine.begin() as connection:
                return work(connection)

        return await asyncio.get_running_loop().run_in_executor(self.database, in_transaction)

    def now(self) -> datetime:
        return self.clock.now()

    async def apply_unsubscribes(self) -> bool:
        """Apply unsubscribes the storefront spooled while the store was busy (`backinstock.unsubscribes`),
        so none is overtaken by a send; False when the store does not take them yet: claim nothing then."""
        if not self.spool.pending():
            return True
        try:
            applied = await asyncio.get_running_loop().run_in_executor(
                self.database, self.spool.apply, self.engine
            )
        except (sa.exc.OperationalError, sa.exc.TimeoutError):
            return False
        self.report.unsubscribes_applied += applied
        return True

    async def wait_until(self, instant: datetime) -> bool:
        """Sleep until the clock reaches `instant`; False when the run ended first."""
        speed = float(getattr(self.clock, "speed", 1.0))
        while True:
            remaining = (instant - self.now()).total_seconds()
            if remaining <= 0:
                return True
            if self.stopping.is_set():
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=min(remaining / speed, 0.5))

    async def pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    # --- the run --------------------------------------------------------------------------------------

    async def run(self) -> WorkerReport:
        started = time.monotonic()
        if threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            for stop in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(stop, self.stopping.set)
        self.report.started_at = format_instant(self.now())
        configs = [_lane_row(lane) for lane in self.settings.delivery_lanes()]
        await self.db(lambda connection: lanes.sync(connection, configs, self.now()))
        await self.maintain()
        runners = [LaneRunner(self, lane) for lane in self.lanes]
        tasks = [asyncio.create_task(runner.run()) for runner in runners]
        background = [asyncio.create_task(self.heartbeat()), asyncio.create_task(self.maintenance())]
        try:
            await self.watch(tasks, background, deadline=started + self.for_seconds)
            self.report.drained = self.until_idle and all(task.done() for task in tasks)
        finally:
            self.stopping.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            for runner in runners:
                await runner.close()
            await self.finish(started)
        return self.report

    async def watch(self, lanes: list[asyncio.Task], background: list[asyncio.Task], deadline: float) -> None:
        """Until every lane is done or the deadline: a lane or a background task that failed (a database
        error, a bug) fails the run at once, loudly; the jobs it held are recovered from their leases."""
        lanes_left, watched = set(lanes), set(background)
        while lanes_left:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            done, _ = await asyncio.wait(
                lanes_left | watched, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                task.result()
                lanes_left.discard(task)
                watched.discard(task)

    async def finish(self, started: float) -> None:
        rows = await self.db(lanes.all_lanes)
        now = self.now()
        for row in rows:
            if row["name"] in self.report.lanes:
                self.report.lanes[row["name"]].state = _state(row, now)
        self.report.seconds = round(time.monotonic() - started, 3)
        self.report.finished_at = format_instant(now)
        self.report.achieved_rate = (
            round(self.report.sent / self.report.seconds, 2) if self.report.seconds else 0.0
        )
        self.report.stock_checks = self.stock.requests
        self.stock.close()
        self.database.shutdown(wait=True)

    async def heartbeat(self) -> None:
        """Renew every lease this worker holds, well before it expires."""
        interval = max(self.policy.lease_seconds / 3, 0.05)
        while not self.stopping.is_set():
            await self.pause(interval)
            refs = list(self.held.items())
            if not refs:
                continue
            owned = await self.db(
                lambda connection, refs=refs: jobs.renew_leases(
                    connection, refs, lease_seconds=self.policy.lease_seconds, now=self.now()
                )
            )
            for job_id, fence in refs:
                if job_id not in owned and self.held.get(job_id) == fence:
                    del self.held[job_id]  # recovered by someone else: its moves will find the fence moved

    async def maintenance(self) -> None:
        while not self.stopping.is_set():
            await self.pause(min(MAINTENANCE_SECONDS, self.policy.lease_seconds / 2))
            if not self.stopping.is_set():
                await self.maintain()

    async def maintain(self) -> None:
        """Recover leases of vanished workers, resolve held jobs from late answers and provider events,
        forget old domain counts."""
        now = self.now()

        def work(connection: sa.Connection) -> jobs.Recovery:
            recovery = jobs.recover_expired_leases(
                connection, now, policies=self.policies, max_attempts=self.policy.max_attempts
            )
            resolved = jobs.resolve_held(
                connection, now, policies=self.policies, max_attempts=self.policy.max_attempts
            )
            for what, count in resolved.items():
                recovery.resolved[what] = recovery.resolved.get(what, 0) + count
            lanes.prune_domain_counts(connection, now - DOMAIN_COUNTS_KEPT)
            return recovery

        recovery = await self.db(work)
        self.report.recovered_requeued += recovery.requeued
        self.report.recovered_held += recovery.held
        for what, count in recovery.resolved.items():
            self.report.resolved[what] = self.report.resolved.get(what, 0) + count


async def _until_done(
    tasks: Sequence[asyncio.Task], *, watching: Sequence[asyncio.Task], first: bool = False
) -> None:
    """Wait for every one of `tasks` (or the first, with `first`); the first exception of any of them or
    of the tasks `watching` is raised at once."""
    waiting, watched = set(tasks), set(watching)
    while waiting:
        done, _ = await asyncio.wait(waiting | watched, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled():
                task.result()
        waiting -= done
        watched -= done
        if first and done & set(tasks):
            return


def _lane_row(lane: LaneSettings) -> dict[str, Any]:
    return {
        "name": lane.name,
        "provider": lane.provider,
        "channel": lane.channel,
        "shops": lane.shops or None,
        "rate_per_second": lane.rate_per_second,
        "burst": lane.burst,
        "concurrency": lane.concurrency,
        "per_domain_per_minute": lane.per_domain_per_minute,
        "domain_caps": lane.domain_caps or None,
        "quiet_hours": lane.quiet_hours,
        "unknown_outcome": lane.outcome_policy,
    }


def _state(row: dict[str, Any], now: datetime) -> str:
    if row.get("stopped_at") is not None:
        return f"stopped: {row.get('stopped_reason')}"
    if row.get("paused_until") is not None and row["paused_until"] > now:
        return f"paused until {format_instant(row['paused_until'])}: {row.get('pause_reason')}"
    return "open"


Ready = tuple[list[tuple[Job, Message, datetime]], dict[int, Started]]  # readied jobs, their attempts


def _window_sends(rate: float | None) -> int:
    """How many sends a lane without bursts may make in one second: the whole number within its rate."""
    return max(1, int(rate or 1))


class LaneRunner:
    """One lane's feeder, launcher and flusher inside a worker."""

    def __init__(self, worker: Worker, lane: LaneSettings) -> None:
        self.worker = worker
        self.lane = lane
        self.client = http_client(lane)
        self.provider: Provider = for_lane(lane, self.client)
        self.queue: asyncio.Queue[tuple[Job, Message]] = asyncio.Queue(
            maxsize=max(worker.policy.batch_size * 2, LAUNCH_GROUP)
        )
        self.slots = asyncio.Semaphore(lane.concurrency)
        self.in_flight: set[asyncio.Task] = set()
        self.answers: list[Outcome] = []
        self.answered = asyncio.Event()
        self.paused_until: datetime | None = None  # this worker's view, set the moment a 429 arrives
        self.spaced = bool(lane.rate_per_second) and lane.burst == 1  # a lane without bursts: `_spaced`
        self.last_launch: datetime | None = None
        self.answered_at: deque[datetime] = deque()  # answers within the provider's window, oldest first
        self.answer_came = asyncio.Event()
        self.stopped = False
        self.closing = False
        self.failed = False  # the lane's run raised: it gives nothing back, its leases bring its jobs back
        self.writing = 0  # answer batches being written
        self.launching = 0  # jobs taken from the queue and not yet sent or given back
        self.row: dict[str, Any] = {}
        self.drained = False  # the last claim found nothing due
        self.templates: dict[tuple[str, str], templates.TemplateSource | templates.TemplateFailure] = {}

    @property
    def report(self) -> WorkerReport:
        return self.worker.report

    # --- the three tasks --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Feed, launch and flush until the run ends. If the launcher or the flusher fails (a database
        error), the lane stops at once and the error is raised: no job is launched whose answer could
        not be written; the jobs still leased are recovered from their leases by the next run."""
        flusher = asyncio.create_task(self.flush_loop())
        launcher = asyncio.create_task(self.launch_loop())
        feeder = asyncio.create_task(self.feed_loop())
        try:
            await _until_done([feeder], watching=[launcher, flusher])
            # Every queued job launched (the launcher then waits, idle, for the next), or the launcher
            # ended with the run while the feeder was still queueing: what is left is given back below.
            joined = asyncio.create_task(self.queue.join())
            try:
                await _until_done([joined, launcher], watching=[flusher], first=True)
            finally:
                joined.cancel()
        except BaseException:
            self.failed = True
            raise
        finally:
            if self.failed:
                self.worker.stopping.set()  # the run fails: no new send in any lane
            feeder.cancel()  # what it claimed and did not queue is recovered from its lease
            if self.launching:  # a group between its attempts and its calls: it sends or withdraws them
                await asyncio.wait({launcher}, timeout=self.lane.timeout_seconds + 1)
            launcher.cancel()
            await asyncio.gather(feeder, launcher, return_exceptions=True)
            if not self.failed:
                await self.release_queued("the run ended before its turn")
            if self.in_flight:
                await asyncio.wait(self.in_flight, timeout=self.lane.timeout_seconds + 1)
            self.closing = True
            self.answered.set()
            if not flusher.done():
                await asyncio.gather(flusher, return_exceptions=True)  # it writes what is left, then ends

    async def feed_loop(self) -> None:
        worker = self.worker
        while not worker.stopping.is_set():
            if self.queue.qsize() > worker.policy.batch_size // 2:
                await worker.pause(0.005)
                continue
            if not await worker.apply_unsubscribes():
                await worker.pause(IDLE_POLL_SECONDS)
                continue
            self.report.confirmations_sent += await outbox.send_due(self)
            now = worker.now()
            claimed = await worker.db(lambda connection, now=now: self._claim(connection, now))
            if claimed is None:  # paused or stopped: nothing can go now; wait for the pause to end
                if worker.until_idle:
                    return
                await self.wait_for_lane()
                continue
            if not claimed:
                self.drained = True
                if worker.until_idle and self.settled():
                    return
                await worker.pause(IDLE_POLL_SECONDS if not worker.until_idle else 0.05)
                continue
            self.drained = False
            for job in claimed:
                worker.held[job.id] = job.fence
            self.report.claimed += len(claimed)
            for job, message in await self.prepare(claimed):
                await self.queue.put((job, message))

    def _claim(self, connection: sa.Connection, now: datetime) -> list[Job] | None:
        self.row = lanes.get_lane(connection, self.lane.name) or {}
        if not lanes.open_at(self.row, now) or self.stopped or self._locally_paused(now):
            return None
        quiet = (
            [
                shop.domain
                for shop in self.worker.settings.shops
                if pacing.quiet_until(self.lane.quiet_hours, self.worker.stock.timezone(shop.domain), now)
            ]
            if self.lane.quiet_hours
            else []
        )
        return jobs.claim(
            connection,
            lane=self.lane.name,
            channel=self.lane.channel,
            worker_id=self.worker.worker_id,
            lease_seconds=self.worker.policy.lease_seconds,
            now=now,
            limit=self.worker.policy.batch_size,
            shops=self.lane.shops,
            exclude_shops=quiet,
        )

    def settled(self) -> bool:
        """Nothing queued, in flight, or answered and not yet written: a claim now sees the truth."""
        idle = not (self.launching or self.in_flight or self.answers or self.writing)
        return idle and self.queue.empty()

    def _locally_paused(self, now: datetime) -> bool:
        return self.paused_until is not None and self.paused_until > now

    async def wait_for_lane(self) -> None:
        worker = self.worker
        until = self.row.get("paused_until")
        if self.paused_until is not None and (until is None or self.paused_until > until):
            until = self.paused_until
        if self.row.get("stopped_at") is None and not self.stopped and until is not None:
            await worker.wait_until(until)
        else:
            await worker.pause(IDLE_POLL_SECONDS)

    async def launch_loop(self) -> None:
        """Ready a group (slots, attempts) while the one before it is sending, then send it at its
        slots: the next group's slots follow on from the current group's, with no gap between them."""
        worker = self.worker
        sending: asyncio.Task | None = None
        try:
            while True:
                group = await self.next_group()
                if not group:  # the run ended with nothing queued: the group being sent finishes
                    break
                try:
                    ready = await self.ready(group)
                    if sending is not None:
                        await sending
                except BaseException:
                    self.done_with(group)
                    raise
                sending = asyncio.create_task(self.send_group(group, ready))
                if worker.stopping.is_set():
                    break
            if sending is not None:
                await sending
        finally:
            if sending is not None and not sending.done():
                sending.cancel()
                await asyncio.gather(sending, return_exceptions=True)

    async def next_group(self) -> list[tuple[Job, Message]]:
        """Queued jobs to launch together, waiting for the first; none when the run ends first."""
        first = await self._first_queued()
        if first is None:
            return []
        group = [first]
        self.launching += 1
        deadline = time.monotonic() + LAUNCH_GATHER_SECONDS
        limit = min(self._group_size(), self._free_slots())
        while len(group) < limit:
            try:
                group.append(self.queue.get_nowait())
                self.launching += 1
            except asyncio.QueueEmpty:
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.0005)
        return group

    async def _first_queued(self) -> tuple[Job, Message] | None:
        if not self.queue.empty():
            return self.queue.get_nowait()
        getting = asyncio.ensure_future(self.queue.get())
        stopping = asyncio.ensure_future(self.worker.stopping.wait())
        try:
            await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not getting.done():
                getting.cancel()
        return getting.result() if getting.done() and not getting.cancelled() else None

    def done_with(self, group: list[tuple[Job, Message]]) -> None:
        self.launching -= len(group)
        for _ in group:
            self.queue.task_done()

    async def send_group(self, group: list[tuple[Job, Message]], ready: Ready | None) -> None:
        try:
            if ready is not None:
                await self.launch(*ready)
        finally:
            self.done_with(group)

    def _group_size(self) -> int:
        rate = self.lane.rate_per_second
        if rate:
            return max(1, min(LAUNCH_GROUP, int(rate * SLOTS_AHEAD_SECONDS)))
        return LAUNCH_GROUP

    def _free_slots(self) -> int:
        return max(1, self.lane.concurrency - len(self.in_flight))

    async def flush_loop(self) -> None:
        """Write answers in batches; never interrupted in the middle of a write (see `run`)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.answered.wait(), timeout=FLUSH_SECONDS)
            if len(self.answers) < FLUSH_SIZE and not self.closing:
                await asyncio.sleep(FLUSH_SECONDS)
            self.answered.clear()
            await self.flush()
            if self.closing and not self.answers:
                return

    # --- preparing a batch --------------------------------------------------------------------------

    async def prepare(self, claimed: list[Job]) -> list[tuple[Job, Message]]:
        """Skip the ineligible, defer the sold out, give back jobs in quiet hours, render the rest; one
        transaction writes what was decided."""
        worker = self.worker
        skipped = await worker.db(lambda connection: eligibility.ineligible(connection, claimed))
        candidates = [job for job in claimed if job.id not in skipped]
        stock = await self.check_stock(candidates)
        in_force = await worker.db(lambda connection: rules_for(connection, worker.settings, candidates))
        sold_out = {
            job.id: f"sold out again at send time: {stock[key].quantity(in_force[key])} sellable, "
            f"threshold {in_force[key].threshold}"
            for job in candidates
            if (key := (job.shop, job.variant_id)) in stock and not stock[key].sellable(in_force[key])
        }
        now = worker.now()
        quiet: dict[int, datetime] = {}
        ready: list[tuple[Job, Message]] = []
        broken: dict[int, str] = {}
        for job in candidates:
            if job.id in sold_out:
                continue
            ends = self._quiet_until(job, now)
            if ends is not None:
                quiet[job.id] = ends
                continue
            try:
                ready.append((job, compose(worker.settings, self.lane, job, self.template(job))))
            except templates.TemplateFailure as failure:
                broken[job.id] = f"template failure: {failure}"
        by_id = {job.id: job for job in claimed}

        def write(connection: sa.Connection) -> dict[str, int]:
            moved: dict[str, int] = defaultdict(int)
            for job_id, reason in skipped.items():
                moved["skipped"] += jobs.close(
                    connection,
                    by_id[job_id].ref,
                    status=jobs.SKIPPED,
                    error=reason,
                    error_class="ineligible",
                    now=now,
                )
            for job_id, reason in sold_out.items():
                moved["deferred"] += jobs.close(
                    connection,
                    by_id[job_id].ref,
                    status=jobs.DEFERRED,
                    error=reason,
                    error_class="sold_out",
                    now=now,
                )
            for job_id, reason in broken.items():
                moved["dead_letter"] += jobs.close(
                    connection,
                    by_id[job_id].ref,
                    status=jobs.DEAD_LETTER,
                    error=reason,
                    error_class="template",
                    now=now,
                )
            for job_id, ends in quiet.items():
                moved["released"] += jobs.release(
                    connection, [by_id[job_id].ref], due_at=ends, reason=QUIET_HOURS, now=now
                )
            return moved

        if skipped or sold_out or broken or quiet:
            moved = await worker.db(write)
            for what, count in moved.items():
                self.report.count(self.lane.name, what, count)
            for job_id in (*skipped, *sold_out, *broken, *quiet):
                worker.held.pop(job_id, None)
        return ready

    async def check_stock(self, candidates: list[Job]) -> dict[tuple[str, str], Stock]:
        if not candidates or not self.worker.policy.stock_check:
            return {}
        wanted: dict[str, set[str]] = defaultdict(set)
        for job in candidates:
            wanted[job.shop].add(job.variant_id)
        found: dict[tuple[str, str], Stock] = {}
        for shop, variants in wanted.items():
            answer = await asyncio.to_thread(self.worker.stock.check, shop, variants)
            found.update({(shop, variant_id): stock for variant_id, stock in answer.items()})
        self.report.stock_unchecked += sum(1 for job in candidates if (job.shop, job.variant_id) not in found)
        return found

    def template(self, job: Job) -> templates.TemplateSource:
        key = (job.shop, job.locale)
        if key not in self.templates:
            try:
                self.templates[key] = self.worker_template(job)
            except templates.TemplateFailure as failure:
                self.templates[key] = failure
        found = self.templates[key]
        if isinstance(found, templates.TemplateFailure):
            raise found
        return found

    def worker_template(self, job: Job) -> templates.TemplateSource:
        with self.worker.engine.connect() as connection:
            return templates.load(connection, shop=job.shop, channel=job.channel, locale=job.locale)

    # --- launching ----------------------------------------------------------------------------------

    async def ready(self, group: list[tuple[Job, Message]]) -> Ready | None:
        """Reserve the group's slots, take its concurrency slots and record its attempts (shortly before
        its first slot); None when nothing of it may go (given back or released)."""
        worker = self.worker
        now = worker.now()
        if self.stopped or self._locally_paused(now):
            await self.give_back(group, self.paused_until, "the lane is paused")
            return None
        group = await self._outside_quiet_hours(group, now)
        if not group:
            return None
        slots: list[datetime] = [now] * len(group)
        if self.lane.rate_per_second or self._has_domain_caps():
            reserved = await worker.db(lambda connection: self._reserve(connection, group, now))
            if reserved is None:
                await self.give_back(group, None, "the lane was paused by another worker")
                return None
            slots, refused = reserved
            if refused:
                self.report.count(self.lane.name, "released", len(refused))
                group, slots = self._without(group, slots, refused)
        if not group:
            return None
        if not await worker.wait_until(slots[0] - timedelta(seconds=SLOTS_AHEAD_SECONDS)):
            await self.give_back(group, None, "the run ended before its turn")
            return None
        for _ in group:
            await self.slots.acquire()
        started = await worker.db(
            lambda connection: jobs.start_attempts(
                connection,
                [job for job, _ in group],
                lane=self.lane.name,
                provider=self.provider.name,
                now=worker.now(),
                idempotency_key=idempotency_key,
            )
        )
        by_id = {item.job_id: item for item in started}
        lost = [job for job, _ in group if job.id not in by_id]
        for job in lost:
            self.slots.release()
            worker.held.pop(job.id, None)
        if lost:
            self.report.count(self.lane.name, "lease_lost", len(lost))
        pending = [
            (job, message, slot) for (job, message), slot in zip(group, slots, strict=True) if job.id in by_id
        ]
        return pending, by_id

    async def launch(self, pending: list[tuple[Job, Message, datetime]], by_id: dict[int, Started]) -> None:
        """Call the provider for each readied job at its slot; what cannot go is withdrawn."""
        worker = self.worker
        for index, (job, message, slot) in enumerate(pending):
            if not await self._turn(slot) or self.stopped or self._locally_paused(worker.now()):
                rest = pending[index:]
                for _ in rest:
                    self.slots.release()
                await self.withdraw([by_id[item[0].id] for item in rest], "not sent: the lane paused first")
                return
            opens = self._quiet_until(job, worker.now())
            if opens is not None:  # its slot came after the shop's quiet hours began
                self.slots.release()
                await self.withdraw([by_id[job.id]], QUIET_HOURS, due_at=opens)
                continue
            self.last_launch = worker.now()
            task = asyncio.create_task(self.send(job, message, by_id[job.id]))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)

    async def _turn(self, slot: datetime) -> bool:
        """Wait until the next send may go (`_spaced`); False when the run ended first."""
        worker = self.worker
        while True:
            now = worker.now()
            at = self._spaced(slot, now)
            if at is not None and at <= now:
                return True
            if at is not None:
                if not await worker.wait_until(at):
                    return False
                continue
            self.answer_came.clear()  # the provider's window is full of requests still in flight
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.answer_came.wait(), timeout=IDLE_POLL_SECONDS)
            if worker.stopping.is_set():
                return False

    def _spaced(self, slot: datetime, now: datetime) -> datetime | None:
        """A slot reserved in the store may be reached late (a slow transaction, a late wake-up); late
        sends catch up, at most twice the rate, and never so fast that a window at the provider could
        hold more than the rate (`pacing.reach_opens`: arrivals jitter, the provider's process stalls).
        None when only an answer can make room."""
        rate = self.lane.rate_per_second
        if not self.spaced or not rate:
            return slot
        earliest = slot
        if self.last_launch is not None:
            earliest = max(slot, self.last_launch + timedelta(seconds=CATCH_UP_SPACING / rate))
        allowed = _window_sends(rate)
        window = timedelta(seconds=max(1.0, allowed / rate))
        while self.answered_at and self.answered_at[0] <= now - window:
            self.answered_at.popleft()
        opens = pacing.reach_opens(self.answered_at, len(self.in_flight), allowed, window, now)
        return None if opens is None else max(earliest, opens)

    def _quiet_until(self, job: Job, now: datetime) -> datetime | None:
        if not self.lane.quiet_hours:
            return None
        return pacing.quiet_until(self.lane.quiet_hours, self.worker.stock.timezone(job.shop), now)

    async def _outside_quiet_hours(
        self, group: list[tuple[Job, Message]], now: datetime
    ) -> list[tuple[Job, Message]]:
        """Jobs whose shop entered its quiet hours while they waited in the queue go back until the
        hours end (no rate slot spent on them); the others are returned."""
        quiet: dict[datetime, list[tuple[Job, Message]]] = defaultdict(list)
        kept = []
        for item in group:
            opens = self._quiet_until(item[0], now)
            if opens is None:
                kept.append(item)
            else:
                quiet[opens].append(item)
        for opens, items in quiet.items():
            await self.give_back(items, opens, QUIET_HOURS)
        return kept

    def _has_domain_caps(self) -> bool:
        return bool(self.lane.per_domain_per_minute or self.lane.domain_caps)

    def _reserve(
        self, connection: sa.Connection, group: list[tuple[Job, Message]], now: datetime
    ) -> tuple[list[datetime], set[int]] | None:
        """Rate slots for the group, then each recipient domain's share of its slot's minute; None when
        the lane is paused or stopped. Returns the slot of each job and the jobs refused (released to the
        next minute)."""
        rate = self.lane.rate_per_second
        if rate:
            first = lanes.reserve_slots(
                connection, self.lane.name, count=len(group), rate=rate, burst=self.lane.burst, now=now
            )
            if first is None:
                return None
            slots = [max(slot, now) for slot in pacing.slot_times(first, len(group), rate)]
        else:
            row = lanes.get_lane(connection, self.lane.name) or {}
            if not lanes.open_at(row, now):
                return None
            slots = [now] * len(group)
        refused: set[int] = set()
        if self._has_domain_caps():
            wanted: dict[tuple[str, datetime], list[int]] = defaultdict(list)
            for index, ((job, _), slot) in enumerate(zip(group, slots, strict=True)):
                wanted[(pacing.recipient_domain(job.contact), pacing.minute_of(slot))].append(index)
            for (domain, minute), indexes in wanted.items():
                cap = pacing.domain_cap(_lane_row(self.lane), domain)
                if cap is None:
                    continue
                granted = lanes.reserve_domain(
                    connection, self.lane.name, domain=domain, minute=minute, count=len(indexes), cap=cap
                )
                for index in indexes[granted:]:
                    job = group[index][0]
                    jobs.release(
                        connection,
                        [job.ref],
                        due_at=minute + timedelta(minutes=1),
                        reason=f"{domain} reached its {cap} a minute on this lane",
                        now=now,
                    )
                    refused.add(job.id)
        return slots, refused

    def _without(
        self, group: list[tuple[Job, Message]], slots: list[datetime], refused: set[int]
    ) -> tuple[list[tuple[Job, Message]], list[datetime]]:
        for job_id in refused:
            self.worker.held.pop(job_id, None)
        kept = [(item, slot) for item, slot in zip(group, slots, strict=True) if item[0].id not in refused]
        return [item for item, _ in kept], [slot for _, slot in kept]

    async def send(self, job: Job, message: Message, started: Started) -> None:
        worker = self.worker
        try:
            result = await self.provider.send(message, worker.now())
        except Exception as error:  # a provider bug must not lose the attempt: it may have been sent
            result = ProviderResult(classify.UNKNOWN, error=f"provider raised {error!r}")
        finally:
            self.slots.release()
            if self.spaced:
                self.answered_at.append(worker.now())
                self.answer_came.set()
        now = worker.now()
        if result.outcome == classify.RATE_LIMITED:
            hint = self._hint(result)
            until = now + timedelta(seconds=hint)
            if self.paused_until is None or until > self.paused_until:
                self.paused_until = until
        elif result.outcome == classify.ACCOUNT:
            self.stopped = True
        self.answers.append(Outcome(job, started, result, now))
        if len(self.answers) >= FLUSH_SIZE:
            self.answered.set()

    def _hint(self, result: ProviderResult) -> float:
        policy = self.worker.policy
        hint = result.retry_after_seconds
        if hint is None:
            hint = policy.backoff_base_seconds
        return min(hint, policy.retry_after_cap_seconds)

    # --- recording answers --------------------------------------------------------------------------

    async def flush(self) -> None:
        if not self.answers:
            return
        batch, self.answers = self.answers, []
        self.writing += 1
        try:
            moved = await self.worker.db(lambda connection: self._settle(connection, batch))
        finally:
            self.writing -= 1
        for what, count in moved.items():
            self.report.count(self.lane.name, what, count)
        for outcome in batch:
            self.worker.held.pop(outcome.job.id, None)

    def _settle(self, connection: sa.Connection, batch: list[Outcome]) -> dict[str, int]:
        jobs.record_answers(
            connection,
            [
                jobs.Answer(
                    job_id=outcome.job.id,
                    attempt_number=outcome.started.attempt_number,
                    outcome=outcome.result.outcome,
                    status_code=outcome.result.status_code,
                    provider_message_id=outcome.result.provider_message_id,
                    error=outcome.result.error,
                    retry_after_seconds=outcome.result.retry_after_seconds,
                    latency_ms=outcome.result.latency_ms,
                    finished_at=outcome.at,
                )
                for outcome in batch
            ],
        )
        moved: dict[str, int] = defaultdict(int)
        accepted = [outcome for outcome in batch if outcome.result.outcome == classify.ACCEPTED]
        if accepted:
            sent = jobs.mark_sent(connection, [outcome.job.ref for outcome in accepted], self.worker.now())
            moved["sent"] += len(sent)
            moved["lease_lost"] += len(accepted) - len(sent)
        for outcome in batch:
            if outcome.result.outcome == classify.ACCEPTED:
                continue
            what = self._settle_one(connection, outcome)
            moved[what] += 1
            if outcome.result.outcome == classify.RATE_LIMITED:
                moved["rate_limited_answers"] += 1
        return moved

    def _settle_one(self, connection: sa.Connection, outcome: Outcome) -> str:
        job, result, now = outcome.job, outcome.result, outcome.at
        policy = self.worker.policy
        error = result.error or result.outcome
        lane = self.lane.name

        def done(moved: bool, what: str) -> str:
            return what if moved else "lease_lost"

        if result.outcome == classify.PERMANENT:
            if result.suppress:
                suppressions.suppress(
                    connection,
                    shop=job.shop,
                    channel=job.channel,
                    contact=job.contact,
                    reason=result.suppress,
                    source=f"{self.provider.name} {result.status_code}",
                    now=now,
                )
            moved = jobs.close(
                connection,
                job.ref,
                status=jobs.FAILED_PERMANENT,
                error=error,
                error_class="permanent",
                now=now,
            )
            return done(moved, "failed_permanent")
        if result.outcome == classify.ACCOUNT:
            lanes.stop(connection, lane, reason=f"{self.provider.name} refused the account: {error}", now=now)
            moved = jobs.schedule_retry(
                connection, job.ref, due_at=now, error=error, error_class="account", now=now, failed=False
            )
            return done(moved, "retry_scheduled")
        if result.outcome == classify.RATE_LIMITED:
            hint = self._hint(result)
            until = now + timedelta(seconds=hint)
            lanes.pause(connection, lane, until=until, reason=f"rate limited: {error}", now=now)
            if job.rate_limited + 1 >= policy.max_rate_limited:
                moved = jobs.close(
                    connection,
                    job.ref,
                    status=jobs.DEAD_LETTER,
                    error=f"{policy.max_rate_limited} rate-limited answers: {error}",
                    error_class="rate_limited",
                    now=now,
                )
                return done(moved, "dead_letter")
            moved = jobs.schedule_retry(
                connection,
                job.ref,
                due_at=until,
                error=error,
                error_class="rate_limited",
                now=now,
                failed=False,
                rate_limited=True,
            )
            return done(moved, "retry_scheduled")
        if result.outcome == classify.UNKNOWN and self.lane.outcome_policy != "resend":
            why = jobs.AWAITING_EVIDENCE if self.lane.outcome_policy == "evidence" else jobs.HELD_FOR_REVIEW
            moved = jobs.hold(connection, job.ref, error=f"{why} ({error})", now=now)
            return done(moved, "held")
        failures = job.failures + 1
        if failures >= policy.max_attempts:
            moved = jobs.close(
                connection,
                job.ref,
                status=jobs.DEAD_LETTER,
                error=f"{failures} attempts: {error}",
                error_class=result.outcome,
                now=now,
            )
            return done(moved, "dead_letter")
        delay = retry_delay(
            failures,
            base_seconds=policy.backoff_base_seconds,
            cap_seconds=policy.backoff_cap_seconds,
            hint_seconds=None if result.retry_after_seconds is None else self._hint(result),
        )
        moved = jobs.schedule_retry(
            connection,
            job.ref,
            due_at=now + timedelta(seconds=delay),
            error=error,
            error_class=result.outcome,
            now=now,
        )
        return done(moved, "retry_scheduled")

    # --- giving back --------------------------------------------------------------------------------

    async def give_back(self, group: list[tuple[Job, Message]], due_at: datetime | None, reason: str) -> None:
        refs = [job.ref for job, _ in group]
        released = await self.worker.db(
            lambda connection: jobs.release(
                connection, refs, due_at=due_at, reason=reason, now=self.worker.now()
            )
        )
        self.report.count(self.lane.name, "released", released)
        for job, _ in group:
            self.worker.held.pop(job.id, None)

    async def withdraw(self, started: list[Started], reason: str, due_at: datetime | None = None) -> None:
        due_at = due_at or self.paused_until
        withdrawn = await self.worker.db(
            lambda connection: jobs.withdraw(
                connection, started, due_at=due_at, reason=reason, now=self.worker.now()
            )
        )
        self.report.count(self.lane.name, "released", withdrawn)
        for item in started:
            self.worker.held.pop(item.job_id, None)

    async def release_queued(self, reason: str) -> None:
        group = []
        while not self.queue.empty():
            group.append(self.queue.get_nowait())
            self.queue.task_done()
        if group:
            await self.give_back(group, None, reason)

    async def close(self) -> None:
        await self.provider.aclose()
        await self.client.aclose()
