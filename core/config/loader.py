"""Load a config file: YAML -> ``extends`` -> model -> checks across the file.

Every problem in the file is collected and raised at once as a
:class:`~tierctl.errors.ConfigError`, each with its file, line, column and key.
"""

from __future__ import annotations

import os
import re
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from pydantic import BaseModel, ValidationError

from tierctl.errors import ConfigError, Problem
from tierctl.config.model import SLUG_HELP, SLUG_RE, Config
from tierctl.util.suggest import did_you_mean, one_of
from tierctl.config.yaml_source import Path_, SourceMap, dotted, load_yaml

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
        problems.extend(_validation_problems(exc, data, smap))
    problems.extend(_cross_checks(data, smap, host))
    problems.extend(_required_plugins(data, smap))
    plugin_options = _plugin_options(data, smap, host, problems) if host is not None else {}
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

def _validation_problems(exc: ValidationError, data: Any, smap: SourceMap) -> list[Problem]:
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        path = _data_path(err["loc"], data)
        prefixes = [path[:i] for i in range(len(path) + 1)]
        if any(p in smap.inherited or p in smap.env_unset or p in smap.refused for p in prefixes):
            continue  # reported where the value was written / as the unset variable
        hide = any(p in smap.from_env for p in prefixes)
        out.append(smap.problem(path, _message(err, path, hide)))
    return out


def _data_path(loc: tuple[Any, ...], data: Any) -> Path_:
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


def _message(err: dict[str, Any], path: Path_, hide: bool) -> str:
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

def _cross_checks(data: dict[str, Any], smap: SourceMap, host: "PluginHost | None") -> list[Problem]:
    problems: list[Problem] = []
    tiers = data.get("tiers") if isinstance(data.get("tiers"), dict) else {}
    surveys = data.get("surveys") if isinstance(data.get("surveys"), dict) else {}
    providers = data.get("providers") if isinstance(data.get("providers"), dict) else {}

    plan_owner: dict[str, str] = {}
    for tier_id, tier in tiers.items():
        if not isinstance(tier, dict):
            continue
        plans_inherited = ("tiers", tier_id, "plans") in smap.inherited
        for i, plan in enumerate(tier.get("plans") or [] if isinstance(tier.get("plans"), list) else []):
            if not isinstance(plan, (str, int)):
                continue
            plan = str(plan)
            if plan in plan_owner and plan_owner[plan] != tier_id:
                if plans_inherited:
                    # Written nowhere in this tier: point at its extends line, once.
                    line, col = smap.locate(("tiers", tier_id, "extends"))
                    problems.append(Problem(
                        smap.file, line, col, dotted(("tiers", tier_id, "plans")),
                        f"tier {tier_id!r} inherits plans {tier['plans']} from {tier.get('extends')!r} through "
                        f"extends, so plan {plan!r} is covered by two tiers; a plan maps to exactly one tier: "
                        f"give {tier_id!r} its own plans: [...]"))
                    break
                problems.append(smap.problem(("tiers", tier_id, "plans", i),
                                f"plan {plan!r} is covered by tiers {plan_owner[plan]!r} and {tier_id!r}; "
                                "a plan maps to exactly one tier, remove it from one of them"))
            plan_owner.setdefault(plan, tier_id)
        tier_surveys = tier.get("surveys")
        if ("tiers", tier_id, "surveys") in smap.inherited:
            tier_surveys = None  # checked where they were written
        for i, name in enumerate(tier_surveys if isinstance(tier_surveys, list) else []):
            if isinstance(name, str) and name not in surveys:
                problems.append(smap.problem(("tiers", tier_id, "surveys", i),
                                f"survey {name!r} is not defined under surveys:{did_you_mean(name, surveys)}; "
                                f"defined: {one_of(surveys)}"))

    sources = data.get("sources") if isinstance(data.get("sources"), dict) else {}
    for survey_id, survey in surveys.items():
        if not isinstance(survey, dict):
            continue
        provider = survey.get("provider")
        problems.extend(_unknown_provider(provider, providers, smap, ("surveys", survey_id, "provider")))
        trigger = survey.get("trigger")
        if isinstance(trigger, dict):
            if provider is None:
                problems.append(smap.problem(("surveys", survey_id, "trigger"),
                                "a survey with a trigger needs provider: <name of an entry under providers:> "
                                "to send through (e.g. an outbox provider for a first try)"))
            if "customers" not in sources:
                problems.append(smap.problem(("surveys", survey_id, "trigger"),
                                "a survey with a trigger needs a customer source; add sources: "
                                "{customers: {plugin: csv, path: customers.csv}}"))
            if "before_meeting" in trigger and "meetings" not in sources:
                problems.append(smap.problem(("surveys", survey_id, "trigger", "before_meeting"),
                                "a pre-meeting survey needs a meeting source; add under sources: "
                                "meetings: {plugin: ical, path: meetings.ics}"))
    problems.extend(_message_checks(data, tiers, providers, sources, smap))
    for name in sources:
        if name not in ("customers", "meetings"):
            problems.append(smap.problem(("sources", name), f"unknown source {name!r}"
                            f"{did_you_mean(str(name), ['customers', 'meetings'])}; expected customers or meetings"))

    render = data.get("render") if isinstance(data.get("render"), dict) else {}
    for name in render:
        if name != "templates" and not SLUG_RE.match(str(name)):
            problems.append(smap.problem(("render", name), f"target name {name!r} is not {SLUG_HELP}"))
    templates = render.get("templates")
    if isinstance(templates, str) and smap.file and not smap.file.startswith("<"):
        folder = Path(smap.file).resolve().parent / templates
        if not folder.is_dir():
            problems.append(smap.problem(("render", "templates"),
                            f"template folder {str(folder)!r} does not exist; create it or remove the key"))

    if host is not None:
        problems.extend(_plugin_checks(data, smap, host))
    return problems


