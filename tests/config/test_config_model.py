"""The tier model: durations, caps, response targets, ``extends`` and the JSON Schema."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
import yaml

from tierctl.config.loader import load_config
from tierctl.config.durations import Duration, ResponseTarget, TimeCap
from tierctl.errors import ConfigError
from project_fixtures import run_cli

ROOT = Path(__file__).resolve().parents[2]
DAY = 86400


@pytest.mark.parametrize("text,months,seconds,human", [
    ("30m", 0, 1800, "30 minutes"),
    ("4h", 0, 4 * 3600, "4 hours"),
    ("7d", 0, 7 * DAY, "1 week"),
    ("90d", 0, 90 * DAY, "90 days"),
    ("2w", 0, 14 * DAY, "2 weeks"),
    ("1mo", 1, 0, "1 month"),
    ("3mo", 3, 0, "3 months"),
    ("1y", 12, 0, "1 year"),
    ("1h30m", 0, 5400, "90 minutes"),
    (" 2 h ", 0, 7200, "2 hours"),
])
def test_durations(text: str, months: int, seconds: int, human: str) -> None:
    d = Duration.parse(text)
    assert (d.months, d.seconds, d.human(), str(d)) == (months, seconds, human, text.strip())


@pytest.mark.parametrize("text,why", [
    ("30", "has no unit"), (30, "has no unit"), ("7x", "cannot read"), ("", "empty duration"),
    ("-7d", "negative"), ("1.5mo", "whole numbers"), (True, "expected a duration"), (None, "expected a duration"),
])
def test_bad_durations(text: object, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        Duration.parse(text)


def test_calendar_months_are_kept_apart_from_seconds() -> None:
    # 1mo is not 30 days: a scheduler needs calendar months.
    assert Duration.parse("1mo") != Duration.parse("30d")
    assert Duration.parse("1y").months == 12 and Duration.parse("1y").seconds == 0
    assert Duration.parse("3mo").approx_seconds == pytest.approx(3 * 365.2425 * DAY / 12)


@pytest.mark.parametrize("text,per,hours_per_month,human", [
    ("30m/month", "month", 0.5, "30 minutes per month"),
    ("2h/week", "week", 2 * 52 / 12, "2 hours per week"),
    ("6h/quarter", "quarter", 2, "6 hours per quarter"),
    ("24h/year", "year", 2, "1 day per year"),
    ("10h / Month", "month", 10, "10 hours per month"),
    ("0m/month", "month", 0, "0 hours per month"),
])
def test_caps(text: str, per: str, hours_per_month: float, human: str) -> None:
    cap = TimeCap.parse(text)
    assert cap.per == per
    assert cap.hours_per_month == pytest.approx(hours_per_month)
    assert cap.human() == human


@pytest.mark.parametrize("text,why", [
    ("2h", "<duration>/<week|month|quarter|year>"), ("2h/fortnight", "'fortnight' is not one of"),
    ("-30m/month", "negative"), ("1mo/year", "minutes, hours or days"), ("x/month", "cannot read"),
    (5, "<duration>/"),
])
def test_bad_caps(text: object, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        TimeCap.parse(text)


@pytest.mark.parametrize("text,kind,human", [
    ("4h", "clock", "4 hours"),
    ("30m", "clock", "30 minutes"),
    ("1 business day", "business", "1 business day"),
    ("3 business days", "business", "3 business days"),
    ("2 business hours", "business", "2 business hours"),
    ("1 business hours", "business", "1 business hour"),
    ("24 business hours", "business", "24 business hours"),  # not "1 business day"
    ("1.5 business days", "business", "1.5 business days"),
    ("best effort", "best_effort", "Best effort"),
    ("Best-effort", "best_effort", "Best effort"),
])
def test_response_targets(text: str, kind: str, human: str) -> None:
    target = ResponseTarget.parse(text)
    assert (target.kind, target.human()) == (kind, human)


def test_response_targets_sort_fastest_first_and_best_effort_last() -> None:
    texts = ["best effort", "1 business day", "4h", "30m", "2 business hours"]
    ordered = sorted(texts, key=lambda t: ResponseTarget.parse(t).sort_seconds)
    assert ordered == ["30m", "2 business hours", "4h", "1 business day", "best effort"]


@pytest.mark.parametrize("text,why", [
    ("soon", "cannot read 'soon'"), ("0h", "more than zero"), ("-1h", "more than zero"),
    ("0 business days", "more than zero"), (4, "such as 4h"),
])
def test_bad_response_targets(text: object, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        ResponseTarget.parse(text)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tierctl.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


CHAIN = """\
    version: 1
    organization: {name: Acme, severities: {urgent: Down, normal: Question}}
    tiers:
      basic:
        name: Basic
        summary: Self-service.
        touch_model: tech-touch
        plans: [free]
        channels: [knowledge-base, community, email]
        hours: business
        response_targets: {urgent: 1 business day, normal: 3 business days}
        agent_time_cap: 30m/month
        named_contacts: 1
        contact_cadence:
          onboarding: {every: 7d, channel: email, automated: true}
          active: {every: 90d, channel: email, automated: true}
        surveys: [feedback]
        sales: {pitch: Cheap, avoid: [phone]}
      standard:
        extends: basic
        name: Standard
        touch_model: low-touch
        plans: [team]
        channels: [+chat, +phone, -community]
        response_targets: {urgent: 4h}
        agent_time_cap: 2h/week
        sales: {upsell: When they ask for more}
      advanced:
        extends: standard
        name: Advanced
        touch_model: high-touch
        plans: [enterprise]
        channels: [+video]
        hours: 24x7
        contact_cadence:
          active: {every: 1mo, channel: video, meeting: account-review}
        specialists: [security]
      custom:
        extends: advanced
        name: Custom
        touch_model: high-touch
        plans: [custom]
        channels: [phone, on-site]
        surveys: []
    surveys:
      feedback: {title: Feedback}
    """


def test_extends_inherits_and_overrides(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CHAIN))
    basic, standard, advanced, custom = (config.tiers[t] for t in ("basic", "standard", "advanced", "custom"))
    # Scalars: inherited unless overridden, through two levels.
    assert (standard.summary, standard.hours, standard.named_contacts) == ("Self-service.", "business", 1)
    assert (advanced.summary, advanced.hours, advanced.agent_time_cap.text) == ("Self-service.", "24x7", "2h/week")
    # Lists: +x appends, -x removes, a plain list replaces.
    assert basic.channels == ["knowledge-base", "community", "email"]
    assert standard.channels == ["knowledge-base", "email", "chat", "phone"]
    assert advanced.channels == ["knowledge-base", "email", "chat", "phone", "video"]
    assert custom.channels == ["phone", "on-site"]
    assert custom.surveys == [] and advanced.surveys == ["feedback"]
    assert custom.specialists == ["security"]
    # Mappings merge key by key.
    assert {k: v.text for k, v in standard.response_targets.items()} == {"urgent": "4h", "normal": "3 business days"}
    assert {k: v.text for k, v in advanced.response_targets.items()} == {"urgent": "4h", "normal": "3 business days"}
    assert set(advanced.contact_cadence) == {"onboarding", "active"}
    assert advanced.contact_cadence["active"].channel == "video"
    assert advanced.contact_cadence["onboarding"].every.human() == "1 week"
    assert standard.sales is not None and (standard.sales.pitch, standard.sales.upsell, standard.sales.avoid) == (
        "Cheap", "When they ask for more", ["phone"])
    # The parent is untouched by its children.
    assert basic.response_targets["urgent"].text == "1 business day" and basic.sales.upsell is None
    assert list(config.tiers) == ["basic", "standard", "advanced", "custom"]
    assert config.tier_for_plan("team") == "standard" and config.tier_for_plan("nope") is None


def test_extends_edit_errors(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        version: 1
        organization: {name: Acme}
        tiers:
          basic: {name: Basic, touch_model: tech-touch, plans: [free], channels: [email, +chat]}
          standard:
            extends: basic
            name: Standard
            touch_model: low-touch
            plans: [team]
            channels: [-phone]
          solo: {name: Solo, touch_model: tech-touch, plans: [solo], specialists: [+security]}
        """)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = "\n".join(map(str, info.value.problems))
    assert f"{path}:4:64: tiers.basic.channels: mixes +x/-x edits with plain items" in text
    assert (f"{path}:10:16: tiers.standard.channels[0]: -phone removes 'phone', but tier 'basic' does not have it"
            in text)
    assert f"{path}:11:62: tiers.solo.specialists: +x/-x edit an inherited list, but this tier has no extends" in text


