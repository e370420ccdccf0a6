"""Group commit for the hosted form: one writer thread per process stores submissions in batches.

With ``synchronous = FULL`` every commit waits for the disk, so one
transaction per submission caps a server at the disk's commits per second,
and worker processes waiting for SQLite's write lock sleep in its busy
handler (the p99). Instead, request threads hand their linked response to
:class:`BatchWriter` and wait; its thread takes everything queued, holds an
``flock`` shared by the server's worker processes (they queue in the kernel
and wake at once, instead of polling), and stores the batch in one transaction.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import queue
import tempfile
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from tierctl.records import StoredResponse
    from tierctl.storage.ledger import Ledger

log = logging.getLogger("tierctl.web")

#: Most submissions stored in one transaction.
MAX_BATCH = 500
#: Longest a request waits for its batch to be stored.
WAIT_S = 30.0


#: Queued by :meth:`BatchWriter.close`: the writer thread stops after the rows queued before it.
_STOP: Any = object()


class BatchWriter:
    """Stores rows in batches for the threads that wait on :meth:`store`."""

    def __init__(self, ledger: Callable[[], "Ledger"], lock_name: str,
                 release: Callable[[], None] | None = None):
        """``ledger`` gives the calling thread's ledger; ``release`` closes it (the writer thread
        calls it as it stops)."""
        self._ledger = ledger
        self._release = release
        digest = hashlib.sha256(lock_name.encode("utf-8")).hexdigest()[:16]
        self._lock_path = Path(tempfile.gettempdir()) / f"tierctl-web-{digest}.lock"
        self._jobs: "queue.Queue[tuple[StoredResponse, Future]]" = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def store(self, row: "StoredResponse") -> bool:
        """Queue ``row`` and wait until its batch is stored; whether it was."""
        return bool(self.queue(row).result(timeout=WAIT_S))

    def queue(self, row: "StoredResponse") -> "Future[bool]":
        """Queue ``row``; the future says, once its batch is committed, whether it was stored.
        The app awaits it on the event loop (``asyncio.wrap_future``), holding no thread meanwhile."""
        self._ensure_thread()
        done: Future = Future()
        self._jobs.put((row, done))
        return done

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._start:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, daemon=True, name="tierctl-web-writer")
                    self._thread.start()

    def close(self, timeout: float = WAIT_S) -> None:
        """Store what is queued, then stop the writer thread (an app embedded in a program that
        goes on, or a server shutting down, leaves no thread behind)."""
        with self._start:
            thread = self._thread
            if thread is None or not thread.is_alive():
                return
            self._jobs.put(_STOP)  # type: ignore[arg-type]
        thread.join(timeout)

    def _run(self) -> None:
        try:
            while True:
                jobs = [self._jobs.get()]
                while len(jobs) < MAX_BATCH and jobs[-1] is not _STOP:
                    try:
                        jobs.append(self._jobs.get_nowait())
                    except queue.Empty:
                        break
                stop = jobs[-1] is _STOP
                if stop:
                    jobs.pop()
                if jobs:
                    self._write(jobs)
                if stop:
                    return
        finally:
            if self._release is not None:
                self._release()

    def _write(self, jobs: list[Any]) -> None:
        try:
            with self._lock_path.open("a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
                stored = self._ledger().store_latest_responses([row for row, _ in jobs])
        except BaseException as exc:
            log.exception("storing %d submission(s) failed", len(jobs))
            for _, done in jobs:
                done.set_exception(exc)
            return
        # A row replaced by a later one of the same invitation in this batch was stored, then changed.
        kept = {r.invitation for r in stored}
        for row, done in jobs:
            done.set_result(row.invitation in kept)
