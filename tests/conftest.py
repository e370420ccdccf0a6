"""Shared fixtures: an isolated plugin host and small, real project folders."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Iterator

import pytest
from browser_helpers import chromium, serve_folder
from project_fixtures import PROJECT_YAML, write_customers, write_ics

from tierctl.host.plugin_host import PluginHost

#: Fake plugin distributions are run by the tests that use them (in a subprocess), not collected here.
collect_ignore_glob = ["plugin_fixtures/*"]


@pytest.fixture
def host() -> PluginHost:
    """A fresh plugin host from the installed entry points (no state shared between tests)."""
    return PluginHost.load(env={})


@pytest.fixture
def project(tmp_path: Path):
    """Build a project folder: ``project(rows, events=[], yaml=PROJECT_YAML)`` -> config path."""

    def make(rows: list[list[str]], events: list[str] | None = None, yaml: str = PROJECT_YAML) -> Path:
        write_customers(tmp_path / "customers.csv", rows)
        write_ics(tmp_path / "meetings.ics", events or [])
        config = tmp_path / "tierctl.yaml"
        config.write_text(textwrap.dedent(yaml), encoding="utf-8")
        return config

    return make


# Page tests: a module defines ``site`` (the folder to serve); these serve it and drive Chromium over it.
@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    """``site`` served over HTTP on 127.0.0.1 for the module's tests."""
    with serve_folder(site) as url:
        yield url


@pytest.fixture(scope="module")
def browser(site: Path):
    """Headless Chromium for the module (skipped locally, failed in CI, when it is missing)."""
    with chromium() as browser:
        yield browser
