"""docs/plugins.md stays true: every hook with its exact signature and docstring, and every code
block cut from a tested file (the example package, whose tests CI runs).

In the doc, a code block preceded by ``<!-- snippet: FILE#NAME -->`` must equal the lines of
FILE between the markers ``# [docs:NAME]`` and ``# [/docs:NAME]`` (dedented); one preceded by
``<!-- hook: NAME -->`` must be the hookspec ``NAME`` of ``tierctl.hookspecs`` as an
implementation. After changing the example or a hook, refresh the doc with::

    python tests/test_docs.py --update
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import textwrap
from pathlib import Path

import pytest

from tierctl import hookspecs

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "plugins.md"
EXAMPLE = ROOT / "examples" / "tierctl-acme"

FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```\n", re.S | re.M)
SNIPPET = re.compile(r"<!-- snippet: (?P<file>[^#\s]+)#(?P<name>[\w-]+) -->\n```(?P<lang>[\w-]*)\n(?P<body>.*?)```\n",
                     re.S)
HOOK = re.compile(r"<!-- hook: (?P<name>\w+) -->\n```python\n(?P<body>.*?)```\n", re.S)
HOOK_SECTION = "## Hook reference"


def hook_specs() -> dict[str, object]:
    """The hookspecs, in source order."""
    return {name: fn for name, fn in vars(hookspecs).items() if hasattr(fn, "tierctl_spec")}


def region(file: str, name: str) -> str:
    """The lines of ``file`` between ``# [docs:name]`` and ``# [/docs:name]``, dedented."""
    lines = (ROOT / file).read_text(encoding="utf-8").splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.strip() == f"# [docs:{name}]"]
    ends = [i for i, line in enumerate(lines) if line.strip() == f"# [/docs:{name}]"]
    assert len(starts) == 1 and len(ends) == 1 and starts[0] < ends[0], \
        f"{file}: expected one '# [docs:{name}]' ... '# [/docs:{name}]' pair"
    return textwrap.dedent("".join(lines[starts[0] + 1:ends[0]]))


def signature_text(fn) -> str:
    """``name(param: Annotation, ...) -> Return`` as written in the source (string annotations unquoted)."""
    sig = inspect.signature(fn)

    def ann(value) -> str:
        return value if isinstance(value, str) else inspect.formatannotation(value)

    params = []
    for p in sig.parameters.values():
        text = p.name if p.kind is not p.VAR_POSITIONAL else f"*{p.name}"
        text = f"**{p.name}" if p.kind is p.VAR_KEYWORD else text
        if p.annotation is not p.empty:
            text += f": {ann(p.annotation)}"
        if p.default is not p.empty:
            text += f" = {p.default!r}"
        params.append(text)
    ret = "" if sig.return_annotation is sig.empty else f" -> {ann(sig.return_annotation)}"
    return f"{fn.__name__}({', '.join(params)}){ret}"


def hook_block(fn) -> str:
    """The hook as a documented implementation: decorator, signature, docstring."""
    doc = textwrap.indent(inspect.getdoc(fn), "    ").lstrip()
    return f'@hookimpl\ndef {signature_text(fn)}:\n    """{doc}\n    """\n'


def render(text: str) -> str:
    """The doc with every snippet and hook block refreshed from the code."""
    text = SNIPPET.sub(lambda m: m.group(0).replace(f"```{m['lang']}\n{m['body']}```",
                                                    f"```{m['lang']}\n{region(m['file'], m['name'])}```"), text)
    specs = hook_specs()
    text = HOOK.sub(lambda m: f"<!-- hook: {m['name']} -->\n```python\n{hook_block(specs[m['name']])}```\n"
                    if m["name"] in specs else m.group(0), text)
    missing = [name for name in specs if f"<!-- hook: {name} -->" not in text]
    for name in missing:
        text = text.rstrip("\n") + f"\n\n### `{name}`\n\n<!-- hook: {name} -->\n```python\n{hook_block(specs[name])}```\n"
    return text


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def test_every_hookspec_is_documented_with_its_exact_signature_and_docstring(doc: str) -> None:
    reference = doc[doc.index(HOOK_SECTION):]
    documented = {m["name"]: m["body"] for m in HOOK.finditer(reference)}
    specs = hook_specs()
    assert list(documented) == list(specs), \
        f"hooks in the doc {list(documented)} != hookspecs {list(specs)}; run python tests/test_docs.py --update"
    for name, body in documented.items():
        [node] = [n for n in ast.parse(body).body if isinstance(n, ast.FunctionDef)]
        assert node.name == name
        assert [ast.unparse(d) for d in node.decorator_list] == ["hookimpl"], f"{name}: decorate with @hookimpl"
        params = []
        for arg in node.args.args:
            params.append(arg.arg + (f": {ast.unparse(arg.annotation)}" if arg.annotation else ""))
        written = f"{name}({', '.join(params)})" + (f" -> {ast.unparse(node.returns)}" if node.returns else "")
        assert written == signature_text(specs[name]), f"stale signature in docs/plugins.md: {written}"
        assert ast.get_docstring(node) == inspect.getdoc(specs[name]), f"stale docstring of {name} in the doc"
        assert f"### `{name}`" in reference, f"give {name} a '### `{name}`' heading"


