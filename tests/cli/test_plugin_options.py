"""Installed plugins' options are visible: ``tierctl schema`` has one branch per ``plugin:`` value
(checked with jsonschema, a third-party package included), ``tierctl plugins --json`` lists them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = ROOT / "tests" / "plugin_fixtures"


def run_tierctl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m tierctl ARGS`` with acme 1.0, a third-party package, installed (as in its own CI)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERCTL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(FIXTURES / "acme_v1_dist"), str(FIXTURES / "acme_v1" / "src")])
    return subprocess.run([sys.executable, "-m", "tierctl", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict:
    proc = run_tierctl("schema", cwd=tmp_path_factory.mktemp("schema"))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def example_config() -> dict:
    """config.example.yaml as an editor's YAML server sees it (dates are strings)."""
    return json.loads(json.dumps(yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8")),
                                 default=str))


def errors(schema: dict, providers: dict) -> list[str]:
    config = example_config()
    config["providers"] = providers
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(config)]


def test_the_example_config_is_valid_against_the_schema_with_plugins(schema: dict) -> None:
    config = example_config()
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(config)) == []


def test_each_plugin_value_has_a_branch_with_its_options_and_descriptions(schema: dict) -> None:
    acme = schema["$defs"]["providers_acme"]
    assert acme["properties"]["plugin"] == {"const": "acme", "description": "tierctl_acme.provider.AcmeProvider"}
    assert acme["properties"]["api_key"]["description"] == "Acme API key; write it as ${ACME_API_KEY}"
    assert acme["required"] == ["plugin", "api_key"] and acme["additionalProperties"] is False
    assert {"providers_smtp", "providers_webhook", "sources_csv", "sources_ical"} <= set(schema["$defs"])


def test_a_third_party_option_typed_wrong_is_caught_through_jsonschema(schema: dict) -> None:
    good = {"plugin": "acme", "api_key": "${ACME_API_KEY}", "timeout": 5, "retries": "${ACME_RETRIES}"}
    assert errors(schema, {"acme": good}) == []
    found = errors(schema, {"acme": {**good, "timeout": "soon"}})
    assert found and all(e.startswith("providers.acme") for e in found), found
    assert errors(schema, {"acme": {**good, "retries": 2.5}})
    assert errors(schema, {"acme": {**good, "api_kee": "x"}})  # a misspelt key
    assert errors(schema, {"acme": {"plugin": "acme"}})  # api_key is required
    assert errors(schema, {"acme": {**good, "plugin": "acmee"}})  # no such plugin


def test_plugins_json_lists_each_providers_options(tmp_path: Path) -> None:
    proc = run_tierctl("plugins", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    acme = next(p for p in document["providers"] if p["name"] == "acme")
    options = {o["name"]: o for o in acme["options"]}
    assert options["api_key"] == {"name": "api_key", "type": "string", "default": None,
                                  "description": "Acme API key; write it as ${ACME_API_KEY}", "required": True,
                                  "secret": True}
    assert options["timeout"]["type"] == "number" and options["timeout"]["default"] == 10.0
    assert options["timeout"]["secret"] is False and options["timeout"]["required"] is False
    smtp = next(p for p in document["providers"] if p["name"] == "smtp")
    assert any(o["secret"] for o in smtp["options"])
    assert {s["name"] for s in document["sources"]} >= {"csv", "ical"}
