"""Every bad input a user can write gets exit code 2, no traceback, and one
``FILE:LINE:COL: key.path: message`` line per problem that says what was
expected. Each case runs through the engine (``load_config``) and through the
real CLI entry point (``tierctl.cli.main``), and a few through a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from tierctl.config.loader import load_config
from tierctl.errors import ConfigError
from tierctl.hookspecs import hookimpl
from tierctl.plugins import filters, html_site, markdown_sales
from tierctl.host.plugin_host import PluginHost
from project_fixtures import run_cli

# Only tierctl's renderers, so other plugins (installed or broken) do not change the output.
BUILTIN_RENDERERS = "html,markdown,filters"


class FakeProviderPlugin:
    """A provider plugin, so 'not installed' errors have something to list."""

    @hookimpl
    def register_providers(self, register):
        register("outbox", object)
        register("smtp", object)


def make_host() -> PluginHost:
    return PluginHost.from_modules({"html": html_site, "markdown": markdown_sales, "filters": filters,
                                    "fake-providers": FakeProviderPlugin()})


@dataclass
class Expect:
    """One problem we expect: its position, key path and words its message must contain."""

    line: int
    col: int
    key: str
    says: tuple[str, ...]

    def prefix(self, file: str) -> str:
        return f"{file}:{self.line}:{self.col}: {self.key}: "


def write(tmp_path: Path, text: str, name: str = "tierctl.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# (id, config text, expected problems, extra environment). A problem in a
# mapping value points at its key; one in a list points at the item.
CASES: list[tuple[str, str, list[Expect], dict[str, str]]] = [
    ("yaml-syntax-flow", """\
        version: 1
        organization: {name: Acme
        tiers: {}
        """, [Expect(3, 6, "", ("YAML syntax error", "expected ',' or '}'", "in quotes"))], {}),
    ("yaml-syntax-indent", """\
        version: 1
        organization:
          name: Acme
           timezone: UTC
        """, [Expect(4, 12, "", ("YAML syntax error", "mapping values are not allowed", "indentation"))], {}),
    ("duplicate-key", """\
        version: 1
        organization: {name: Acme}
        tiers:
          basic:
            name: Basic
            touch_model: tech-touch
            plans: [free]
            name: Basic again
        """, [Expect(8, 5, "tiers.basic.name", ("duplicate key", "first defined on line 5", "remove one"))], {}),
    ("unknown-key-did-you-mean", """\
        version: 1
        organization: {name: Acme}
        tiers:
          basic:
            name: Basic
            touch_model: tech-touch
            plans: [free]
            chanels: [email]
        """, [Expect(8, 5, "tiers.basic.chanels", ("unknown key", "did you mean 'channels'?", "expected one of"))],
     {}),
    ("unknown-top-level-key", """\
        version: 1
        organisation: {name: Acme}
        tiers:
          basic: {name: Basic, touch_model: tech-touch, plans: [free]}
        """, [Expect(2, 1, "organisation", ("unknown key", "did you mean 'organization'?")),
              Expect(1, 1, "organization", ("required key is missing", "add organization:"))], {}),
    ("wrong-types", """\
        version: 1
        organization: {name: Acme}
        tiers:
          basic:
            name: Basic
            touch_model: tech-touch
            plans: free
            named_contacts: many
            hours: 9-to-5
        """, [Expect(7, 5, "tiers.basic.plans", ("expected a list", "got 'free'")),
              Expect(8, 5, "tiers.basic.named_contacts", ("expected a whole number", "got 'many'")),
              Expect(9, 5, "tiers.basic.hours", ("'9-to-5' is not allowed", "'business'", "'24x7'"))], {}),
    ("tier-not-a-mapping", """\
        version: 1
        organization: {name: Acme}
        tiers:
          basic: Basic
        """, [Expect(4, 3, "tiers.basic", ("expected a mapping", "got 'Basic'"))], {}),
    ("unparsable-durations", """\
        version: 1
        organization: {name: Acme}
        tiers:
          basic:
            name: Basic
            touch_model: tech-touch
            plans: [free]
            response_targets: {urgent: soonish}
            agent_time_cap: 2 hours a month
            contact_cadence:
              active: {every: 7x, channel: email}
        """, [Expect(8, 24, "tiers.basic.response_targets.urgent",
                     ("cannot read 'soonish'", "business hours|days", "best effort")),
              Expect(9, 5, "tiers.basic.agent_time_cap", ("expected <duration>/<week|month|quarter|year>", "2h/month")),
              Expect(11, 16, "tiers.basic.contact_cadence.active.every",
                     ("cannot read '7x' as a duration", "30m, 4h, 7d, 2w, 1mo, 3mo or 1y"))], {}),
    ("negative-cap", """\
        version: 1
        organization: {name: Acme}
        tiers:
          basic:
            name: Basic
            touch_model: tech-touch
            plans: [free]
            agent_time_cap: -30m/month
        """, [Expect(8, 5, "tiers.basic.agent_time_cap", ("negative", "zero or more", "30m/month"))], {}),
    ("negative-durations", """\
        version: 1
        organization: {name: Acme}
        tiers:
          basic:
            name: Basic
            touch_model: tech-touch
            plans: [free]
            response_targets: {urgent: -4h}
            contact_cadence:
              active: {every: -7d, channel: email}
        """, [Expect(8, 24, "tiers.basic.response_targets.urgent", ("more than zero",)),
              Expect(10, 16, "tiers.basic.contact_cadence.active.every", ("'-7d' is negative", "30m, 4h"))], {}),
    ("bad-cap-period", """\
        version: 1
        organization: {name: Acme}
        tiers:
          basic: {name: Basic, touch_model: tech-touch, plans: [free], agent_time_cap: 2h/fortnight}
        """, [Expect(4, 64, "tiers.basic.agent_time_cap", ("'fortnight'", "week, month, quarter, year"))], {}),
    ("plan-in-two-tiers", """\
        version: 1
        organization: {name: Acme}
        tiers:
          basic:
            name: Basic
            touch_model: tech-touch
            plans: [free, starter]
          standard:
            name: Standard
            touch_model: low-touch
            plans: [team, starter]
        """, [Expect(11, 19, "tiers.standard.plans[1]",
                     ("plan 'starter' is covered by tiers 'basic' and 'standard'", "remove it from one"))], {}),
    ("plan-inherited-into-two-tiers", """\
        version: 1
        organization: {name: Acme}
        tiers:
          basic:
            name: Basic
            touch_model: tech-touch
            plans: [free]
          standard:
            extends: basic
            name: Standard
        """, [Expect(9, 5, "tiers.standard.plans",
                     ("inherits plans", "from 'basic'", "give 'standard' its own plans"))], {}),
    ("extends-missing-tier", """\
        version: 1
        organization: {name: Acme}
        tiers:
          basic: {name: Basic, touch_model: tech-touch, plans: [free]}
          standard:
            extends: basik
            name: Standard
            touch_model: low-touch
            plans: [team]
        """, [Expect(6, 5, "tiers.standard.extends",
                     ("unknown tier 'basik'", "did you mean 'basic'?", "known tiers: basic, standard"))], {}),
    ("extends-cycle", """\
        version: 1
        organization: {name: Acme}
        tiers:
          a: {extends: c, name: A, touch_model: low-touch, plans: [pa]}
          b: {extends: a, name: B, touch_model: low-touch, plans: [pb]}
          c: {extends: b, name: C, touch_model: low-touch, plans: [pc]}
        """, [Expect(5, 7, "tiers.b.extends", ("cycle", "a -> c -> b -> a", "must not extend"))], {}),
    ("extends-itself", """\
        version: 1
        organization: {name: Acme}
        tiers:
          a: {extends: a, name: A, touch_model: low-touch, plans: [pa]}
        """, [Expect(4, 7, "tiers.a.extends", ("cycle", "a -> a"))], {}),
    ("tier-names-missing-survey", """\
        version: 1
        organization: {name: Acme}
        tiers:
          basic:
            name: Basic
            touch_model: tech-touch
            plans: [free]
            surveys: [feedbak]
        surveys:
          feedback: {title: Feedback}
        """, [Expect(8, 15, "tiers.basic.surveys[0]",
                     ("survey 'feedbak' is not defined", "did you mean 'feedback'?", "defined: feedback"))], {}),
    ("survey-names-missing-provider", """\
        version: 1
        organization: {name: Acme}
        tiers:
          basic: {name: Basic, touch_model: tech-touch, plans: [free]}
        surveys:
          feedback: {title: Feedback, provider: mial}
        providers:
          mail: {plugin: outbox}
        """, [Expect(6, 31, "surveys.feedback.provider",
                     ("provider 'mial' is not defined", "did you mean 'mail'?", "defined: mail"))], {}),
    ("unset-env-var", """\
        version: 1
        organization: {name: Acme, support_url: "${TIERCTL_TEST_UNSET_URL}"}
        tiers:
          basic: {name: Basic, touch_model: tech-touch, plans: [free]}
        """, [Expect(2, 28, "organization.support_url",
                     ("TIERCTL_TEST_UNSET_URL is not set", "export TIERCTL_TEST_UNSET_URL=",
                      "${TIERCTL_TEST_UNSET_URL:-value}"))], {}),
    ("env-value-invalid-not-echoed", """\
        version: 1
        organization: {name: Acme}
        tiers:
          basic: {name: Basic, touch_model: tech-touch, plans: [free], named_contacts: "${TIERCTL_TEST_N}"}
        """, [Expect(4, 64, "tiers.basic.named_contacts", ("expected a whole number", "the value from the environment"))],
     {"TIERCTL_TEST_N": "s3cret-token"}),
    ("unsafe-tier-id", """\
        version: 1
        organization: {name: Acme}
        tiers:
          ../Basic Plan:
            name: Basic
            touch_model: tech-touch
            plans: [free]
        """, [Expect(4, 3, "tiers.../Basic Plan", ("not a safe slug", "file names", "'basic-plan'"))], {}),
    ("renderer-not-installed", """\
        version: 1
        organization: {name: Acme}
        tiers:
          basic: {name: Basic, touch_model: tech-touch, plans: [free]}
        render:
          website: {format: htm, out: site}
        """, [Expect(6, 13, "render.website.format",
                     ("no renderer plugin named 'htm'", "did you mean 'html'?", "installed: html, markdown"))], {}),
    ("provider-plugin-not-installed", """\
        version: 1
        organization: {name: Acme}
        tiers:
          basic: {name: Basic, touch_model: tech-touch, plans: [free]}
        providers:
          mail: {plugin: outbx}
        """, [Expect(6, 10, "providers.mail.plugin",
                     ("no survey provider plugin named 'outbx'", "did you mean 'outbox'?",
                      "installed: outbox, smtp"))], {}),
]

# The CLI loads the real built-in plugins, which register no providers.
CLI_SKIP = {"provider-plugin-not-installed"}


@pytest.mark.parametrize("text,expected,env", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_load_config_reports(tmp_path: Path, text: str, expected: list[Expect], env: dict[str, str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, make_host(), env=env)
    lines = [str(p) for p in info.value.problems]
    for exp in expected:
        hits = [ln for ln in lines if ln.startswith(exp.prefix(str(path)) if exp.key else f"{path}:{exp.line}:{exp.col}: ")]
        assert hits, f"no problem at {exp.prefix(str(path))!r}; got:\n" + "\n".join(lines)
        for words in exp.says:
            assert words in hits[0], f"{words!r} missing from {hits[0]!r}"
    assert len(lines) == len(expected), "unexpected extra problems:\n" + "\n".join(lines)
    assert "s3cret-token" not in "\n".join(lines), "a value from the environment was echoed"


@pytest.mark.parametrize("text,expected,env", [c[1:] for c in CASES if c[0] not in CLI_SKIP],
                         ids=[c[0] for c in CASES if c[0] not in CLI_SKIP])
def test_cli_reports(tmp_path: Path, text: str, expected: list[Expect], env: dict[str, str]) -> None:
    path = write(tmp_path, text)
    code, out, err = run_cli(["-c", str(path), "validate"], env=env)
    assert code == 2, f"exit {code}; stderr:\n{err}"
    assert "Traceback" not in out + err
    for exp in expected:
        prefix = exp.prefix(str(path)) if exp.key else f"{path}:{exp.line}:{exp.col}: "
        hits = [ln for ln in err.splitlines() if ln.startswith(prefix)]
        assert hits and all(w in hits[0] for w in exp.says), f"expected {prefix!r} + {exp.says}; stderr:\n{err}"
    assert err.rstrip().endswith(f"in {path}; nothing was done.")


def test_env_default_is_used_and_env_wins(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        version: 1
        organization: {name: "${TIERCTL_TEST_ORG:-Acme Default}", support_url: "https://${TIERCTL_TEST_HOST:-acme.example}/help"}
        tiers:
          basic: {name: Basic, touch_model: tech-touch, plans: [free]}
        """)
    config = load_config(path, make_host(), env={})
    assert config.organization.name == "Acme Default"
    assert config.organization.support_url == "https://acme.example/help"
    config = load_config(path, make_host(), env={"TIERCTL_TEST_ORG": "Beta", "TIERCTL_TEST_HOST": "b.example"})
    assert (config.organization.name, config.organization.support_url) == ("Beta", "https://b.example/help")
    code, out, err = run_cli(["-c", str(path), "validate"], env={"TIERCTL_TEST_ORG": "Gamma"})
    assert code == 0, err


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert str(info.value.problems[0]).startswith(f"{missing}: config file not found")
    code, out, err = run_cli(["-c", str(missing), "validate"])
    assert code == 2
    assert f"{missing}: config file not found; pass the right path with -c FILE or set TIERCTL_CONFIG" in err
    assert "Traceback" not in err
    # The default file name, in a folder without one: the message names it.
    code, out, err = run_cli(["validate"], env={"TIERCTL_CONFIG": str(missing)})
    assert code == 2 and f"{missing}: config file not found" in err


