"""Checks that the files a config points sources at are there and readable (``tierctl validate``).

Run by ``validate`` rather than on every load: ``render`` needs no customer
file, and a send reads the files anyway (and says so when one is missing).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.errors import Problem
    from tierctl.host.plugin_host import PluginHost


def input_file_problems(config: "Config", host: "PluginHost") -> list["Problem"]:
    """A problem (at the option's line) for each source file option naming a missing or unreadable file."""
    problems = []
    for name, entry in config.sources.items():
        source_cls = host.sources.get(entry.plugin)
        if source_cls is None:
            continue
        try:
            options = config.plugin_options("sources", name)
        except KeyError:
            continue
        for option in getattr(source_cls, "input_files", ()):
            value = getattr(options, option, None)
            if not isinstance(value, str) or not value:
                continue
            problem = _unreadable(config.base_dir / value)
            if problem:
                problems.append(config.problem(("sources", name, option), f"{problem}: {value!r}"
                                               f"{'' if Path(value).is_absolute() else ' (relative to the config file)'};"
                                               " fix the path or create the file"))
    return problems


def _unreadable(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file, or None."""
    if not path.exists():
        return "no such file"
    if not path.is_file():
        return "not a file"
    if not os.access(path, os.R_OK):
        return "the file cannot be read (permissions)"
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        return f"the file cannot be read ({exc.strerror or exc})"
    return None
