"""Load YAML safely and remember where every value came from.

The loader builds plain dicts, lists and scalars (``yaml.SafeLoader`` rules, so
no arbitrary objects), and records a :class:`SourceMap` from each key path to
its line and column. It also rejects duplicate keys, which PyYAML silently
accepts, and expands ``${NAME}`` / ``${NAME:-default}`` from the environment.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from tierctl.errors import ConfigError, Problem

Path_ = tuple[str | int, ...]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def dotted(path: Path_) -> str:
    """``('tiers', 'basic', 'plans', 0)`` -> ``tiers.basic.plans[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class SourceMap:
    """Where each value of a loaded document sits in its file."""

    file: str
    marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    # Paths whose value came from the environment: never echo those values.
    from_env: set[Path_] = field(default_factory=set)
    # The values substituted from the environment (not defaults written in the file): the
    # config's redactor masks them wherever tierctl prints, logs or stores text.
    env_values: set[str] = field(default_factory=set)
    # Non-fatal problems found while loading (duplicate keys, unset variables):
    # reported together with the model's problems so the user sees all at once.
    problems: list[Problem] = field(default_factory=list)
    # Paths whose ${NAME} had no value: the unset variable is the problem to
    # report there, not the empty text that took its place.
    env_unset: set[Path_] = field(default_factory=set)
    # Paths whose value could not be read at all (an impossible date, a huge number): reported
    # once, as read, not again as a wrong type.
    refused: set[Path_] = field(default_factory=set)
    # Tier values inherited through ``extends``: child path -> parent path.
    # A problem in such a value is reported once, where it was written.
    inherited: dict[Path_, Path_] = field(default_factory=dict)

    def locate(self, path: Path_) -> tuple[int, int]:
        """Line and column of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.marks:
                return self.marks[path]
            path = path[:-1]
        return self.marks.get((), (1, 1))

    def problem(self, path: Path_, message: str) -> Problem:
        line, col = self.locate(path)
        return Problem(self.file, line, col, dotted(path), message)


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")

#: Values that YAML aliases (``*name``) may add to a document by repeating what an anchor holds.
#: A real config repeats a few small blocks; a "billion laughs" file (aliases of aliases) would
#: expand to billions of values, so it is refused at this bound, in well under a second.
MAX_ALIAS_VALUES = 100_000


class _Expansion:
    """Bookkeeping of one document's build: node sizes, aliases in progress, the alias budget."""

    def __init__(self) -> None:
        self.sizes: dict[int, int] = {}  # id(node) -> values it built, once built
        self.open: set[int] = set()  # nodes being built now (an alias to one of them is a loop)
        self.built = 0
        self.aliased = 0


class _Refused(Exception):
    """The document cannot be built (a recursive alias, an alias bomb): one problem, reported alone."""

    def __init__(self, problem: Problem):
        self.problem = problem


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that keeps node marks instead of constructing Python objects
    (libyaml's parser when PyYAML has it: several times faster on big files)."""


def _expand_env(text: str, path: Path_, smap: SourceMap, env: Mapping[str, str],
                problems: list[Problem]) -> str:
    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env:
            smap.env_values.add(env[name])
            return env[name]
        if default is not None:
            return default
        smap.env_unset.add(path)
        problems.append(smap.problem(
            path, f"environment variable {name} is not set; set it (export {name}=...) "
                  f"or give a default as ${{{name}:-value}}"))
        return ""

    if "${" not in text:
        return text
    smap.from_env.add(path)
    return _ENV_REF.sub(sub, text)


def _build(node: yaml.Node, path: Path_, smap: SourceMap, loader: _Loader,
           env: Mapping[str, str], problems: list[Problem], state: _Expansion) -> Any:
    key = id(node)
    if key in state.open:
        raise _Refused(Problem(smap.file, node.start_mark.line + 1, node.start_mark.column + 1, dotted(path),
                               "a YAML alias refers to the anchor it is inside (a recursive alias, e.g. "
                               "&a [1, *a]); this cannot be expanded: write the values out"))
    if key in state.sizes:  # an alias: it repeats everything its anchor holds
        state.aliased += state.sizes[key]
        if state.aliased > MAX_ALIAS_VALUES:
            line, col = smap.locate(path)
            raise _Refused(Problem(smap.file, line, col, dotted(path),
                                   f"YAML aliases here expand the file to over {MAX_ALIAS_VALUES:,} values "
                                   "(aliases of aliases, a 'billion laughs' file?); a config repeats a few "
                                   "small blocks at most: write the values out or remove the aliases"))
    before = state.built
    state.built += 1
    state.open.add(key)
    try:
        value = _build_node(node, path, smap, loader, env, problems, state)
    finally:
        state.open.discard(key)
    state.sizes[key] = state.built - before
    return value


def _build_node(node: yaml.Node, path: Path_, smap: SourceMap, loader: _Loader,
                env: Mapping[str, str], problems: list[Problem], state: _Expansion) -> Any:
    smap.marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        # SafeLoader would refuse these; building plain data must not silently drop them.
        problems.append(smap.problem(path, f"unsupported YAML tag {node.tag}; remove it and write plain YAML"))
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves YAML merge keys (<<)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                problems.append(smap.problem(path, f"keys must be plain text, got {key!r}"))
                continue
            key = str(key) if not isinstance(key, str) else key
            child = path + (key,)
            if key in out:
                first = smap.marks.get(child, (0, 0))[0]
                problems.append(Problem(
                    smap.file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                    dotted(child), f"duplicate key (first defined on line {first}); remove one of them"))
                continue
            smap.marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _build(value_node, child, smap, loader, env, problems, state)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), smap, loader, env, problems, state)
                for i, item in enumerate(node.value)]
    try:
        value = loader.construct_object(node)
    except (ValueError, OverflowError) as exc:
        # PyYAML's own conversions: 2027-02-30 (no such day), an integer of 5000 digits.
        problems.append(smap.problem(path, _scalar_problem(node, exc)))
        smap.refused.add(path)
        return node.value
    if isinstance(value, str):
        value = _expand_env(value, path, smap, env, problems)
    return value


