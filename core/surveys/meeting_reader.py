"""Read the meetings of a plan's window, a big calendar in another process.

A slow source (:attr:`MeetingSource.worth_a_worker
<tierctl.sources.MeetingSource.worth_a_worker>`) is read while the ledger
and the contacts are: in a fork of this process where that is safe
(:func:`tierctl.util.forked.can_fork`; it starts at once and needs nothing
pickled on the way in), else in a spawned worker (the source must pickle).
A small one is read at once, and so is any on a single core (a worker would
only add its start-up to the same work).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from tierctl.records import Meeting, RowProblem
from tierctl.sources import MeetingSource, Report

#: Waits for the meetings being read: ``() -> (meetings, problems found reading them, not yet reported)``.
Meetings = Callable[[], tuple[list[Meeting], list[RowProblem]]]


def read_meetings(source: MeetingSource, window: tuple[datetime, datetime], report: Report,
                  owner: Any) -> Meetings:
    """Start reading the occurrences of ``source`` in ``window``; returns a waiter for them.

    A source read at once reports its problems through ``report`` now; a worker's problems
    come back with its meetings. A fork still running when ``owner`` is dropped is stopped.
    """
    from tierctl.util.forked import usable_cores

    # On one core a worker only adds its own start to the same work: read at once.
    if source.worth_a_worker and usable_cores() >= 2:
        from tierctl.util.forked import FAILED, Forked, can_fork

        if can_fork():
            import weakref

            fork = Forked(_read, source, *window)
            weakref.finalize(owner, fork.close)  # dropped unplanned: no process left behind

            def wait_fork() -> tuple[list[Meeting], list[RowProblem]]:
                try:
                    outcome = fork.result()
                finally:
                    fork.close()
                # If the copy failed, read here: a bad calendar raises its error as in one process.
                return _read(source, *window) if outcome is FAILED else outcome

            return wait_fork
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        future = pool.submit(_read, source, *window)

        def wait() -> tuple[list[Meeting], list[RowProblem]]:
            try:
                return future.result()
            finally:
                pool.shutdown()

        return wait
    found = list(source.meetings(*window, report))  # read now: its problems are reported now
    return lambda: (found, [])


def _read(source: MeetingSource, start: datetime, end: datetime) -> tuple[list[Meeting], list[RowProblem]]:
    """Run in a worker process: the meetings in the window and the problems found."""
    problems: list[RowProblem] = []
    return list(source.meetings(start, end, problems.append)), problems