def _unknown_provider(provider: Any, providers: dict[str, Any], smap: SourceMap, path: Path_) -> list[Problem]:
    """The problem of a survey's or message's ``provider:`` that names no entry under providers:."""
    if not isinstance(provider, str) or provider in providers:
        return []
    return [smap.problem(path, f"provider {provider!r} is not defined under providers:"
                               f"{did_you_mean(provider, providers)}; defined: {one_of(providers)}")]


def _message_checks(data: dict[str, Any], tiers: dict[str, Any], providers: dict[str, Any],
                    sources: dict[str, Any], smap: SourceMap) -> list[Problem]:
    """Messages name a provider, cadence entries name a message of their channel, templates parse."""
    import jinja2

    problems: list[Problem] = []
    messages = data.get("messages") if isinstance(data.get("messages"), dict) else {}
    env = jinja2.Environment()
    for message_id, message in messages.items():
        if not isinstance(message, dict):
            continue
        provider = message.get("provider")
        problems.extend(_unknown_provider(provider, providers, smap, ("messages", message_id, "provider")))
        texts: list[tuple[Path_, Any]] = []
        for key in ("subject", "body"):
            value = message.get(key)
            if isinstance(value, dict):
                texts.extend(((("messages", message_id, key, lang), text) for lang, text in value.items()))
            else:
                texts.append((("messages", message_id, key), value))
        template = message.get("template")
        if isinstance(template, dict) and isinstance(template.get("variables"), dict):
            texts.extend(((("messages", message_id, "template", "variables", k), v)
                          for k, v in template["variables"].items()))
        for path, text in texts:
            if isinstance(text, str):
                try:
                    env.parse(text)
                except jinja2.TemplateSyntaxError as exc:
                    problems.append(smap.problem(path, f"template error: {exc.message} (line {exc.lineno} of "
                                                       "the text); see the message variables in the README"))
    used = False
    for tier_id, tier in tiers.items():
        cadence = tier.get("contact_cadence") if isinstance(tier, dict) else None
        if not isinstance(cadence, dict) or ("tiers", tier_id, "contact_cadence") in smap.inherited:
            continue
        for status, entry in cadence.items():
            if not isinstance(entry, dict) or entry.get("message") is None:
                continue
            path = ("tiers", tier_id, "contact_cadence", status, "message")
            name = entry["message"]
            used = True
            if not isinstance(name, str):
                continue
            if name not in messages:
                problems.append(smap.problem(path, f"message {name!r} is not defined under messages:"
                                                   f"{did_you_mean(name, messages)}; defined: {one_of(messages)}"))
            elif entry.get("automated") is not True:
                problems.append(smap.problem(path, "only an automated contact moment sends a message; add "
                                                   "automated: true, or remove message: (manual moments are "
                                                   "listed by tierctl touchpoints due)"))
            elif isinstance(messages[name], dict) and entry.get("channel") != messages[name].get("channel"):
                problems.append(smap.problem(("tiers", tier_id, "contact_cadence", status, "channel"),
                                f"channel {entry.get('channel')!r} differs from message {name!r}'s channel "
                                f"{messages[name].get('channel')!r}; make them the same"))
    if used and "customers" not in sources:
        problems.append(smap.problem(("messages",) if messages else ("tiers",),
                        "automated contact moments need a customer source; add sources: "
                        "{customers: {plugin: csv, path: customers.csv}}"))
    return problems


