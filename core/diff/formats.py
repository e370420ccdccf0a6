"""``tierctl diff`` as text for a terminal and as markdown for a pull-request comment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tierctl.publish.capacity import format_hours

if TYPE_CHECKING:
    from tierctl.diff.review import ConfigDiff

#: Accounts listed in markdown before "... and N more" (a PR comment has a size limit).
MD_ACCOUNT_LIMIT = 200
#: GitHub refuses comments over 65,536 characters; the markdown is cut well before.
MD_MAX_CHARS = 60_000


def _pages(diff: "ConfigDiff") -> list[str]:
    lines = []
    for t in diff.pages:
        parts = [f"{', '.join(t.changed)} changed" if t.changed else "",
                 f"{', '.join(t.added)} added" if t.added else "",
                 f"{', '.join(t.removed)} removed" if t.removed else ""]
        lines.append(f"{t.target}: " + "; ".join(p for p in parts if p))
    return lines


def _moves(diff: "ConfigDiff") -> list[str]:
    return [f"{f} → {t}: {n} account{'s' * (n != 1)}, {c} contact{'s' * (c != 1)}"
            for f, t, n, c in diff.moves.counts()]


def _scope(diff: "ConfigDiff") -> str:
    scope = diff.programme.scope if diff.programme else None
    if scope is None:
        return ""
    parts = [f"{len(scope.accounts)} moved account{'s' * (len(scope.accounts) != 1)}"] * bool(scope.accounts) + \
        [f"tier{'s' * (len(scope.tiers) != 1)} {', '.join(sorted(scope.tiers))}"] * bool(scope.tiers)
    return f" (counted for the accounts the change can affect: {' and '.join(parts)})"


def _surveys(diff: "ConfigDiff") -> list[str]:
    if diff.programme is None:
        return []
    return [f"{s.survey_id}: {s.before} → {s.after} invitations ({s.newly_due} newly due, "
            f"{s.no_longer_sent} no longer sent)" for s in diff.programme.surveys]


def _hours(value: float | None) -> str:
    return "-" if value is None else format_hours(value)


def _capacity(diff: "ConfigDiff") -> list[str]:
    return [f"{c.name}: {_hours(c.before)} → {_hours(c.after)} a month" for c in diff.capacity]


def _owners(diff: "ConfigDiff") -> list[str]:
    out = []
    for owner, fields in diff.owners.items():
        mark = "" if diff.approvers is None else " (missing approval)" if owner in diff.missing else " (approved)"
        out.append(f"{owner}{mark}: {', '.join(fields)}")
    return out


def diff_text(diff: "ConfigDiff", with_accounts: bool = False) -> str:
    """Plain lines for a terminal or a CI log."""
    if diff.empty:
        return f"No changes against {diff.against}.\n"
    out = [f"Changes against {diff.against}", ""]
    sections = [("Tiers", [t.sentence() for t in diff.tiers]), ("Pages and sales sheets", _pages(diff)),
                ("Accounts moving tier", _moves(diff))]
    if with_accounts and diff.moves.accounts:
        sections.append(("Accounts", [f"{a.account_id} {a.name} ({a.plan}): {a.old_tier} → {a.new_tier}"
                                      for a in diff.moves.accounts]))
    days = diff.programme.days if diff.programme else 0
    sections += [(f"Survey invitations over the next {days} days{_scope(diff)}", _surveys(diff)),
                 ("Agent hours needed", _capacity(diff)), ("Owners to ask", _owners(diff))]
    for title, lines in sections:
        if lines:
            out.append(f"{title}:")
            out.extend(f"  {line}" for line in lines)
            out.append("")
    if not diff.tiers and not diff.pages:
        out.append("Changed fields: " + ", ".join(diff.paths))
    return "\n".join(out).rstrip("\n") + "\n"


def _md(text: str) -> str:
    """Text safe inside a markdown table cell or list item (no HTML, no table breaks)."""
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\n", " "))


def diff_markdown(diff: "ConfigDiff", with_accounts: bool = False) -> str:
    """Markdown that fits a pull-request comment."""
    if diff.empty:
        return f"### tierctl diff\n\nNo changes against `{_md(diff.against)}`.\n"
    out = ["### tierctl diff", "", f"Against `{_md(diff.against)}`.", ""]
    if diff.tiers:
        out += ["**Tiers**", ""] + [f"- {_md(t.sentence())}" for t in diff.tiers] + [""]
    if diff.pages:
        out += ["**Pages and sales sheets that change**", ""] + [f"- {_md(line)}" for line in _pages(diff)] + [""]
    counts = diff.moves.counts()
    if counts:
        out += ["**Accounts moving tier**", "", "| from | to | accounts | contacts |", "|---|---|--:|--:|"]
        out += [f"| {_md(f)} | {_md(t)} | {n} | {c} |" for f, t, n, c in counts] + [""]
        if with_accounts:
            shown = diff.moves.accounts[:MD_ACCOUNT_LIMIT]
            out += ["<details><summary>Accounts</summary>", "", "| account | name | plan | from | to |",
                    "|---|---|---|---|---|"]
            out += [f"| {_md(a.account_id)} | {_md(a.name)} | {_md(a.plan)} | {_md(a.old_tier)} | {_md(a.new_tier)} |"
                    for a in shown]
            if len(diff.moves.accounts) > len(shown):
                out.append(f"\n... and {len(diff.moves.accounts) - len(shown)} more (tierctl diff --accounts)")
            out += ["", "</details>", ""]
    if diff.programme and diff.programme.surveys:
        out += [f"**Survey invitations over the next {diff.programme.days} days**{_md(_scope(diff))}", "",
                "| survey | before | after | newly due | no longer sent |", "|---|--:|--:|--:|--:|"]
        out += [f"| {_md(s.survey_id)} | {s.before} | {s.after} | {s.newly_due} | {s.no_longer_sent} |"
                for s in diff.programme.surveys] + [""]
    if diff.capacity:
        out += ["**Agent hours needed a month**", "", "| tier | before | after |", "|---|--:|--:|"]
        out += [f"| {_md(c.name)} | {_hours(c.before)} | {_hours(c.after)} |" for c in diff.capacity] + [""]
    if diff.owners:
        out += ["**Owners to ask**", ""]
        for owner, fields in diff.owners.items():
            mark = "" if diff.approvers is None else " ❌ missing" if owner in diff.missing else " ✅"
            out.append(f"- **{_md(owner)}**{mark}: " + ", ".join(f"`{_md(f)}`" for f in fields))
        out.append("")
    text = "\n".join(out).rstrip("\n") + "\n"
    if len(text) > MD_MAX_CHARS:
        cut = text.rfind("\n", 0, MD_MAX_CHARS - 200)
        text = text[:cut] + "\n\n… cut to fit a pull-request comment; run `tierctl diff` for the whole review.\n"
    return text