ALL_AT_ONCE = """\
    version: 1
    organization: {name: Acme, timezone: Mars/Olympus}
    tiers:
      basic:
        name: Basic
        touch_model: tech-touch
        plans: [free, starter]
        agent_time_cap: -1h/month
        surveys: [nope]
        colour: blue
        name: Twice
      standard:
        extends: missing
        name: Standard
        touch_model: low-touch
        plans: [starter]
        response_targets: {urgent: later}
    surveys:
      feedback: {title: Feedback, provider: ghost}
    providers:
      mail: {plugin: outbox, password: "${TIERCTL_TEST_UNSET_PASSWORD}"}
    render:
      website: {format: htlm, out: site}
    """


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, ALL_AT_ONCE)
    code, out, err = run_cli(["-c", str(path), "validate"])
    assert code == 2
    keys = ["organization.timezone", "tiers.basic.agent_time_cap", "tiers.basic.surveys[0]", "tiers.basic.colour",
            "tiers.basic.name", "tiers.standard.extends", "tiers.standard.plans[0]",
            "tiers.standard.response_targets.urgent", "surveys.feedback.provider", "providers.mail.password",
            "render.website.format"]
    for key in keys:
        assert f": {key}: " in err, f"{key} not reported; stderr:\n{err}"
    assert f"{len(keys) + 1} problems in {path}" in err  # + providers.mail.plugin: no provider plugin loaded
    # Sorted by position, so the list reads top to bottom like the file.
    positions = [tuple(map(int, ln.split(":")[1:3])) for ln in err.splitlines() if ln.startswith(str(path) + ":")]
    assert positions == sorted(positions) and len(positions) == len(keys) + 1


