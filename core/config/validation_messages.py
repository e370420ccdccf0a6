"""Pydantic's validation errors as a config's problems: the key's path in the file, and a message
that says what was expected there (allowed keys, a hidden value from the environment)."""

from __future__ import annotations

import re
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from tierctl.errors import Problem
from tierctl.config.model import Config
from tierctl.util.suggest import did_you_mean, one_of
from tierctl.config.yaml_source import Path_, SourceMap


def validation_problems(exc: ValidationError, data: Any, smap: SourceMap) -> list[Problem]:
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        path = data_path(err["loc"], data)
        prefixes = [path[:i] for i in range(len(path) + 1)]
        if any(p in smap.inherited or p in smap.env_unset or p in smap.refused for p in prefixes):
            continue  # reported where the value was written / as the unset variable
        hide = any(p in smap.from_env for p in prefixes)
        out.append(smap.problem(path, error_message(err, path, hide)))
    return out


def data_path(loc: tuple[Any, ...], data: Any) -> Path_:
    """Keep the parts of pydantic's ``loc`` that are keys in the data (drop union tags)."""
    out: list[Any] = []
    cur = data
    for i, seg in enumerate(loc):
        if seg == "[key]":
            continue  # pydantic's marker for "the key itself", which the path already ends with
        if isinstance(cur, dict) and seg in cur:
            cur = cur[seg]
            out.append(seg)
        elif isinstance(cur, list) and isinstance(seg, int) and 0 <= seg < len(cur):
            cur = cur[seg]
            out.append(seg)
        elif i == len(loc) - 1 and isinstance(seg, str) and isinstance(cur, dict):
            out.append(seg)  # a missing key: name it
    return tuple(out)


def _show(value: Any, hide: bool) -> str:
    if hide:
        return "the value from the environment"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (the value is empty)"
    return repr(value)


def error_message(err: dict[str, Any], path: Path_, hide: bool) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "missing":
        return f"required key is missing; add {path[-1]}: ..." if path else "required key is missing"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(err["loc"][:-1])
        hint = did_you_mean(str(path[-1]), allowed) if allowed else ""
        return f"unknown key{hint}; expected one of: {one_of(allowed)}" if allowed else "unknown key"
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        choices = [c.strip().strip("'") for c in expected.replace(" or ", ", ").split(",")]
        if path and path[-1] == str(value):  # a bad mapping key (e.g. a customer status)
            return f"{value!r} is not allowed here{did_you_mean(str(value), choices)}; expected one of {expected}"
        return f"{_show(value, hide)} is not allowed{did_you_mean(str(value), choices)}; expected one of {expected}"
    if kind in ("value_error", "assertion_error"):
        msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if path and path[-1] == value and isinstance(value, str) and "safe slug" in msg:
            # An id (a mapping key) that is not a slug; ids become file names and URLs.
            fixed = re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-_") or "my-id"
            return f"{msg}; ids become file names, so rename it, e.g. to {fixed!r}"
        return "the value from the environment is invalid: " + msg.split(";")[-1].strip() if hide else msg
    simple = {
        "string_type": "expected text", "int_type": "expected a whole number",
        "int_parsing": "expected a whole number", "int_from_float": "expected a whole number",
        "bool_type": "expected true or false", "bool_parsing": "expected true or false",
        "list_type": "expected a list ([a, b] or one '- item' per line)",
        "tuple_type": "expected a list of two numbers, e.g. [1, 10]",
        "dict_type": "expected a mapping (key: value lines)", "model_type": "expected a mapping (key: value lines)",
        "model_attributes_type": "expected a mapping (key: value lines)",
        "date_type": "expected a date as YYYY-MM-DD", "date_parsing": "expected a date as YYYY-MM-DD",
        "date_from_datetime_parsing": "expected a date as YYYY-MM-DD",
        "union_tag_not_found": err["msg"], "union_tag_invalid": err["msg"],
    }
    if kind in simple:
        return f"{simple[kind]}, got {_show(value, hide)}"
    if kind == "greater_than_equal":
        return f"must be {ctx.get('ge')} or more, got {_show(value, hide)}"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s)"
    return f"{err['msg']}, got {_show(value, hide)}"


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model that sits at pydantic's ``loc``."""
    tp: Any = Config
    for seg in loc:
        tp = _step(tp, seg)
        if tp is None:
            return []
    tp = _unwrap(tp, None)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def _unwrap(tp: Any, seg: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            named = [a for a in args if getattr(a, "__name__", None) == seg]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            tp = (named or models or args)[0]
        else:
            return tp


def _step(tp: Any, seg: Any) -> Any:
    tp = _unwrap(tp, seg)
    if getattr(tp, "__name__", None) == seg:
        return tp  # a union arm's tag in the loc
    origin = typing.get_origin(tp)
    if origin is dict:
        return typing.get_args(tp)[1]
    if origin in (list, tuple):
        return typing.get_args(tp)[0]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if seg in tp.model_fields:
            return tp.model_fields[seg].annotation
        extra = tp.__annotations__.get("__pydantic_extra__")
        if extra is not None:
            return typing.get_args(_resolve(tp, extra))[1]
    return None


def _resolve(owner: type, annotation: Any) -> Any:
    if isinstance(annotation, str):
        import sys
        return eval(annotation, vars(sys.modules[owner.__module__]))  # noqa: S307 - our own annotation
    return annotation


# --- checks across the file -------------------------------------------------