def _scalar_problem(node: yaml.Node, exc: Exception) -> str:
    text = str(node.value)
    if node.tag.endswith(":timestamp"):
        return f"{text!r} is not a real date ({exc}); expected a date as YYYY-MM-DD"
    if node.tag.endswith(":int"):
        return (f"a whole number of {len(text):,} characters is too long; expected a number such as 30 "
                "(quote it if it is meant as text)")
    shown = text if len(text) <= 40 else text[:40] + "..."
    return f"{shown!r} cannot be read as {node.tag.rsplit(':', 1)[-1]}: {exc}; quote it to use it as text"


def load_yaml(file: str | os.PathLike[str], env: Mapping[str, str] | None = None
              ) -> tuple[Any, SourceMap]:
    """Parse ``file`` into plain data plus a :class:`SourceMap`.

    Raises :class:`ConfigError` for a missing file or a syntax error. Duplicate
    keys and unset environment variables are collected in ``SourceMap.problems``
    so they can be reported together with every other problem in the file.
    """
    name = str(file)
    env = os.environ if env is None else env
    try:
        raw = Path(file).read_bytes()
    except FileNotFoundError:
        raise ConfigError([Problem(name, 0, 0, "", "config file not found; pass the right path with "
                                   "-c FILE or set TIERCTL_CONFIG (start from config.example.yaml)")])
    except OSError as exc:
        raise ConfigError([Problem(name, 0, 0, "", f"cannot read the config file: {exc.strerror or exc}")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(raw, exc.start)
        raise ConfigError([Problem(name, line, col, "", f"the file is not UTF-8 text: byte 0x{raw[exc.start]:02x} "
                                   "cannot be read; save the file as UTF-8")])
    return parse_yaml(text, name, env)


def _char_name(char: Any) -> str:
    if isinstance(char, int):
        return f"U+{char:04X}"
    return f"U+{ord(char):04X}" if isinstance(char, str) and len(char) == 1 else repr(char)


def _line_col(text: bytes | str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` (a byte offset in bytes, a character index in text)."""
    newline = b"\n" if isinstance(text, bytes) else "\n"
    line = text.count(newline, 0, offset) + 1  # type: ignore[arg-type]
    start = text.rfind(newline, 0, offset) + 1  # type: ignore[arg-type]
    if isinstance(text, bytes):  # count characters, not bytes, up to the offset
        return line, len(text[start:offset].decode("utf-8", "replace")) + 1
    return line, offset - start + 1


def parse_yaml(text: str, name: str, env: Mapping[str, str] | None = None) -> tuple[Any, SourceMap]:
    """Like :func:`load_yaml` for text already in memory."""
    env = os.environ if env is None else env
    smap = SourceMap(name)
    loader = _Loader(text)
    problems = smap.problems
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        what = exc.problem or "invalid YAML"
        if exc.context:
            what = f"{exc.context}, {what}"
        hint = "check indentation, colons and quotes around this spot"
        if "flow" in what:
            hint = ("inside {...} or [...], put text that contains ? : , [ ] { } or # in quotes, "
                    'e.g. text: "How likely are you to recommend us?"')
        raise ConfigError([Problem(name, line, col, "", f"YAML syntax error: {what}; {hint}")])
    except yaml.reader.ReaderError as exc:  # a control character (NUL...) that YAML does not allow
        line, col = _line_col(text, exc.position)
        raise ConfigError([Problem(name, line, col, "", f"character {_char_name(exc.character)} is not allowed in "
                                   "a YAML file; remove it (was the file saved as text?)")])
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(name, 0, 0, "", f"YAML error: {exc}")])
    except RecursionError:
        raise ConfigError([Problem(name, 0, 0, "", "the YAML is nested too deeply to read; a config needs a "
                                   "few levels of indentation, not hundreds")])
    finally:
        loader.dispose()
    if node is None:
        return {}, smap
    try:
        data = _build(node, (), smap, loader, env, problems, _Expansion())
    except _Refused as exc:
        raise ConfigError([exc.problem])
    except RecursionError:
        raise ConfigError([Problem(name, 0, 0, "", "the YAML is nested too deeply to read (or a merge key <<: "
                                   "refers to its own mapping); a config needs a few levels, not hundreds")])
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise ConfigError([Problem(name, mark.line + 1 if mark else 0, mark.column + 1 if mark else 0, "",
                                   f"unsupported YAML value: {exc.problem}")])
    return data, smap
