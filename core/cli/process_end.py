"""Ending the ``tierctl`` process without freeing a big command's memory object by object.

A ``survey plan`` over a million contacts leaves millions of small objects
(the ledger's facts, the contacts held for meetings, their lines). When the
interpreter ends normally it frees each of them, which takes a tenth of the
run; the operating system takes a process's memory back at once. So a
command may leave objects to the process's end (:meth:`ProcessEnd.keep`),
and the console script then ends the process with ``os._exit`` after the
output is flushed and the ``atexit`` handlers have run.

Only the console script (:func:`tierctl.cli.main`) makes a :class:`ProcessEnd`:
a command run in-process (a test's ``CliRunner``, a program calling
``cli.main``) frees its objects as usual, and its process goes on.
"""

from __future__ import annotations

import os
import sys
from typing import Any


class ProcessEnd:
    """Objects left for the end of this process, which the console script ends at once."""

    def __init__(self) -> None:
        self._kept: list[Any] = []

    def keep(self, *objects: Any) -> None:
        """Keep ``objects`` referenced until the process ends: they are never freed one by one."""
        self._kept.extend(objects)

    @property
    def wanted(self) -> bool:
        """Whether a command left something to the process's end."""
        return bool(self._kept)

    def exit(self, code: int) -> None:
        """End the process with ``code``: flush the output, run the ``atexit`` handlers, then
        leave the memory to the system. Returns (and ends nothing) when the output cannot be
        flushed, so that the caller's normal exit reports that as it always does."""
        try:
            for stream in (sys.stdout, sys.stderr):
                if stream is not None:
                    stream.flush()
        except (OSError, ValueError):  # a closed pipe (``| head``): the normal exit says so
            return
        import atexit

        # Plugins' and the standard library's handlers (logging's flush, weakref finalizers)
        # run as at a normal exit; only the interpreter's teardown is skipped.
        run_handlers = getattr(atexit, "_run_exitfuncs", None)
        if run_handlers is not None:
            run_handlers()
        try:
            for stream in (sys.stdout, sys.stderr):
                if stream is not None:
                    stream.flush()
        except (OSError, ValueError):
            pass  # the handlers ran; nothing else is left to say
        os._exit(code)
