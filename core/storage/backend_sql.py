"""What the storage backends share besides the interface: SQL text for fixed lists and listings,
and the checks both make before storing a batch of responses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tierctl.errors import TierctlError
from tierctl.storage.states import STATES

if TYPE_CHECKING:
    from tierctl.records import StoredResponse


def type_change(question_id: str, new: str, held: str) -> str:
    """Why a question may not change type once the ledger holds answers to it, and what to do."""
    return (f"question {question_id!r} is now of type {new!r}, but the ledger holds answers to it as type "
            f"{held!r}; old and new answers cannot be counted together. Give the changed question a new id, "
            "or change its type back")


def sql_states(states: tuple[str, ...]) -> str:
    """States as an SQL list for ``IN``: ``('sent', 'sending')`` (they are fixed words, never input)."""
    return "(" + ", ".join(f"'{s}'" for s in states) + ")"


def listing_query(columns: tuple[str, ...], state: str | None, survey_id: str | None, limit: int | None,
                  mark: str) -> tuple[str, list[Any]]:
    """The SQL and parameters of :meth:`Ledger.invitations` (``mark``: the driver's placeholder)."""
    where, params = [], []
    if state is not None:
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; states are {', '.join(STATES)}")
        where.append(f"state = {mark}")
        params.append(state)
    if survey_id is not None:
        where.append(f"survey_id = {mark}")
        params.append(survey_id)
    sql = f"SELECT {', '.join(columns)} FROM invitations"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY updated_at DESC, invite_id"
    if limit is not None:
        sql += f" LIMIT {mark}"
        params.append(limit)
    return sql, params


def first_responses(rows: "list[StoredResponse]") -> "list[StoredResponse]":
    """The rows :meth:`Ledger.add_responses` may add: the first per invitation and per response id."""
    keys: set[Any] = set()
    ids: set[str] = set()
    fresh = []
    for r in rows:
        if r.invitation not in keys and r.response_id not in ids:
            keys.add(r.invitation)
            ids.add(r.response_id)
            fresh.append(r)
    return fresh


def questions_to_keep(survey_id: str, types: Any, stored: dict[str, str],
                      members: "list[StoredResponse]") -> list[tuple[str, str, str]]:
    """``(survey, question, type)`` rows to keep for a batch of one survey's responses.

    Every question the batch's config declares is compared with the stored types, answered or
    not: answers stored under one type and counted under another would be wrong either way.
    Only answered ones are kept, so a question nobody has answered yet may still change its type.

    :raises tierctl.errors.TierctlError: a question whose stored type differs.
    """
    changed = sorted(q for q, t in types.items() if stored.get(q, t) != t)
    if changed:
        also = f" (also changed: {', '.join(repr(c) for c in changed[1:])})" if len(changed) > 1 else ""
        q = changed[0]
        raise TierctlError(f"surveys.{survey_id}.questions: {type_change(q, types[q], stored[q])}{also}")
    # (Asked only of questions not kept yet, and any() stops at the first answer.)
    return [(survey_id, q, t) for q, t in types.items() if q not in stored and any(q in r.answers for r in members)]
