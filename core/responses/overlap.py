"""Store one batch in a background thread while the caller reads and links the next one.

Worth it only when the ledger's work happens outside this process (PostgreSQL: the server
executes while psycopg waits with the GIL released); SQLite steps inside the process, and
handing the GIL back and forth made its import slower, so a ledger says which it is
(:attr:`~tierctl.storage.ledger.Ledger.overlapped_writes`).

One writer thread, one batch in flight: batches are stored one at a time and in order, each in
its own transaction, exactly as without the thread. Before the next batch is handed over the
previous one must have finished; if it failed, its exception is raised to the caller unchanged
(same message, same exit code) and nothing after it is handed over, so nothing after it is
committed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

T = TypeVar("T")


class Writer(Generic[T]):
    """Calls ``store(batch)`` for each :meth:`submit`; in a background thread when ``overlapped``.

    Use as a context manager: leaving waits for the batch in flight (it commits or fails as
    it would have without the thread; its error is raised only by :meth:`submit`/:meth:`wait`)."""

    def __init__(self, store: Callable[[T], Any], overlapped: bool):
        self._store = store
        self._pool: "ThreadPoolExecutor | None" = None
        self._pending: "Future[Any] | None" = None
        if overlapped:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tierctl-writer")

    def submit(self, batch: T) -> None:
        """Store ``batch`` after the previous one; raises the previous one's error, if any."""
        if self._pool is None:
            self._store(batch)
            return
        self.wait()
        self._pending = self._pool.submit(self._store, batch)

    def wait(self) -> None:
        """Until the batch in flight is stored; raises its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> "Writer[T]":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            # The batch in flight finishes (its transaction commits or rolls back) before the
            # caller closes the ledger; none is queued behind it.
            self._pool.shutdown(wait=True)
