"""What installed plugins accept as options: the config's JSON Schema with one branch per
``plugin:`` value, and a plain listing for ``tierctl plugins --json``.

Providers and sources declare their options as a pydantic model (``Options``);
these functions read those models, so editors complete ``plugin: acme`` and
its keys, and a wrongly typed option is caught by any JSON Schema validator.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tierctl.host.plugin_host import PluginHost

#: An ``${ENV}`` reference, allowed where a number or a flag is expected: tierctl fills it in first.
ENV_REFERENCE = {"type": "string", "pattern": r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$",
                 "description": "an environment variable, filled in when the config is loaded"}
#: (section in the config, registry kind of the plugin host)
SECTIONS = (("providers", "providers"), ("sources", "sources"))


def plugin_classes(host: "PluginHost", kind: str) -> dict[str, Any]:
    """Registered classes of ``kind`` by name; ones that fail to import are left out."""
    found = {}
    for name, registration in sorted(host.registry(kind).items()):
        try:
            found[name] = registration.resolve()
        except Exception:  # a broken plugin is reported by `tierctl plugins`, not here
            continue
    return found


def with_plugin_options(schema: dict[str, Any], host: "PluginHost") -> dict[str, Any]:
    """``schema`` (the config's) with ``providers`` and ``sources`` entries checked per plugin.

    Each entry must match one branch: ``plugin`` a registered name and the
    other keys that plugin's options, with their types, defaults and
    descriptions.
    """
    schema = copy.deepcopy(schema)
    defs = schema.setdefault("$defs", {})
    for section, kind in SECTIONS:
        branches = []
        for name, cls in plugin_classes(host, kind).items():
            model = getattr(cls, "Options", None)
            if model is None or not hasattr(model, "model_json_schema"):
                continue
            branch_name = f"{kind}_{name}".replace("-", "_")
            defs[branch_name] = _branch(name, cls, model, defs)
            branches.append({"$ref": f"#/$defs/{branch_name}"})
        if branches and section in schema.get("properties", {}):
            schema["properties"][section] = {
                "type": "object", "description": schema["properties"][section].get("description", ""),
                "additionalProperties": {"oneOf": branches}}
    return schema


def _branch(name: str, cls: Any, model: Any, defs: dict[str, Any]) -> dict[str, Any]:
    options = model.model_json_schema(ref_template="#/$defs/{model}")
    for key, value in options.pop("$defs", {}).items():
        defs.setdefault(key, value)
    properties = {"plugin": {"const": name, "description": f"{cls.__module__}.{cls.__qualname__}"}}
    for key, prop in options.get("properties", {}).items():
        properties[key] = _env_allowed(prop)
    for old, new in getattr(model, "renamed_options", {}).items():
        properties[old] = {**properties.get(new, {}), "deprecated": True, "description": f"old name of {new}"}
    return {"type": "object", "title": f"plugin: {name}",
            "description": getattr(cls, "description", "") or (cls.__doc__ or "").strip().split("\n")[0],
            "properties": properties, "required": ["plugin", *options.get("required", [])],
            "additionalProperties": False}


def _env_allowed(prop: dict[str, Any]) -> dict[str, Any]:
    """A property that also takes ``${ENV}`` where its type is not already a string."""
    types = {prop.get("type")} | {p.get("type") for p in prop.get("anyOf", [])}
    if "string" in types:
        return prop
    described = {k: prop[k] for k in ("title", "description", "default") if k in prop}
    inner = {k: v for k, v in prop.items() if k not in ("title", "description", "default")}
    return {**described, "anyOf": [inner, ENV_REFERENCE]}


def describe_options(model: Any) -> list[dict[str, Any]]:
    """Each option of an ``Options`` model: name, type, default, description, required, secret."""
    from pydantic import SecretBytes, SecretStr
    from pydantic_core import PydanticUndefined

    out = []
    schema = model.model_json_schema()
    props = schema.get("properties", {})
    for name, field in model.model_fields.items():
        key = field.alias or name
        prop = props.get(key, {})
        secret = _mentions(field.annotation, (SecretStr, SecretBytes))
        default = None if field.default is PydanticUndefined else field.default
        if field.default_factory is not None:
            default = field.default_factory()  # type: ignore[call-arg]
        out.append({"name": key, "type": _type_text(prop), "default": None if secret else _plain(default),
                    "description": field.description or prop.get("description") or "",
                    "required": field.is_required(), "secret": secret})
    return out


def plugin_options_document(host: "PluginHost") -> dict[str, list[dict[str, Any]]]:
    """``{"providers": [...], "sources": [...]}``: each registered plugin with its options."""
    out: dict[str, list[dict[str, Any]]] = {}
    for _section, kind in SECTIONS:
        items = []
        for name, cls in plugin_classes(host, kind).items():
            model = getattr(cls, "Options", None)
            items.append({"name": name, "plugin": host.registry(kind)[name].plugin,
                          "description": getattr(cls, "description", "") or "",
                          "options": describe_options(model) if hasattr(model, "model_fields") else []})
        out[kind] = items
    return out


def _mentions(annotation: Any, kinds: tuple[type, ...]) -> bool:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, kinds):
        return True
    return any(_mentions(arg, kinds) for arg in typing.get_args(annotation))


def _type_text(prop: dict[str, Any]) -> str:
    if "type" in prop:
        kind = prop["type"]
        if kind == "array" and isinstance(prop.get("items"), dict):
            return f"array of {_type_text(prop['items'])}"
        if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
            return f"object of {_type_text(prop['additionalProperties'])}"
        return str(kind)
    if "anyOf" in prop:
        return " or ".join(_type_text(p) for p in prop["anyOf"])
    if "enum" in prop:
        return " | ".join(map(str, prop["enum"]))
    if "const" in prop:
        return repr(prop["const"])
    return "any"


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
