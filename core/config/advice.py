"""Warnings ``tierctl validate`` prints about a valid config: things that work but may surprise.

- a text written per language that lacks one of ``organization.languages`` (the
  reader of that language gets the default language's text instead);
- a sales or price text a tier inherits through ``extends`` from a tier with
  another touch model (an enterprise tier showing its parent's price); silenced
  per field with ``inherit_ok: [price, sales.pitch]`` on the tier.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tierctl.config.localize import texts

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.errors import Problem

#: Tier fields that sell: inheriting them across touch models is worth a warning.
SALES_FIELDS = ("price", "sales")


def config_warnings(config: "Config") -> list["Problem"]:
    """Every warning for ``config``, in file order."""
    found = missing_translations(config) + inherited_sales_texts(config)
    return sorted(found, key=lambda p: (p.line, p.column, p.key))


def missing_translations(config: "Config") -> list["Problem"]:
    """One warning per text lacking a published language, located where the text is written."""
    languages = list(config.organization.languages)
    out, seen = [], set()
    for path, text in texts(config):
        missing = text.missing(languages)
        if not missing:
            continue
        # What they read meanwhile: the default language's text, or (when that is missing too) the first written.
        default = config.organization.language
        served = default if default in text.variants else next(iter(text.variants))
        problem = config.problem(path, f"no {', '.join(missing)} text (written in {', '.join(text.variants)}); "
                                       f"{'these readers get' if len(missing) > 1 else 'readers of it get'} the "
                                       f"{served} text; add " + ", ".join(f"{m}: ..." for m in missing))
        where = (problem.line, problem.column, tuple(missing)) if problem.line else (path,)
        if where not in seen:  # an inherited text is reported once, where it is written
            seen.add(where)
            out.append(problem)
    return out


def inherited_sales_texts(config: "Config") -> list["Problem"]:
    """Sales and price texts a tier inherits from a parent with another touch model."""
    source = config._source
    if source is None:
        return []
    out = []
    for tier_id, tier in config.tiers.items():
        parent = config.tiers.get(tier.extends) if tier.extends else None
        if parent is None or parent.touch_model == tier.touch_model:
            continue
        for child_path, parent_path in source.inherited.items():
            if child_path[:2] != ("tiers", tier_id) or child_path[2] not in SALES_FIELDS:
                continue
            field = ".".join(str(p) for p in child_path[2:])
            if field in tier.inherit_ok or child_path[2] in tier.inherit_ok:
                continue
            owner = parent_path[1]
            out.append(config.problem(
                ("tiers", tier_id, "extends"),
                f"{field} is inherited from tier {owner!r} ({config.tiers[str(owner)].touch_model}), but "
                f"{tier_id!r} is {tier.touch_model}; write its own {field}, or add {field} to "
                f"tiers.{tier_id}.inherit_ok to keep it"))
    return out
