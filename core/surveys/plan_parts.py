"""Write a plan's lines; a big one in two parts, on two cores.

``survey plan`` over a million contacts is CPU-bound Python: one core reads,
decides and writes every line. When the customer source offers a split
(:meth:`CustomerSource.split <tierctl.sources.CustomerSource.split>`; the
``csv`` source does for a big file) and the machine has a second core, a
forked worker decides the second half of the contacts and writes its lines
to a temporary file, while this process does the first half; its lines
follow the first half's, and the contacts held back for meetings are decided
last, as in one pass. The output is byte for byte that of one pass:

* the worker is a fork, so it starts with this process's ledger facts
  (already sent, last contacted, opt-outs) and needs no second read;
* it reports its bad rows with their line in the whole file, and they are
  shown after the first half's, as one pass would;
* when its part does not follow the first half as one pass would read it (a
  quoted value spans the cut, or a person is listed in both halves: a
  duplicate), or the worker fails, its work is dropped and this process
  reads the second half itself.
"""

from __future__ import annotations

import gc
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Callable, Iterable, Iterator, TextIO

from tierctl.records import Meeting, RowProblem
from tierctl.sources import SourceSplit
from tierctl.surveys.plan_records import ContactPass, PlanSummary
from tierctl.surveys.scheduler import Scheduler
from tierctl.util.forked import FAILED, Forked, can_fork
from tierctl.util.redact import stream_redactor, unwrap_stream

Line = Callable[[Any], str]
Write = Callable[[str], Any]


def write_plan(scheduler: Any, line: Line, out: TextIO) -> object:
    """Write a line per item of ``scheduler``'s plan (``line`` makes it) to ``out``.

    ``scheduler`` is a :class:`Scheduler`, or another planner with a ``plan()`` of
    invitations and deferrals (the touchpoints planner), which is written in one pass.

    Returns what the plan held in memory (the passes' contacts and meeting links): a
    caller about to end the process may keep it until then, so that the system frees
    it at once instead of Python object by object (:mod:`tierctl.cli.process_end`)."""
    write = out.write
    with _few_collections():
        if not isinstance(scheduler, Scheduler):
            _write_items(scheduler.plan(), line, write)
            return None
        split = _split(scheduler)
        if split is None:
            _write_items(scheduler.plan_rows(), line, write)
            return None
        scheduler.prepare()
        worker = TailWorker(scheduler, split, line, out)
        scheduler.start_meetings()
        state = ContactPass()
        early: EarlyHeld | None = None
        try:
            _write_items(scheduler.contact_pass(split.head(), state), line, write)
            if state.held:
                early = EarlyHeld.start(scheduler, state, line)  # while the worker decides its part
            outcome = worker.outcome()
            if outcome is not None and split.fits(outcome.handoff):
                _merge(scheduler, state, outcome)
                worker.copy_lines(out)
            else:
                _write_items(scheduler.contact_pass(split.rest(), state), line, write)
                outcome = None
        finally:
            worker.close()
            scheduler.count_pass(state)
        if early is not None and outcome is not None and early.still_holds(outcome.state):
            early.finish(state, line, write)
        else:
            if early is not None:
                early.undo()
            _write_items(scheduler.meeting_pass(state), line, write)
        return state, early, outcome


def _split(scheduler: Scheduler) -> SourceSplit | None:
    if not can_fork():
        return None
    return scheduler.customers.split(scheduler.report)


def _write_items(items: Iterable[Any], line: Line, write: Write) -> None:
    # Whole lines, a few thousand at a time: one write (and one pass of the secrets
    # redactor over stdout) per line cost more than building the line.
    pending: list[str] = []
    add = pending.append
    line = getattr(line, "__call__", line)  # a bound method: calling the object goes through its type
    try:
        for item in items:
            add(line(item))
            if len(pending) >= 4096:
                write("".join(pending))
                pending.clear()
    finally:  # what was decided before an error is shown, as a line-by-line writer would have
        write("".join(pending))


