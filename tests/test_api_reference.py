"""docs/api.md is generated from the docstrings of the public API for provider authors and must
stay equal to what the code says (like the hook reference in docs/plugins.md).

After changing a public docstring or signature, refresh the page with::

    python tests/test_api_reference.py --update
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "api.md"
#: The modules whose ``__all__`` is documented, and the records providers use.
MODULES = ("tierctl.providers", "tierctl.http", "tierctl.helpdesks")
RECORDS = ("Invitation", "Question", "SendResult", "RawResponse", "AnsweredInvitation", "WebhookRequest",
           "DeliveryReceipt", "InboundText")

HEADER = """# API reference for provider plugins

Generated from the docstrings by `python tests/test_api_reference.py --update`;
`tests/test_api_reference.py` fails when this page and the code differ. What
is listed here is public: see the stability statement of `tierctl.providers`
below. Guide: [plugins.md](plugins.md).
"""


def _signature(obj: object) -> str:
    try:
        return str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""


def _members(cls: type) -> list[tuple[str, object]]:
    """Public methods and properties defined by ``cls`` itself, in source order."""
    out = []
    for name, member in vars(cls).items():
        if name.startswith("_") or name in ("model_config", "model_fields", "model_computed_fields"):
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if inspect.isfunction(member) or isinstance(member, property):
            out.append((name, member))
    return out


def _entry(module: str, name: str, obj: object) -> str:
    doc = inspect.getdoc(obj) or "(no docstring)"
    if inspect.isclass(obj):
        lines = [f"### `{module}.{name}`", "", f"```text\nclass {name}{_signature(obj)}\n```", "", doc, ""]
        for member_name, member in _members(obj):
            if isinstance(member, property):
                head = f"{name}.{member_name}  (property)"
                member_doc = inspect.getdoc(member) or ""
            else:
                head = f"{name}.{member_name}{_signature(member)}"
                member_doc = inspect.getdoc(member) or ""
            lines += [f"#### `{member_name}`", "", f"```text\n{head}\n```", ""]
            if member_doc:
                lines += [member_doc, ""]
        return "\n".join(lines)
    return "\n".join([f"### `{module}.{name}`", "", f"```text\n{name}{_signature(obj)}\n```", "", doc, ""])


def render() -> str:
    import importlib

    parts = [HEADER]
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        parts += [f"## `{module_name}`", "", inspect.getdoc(module) or "", ""]
        for name in module.__all__:
            parts.append(_entry(module_name, name, getattr(module, name)))
    records = importlib.import_module("tierctl.records")
    parts += ["## `tierctl.records` (what providers send and return)", ""]
    for name in RECORDS:
        parts.append(_entry("tierctl.records", name, getattr(records, name)))
    return "\n".join(parts).rstrip("\n") + "\n"


def test_the_api_reference_is_generated_from_the_docstrings() -> None:
    assert PAGE.read_text(encoding="utf-8") == render(), \
        "docs/api.md differs from the docstrings; run python tests/test_api_reference.py --update"


def test_every_public_name_is_documented() -> None:
    import importlib

    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            assert inspect.getdoc(getattr(module, name)), f"{module_name}.{name} has no docstring"


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_api_reference.py --update")
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