def _plugin_options(data: dict[str, Any], smap: SourceMap, host: "PluginHost",
                    problems: list[Problem]) -> dict[tuple[str, str], Any]:
    """Validate each provider's and source's options with the plugin's own model."""
    out: dict[tuple[str, str], Any] = {}
    for section, registry in (("providers", host.providers), ("sources", host.sources),
                              ("helpdesks", host.helpdesks)):
        entries = data.get(section) if isinstance(data.get(section), dict) else {}
        for name, entry in entries.items():
            if not isinstance(entry, dict) or entry.get("plugin") not in registry:
                continue  # reported elsewhere
            plugin_cls = registry[entry["plugin"]]
            options_model = getattr(plugin_cls, "Options", None)
            raw = {k: v for k, v in entry.items() if k != "plugin"}
            if options_model is None:
                out[(section, name)] = raw
                continue
            try:
                out[(section, name)] = options_model.model_validate(raw)
            except ValidationError as exc:
                out.pop((section, name), None)
                for err in exc.errors(include_url=False):
                    path = (section, name) + _data_path(err["loc"], raw)
                    hide = any(path[:i] in smap.from_env for i in range(len(path) + 1))
                    msg = _message(err, path, hide)
                    if err["type"] == "extra_forbidden":
                        allowed = [k for k in options_model.model_fields]
                        msg = (f"unknown option for plugin {entry['plugin']!r}"
                               f"{did_you_mean(str(path[-1]), allowed)}; expected one of: {one_of(allowed)}")
                    problems.append(smap.problem(path, msg))
            else:
                # Mail providers need somewhere to link to: their survey_url, or the hosted form.
                if (getattr(options_model, "needs_survey_link", False)
                        and getattr(out[(section, name)], "survey_url", "") is None
                        and not (isinstance(data.get("serve"), dict) and data["serve"].get("base_url"))):
                    problems.append(smap.problem((section, name), (
                        "no survey link: set survey_url (a link template with {invite_id}), or serve.base_url "
                        "to link to tierctl's hosted form (tierctl serve)")))
                uses = getattr(plugin_cls, "uses_instances", None) if section == "providers" else None
                for used in sorted(uses(out[(section, name)])) if uses else ():
                    if used not in entries:  # loops are reported when the providers are built
                        # Point at the option that names it (e.g. typeform's mailer:).
                        key = next((k for k, v in raw.items() if v == used), None)
                        problems.append(smap.problem(
                            (section, name) + ((key,) if key else ()),
                            f"sends through {used!r}, which is not defined under providers:"
                            f"{did_you_mean(used, [e for e in entries if e != name])}; "
                            "name another provider instance, e.g. an smtp or outbox one"))
    return out


