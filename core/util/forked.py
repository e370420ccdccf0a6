"""Run a function in a forked copy of this process and take back its result.

A fork starts at once with everything this process has loaded (the config,
the ledger's facts, the plugins): nothing is imported again or pickled on the
way in, unlike a spawned worker. Only the result travels back, pickled
through an anonymous temporary file (created before the fork, so both hold
it): when this process is killed, nothing is left on disk.

Forking is only offered where it is safe: on a system that has it, with a
second core to run on, and while this process runs no other thread (a thread
holding a lock at the fork would leave the copy's lock held for ever).
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import tempfile
import threading
from typing import Any, Callable

#: What :meth:`Forked.result` returns when the copy did not finish: the caller does the work itself.
FAILED = object()


def can_fork() -> bool:
    """Whether :class:`Forked` may be used here and now (see the module docstring)."""
    return hasattr(os, "fork") and usable_cores() >= 2 and threading.active_count() == 1


def usable_cores() -> int:
    """The cores this process may run on (its affinity, where the system says), not the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Forked:
    """``func(*args)`` computed in a forked copy of this process.

    Files the copy writes for this process to read are best made before the fork with
    :func:`tempfile.TemporaryFile` and passed in ``args`` (both processes share them, and the
    system drops them when both are gone). Call :meth:`result` to wait for the value, and
    :meth:`close` in every case (it stops a copy still running).
    """

    def __init__(self, func: Callable[..., Any], *args: Any):
        self._result = tempfile.TemporaryFile(prefix="tierctl-fork-")
        sys.stdout.flush()  # a fork copies unwritten buffers: they would be written twice
        sys.stderr.flush()
        self.pid: int | None = os.fork()
        if self.pid == 0:  # the copy
            code = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                value = func(*args)
                pickle.dump(value, self._result, protocol=pickle.HIGHEST_PROTOCOL)
                self._result.flush()
                code = 0
            except BaseException:  # noqa: BLE001 - the caller does the work itself and meets the error there
                pass
            finally:
                # No atexit handlers, no flushing of inherited buffers, no closing of this
                # process's connections (a PostgreSQL session would be ended for both).
                os._exit(code)

    def result(self) -> Any:
        """Wait for the copy: its value, or :data:`FAILED`."""
        if self.pid is None:
            return FAILED
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        if os.waitstatus_to_exitcode(status) != 0:
            return FAILED
        try:
            self._result.seek(0)  # the copy wrote through the same open file
            return pickle.load(self._result)
        except (OSError, pickle.UnpicklingError, EOFError):
            return FAILED

    def close(self) -> None:
        """Stop the copy if it still runs (this process is leaving early), and drop its result."""
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
            self.pid = None
        self._result.close()
