"""Group commit for the scoring endpoint: the scores and the audit entries of concurrent requests are
written by one thread in one transaction, and each request waits until *its* data is committed.

Why: a score that is stored and audited costs two small write transactions per request, and on
SQLite every writer queues for one lock. Committing whatever has queued up meanwhile as one
transaction keeps the guarantee (nothing leaves the service before its audit entry is durable) at a
fraction of the cost — the same idea as PostgreSQL's group commit. A batch that fails is retried
request by request, so one bad request never fails its neighbours.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from riskscore.errors import RiskscoreError, StoreError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

MSG_TIMEOUT = "the database did not confirm the write in time; try again"
#: most requests merged into one transaction
MAX_BATCH = 256
#: the thread ends after this many idle seconds (started again by the next request)
IDLE_SECONDS = 5.0


@dataclass
class _Job:
    scores: Sequence[Mapping[str, Any]]
    audit: Sequence[Mapping[str, Any]]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class GroupWriter:
    """One per process (per ServiceState). submit() blocks until committed, or raises."""

    def __init__(self, sessions: sessionmaker[Session], *, timeout: float = 30.0) -> None:
        self._sessions = sessions
        self._timeout = timeout
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.jobs = 0

    def submit(self, scores: Sequence[Mapping[str, Any] | Any], audit: Sequence[Mapping[str, Any]]) -> None:
        """Store results (scoring.ScoredStudent or its to_dict()) and their audit entries; blocks until
        committed, or raises."""
        job = self._job(scores, audit)
        self._queue.put(job)
        self._ensure_thread()
        if not job.done.wait(self._timeout):
            raise StoreError(MSG_TIMEOUT)
        if job.error is not None:
            raise job.error

    def write_here(self, parts: Sequence[tuple[Sequence[Mapping[str, Any] | Any], Sequence[Mapping[str, Any]]]]
                   ) -> list[BaseException | None]:
        """Commit several (scores, audit entries) parts in the calling thread: one transaction, or each part
        alone when that fails; returns each part's error (None = committed). For a caller that already
        does its work in one place (the scoring lane, service/lane.py): a commit handed to another thread
        waits for that thread's turn on the GIL while the caller computes, which made every write of a
        busy service wait many switch intervals."""
        jobs: list[_Job] = []
        errors: list[BaseException | None] = []
        for scores, audit in parts:
            try:
                jobs.append(self._job(scores, audit))
                errors.append(None)
            except Exception as exc:  # a bad audit entry fails its own part, before anything is written
                jobs.append(_Job(scores=[], audit=[], error=exc))
                errors.append(exc)
        todo = [job for job in jobs if job.error is None]
        if todo:
            self._write(todo)
        return [job.error for job in jobs]

    @staticmethod
    def _job(scores: Sequence[Mapping[str, Any] | Any], audit: Sequence[Mapping[str, Any]]) -> _Job:
        from riskscore.store.audit import check_entries

        rows = [s if isinstance(s, Mapping) else s.to_dict() for s in scores]
        return _Job(scores=rows, audit=check_entries(audit))  # bad entries fail here, alone

    # --- the writer thread -----------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="riskscore-group-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():  # nothing arrived between the timeout and the lock
                        self._thread = None
                        return
                continue
            jobs = [first]
            while len(jobs) < MAX_BATCH:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write(jobs)

    def _write(self, jobs: list[_Job]) -> None:
        try:
            self._commit(jobs)
        except BaseException as exc:
            if len(jobs) == 1:
                jobs[0].error = _as_error(exc)
            else:  # find the culprit: every job on its own
                for job in jobs:
                    try:
                        self._commit([job])
                    except BaseException as exc:
                        job.error = _as_error(exc)
        finally:
            self.batches += 1
            self.jobs += len(jobs)
            for job in jobs:
                job.done.set()

    def _commit(self, jobs: list[_Job]) -> None:
        import sqlalchemy as sa

        from riskscore.store.audit import append_rows
        from riskscore.store.db import run_write
        from riskscore.store.scores import store_scores_rows

        audit = [e for job in jobs for e in job.audit]
        scores = [r for job in jobs for r in job.scores]

        def work(s: Session) -> None:
            append_rows(s, audit)  # first: takes the write lock before anything is read
            if scores:
                store_scores_rows(s, scores)

        with self._sessions() as session:
            try:
                run_write(session, work, attempts=8)
            except sa.exc.IntegrityError:  # another worker created the same run meanwhile
                run_write(session, work, attempts=8)


def _as_error(exc: BaseException) -> BaseException:
    """Database failures become StoreError (503 with Retry-After); anything else stays what it is."""
    import sqlalchemy as sa

    if isinstance(exc, RiskscoreError) or not isinstance(exc, sa.exc.SQLAlchemyError):
        return exc
    from riskscore.store.db import to_store_error

    return to_store_error(exc)


def writer_for(state: Any) -> GroupWriter:
    """The state's writer, created on first use."""
    writer: GroupWriter | None = getattr(state, "_group_writer", None)
    if writer is None:
        with _CREATE:
            writer = getattr(state, "_group_writer", None)
            if writer is None:
                writer = GroupWriter(state.sessions)
                state._group_writer = writer
    return writer


_CREATE = threading.Lock()
