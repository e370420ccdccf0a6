"""The source interface: where contacts and meetings come from.

A source plugin registers a :class:`CustomerSource` or :class:`MeetingSource`
subclass with the ``register_sources`` hook. Sources stream: a customer source
yields contacts one by one and reports bad rows through ``report`` instead
of raising, so one bad row never stops a run.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator

from pydantic import BaseModel, ConfigDict

from tierctl.records import Contact, Meeting, RowProblem

if TYPE_CHECKING:
    from tierctl.config.model import Config

Report = Callable[[RowProblem], None]


class SourceOptions(BaseModel):
    """Base for a source's options: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Source:
    """Common base: ``name`` is the plugin id; options are validated with ``Options``."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: "customers" or "meetings": which key under ``sources:`` it can serve.
    kind: ClassVar[str] = ""
    Options: ClassVar[type[SourceOptions]] = SourceOptions
    #: Names of options that are files the source reads (relative to the config file's folder):
    #: ``tierctl validate`` checks that each exists and can be read.
    input_files: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: Any, config: "Config", base_dir: Path):
        self.options = options
        self.config = config
        self.base_dir = base_dir


class CustomerSource(Source):
    """Yields every contact; the tier comes from the account's plan."""

    kind = "customers"
    #: True when :meth:`contacts` never yields two contacts of one e-mail address (the ``csv``
    #: source reports the second row as a duplicate). A plan then keeps no count of this run's
    #: sends for a contact it decides only once.
    unique_emails: ClassVar[bool] = False

    def contacts(self, report: Report) -> Iterator[Contact]:
        """Yield contacts; call ``report`` for each skipped row (file, line, why)."""
        raise NotImplementedError

    def split(self, report: Report) -> "SourceSplit | None":
        """Offer to be read in two parts, the second in a worker process (``survey plan`` over a
        big source on a machine with more than one core); None, the default, reads in one pass."""
        return None


class SourceSplit:
    """A customer source read in two parts: :meth:`head` here, :meth:`tail` in a forked worker.

    The worker is a fork, so this object is not pickled; only :meth:`tail_handoff`'s
    value travels back. Together the parts must yield what one pass of
    :meth:`CustomerSource.contacts` would, rows reported with their place in the whole
    source, and share no contact e-mail address: :meth:`fits` checks both, and when it
    says no, :meth:`rest` reads the second part here instead.
    """

    def head(self) -> Iterator[Contact]:
        """The first part's contacts."""
        raise NotImplementedError

    def tail(self, report: Report) -> Iterator[Contact]:
        """In the worker: the second part's contacts."""
        raise NotImplementedError

    def tail_handoff(self) -> Any:
        """In the worker, after :meth:`tail`: what :meth:`fits` needs to know of it (picklable)."""
        raise NotImplementedError

    def fits(self, handoff: Any) -> bool:
        """After :meth:`head`: whether the worker's part follows the head as one pass would have read it."""
        raise NotImplementedError

    def rest(self) -> Iterator[Contact]:
        """After :meth:`head`, when the worker's part does not fit: the second part, read here."""
        raise NotImplementedError


class MeetingSource(Source):
    """Yields meeting occurrences in a time window."""

    kind = "meetings"

    @property
    def worth_a_worker(self) -> bool:
        """True when reading is slow enough to run in a separate process while
        the contacts stream (the source object must then be picklable)."""
        return False

    def meetings(self, start: datetime, end: datetime, report: Report) -> Iterator[Meeting]:
        """Yield occurrences starting in ``[start, end)``, recurrences expanded."""
        raise NotImplementedError