def test_env_interpolation(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        version: 1
        organization:
          name: "${ORG} ${SUFFIX:-Inc}"
          support_url: https://${HOST:-acme.example}/support
          contact_email: "${EMAIL:-}"
        tiers:
          basic: {name: "${TIER_NAME:-Basic}", touch_model: tech-touch, plans: ["${PLAN}"]}
        """)
    env = {"ORG": "Acme", "PLAN": "free", "HOST": "help.acme.example"}
    config = load_config(path, env=env)
    assert config.organization.name == "Acme Inc"
    assert config.organization.support_url == "https://help.acme.example/support"
    assert config.organization.contact_email == ""
    assert config.tiers["basic"].name == "Basic" and config.tiers["basic"].plans == ["free"]
    # Only ${...} is special; $ORG and text around it stay as written.
    path.write_text(path.read_text().replace('"${ORG} ${SUFFIX:-Inc}"', '"$ORG costs $5"'))
    assert load_config(path, env=env).organization.name == "$ORG costs $5"


class _JsonLikeLoader(yaml.SafeLoader):
    """YAML as an editor's language server sees it: dates stay text, as in JSON."""


_JsonLikeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _jsonschema():
    try:
        import jsonschema
    except ImportError:
        why = "jsonschema is not installed; it belongs in pyproject's [project.optional-dependencies] test"
        if os.environ.get("CI"):
            pytest.fail(f"CI must check the JSON Schema, but {why}")
        pytest.skip(why)
    return jsonschema


def test_schema_is_valid_json_schema_and_accepts_the_example() -> None:
    jsonschema = _jsonschema()
    code, out, err = run_cli(["schema"])
    assert code == 0, err
    schema = json.loads(out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    example = yaml.load((ROOT / "config.example.yaml").read_text(encoding="utf-8"), _JsonLikeLoader)
    problems = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(example)]
    assert problems == []
    # ... and rejects what tierctl rejects, so editors flag it too.
    bad = json.loads(json.dumps(example))
    bad["tiers"]["basic"]["touch_model"] = "no-touch"
    bad["tiers"]["basic"]["chanels"] = ["email"]
    bad["organisation"] = {}
    messages = " | ".join(e.message for e in validator.iter_errors(bad))
    assert "'no-touch' is not one of" in messages
    assert "'chanels' was unexpected" in messages and "'organisation' was unexpected" in messages
    # Output is stable (sorted keys) so it can be committed for editors.
    assert run_cli(["schema"])[1] == out


def test_example_config_validates() -> None:
    # With every installed plugin, as a new user runs it.
    code, out, err = run_cli(["-c", str(ROOT / "config.example.yaml"), "validate", "--json"], load_plugins=None)
    assert code == 0, err
    result = json.loads(out)
    assert result["valid"] is True
    assert result["tiers"][:3] == ["basic", "standard", "advanced"]
