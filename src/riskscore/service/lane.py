"""The scoring lane: requests that arrive together are scored together, on the event loop, one batch at a time.

Why (measured with py-spy under load, benchmarks/RESULTS.md): scoring a pupil from raw events is a few
milliseconds of numpy and pandas work. Run as a plain ``def`` route, every concurrent request got a
threadpool thread, and 16 threads took turns on the GIL: each numpy or SQLite call that let the GIL go
waited up to a switch interval (5 ms) to get it back, so a request that needs 6 ms of CPU took 20–30 ms,
the tail reached a second, and more clients gave *less* throughput. The lane runs the CPU work in one
place instead: a request puts its job in the lane and awaits it; the first job schedules a flush on the
event loop, and the flush takes every job that has arrived by then and hands them to ``process`` as one
batch (the scoring core scores a cohort for little more than one pupil). No thread waits on another.

``process`` must settle every job's future (a result or an exception); whatever it raises settles the
jobs it left open. A batch holds at most ``max_items`` items (pupils), except a single job bigger than
that, which is a batch of its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: most pupils scored in one batch taken from several requests (a single bigger request is its own batch)
MAX_BATCH_ITEMS = 256


@dataclass
class LaneJob(Generic[T]):
    """One request's work: its payload, its size (pupils) and the future its request awaits."""

    payload: T
    size: int
    future: asyncio.Future[Any]

    def settle(self, result: Any = None, error: BaseException | None = None) -> None:
        if self.future.done():  # the request went away (client disconnected, cancelled)
            return
        if error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(result)


@dataclass
class Lane(Generic[T]):
    """Batches jobs on the running event loop; ``process(jobs)`` settles each job's future."""

    process: Callable[[list[LaneJob[T]]], None]
    max_items: int = MAX_BATCH_ITEMS
    #: called after each batch with (pupils, seconds): the service's metrics
    observe: Callable[[int, float], None] | None = None
    batches: int = 0
    jobs: int = 0
    #: how many times a flush may step back for requests that are still being read and parsed
    max_waits: int = 4
    _pending: list[LaneJob[T]] = field(default_factory=list)
    _scheduled: asyncio.AbstractEventLoop | None = None
    _waits: int = 0
    _seen: int = 0

    async def submit(self, payload: T, *, size: int = 1) -> Any:
        """Queue a job and wait for its result (or its exception)."""
        loop = asyncio.get_running_loop()
        job: LaneJob[T] = LaneJob(payload, size, loop.create_future())
        self._pending.append(job)
        if self._scheduled is not loop:  # (a lane outliving a loop, e.g. in tests, schedules on the new one)
            self._scheduled = loop
            loop.call_soon(self._flush)
        return await job.future

    def _flush(self) -> None:
        # step back behind the loop's ready callbacks while jobs keep arriving (requests whose bodies were
        # read in the same turn of the loop reach the lane a few callbacks later): a bigger batch costs
        # little more than a small one. At a quiet moment nothing arrives and the flush runs at once.
        if len(self._pending) != self._seen and self._waits < self.max_waits and \
                sum(job.size for job in self._pending) < self.max_items:
            self._seen = len(self._pending)
            self._waits += 1
            asyncio.get_running_loop().call_soon(self._flush)
            return
        self._waits, self._seen = 0, 0
        self._scheduled = None
        while self._pending:
            batch: list[LaneJob[T]] = []
            size = 0
            while self._pending and (not batch or size + self._pending[0].size <= self.max_items):
                job = self._pending.pop(0)
                batch.append(job)
                size += job.size
            self._run(batch)
            if self._pending:  # more than one batch waiting: let the loop breathe between them
                loop = asyncio.get_running_loop()
                self._scheduled = loop
                loop.call_soon(self._flush)
                return

    def _run(self, batch: list[LaneJob[T]]) -> None:
        self.batches += 1
        self.jobs += len(batch)
        started = time.perf_counter()
        try:
            self.process(batch)
        except BaseException as exc:  # settle whatever process left open: a request never hangs
            for job in batch:
                job.settle(error=exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            if self.observe is not None:
                self.observe(sum(job.size for job in batch), time.perf_counter() - started)
        for job in batch:
            if not job.future.done():
                job.settle(error=RuntimeError("the scoring lane left a job unsettled"))