def test_code_blocks_are_cut_from_tested_files(doc: str) -> None:
    snippets = list(SNIPPET.finditer(doc))
    assert len(snippets) >= 8
    for m in snippets:
        assert m["file"].startswith("examples/tierctl-acme/"), f"{m['file']}: snippets come from the tested example"
        assert m["body"] == region(m["file"], m["name"]), \
            f"the doc's {m['file']}#{m['name']} differs from the file; run python tests/test_docs.py --update"


def test_every_python_and_toml_block_is_a_snippet_or_a_hook(doc: str) -> None:
    checked = {m.start("lang") for m in SNIPPET.finditer(doc)} | {m.start("body") - len("python\n")
                                                                  for m in HOOK.finditer(doc)}
    for m in FENCE.finditer(doc):
        if m["lang"] in ("python", "toml", "py"):
            assert m.start("lang") in checked, f"untested code block in docs/plugins.md:\n{m['body'][:200]}"


def test_the_yaml_example_is_a_valid_config(doc: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from tierctl.config.loader import load_config
    from tierctl.plugins import builtin
    from tierctl.host.plugin_host import PluginHost

    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    import tierctl_acme

    [example] = [m["body"] for m in FENCE.finditer(doc) if m["lang"] == "yaml"]
    data = yaml.safe_load(example)
    # The doc shows the parts a plugin author cares about; complete it into a whole config.
    data.pop("requires_plugins")  # met only where the example is installed
    data.update({"version": 1, "organization": {"name": "Acme"},
                 "tiers": {"advanced": {"name": "Advanced", "touch_model": "high-touch", "plans": ["enterprise"]}},
                 "sources": {"customers": {"plugin": "csv", "path": "customers.csv"},
                             "meetings": {"plugin": "ical", "path": "meetings.ics"}}})
    path = tmp_path / "tierctl.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    host = PluginHost.from_modules({"acme": tierctl_acme, "csv": builtin.csv, "ical": builtin.ical})
    config = load_config(path, host, env={"ACME_API_KEY": "acme-key-from-env"})
    options = config.plugin_options("providers", "acme")
    assert options.api_key.get_secret_value() == "acme-key-from-env"
    assert options.surveys == {"pre-meeting": "srv_4f2a"}


def test_every_fixture_and_contract_hook_is_documented(doc: str) -> None:
    from tierctl.testing import ProviderContract, pytest_plugin

    fixtures = [name for name in vars(pytest_plugin) if name.startswith("tierctl_")]
    assert len(fixtures) >= 8
    public = [name for name in vars(ProviderContract) if not name.startswith("_")]
    for name in fixtures + public:
        assert re.search(rf"`{re.escape(name)}[`(]", doc), f"{name} is not documented in docs/plugins.md"
        if name in vars(ProviderContract) and not name.startswith("test_"):
            assert name in (ProviderContract.__doc__ or ""), f"{name} is not in ProviderContract's docstring"


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_docs.py --update")
    old = DOC.read_text(encoding="utf-8")
    new = render(old)
    if new != old:
        DOC.write_text(new, encoding="utf-8")
        print(f"updated {DOC.relative_to(ROOT)}")
    else:
        print(f"{DOC.relative_to(ROOT)} is up to date")