@contextmanager
def _few_collections() -> Iterator[None]:
    """Collect no garbage while planning.

    A plan makes millions of small objects and no reference cycles, and keeps many (the
    ledger's facts, the contacts held for meetings): the collector's passes over them cost
    a tenth of the run and find nothing, so it waits until the plan is written.
    """
    enabled = gc.isenabled()
    gc.freeze()  # what exists now (config, ledger facts) is not scanned when collecting resumes
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.unfreeze()


@dataclass
class Outcome:
    """What the worker's part left: its pass, its part of the summary, the source's handoff."""

    state: ContactPass
    #: Its decisions' counts (the pass's own counts are in ``state``, added up once by the parent).
    summary: PlanSummary
    handoff: Any = None


class TailWorker:
    """The second part of a plan, decided in a forked copy of this process (see the module docstring)."""

    def __init__(self, scheduler: Scheduler, split: SourceSplit, line: Line, out: TextIO):
        # Anonymous, made before the fork: the worker writes into it, this process reads it
        # after; if either is killed, the system drops it.
        self._lines = tempfile.TemporaryFile(prefix="tierctl-plan-")
        self._fork = Forked(_decide_tail, self._lines, scheduler, split, line, out)

    def outcome(self) -> Outcome | None:
        """Wait for the worker; its outcome, or None when it failed."""
        outcome = self._fork.result()
        return None if outcome is FAILED else outcome

    def copy_lines(self, out: TextIO) -> None:
        """Write the worker's lines to ``out``: they are the bytes ``out`` would have written."""
        target = unwrap_stream(out)
        target.flush()
        fh = self._lines
        fh.seek(0)  # the worker wrote through the same open file
        buffer = getattr(target, "buffer", None)
        if buffer is not None:
            buffer.flush()
            if not _send_file(fh, buffer):
                shutil.copyfileobj(fh, buffer, 1 << 22)
                buffer.flush()
            return
        encoding, errors = _encoding(target)
        while block := fh.read(1 << 22):  # a stream of text only (a test's StringIO)
            target.write(block.decode(encoding, errors))

    def close(self) -> None:
        self._fork.close()
        self._lines.close()


def _send_file(source: IO[bytes], target: IO[bytes]) -> bool:
    """Copy ``source`` from its position to its end into ``target``'s file by the kernel
    (``os.sendfile``: a hundred megabytes of lines never pass through Python); False when
    ``target`` has no file descriptor or the system cannot (the caller copies then)."""
    import os

    if not hasattr(os, "sendfile"):
        return False
    try:
        out_fd = target.fileno()
    except (OSError, AttributeError, ValueError):
        return False
    in_fd = source.fileno()
    offset = start = source.tell()
    end = os.fstat(in_fd).st_size
    try:
        while offset < end:
            sent = os.sendfile(out_fd, in_fd, offset, min(end - offset, 1 << 30))
            if sent == 0:
                break
            offset += sent
    except OSError as exc:
        import errno

        if offset == start and exc.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            return False  # nothing copied: this pair of files cannot, copy the usual way
        raise
    source.seek(offset)
    return True


def _encoding(stream: TextIO) -> tuple[str, str]:
    return getattr(stream, "encoding", None) or "utf-8", getattr(stream, "errors", None) or "strict"


def _decide_tail(lines: IO[bytes], scheduler: Scheduler, split: SourceSplit, line: Line, out: TextIO) -> Outcome:
    """In the worker: decide the second part, its lines into ``lines`` as ``out`` would write
    them (redacted, encoded), so that this process copies bytes."""
    summary = scheduler.fresh_summary()
    state = ContactPass()
    redact = stream_redactor(out)
    encoding, errors = _encoding(unwrap_stream(out))

    def write(text: str) -> None:
        lines.write((redact(text) if redact is not None else text).encode(encoding, errors))

    _write_items(scheduler.contact_pass(split.tail(scheduler.report), state), line, write)
    lines.flush()
    return Outcome(state, summary, split.tail_handoff())


