"""Pages and sales sheets whose content changes: both versions rendered into temporary
folders and compared file by file (the render is deterministic, so equal input gives
equal bytes)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierctl.publish.render_engine import MANIFEST, render_targets

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.host.plugin_host import PluginHost


@dataclass
class TargetChanges:
    """One render target's files that differ: paths relative to its output folder."""

    target: str
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changed or self.added or self.removed)

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "changed": self.changed, "added": self.added, "removed": self.removed}


def page_changes(old: "Config", new: "Config", host: "PluginHost") -> list[TargetChanges]:
    """Per render target (of either version), the files whose content differs."""
    targets = list(new.render.targets) + [t for t in old.render.targets if t not in new.render.targets]
    out = []
    with tempfile.TemporaryDirectory(prefix="tierctl-diff-") as tmp:
        for name in targets:
            before = _render(old, host, name, Path(tmp) / "old" / name)
            after = _render(new, host, name, Path(tmp) / "new" / name)
            result = TargetChanges(name)
            for path in sorted(set(before) | set(after)):
                if path not in before:
                    result.added.append(path)
                elif path not in after:
                    result.removed.append(path)
                elif before[path] != after[path]:
                    result.changed.append(path)
            if result:
                out.append(result)
    return out


def _render(config: "Config", host: "PluginHost", target: str, folder: Path) -> dict[str, bytes]:
    if target not in config.render.targets:
        return {}
    render_targets(config, host, only=[target], out_override=str(folder))
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and p.name != MANIFEST}