def test_subprocess_shows_no_traceback_and_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, ALL_AT_ONCE)
    env = {**os.environ, "TIERCTL_LOAD_PLUGINS": BUILTIN_RENDERERS}
    env.pop("TIERCTL_DEBUG", None)
    for args in (["validate"], ["render"]):
        proc = subprocess.run([sys.executable, "-m", "tierctl", "-c", str(path), *args],
                              capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert f"{path}:8:5: tiers.basic.agent_time_cap: " in proc.stderr
        assert proc.stdout == ""
    proc = subprocess.run([sys.executable, "-m", "tierctl", "-c", str(tmp_path / "missing.yaml"), "render"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "config file not found" in proc.stderr


def test_yaml_tags_are_refused_not_executed(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        version: 1
        organization: {name: !!python/object/apply:os.getcwd []}
        tiers: {}
        """)
    code, out, err = run_cli(["-c", str(path), "validate"])
    assert code == 2 and "Traceback" not in err
    assert f"{path}:2:16: organization.name: unsupported YAML tag tag:yaml.org,2002:python/object/apply" in err
    scalar = write(tmp_path, "version: 1\norganization: {name: !!python/name:os.system x}\n", "scalar.yaml")
    code, out, err = run_cli(["-c", str(scalar), "validate"])
    assert code == 2 and "Traceback" not in err and f"{scalar}:2:22: unsupported YAML value" in err


def test_empty_and_non_mapping_files(tmp_path: Path) -> None:
    empty = write(tmp_path, "", "empty.yaml")
    code, out, err = run_cli(["-c", str(empty), "validate"])
    assert code == 2
    for key in ("version", "organization", "tiers"):
        assert f"{empty}:1:1: {key}: required key is missing; add {key}: ..." in err
    listing = write(tmp_path, "- a\n- b\n", "list.yaml")
    code, out, err = run_cli(["-c", str(listing), "validate"])
    assert code == 2 and f"{listing}:1:1: the config must be a mapping" in err
