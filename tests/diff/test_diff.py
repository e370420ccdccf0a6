"""``tierctl diff``: a real git repository in a temporary folder, a branch that moves a plan and
tightens a target, and what a reviewer is shown."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from project_fixtures import PROJECT_YAML, ics_event, run_cli

from tierctl.diff.field_changes import describe_tier
from tierctl.diff.owners import owned_changes, rule_matches

OWNERS = """\
owners:
  tiers: [support-lead]
  tiers.*.response_targets: [legal, support-lead]
  tiers.*.plans: [sales-ops]
"""
NOW = "2026-11-23T08:00:00Z"
ROWS = [["A1", "Tiny Co", "starter", "active", "ann@tiny.example", "Ann", "admin", "en"],
        ["A1", "Tiny Co", "starter", "active", "bob@tiny.example", "Bob", "key-stakeholder", "en"],
        ["A2", "Free Co", "free", "active", "cy@free.example", "Cy", "admin", "en"],
        ["A3", "Big Co", "enterprise", "active", "di@big.example", "Di", "key-stakeholder", "en"]]


PLUGINS = "html,markdown,filters,csv,ical,outbox"


def diff(config: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(["-c", str(config), "diff", *args], load_plugins=PLUGINS)


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=folder,
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(project, tmp_path):
    """A committed project; returns (config path, function to rewrite the working file)."""
    yaml = PROJECT_YAML.replace("    plans: [free, starter]\n", "    plans: [free, starter]\n"
                                "    response_targets: {urgent: 4h, normal: 1 business day}\n").replace(
        "    audience: [key-stakeholder]\n", "    audience: [key-stakeholder]\n    throttle: exempt\n") + OWNERS
    config = project(ROWS, [ics_event("rev-1", "20261126T100000", ["bob@tiny.example", "di@big.example"])],
                     yaml=yaml)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "tiers")

    def edit(old: str, new: str) -> None:
        text = config.read_text()
        assert old in text
        config.write_text(text.replace(old, new))

    return config, edit


def test_a_branch_that_moves_a_plan_and_tightens_a_target(repo):
    config, edit = repo
    edit("plans: [free, starter]", "plans: [free]")
    edit("plans: [enterprise]", "plans: [enterprise, starter]")
    edit("urgent: 4h", "urgent: 2h")
    before = subprocess.run(["git", "status", "--porcelain"], cwd=config.parent, capture_output=True, text=True).stdout

    code, out, err = diff(config, "--now", NOW, "--accounts")
    assert code == 0, err
    assert "Basic: plan starter removed; urgent target 4 hours → 2 hours (tighter)" in out
    assert "Advanced: plan starter added" in out
    # the pages whose content changes, found by rendering both versions
    assert "website: advanced.html, basic.html, index.html changed" in out
    # the moved accounts and their contacts
    assert "basic → advanced: 1 account, 2 contacts" in out
    assert "A1 Tiny Co (starter): basic → advanced" in out
    # Bob is a key stakeholder: in Advanced he gets the pre-meeting survey before the 26 November call
    assert "Survey invitations over the next 30 days (counted for the accounts the change can affect: 1 moved " \
           "account):\n  pre-meeting: 0 → 1 invitations (1 newly due, 0 no longer sent)" in out
    # the owners to ask
    assert "legal: tiers.basic.response_targets.urgent" in out
    assert "sales-ops: tiers.advanced.plans, tiers.basic.plans" in out
    # nothing in the working tree was touched (no checkout, no temporary files)
    after = subprocess.run(["git", "status", "--porcelain"], cwd=config.parent, capture_output=True, text=True).stdout
    assert after == before


def test_check_owners_fails_until_every_owner_approved(repo):
    config, edit = repo
    edit("urgent: 4h", "urgent: 2h")
    code, out, err = diff(config, "--now", NOW, "--check-owners", "legal")
    assert code == 1
    assert "support-lead (missing approval)" in out and "legal (approved)" in out
    assert "owners who have not approved: support-lead" in err
    code, out, _ = diff(config, "--now", NOW, "--check-owners", "legal, @Support-Lead")
    assert code == 0


def test_markdown_for_a_pull_request_and_json_for_tools(repo):
    config, edit = repo
    edit("plans: [free, starter]", "plans: [free]")
    edit("plans: [enterprise]", "plans: [enterprise, starter]")
    code, out, _ = diff(config, "--now", NOW, "--format", "md")
    assert code == 0
    assert out.startswith("### tierctl diff")
    assert "| basic | advanced | 1 | 2 |" in out
    assert "- **sales-ops**: `tiers.advanced.plans`, `tiers.basic.plans`" in out
    code, out, _ = diff(config, "--now", NOW, "--format", "json", "--check-owners",
                            "sales-ops")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "tierctl-diff/1"
    assert doc["accounts"]["moves"] == [{"from": "basic", "to": "advanced", "accounts": 1, "contacts": 2}]
    assert doc["owners"] == [{"owner": "sales-ops", "fields": ["tiers.advanced.plans", "tiers.basic.plans"],
                              "approved": True}]
    assert {p["target"] for p in doc["pages"]} == {"website"}


def test_against_a_file_and_no_changes(repo, tmp_path):
    config, _ = repo
    code, out, _ = diff(config)
    assert (code, out) == (0, "No changes against HEAD:tierctl.yaml.\n")
    old = tmp_path / "old.yaml"
    old.write_text(config.read_text().replace("name: Basic", "name: Starter"))
    code, out, _ = diff(config, "--against", str(old), "--now", NOW)
    assert code == 0
    assert "Basic: name Starter → Basic" in out


def test_bad_ref_and_broken_old_version_are_clear_errors(repo, tmp_path):
    config, _ = repo
    code, _, err = diff(config, "--against", "no-such-branch")
    assert code == 2
    assert "cannot read tierctl.yaml at 'no-such-branch'" in err and "Traceback" not in err
    old = tmp_path / "old.yaml"
    old.write_text(config.read_text().replace("touch_model: tech-touch", "touch_model: no-touch"))
    code, _, err = diff(config, "--against", str(old))
    assert code == 2
    assert f"<{old}>:6:5: tiers.basic.touch_model" in err and "touch_model" in err


def test_owner_rules_match_like_codeowners():
    assert rule_matches("tiers.*.response_targets", "tiers.basic.response_targets.urgent")
    assert not rule_matches("tiers.*.response_targets", "tiers.basic.channels")
    # the last matching rule decides; both versions' rules apply
    changes = owned_changes(["tiers.basic.channels", "tiers.basic.response_targets.urgent"],
                            {"tiers": ["lead"], "tiers.*.response_targets": ["legal"]}, {"tiers.*.channels": ["ops"]})
    assert [(c.path, c.owners) for c in changes] == [("tiers.basic.channels", ("lead", "ops")),
                                                     ("tiers.basic.response_targets.urgent", ("legal",))]


def test_tier_changes_are_worded_for_people():
    from tierctl.config.model import Tier

    old = Tier(name="Standard", touch_model="low-touch", plans=["team"], channels=["email"],
               response_targets={"urgent": "4h", "normal": "1 business day"}, agent_time_cap="2h/month")
    new = Tier(name="Standard", touch_model="low-touch", plans=["team"], channels=["email", "chat"],
               response_targets={"urgent": "2h", "normal": "8h"}, agent_time_cap="1h/month", hours="24x7")
    assert describe_tier(old, new) == [
        "chat added", "hours business → 24x7", "urgent target 4 hours → 2 hours (tighter)",
        "normal target 1 business day → 8 hours (calendar time now)",
        "agent time cap 2 hours per month → 1 hour per month (less time)"]


def test_only_the_effects_a_change_can_have_are_worked_out(repo, monkeypatch):
    import tierctl.diff.review as review

    config, edit = repo
    edit("name: Basic", "name: Essentials")
    calls = []
    monkeypatch.setattr(review, "tier_moves", lambda *a: calls.append("moves"))
    monkeypatch.setattr(review, "programme_change", lambda *a: calls.append("programme"))
    monkeypatch.setattr(review, "capacity_change", lambda *a: calls.append("capacity"))
    code, out, _ = diff(config, "--now", NOW)
    assert code == 0 and calls == []
    assert "Basic: name Basic → Essentials" not in out and "Essentials: name Basic → Essentials" in out
    assert "website: basic.html, index.html changed" in out


def test_touches_runs_both_ways():
    from tierctl.diff.owners import touches

    assert touches("tiers.premium", "tiers.*.plans")  # a tier added changes plans
    assert touches("tiers.basic.plans", "tiers.*.plans")
    assert not touches("tiers.basic.name", "tiers.*.plans")


def test_a_survey_change_plans_every_account(repo):
    config, edit = repo
    # a survey definition changed: any contact's invitations may change, so every account is planned
    edit("    audience: [key-stakeholder]\n", "    audience: [key-stakeholder, admin]\n")
    code, out, _ = diff(config, "--now", NOW, "--format", "json")
    doc = json.loads(out)
    assert doc["surveys"]["accounts"] == "all"
    code, out, _ = diff(config, "--now", NOW)
    assert "(counted for the accounts" not in out


def test_a_tier_losing_a_survey_plans_that_tier(repo):
    config, edit = repo
    edit("surveys: [pre-meeting, product-feedback]", "surveys: [product-feedback]")
    code, out, _ = diff(config, "--now", NOW)
    assert code == 0
    assert "(counted for the accounts the change can affect: tier advanced):\n" \
           "  pre-meeting: 1 → 0 invitations (0 newly due, 1 no longer sent)" in out


def test_the_github_workflow_runs_commands_that_work(repo):
    """docs/ci/tierctl-diff.yml: its tierctl commands, as the job runs them, on a real branch."""
    import re
    import shlex

    import yaml

    from project_fixtures import ROOT

    workflow = yaml.safe_load((ROOT / "docs" / "ci" / "tierctl-diff.yml").read_text(encoding="utf-8"))
    steps = workflow["jobs"]["diff"]["steps"]
    commands = [line.strip() for step in steps for line in step.get("run", "").splitlines()
                if line.strip().startswith("tierctl ")]
    assert len(commands) == 2
    config, edit = repo
    base = git(config.parent, "rev-parse", "HEAD").strip()
    edit("urgent: 4h", "urgent: 2h")
    values = {"CONFIG": str(config), "BASE": base, "approvers": "legal,support-lead"}
    outputs = []
    for command in commands:
        command = re.sub(r"\$(\w+)", lambda m: values[m.group(1)], command.split(">")[0])
        code, out, err = run_cli(shlex.split(command)[1:] + ["--now", NOW], load_plugins=PLUGINS)
        assert code == 0, (command, err)
        outputs.append(out)
    assert outputs[0].startswith("### tierctl diff") and "urgent target 4 hours → 2 hours (tighter)" in outputs[0]


def test_markdown_is_cut_to_fit_a_pull_request_comment():
    from tierctl.diff.accounts import Moves
    from tierctl.diff.formats import MD_MAX_CHARS, diff_markdown
    from tierctl.diff.pages import TargetChanges
    from tierctl.diff.review import ConfigDiff

    pages = [TargetChanges("website", changed=[f"tier-{n:05d}.html" for n in range(20000)])]
    text = diff_markdown(ConfigDiff("HEAD", ["tiers"], [], pages, Moves(), None, [], []))
    assert len(text) <= MD_MAX_CHARS
    assert text.endswith("… cut to fit a pull-request comment; run `tierctl diff` for the whole review.\n")


def test_a_template_change_shows_as_pages_that_change(project, tmp_path):
    (tmp_path / "my-templates" / "website").mkdir(parents=True)
    page = tmp_path / "my-templates" / "website" / "tier.html"
    page.write_text('{% extends "default:website/tier.html" %}\n')
    yaml = PROJECT_YAML.replace("render:\n", "render:\n  templates: my-templates\n")
    config = project(ROWS, yaml=yaml)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "tiers")
    page.write_text('{% extends "default:website/tier.html" %}\n{% block title %}New title{% endblock %}\n')
    code, out, err = diff(config, "--now", NOW)
    assert code == 0, err
    assert "Pages and sales sheets:\n  website: advanced.html, basic.html changed" in out
    assert "Changed fields" not in out and "Tiers:" not in out  # the config itself is the same
    assert not (tmp_path / "templates").exists()


def test_a_change_in_one_language_of_a_text_is_a_change():
    from tierctl.config.model import Tier

    old = Tier(name={"en": "Standard", "nl": "Standaard"}, touch_model="low-touch", plans=["team"])
    new = Tier(name={"en": "Standard", "nl": "Gewoon"}, touch_model="low-touch", plans=["team"])
    assert describe_tier(old, new) == ["name {en: Standard, nl: Standaard} → {en: Standard, nl: Gewoon}"]