def _merge(scheduler: Scheduler, state: ContactPass, outcome: Outcome) -> None:
    """Add the worker's part to this process's pass and summary, in one pass's order."""
    _add_counts(scheduler, outcome.summary)
    theirs = outcome.state
    # The parts share no address (SourceSplit.fits), so their e-mails' accounts do not mix.
    for email, accounts in theirs.accounts_of.items():
        state.accounts_of[email].extend(accounts)
    state.held.extend(theirs.held)
    state.skipping.update(theirs.skipping)
    state.seen += theirs.seen
    state.churned += theirs.churned


def _add_counts(scheduler: Scheduler, theirs: PlanSummary) -> None:
    """Add the decisions counted in ``theirs`` to the scheduler's summary, as if made after its own."""
    summary = scheduler.summary
    summary.due += theirs.due
    summary.deferred += theirs.deferred
    summary.skipped.update(theirs.skipped)  # new reasons after the ones so far, as one pass meets them
    for problem in theirs.problems:
        scheduler.report(problem)
    summary.problem_count += theirs.problem_count - len(theirs.problems)
    room = max(0, scheduler.max_problems - len(summary.opted_out))
    summary.opted_out.extend(theirs.opted_out[:room])


class EarlyHeld:
    """The first part's contacts held back for meetings, decided while the worker decides its part.

    In one pass they are decided last, once every contact linked meetings to accounts; here
    they are decided with the meetings linked by the first part only, their lines and counts
    kept aside. That is the same unless the worker's part links a meeting to one of their
    accounts (:meth:`still_holds`); then :meth:`undo` forgets them and they are decided again.
    """

    @classmethod
    def start(cls, scheduler: Scheduler, state: ContactPass, line: Line) -> "EarlyHeld | None":
        """Decide them now; None when the meetings cannot be read (one pass meets that error only
        after every contact's line, so the meeting pass must meet it here too)."""
        try:
            found, problems = scheduler.meetings_read()
        except Exception:  # noqa: BLE001 - raised again, in its place, by the meeting pass
            return None
        return cls(scheduler, state, line, found, problems)

    def __init__(self, scheduler: Scheduler, state: ContactPass, line: Line, found: list[Meeting],
                 problems: list[RowProblem]):
        self.scheduler = scheduler
        self.held = list(state.held)
        self.found, self.problems = found, problems
        occasions = scheduler.meeting_occasions(found, state.accounts_of)
        main = scheduler.count_in(PlanSummary())
        try:
            self.lines = [line(item) for item in scheduler.decide_held(self.held, occasions)]
        finally:
            self.summary = scheduler.count_in(main)

    def still_holds(self, theirs: ContactPass) -> bool:
        """Whether the worker's part links no meeting to an account of these contacts."""
        accounts_of = theirs.accounts_of
        linked = {account for m in self.found for email in m.attendees for account in accounts_of.get(email, ())}
        return not linked or linked.isdisjoint(contact.account_id for contact in self.held)

    def finish(self, state: ContactPass, line: Line, write: Write) -> None:
        """Count and write these contacts' decisions as one pass would, then decide the worker's."""
        scheduler = self.scheduler
        for problem in self.problems:  # one pass reports them as its meeting pass begins
            scheduler.report(problem)
        _add_counts(scheduler, self.summary)
        write("".join(self.lines))
        rest = state.held[len(self.held):]
        if rest:
            occasions = scheduler.meeting_occasions(self.found, state.accounts_of)
            _write_items(scheduler.decide_held(rest, occasions), line, write)

    def undo(self) -> None:
        """Forget these decisions: this run has sent these contacts nothing after all."""
        this_run = self.scheduler.fatigue.this_run
        for contact in self.held:
            this_run.pop(contact.email, None)