def _plugin_checks(data: dict[str, Any], smap: SourceMap, host: "PluginHost") -> list[Problem]:
    problems: list[Problem] = []

    def check(path: Path_, value: Any, kind: str, registry: str) -> None:
        installed = host.registry(registry)
        if isinstance(value, str) and value not in installed:
            hint = _distribution_hint(value, kind, installed, host) or did_you_mean(value, installed)
            problems.append(smap.problem(path, f"no {kind} plugin named {value!r} is installed{hint}; "
                                         f"installed: {one_of(installed)}{host.load_hint(value)}"))

    render = data.get("render") if isinstance(data.get("render"), dict) else {}
    tiers = data.get("tiers") if isinstance(data.get("tiers"), dict) else {}
    for name, target in render.items():
        if name != "templates" and isinstance(target, dict):
            check(("render", name, "format"), target.get("format"), "renderer", "renderers")
            renderer = host.renderers.get(target.get("format"))
            pages = {p.lower(): p for p in getattr(renderer, "page_names", ())}
            for tier_id in tiers:
                if str(tier_id).lower() in pages:
                    problems.append(smap.problem(("tiers", tier_id), (
                        f"tier id {tier_id!r} is the name of a page the {target.get('format')} renderer of "
                        f"render.{name} writes ({pages[str(tier_id).lower()]}); the tier's page would overwrite "
                        f"it: rename the tier (ids reserved by this renderer: {', '.join(pages.values())})")))
    for section, kind, registry in (("providers", "survey provider", "providers"),
                                    ("sources", "source", "sources"), ("helpdesks", "helpdesk", "helpdesks")):
        entries = data.get(section) if isinstance(data.get(section), dict) else {}
        for name, entry in entries.items():
            if isinstance(entry, dict):
                check((section, name, "plugin"), entry.get("plugin"), kind, registry)
    return problems


# --- plugin distributions ------------------------------------------------------

def _dist_key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distribution_hint(value: str, kind: str, installed: Mapping[str, Any], host: "PluginHost") -> str:
    """When ``value`` names a distribution rather than a plugin: what to write instead."""
    names = sorted(name for name, reg in installed.items()
                   if (dist := host.plugins[reg.plugin].distribution) and _dist_key(dist) == _dist_key(value))
    if not names:
        return ""
    return (f" ({value!r} is the distribution that provides it; its {kind} plugin is called "
            f"{' or '.join(map(repr, names))}, so write {names[0]})")


def _required_plugins(data: dict[str, Any], smap: SourceMap) -> list[Problem]:
    """``requires_plugins``: each requirement must be met by an installed distribution."""
    required = data.get("requires_plugins")
    if not isinstance(required, list):
        return []
    import difflib
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion, Version

    problems: list[Problem] = []
    for i, text in enumerate(required):
        try:
            req = Requirement(text) if isinstance(text, str) else None
        except InvalidRequirement:
            req = None  # reported by the model
        if req is None or (req.marker is not None and not req.marker.evaluate()):
            continue
        text = text.strip()
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            # Suggest by what follows "tierctl-": every plugin distribution shares the prefix.
            short = {_dist_key(ep.dist.name).removeprefix("tierctl-"): ep.dist.name
                     for ep in metadata.entry_points(group="tierctl")
                     if ep.dist and _dist_key(ep.dist.name) != "tierctl"}
            close = difflib.get_close_matches(_dist_key(req.name).removeprefix("tierctl-"), sorted(short), n=1)
            hint = f" (did you mean {short[close[0]]!r}?)" if close else ""
            problems.append(smap.problem(("requires_plugins", i), f"this config needs {text}, but {req.name} is "
                                         f"not installed{hint}; install it with: pip install '{text}'"))
            continue
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            try:
                floor = [Version(s.version) for s in req.specifier if s.operator in (">=", ">", "~=", "==")
                         and not s.contains(version, prereleases=True)]
                old = bool(floor) and Version(version) < min(floor)
            except InvalidVersion:
                old = False
            problems.append(smap.problem(("requires_plugins", i), f"this config needs {text}, but {req.name} "
                                         f"{version} is installed{', which is too old' if old else ''}; install "
                                         f"a matching version with: pip install '{text}'"))
    return problems
