"""Plugins found through the ``tierctl`` entry-point group, using real (fake)
distributions from ``tests/plugin_fixtures`` put on PYTHONPATH, and the CLI
run in a subprocess as a user would run it."""

from __future__ import annotations

import re

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tierctl.errors import PluginError
from tierctl.hookspecs import hookimpl
from tierctl.plugins import filters, html_site
from tierctl.host.plugin_host import PluginHost

FIXTURES = Path(__file__).resolve().parent / "plugin_fixtures"

CONFIG = """\
    version: 1
    organization: {name: Acme}
    tiers:
      basic: {name: Basic, touch_model: tech-touch, plans: [free], channels: [email]}
      advanced: {name: Advanced, touch_model: high-touch, plans: [enterprise]}
    render:
      website: {format: html, out: site}
      sales: {format: markdown, out: sales}
    """


def tierctl(*args: str, cwd: Path, fixtures: tuple[str, ...] = (), load: str | None = None,
            ) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tierctl ARGS`` with the given fixture distributions installed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERCTL_")}
    paths = [str(FIXTURES / f) for f in fixtures]
    env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in [env.get("PYTHONPATH")] if p])
    if load is not None:
        env["TIERCTL_LOAD_PLUGINS"] = load
    return subprocess.run([sys.executable, "-m", "tierctl", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "tierctl.yaml").write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    return tmp_path


def test_broken_plugin_does_not_break_the_cli(project: Path) -> None:
    warning = "plugin 'broken' (tierctl-broken) could not be loaded and is skipped: ModuleNotFoundError"
    for args in (["--help"], ["validate"], ["render"], ["plugins"]):
        proc = tierctl(*args, cwd=project, fixtures=("broken",))
        assert proc.returncode == 0, f"{args}: {proc.stderr}"
        assert warning in proc.stderr and "tierctl_missing_dependency" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
        assert proc.stderr.count("'broken'") == 1, f"warned more than once:\n{proc.stderr}"
    assert (project / "site" / "index.html").is_file() and (project / "sales" / "basic.md").is_file()
    listing = tierctl("plugins", cwd=project, fixtures=("broken",)).stdout
    assert "broken  (tierctl-broken 0.3)\n    FAILED: ModuleNotFoundError" in listing


def test_plugins_json_lists_every_plugin(project: Path) -> None:
    proc = tierctl("plugins", "--json", cwd=project, fixtures=("acme", "broken"))
    assert proc.returncode == 0, proc.stderr
    plugins = {p["name"]: p for p in json.loads(proc.stdout)["plugins"]}
    for info in plugins.values():
        assert set(info) >= {"name", "distribution", "version", "hooks", "registers", "error"}
    assert plugins["acme"] == {
        "name": "acme", "module": "tierctl_acme", "distribution": "tierctl-acme", "version": "1.0",
        "hooks": ["register_commands", "register_providers", "register_renderers", "register_template_filters"],
        "registers": {"renderers": ["acme-text"], "providers": ["acme-sms"], "template_filters": ["shout"],
                      "commands": ["acme-hello"]},
        "error": None,
    }
    assert plugins["broken"]["distribution"] == "tierctl-broken" and plugins["broken"]["version"] == "0.3"
    assert plugins["broken"]["error"].startswith("ModuleNotFoundError: No module named 'tierctl_missing_dependency'")
    # tierctl's own plugins come through the same entry-point group.
    for name, kind, registered in (("html", "renderers", "html"), ("markdown", "renderers", "markdown"),
                                   ("filters", "template_filters", "md")):
        assert plugins[name]["distribution"] == "tierctl", plugins[name]
        assert registered in plugins[name]["registers"][kind]
    assert list(plugins) == sorted(plugins)


def test_load_plugins_env_selects_plugins(project: Path) -> None:
    proc = tierctl("plugins", "--json", cwd=project, fixtures=("acme", "broken"), load="acme,html")
    assert [p["name"] for p in json.loads(proc.stdout)["plugins"]] == ["acme", "html"]
    assert "broken" not in proc.stderr  # not loaded, so not imported and not warned about
    proc = tierctl("plugins", "--json", cwd=project, fixtures=("acme", "broken"), load="")
    assert json.loads(proc.stdout)["plugins"] == [] and proc.returncode == 0
    # Leaving out a plugin the config needs says so.
    proc = tierctl("validate", cwd=project, load="html")
    assert proc.returncode == 2
    assert ("render.sales.format: no renderer plugin named 'markdown' is installed; installed: html; "
            "'markdown' is installed but TIERCTL_LOAD_PLUGINS leaves it out") in proc.stderr
    # A name that is not installed at all.
    proc = tierctl("plugins", cwd=project, load="html,markdwn")
    assert "TIERCTL_LOAD_PLUGINS names 'markdwn', which is not installed (did you mean 'markdown'?)" in proc.stderr


def test_two_plugins_registering_one_name_is_an_error_naming_both(project: Path) -> None:
    (project / "tierctl.yaml").write_text(textwrap.dedent(CONFIG) + "  print: {format: pdf, out: print}\n")
    proc = tierctl("validate", cwd=project, fixtures=("clash",))
    assert proc.returncode == 2
    message = ("renderer 'pdf' is registered by two plugins, 'clash-a' and 'clash-b'; uninstall one, "
               "or load only one with TIERCTL_LOAD_PLUGINS")
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert tierctl("render", cwd=project, fixtures=("clash",)).returncode == 2
    assert not (project / "print").exists()
    listing = tierctl("plugins", cwd=project, fixtures=("clash",))
    assert message in listing.stderr
    # Loading only one of them resolves it.
    proc = tierctl("render", cwd=project, fixtures=("clash",), load="html,markdown,clash-b")
    assert proc.returncode == 0, proc.stderr
    assert (project / "print" / "clash-b.txt").read_text() == "b\n"


def test_plugin_command_appears_in_help_and_runs(project: Path) -> None:
    help_text = tierctl("--help", cwd=project, fixtures=("acme",)).stdout
    # Column widths follow the longest command name: match the row, not its spacing.
    assert re.search(r"^\s+acme-hello\s+Say hello from the acme plugin\.$", help_text, re.MULTILINE), help_text
    proc = tierctl("acme-hello", "--name", "Ann", cwd=project, fixtures=("acme",))
    assert (proc.returncode, proc.stdout) == (0, "hello Ann from acme (acme-heavy)\n"), proc.stderr
    # A plugin command's exit code reaches the shell.
    assert tierctl("acme-hello", "--exit-code", "3", cwd=project, fixtures=("acme",)).returncode == 3
    # Without the plugin, the command is an ordinary usage error.
    proc = tierctl("acme-hello", cwd=project)
    assert proc.returncode == 2 and "No such command 'acme-hello'" in proc.stderr


def test_plugin_filter_in_override_template_and_lazy_renderer(project: Path) -> None:
    templates = project / "tpl" / "website"
    templates.mkdir(parents=True)
    (templates / "index.html").write_text(textwrap.dedent("""\
        {% extends "default:website/index.html" %}
        {% block header %}<p class="banner">{{ org.name | shout }}</p>{{ super() }}{% endblock %}
        """))
    config = textwrap.dedent(CONFIG).replace("render:\n", "render:\n  templates: tpl\n")
    config += "  text: {format: acme-text, out: text}\n"
    (project / "tierctl.yaml").write_text(config)
    proc = tierctl("render", cwd=project, fixtures=("acme",))
    assert proc.returncode == 0, proc.stderr
    index = (project / "site" / "index.html").read_text()
    assert '<p class="banner">ACME!</p>' in index
    assert 'id="comparison"' in index  # the rest of the built-in page is still there
    assert (project / "text" / "tiers.txt").read_text() == "basic: Basic (acme-heavy)\nadvanced: Advanced (acme-heavy)\n"


def test_misspelt_hookimpl_is_reported(project: Path) -> None:
    proc = tierctl("plugins", "--json", cwd=project, fixtures=("misspelt",))
    assert proc.returncode == 0
    info = {p["name"]: p for p in json.loads(proc.stdout)["plugins"]}["misspelt"]
    assert "unknown hook 'register_renderer' (did you mean 'register_renderers'?)" in info["error"]
    assert "plugin 'misspelt' (tierctl-misspelt) could not be loaded" in proc.stderr
    proc = tierctl("render", cwd=project, fixtures=("misspelt",))
    assert proc.returncode == 0, proc.stderr


HELP_IMPORTS = """\
import json, sys
from tierctl.cli import main
sys.argv = ["tierctl", "--help"]
try:
    main()
except SystemExit as exc:
    code = exc.code
watched = ["pydantic", "jinja2", "yaml", "requests", "urllib3", "icalendar", "babel", "starlette", "uvicorn",
           "psycopg", "phonenumbers", "tierctl_acme", "tierctl_acme_renderer", "acme_heavy_dep",
           "tierctl.config.model", "tierctl.config.loader", "tierctl.records"]
print(json.dumps({"code": code, "loaded": [m for m in watched if m in sys.modules]}), file=sys.stderr)
"""


def test_help_does_not_import_heavy_dependencies(project: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERCTL_")}
    env["PYTHONPATH"] = str(FIXTURES / "acme")
    proc = subprocess.run([sys.executable, "-c", HELP_IMPORTS], cwd=project, env=env, capture_output=True,
                          text=True, timeout=60)
    result = json.loads(proc.stderr.strip().splitlines()[-1])
    assert result["code"] == 0 and "acme-hello" in proc.stdout
    # The plugin itself is loaded (it adds a command), but nothing heavy is.
    assert result["loaded"] == ["tierctl_acme"], proc.stderr


def test_loading_reads_each_distributions_metadata_once(monkeypatch) -> None:
    """Each read of a distribution's name or version parses its METADATA (~3 ms); tierctl has a
    dozen entry points, and this is on `tierctl --help`'s path."""
    from importlib import metadata

    reads: list[tuple[str, str]] = []
    real = metadata.PathDistribution.read_text

    def counting(self, filename):
        if filename in ("METADATA", "PKG-INFO"):
            reads.append((str(self._path), filename))
        return real(self, filename)

    monkeypatch.setattr(metadata.PathDistribution, "read_text", counting)
    host = PluginHost.load()
    dists = {info.distribution for info in host.plugins.values()}
    assert "tierctl" in dists and len(host.plugins) > len(dists)
    assert len(reads) == len(set(reads)), reads


# --- PluginHost in-process: isolation and registration rules ---------------------

class _Renderers:
    def __init__(self, *names: str):
        self.names = names

    @hookimpl
    def register_renderers(self, register):
        for name in self.names:
            register(name, object)


def test_hosts_from_modules_are_independent() -> None:
    one = PluginHost.from_modules({"html": html_site, "extra": _Renderers("pdf")})
    two = PluginHost.from_modules({"filters": filters})
    assert set(one.renderers) == {"html", "pdf"} and set(two.renderers) == set()
    assert set(two.registry("template_filters")) >= {"md", "human"}
    assert set(one.registry("template_filters")) == set()
    assert one.pm is not two.pm and one.plugins.keys() == {"html", "extra"}
    one.check()  # no errors leaked in from anywhere


def test_clash_and_bad_registrations_in_process() -> None:
    host = PluginHost.from_modules({"a": _Renderers("pdf"), "b": _Renderers("pdf", "")})
    assert host.renderers["pdf"] is object and host.registry("renderers")["pdf"].plugin == "a"
    with pytest.raises(PluginError) as info:
        host.check()
    text = str(info.value)
    assert "renderer 'pdf' is registered by two plugins, 'a' and 'b'" in text
    assert "plugin 'b' failed in register_renderers" in text and "invalid name ''" in text


def test_lazy_registration_that_cannot_be_imported_names_the_plugin() -> None:
    class Lazy:
        @hookimpl
        def register_renderers(self, register):
            register("ghost", "tierctl_no_such_module:Ghost")

    host = PluginHost.from_modules({"lazy": Lazy()})
    assert list(host.renderers) == ["ghost"]  # listing does not import
    with pytest.raises(PluginError, match="plugin 'lazy' registered 'ghost' as 'tierctl_no_such_module:Ghost'"):
        host.renderers["ghost"]
