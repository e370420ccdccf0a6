"""Load a config file: YAML -> ``extends`` -> model -> checks across the file.

Every problem in the file is collected and raised at once as a
:class:`~tierctl.errors.ConfigError`, each with its file, line, column and key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from pydantic import ValidationError

from tierctl.errors import ConfigError, Problem
from tierctl.config.model import Config
from tierctl.util.suggest import did_you_mean, one_of
from tierctl.config.yaml_source import Path_, SourceMap, load_yaml
from tierctl.config.cross_checks import cross_checks, plugin_options as plugin_options_of, required_plugins
from tierctl.config.validation_messages import validation_problems

if TYPE_CHECKING:
    from tierctl.host.plugin_host import PluginHost

# Mapping values that a child tier merges key by key with its parent's.
_MERGED_MAPPINGS = ("response_targets", "contact_cadence", "sales")


def load_config(path: str | os.PathLike[str], host: "PluginHost | None" = None,
                env: Mapping[str, str] | None = None) -> Config:
    """Load and check ``path``. With ``host``, also check plugin names it uses."""
    data, smap = load_yaml(path, env)
    config = build_config(data, smap, host)
    config._path = str(Path(path).resolve())
    config._source = smap
    return config


def build_config(data: Any, smap: SourceMap, host: "PluginHost | None" = None) -> Config:
    """Validate already-parsed data (see :func:`load_config`)."""
    problems: list[Problem] = list(smap.problems)
    if not isinstance(data, dict):
        raise ConfigError(problems + [smap.problem((), "the config must be a mapping of keys such as "
                                                   "version, organization and tiers")])
    data = dict(data)
    if isinstance(data.get("tiers"), dict):
        data["tiers"] = _resolve_extends(data["tiers"], smap, problems)

    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(validation_problems(exc, data, smap))
    problems.extend(cross_checks(data, smap, host))
    problems.extend(required_plugins(data, smap))
    plugin_options = plugin_options_of(data, smap, host, problems) if host is not None else {}
    if problems:
        raise ConfigError(problems)
    assert config is not None
    # Texts written per language read in the organisation's default language until a
    # renderer or a message asks for another (tierctl.config.localize).
    from tierctl.config.localize import localize

    config = localize(config, config.organization.language)
    config._plugin_options = plugin_options
    return config


# --- extends ---------------------------------------------------------------

def _resolve_extends(tiers: dict[str, Any], smap: SourceMap, problems: list[Problem]) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    marks = _tier_marks(smap)

    def resolve(tier_id: str, chain: tuple[str, ...]) -> Any:
        if tier_id in resolved:
            return resolved[tier_id]
        raw = tiers[tier_id]
        parent_id = raw.get("extends") if isinstance(raw, dict) else None
        here: Path_ = ("tiers", tier_id, "extends")
        parent: Any = None
        if parent_id is not None:
            if not isinstance(parent_id, str):
                pass  # the model reports "expected text"
            elif parent_id not in tiers:
                problems.append(smap.problem(here, f"extends unknown tier {parent_id!r}"
                                             f"{did_you_mean(str(parent_id), tiers)}; known tiers: {one_of(tiers)}"))
            elif parent_id in chain or parent_id == tier_id:
                cycle = " -> ".join(chain[chain.index(parent_id):] + (tier_id, parent_id)) \
                    if parent_id in chain else f"{tier_id} -> {tier_id}"
                problems.append(smap.problem(here, f"extends makes a cycle ({cycle}); "
                                             "one tier in the chain must not extend another"))
            else:
                parent = resolve(parent_id, chain + (tier_id,))
        if not isinstance(raw, dict):
            resolved[tier_id] = raw  # the model reports the wrong type
        elif isinstance(parent, dict):
            resolved[tier_id] = _merge_tier(tier_id, parent_id, parent, raw, smap, problems, tier_marks=marks)
        else:
            # No parent, or a broken extends already reported: +x/-x edits are
            # only an error in the first case.
            resolved[tier_id] = _merge_tier(tier_id, None, {}, raw, smap, problems,
                                            quiet=parent_id is not None)
        return resolved[tier_id]

    for tier_id in tiers:
        resolve(tier_id, ())
    return resolved


def _tier_marks(smap: SourceMap) -> dict[str, list[tuple[Path_, tuple[int, int]]]]:
    """The marks below each tier (``tiers.<id>.<key>...``), grouped by tier id."""
    out: dict[str, list[tuple[Path_, tuple[int, int]]]] = {}
    for path, mark in smap.marks.items():
        if len(path) > 2 and path[0] == "tiers":
            out.setdefault(str(path[1]), []).append((path, mark))
    return out


def _merge_tier(tier_id: str, parent_id: str | None, parent: dict[str, Any], child: dict[str, Any],
                smap: SourceMap, problems: list[Problem], quiet: bool = False,
                tier_marks: dict[str, list[tuple[Path_, tuple[int, int]]]] | None = None) -> dict[str, Any]:
    merged = {k: v for k, v in parent.items() if k != "extends"}
    for key, value in child.items():
        path: Path_ = ("tiers", tier_id, key)
        inherited = merged.get(key)
        if isinstance(value, list):
            merged[key] = _merge_list(inherited, value, path, parent_id, smap, [] if quiet else problems)
        elif key in _MERGED_MAPPINGS and isinstance(value, dict) and isinstance(inherited, dict):
            merged[key] = {**inherited, **value}
            for sub in inherited.keys() - value.keys():
                smap.inherited[path + (sub,)] = ("tiers", str(parent_id), key, sub)
        else:
            merged[key] = value
    if parent_id is not None:
        for key in parent.keys() - child.keys() - {"extends"}:
            smap.inherited[("tiers", tier_id, key)] = ("tiers", parent_id, key)
        # Point errors in inherited values at the line where they were written
        # (through a per-tier index: scanning every mark per tier is quadratic).
        tier_marks = _tier_marks(smap) if tier_marks is None else tier_marks
        own = tier_marks.setdefault(tier_id, [])
        for path, mark in tier_marks.get(parent_id, ()):
            if path[2] not in child:
                inherited_path = ("tiers", tier_id) + path[2:]
                if inherited_path not in smap.marks:
                    smap.marks[inherited_path] = mark
                    own.append((inherited_path, mark))
    return merged


def _merge_list(inherited: Any, items: list[Any], path: Path_, parent_id: str | None,
                smap: SourceMap, problems: list[Problem]) -> list[Any]:
    edits = [isinstance(i, str) and i[:1] in "+-" and len(i) > 1 for i in items]
    if not any(edits):
        return items
    if not all(edits):
        problems.append(smap.problem(path, "mixes +x/-x edits with plain items; use only +x/-x to change "
                                     "the inherited list, or only plain items to replace it"))
        return [i.lstrip("+-") if isinstance(i, str) else i for i in items]
    if parent_id is None:
        problems.append(smap.problem(path, "+x/-x edit an inherited list, but this tier has no extends; "
                                     "write the items without + or -"))
        return [i[1:] for i in items if i.startswith("+")]
    out = list(inherited) if isinstance(inherited, list) else []
    for index, item in enumerate(items):
        name = item[1:]
        if item[0] == "+":
            if name not in out:
                out.append(name)
        elif name in out:
            out.remove(name)
        else:
            problems.append(smap.problem(path + (index,), f"-{name} removes {name!r}, but tier {parent_id!r} "
                                         f"does not have it{did_you_mean(name, [str(o) for o in out])}; "
                                         f"inherited: {one_of(map(str, out))}"))
    return out


# --- pydantic errors -> problems --------------------------------------------
