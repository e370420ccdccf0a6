"""The package's structure: the public API at the top of ``tierctl``, a wing per stage,
and imports that only run down the layers (no circles, core never imports ``tierctl.plugins``).

A wing may import its own modules, the wings below it and the public API modules below it.
``if TYPE_CHECKING:`` imports count too: a type hint that needs a wing above is a sign the
type lives in the wrong place.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "core"

#: Bottom to top. A top-level module is named by itself, a wing by its folder.
LAYERS: list[set[str]] = [
    {"errors", "records", "hookspecs"},  # the public kernel: imports nothing of tierctl
    {"util"},
    {"host"},
    {"i18n"},
    {"config"},
    {"providers", "sources", "render", "http", "helpdesks"},  # the rest of the public API for plugin authors
    {"storage"},
    {"surveys"},
    {"responses"},
    {"touchpoints"},
    {"publish"},
    {"helpdesk", "diff"},
    {"web"},
    {"cli"},
    {"testing", "__main__"},  # the kit runs the real engine, so it sits on top
]
#: Imports that run up on purpose: deprecated names kept reachable at their old place, each
#: importing its new home lazily, on first use. Remove the pair with the shim (in 1.0).
DEPRECATION_SHIMS = {("tierctl.render", "tierctl.publish.render_engine")}
PUBLIC_TOP = {"__init__", "__main__", "errors", "records", "hookspecs", "providers", "sources", "render", "http",
              "helpdesks", "testing"}


def _layer_of(part: str) -> int:
    for index, names in enumerate(LAYERS):
        if part in names:
            return index
    raise AssertionError(f"core/{part} is in no layer of tests/test_layout.py: add it to LAYERS")


def _module_name(path: Path) -> str:
    rel = path.relative_to(CORE).with_suffix("")
    parts = ["tierctl", *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every ``tierctl.*`` module ``path`` imports, at any depth (functions, TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "tierctl")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "tierctl":
                continue
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)  # `from tierctl import x` may name a module
    return found


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in CORE.rglob("*.py")}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {m for m in _imports(path) if m in modules and m != name and (name, m) not in DEPRECATION_SHIMS}
            for name, path in modules.items()}


def _top(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def test_the_top_of_tierctl_is_the_public_api_and_the_wings():
    loose = sorted(p.stem for p in CORE.glob("*.py") if p.stem not in PUBLIC_TOP)
    assert not loose, f"modules at the top of tierctl that are not public API: {loose}; move them into a wing"
    for wing in (p for p in CORE.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        _layer_of(wing.name)
        doc = ast.get_docstring(ast.parse((wing / "__init__.py").read_text(encoding="utf-8"))) or ""
        assert "May import" in doc, f"core/{wing.name}/__init__.py: its docstring says what the wing does and what it may import"


def test_no_import_runs_up_a_layer():
    wrong = []
    for module, path in _modules().items():
        if module == "tierctl":
            continue
        own = _layer_of(_top(module))
        for target in _imports(path):
            if (module, target) in DEPRECATION_SHIMS:
                continue
            if target.startswith("tierctl.plugins"):
                wrong.append(f"{path.relative_to(CORE.parent)} imports {target}: core never imports tierctl.plugins")
            elif target != "tierctl" and target.split(".")[1] in {p.stem for p in CORE.iterdir()} | {"__version__"}:
                part = target.split(".")[1]
                if part == "__version__":
                    continue
                if _layer_of(part) > own:
                    wrong.append(f"{path.relative_to(CORE.parent)} ({_top(module)}) imports {target} "
                                 f"({part}, a layer above)")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_no_import_circles():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            # a package and its own modules (``tierctl.cli`` <-> ``tierctl.cli.app``) are one unit
            if len({m for m in component if not any(o.startswith(m + ".") for o in component)}) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not circles, "import circles: " + "; ".join(" <-> ".join(c) for c in circles)


@pytest.mark.parametrize("example", [
    ("tierctl.storage.ledger_sqlite", "tierctl.publish.report", True),
    ("tierctl.publish.report", "tierctl.storage.ledger", False),
])
def test_the_layer_rule_itself(example):
    """The rule the tests above apply, on one import that runs up and one that runs down."""
    source, target, wrong = example
    assert (_layer_of(target.split(".")[1]) > _layer_of(source.split(".")[1])) is wrong


def test_every_wing_is_packaged():
    """A wing missing from pyproject's package list works in a checkout and vanishes from the wheel."""
    import tomllib

    project = tomllib.loads((CORE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    packaged = set(project["tool"]["setuptools"]["packages"])
    wings = {"tierctl." + ".".join(p.parent.relative_to(CORE).parts) for p in CORE.rglob("__init__.py") if p.parent != CORE}
    assert wings <= packaged, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(wings - packaged)}"


def test_the_render_engine_and_the_report_do_not_import_each_other():
    """Tier pages get their survey figures through the render inputs (``headlines=``), computed by
    tierctl.publish.headlines; the report and the render engine stay independent, lazily or not."""
    engine, report = CORE / "publish" / "render_engine.py", CORE / "publish" / "report.py"
    assert "tierctl.publish.report" not in _imports(engine)
    assert "tierctl.publish.render_engine" not in _imports(report)
