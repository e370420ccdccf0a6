"""Who must approve a change: the config's ``owners:`` rules, CODEOWNERS-style.

A rule is a dotted field path (``tiers.*.response_targets``; ``*`` is any one key) and the
approvers for it. A rule covers the fields at and below its path. As in GitHub's
CODEOWNERS, the last rule that matches a field decides its owners (so a general rule
comes first, exceptions after it).

Both versions' rules apply: a change cannot drop the owner that guards it, and a new rule
guards the change that adds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any


@dataclass(frozen=True)
class OwnedChange:
    """A changed field and the approvers its rule names."""

    path: str
    rule: str
    owners: tuple[str, ...]


def rule_matches(rule: str, path: str) -> bool:
    """Whether ``rule`` covers ``path`` (the path itself or a field below it)."""
    want = rule.split(".")
    have = path.split(".")
    return len(have) >= len(want) and all(fnmatchcase(h, w) for w, h in zip(want, have))


def touches(path: str, rule: str) -> bool:
    """Whether a change at ``path`` may change the fields ``rule`` names: it is at or below
    them, or above them (a tier added or removed changes its plans)."""
    have, want = path.split("."), rule.split(".")
    return all(fnmatchcase(h, w) for w, h in zip(want, have))


def owned_changes(paths: list[str], *rule_sets: dict[str, list[str]]) -> list[OwnedChange]:
    """The changed ``paths`` that some rule covers, with their owners (see the module docstring)."""
    out = []
    for path in paths:
        owners: list[str] = []
        rules: list[str] = []
        for rules_of_one in rule_sets:
            last = None
            for rule, who in rules_of_one.items():
                if rule_matches(rule, path):
                    last = (rule, who)
            if last is not None:
                rules.append(last[0])
                owners.extend(w for w in last[1] if w not in owners)
        if owners:
            out.append(OwnedChange(path, " / ".join(dict.fromkeys(rules)), tuple(owners)))
    return out


def owners_to_ask(changes: list[OwnedChange]) -> dict[str, list[str]]:
    """``owner -> the changed fields they must approve``, owners in first-seen order."""
    out: dict[str, list[str]] = {}
    for change in changes:
        for owner in change.owners:
            out.setdefault(owner, []).append(change.path)
    return out


def missing_approvals(changes: list[OwnedChange], approvers: list[str]) -> dict[str, list[str]]:
    """The owners not among ``approvers`` (compared without case or a leading ``@``)."""
    have = {_norm(a) for a in approvers}
    return {owner: fields for owner, fields in owners_to_ask(changes).items() if _norm(owner) not in have}


def _norm(name: Any) -> str:
    return str(name).strip().lstrip("@").lower()
