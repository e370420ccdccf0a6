"""The checks across a config file that its model cannot make alone: names that refer to other
entries (plans, surveys, providers, messages), message templates that must parse, and the
plugins a config names (installed, their options valid)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from pydantic import ValidationError

from tierctl.errors import Problem
from tierctl.config.model import SLUG_HELP, SLUG_RE
from tierctl.config.validation_messages import data_path, error_message
from tierctl.util.suggest import did_you_mean, one_of
from tierctl.config.yaml_source import Path_, SourceMap, dotted

if TYPE_CHECKING:
    from tierctl.host.plugin_host import PluginHost


def cross_checks(data: dict[str, Any], smap: SourceMap, host: "PluginHost | None") -> list[Problem]:
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


def plugin_options(data: dict[str, Any], smap: SourceMap, host: "PluginHost",
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
                    path = (section, name) + data_path(err["loc"], raw)
                    hide = any(path[:i] in smap.from_env for i in range(len(path) + 1))
                    msg = error_message(err, path, hide)
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


def required_plugins(data: dict[str, Any], smap: SourceMap) -> list[Problem]:
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
