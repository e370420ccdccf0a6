"""Run a function in a forked copy of this process and take back its result.

A fork starts at once with everything this process has loaded (the config,
the ledger's facts, the plugins): nothing is imported again or pickled on the
way in, unlike a spawned worker. Only the result travels back, pickled
through a temporary file.

Forking is only offered where it is safe: on a system that has it, with a
second core to run on, and while this process runs no other thread (a thread
holding a lock at the fork would leave the copy's lock held for ever).
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

#: What :meth:`Forked.result` returns when the copy did not finish: the caller does the work itself.
FAILED = object()


def can_fork() -> bool:
    """Whether :class:`Forked` may be used here and now (see the module docstring)."""
    return hasattr(os, "fork") and (os.cpu_count() or 1) >= 2 and threading.active_count() == 1


class Forked:
    """``func(folder, *args)`` computed in a forked copy of this process.

    ``folder`` is a temporary folder the copy may write files into for this
    process to read (removed by :meth:`close`). Call :meth:`result` to wait for
    the value, and :meth:`close` in every case (it stops a copy still running).
    """

    def __init__(self, func: Callable[..., Any], *args: Any):
        self.folder = Path(tempfile.mkdtemp(prefix="tierctl-fork-"))
        self._result = self.folder / "result.pickle"
        sys.stdout.flush()  # a fork copies unwritten buffers: they would be written twice
        sys.stderr.flush()
        self.pid: int | None = os.fork()
        if self.pid == 0:  # the copy
            code = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                value = func(self.folder, *args)
                with open(self._result, "wb") as fh:
                    pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
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
            with open(self._result, "rb") as fh:
                return pickle.load(fh)
        except (OSError, pickle.UnpicklingError, EOFError):
            return FAILED

    def close(self) -> None:
        """Stop the copy if it still runs (this process is leaving early), and remove its files."""
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
            self.pid = None
        shutil.rmtree(self.folder, ignore_errors=True)
