"""Errors a user can cause, and the exit codes the CLI maps them to.

Every error here carries a message written for the person running tierctl:
where (file, line, column, key), what is wrong, what was expected, and what to
do. The CLI prints them without a traceback (``--debug`` shows one).
"""

from __future__ import annotations

from dataclasses import dataclass

# Exit codes, documented in ``tierctl --help``.
EXIT_OK = 0
EXIT_PARTIAL = 1  # the run finished but some items failed (listed)
EXIT_CONFIG = 2  # bad config, bad input or bad usage: nothing was done
EXIT_LOCKED = 3  # another run holds the lock


class TierctlError(Exception):
    """Base class for errors a user can cause; shown without a traceback."""

    exit_code = EXIT_CONFIG


@dataclass(frozen=True, order=True)
class Problem:
    """One problem found in a file, with its location.

    ``key`` is the dotted path of the offending value, for example
    ``tiers.advanced.agent_time_cap``. ``line`` and ``column`` are 1-based;
    0 means unknown.
    """

    file: str
    line: int
    column: int
    key: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.column}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(TierctlError):
    """The config file has one or more problems; all of them are listed."""

    exit_code = EXIT_CONFIG

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))

    def summary(self) -> str:
        n = len(self.problems)
        files = sorted({p.file for p in self.problems})
        return f"{n} problem{'s' if n != 1 else ''} in {', '.join(files)}; nothing was done."


class PluginError(TierctlError):
    """A plugin misbehaved (clashing names, a hook that raised); names the plugin."""

    exit_code = EXIT_CONFIG


class LedgerDamagedError(TierctlError):
    """The ledger file is not a whole tierctl ledger (emptied, foreign, a table missing, a page broken).

    Nothing is written to it; the message names the file and says to restore it from a backup.
    """

    exit_code = EXIT_CONFIG


class LockHeldError(TierctlError):
    """Another tierctl run holds the lock."""

    exit_code = EXIT_LOCKED
