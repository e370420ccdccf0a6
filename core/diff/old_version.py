"""The config to compare with: a file, or the same file at a git ref (read with ``git show``).

Nothing in the working tree is touched: the old text is read into memory and validated
as if it sat where the config sits, so its relative paths (customers) resolve to the same
folder. At a git ref, the ``render.templates`` folder is read at that ref too (into a
scratch folder), so a change to a template shows as pages that change.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from tierctl.config.loader import build_config
from tierctl.config.yaml_source import parse_yaml
from tierctl.errors import TierctlError

if TYPE_CHECKING:
    from tierctl.config.model import Config
    from tierctl.host.plugin_host import PluginHost

#: Bound on how long ``git show`` may take (a hostile or huge repository must not hang CI).
GIT_TIMEOUT = 30
#: Bound on the old file's size: a tier file is kilobytes.
MAX_BYTES = 10 * 1024 * 1024
#: Bound on the template files read at a ref.
MAX_TEMPLATES = 2000


def old_text(config_path: str | Path, against: str) -> tuple[str, str]:
    """The text to compare with and a label for it.

    ``against`` is a file when one exists at that path, else a git ref (``HEAD``,
    ``main``, ``origin/main``, a commit); the config's path inside the repository is
    the same at the ref.

    :raises TierctlError: not a readable file, not a git repository, or no such file at the ref.
    """
    candidate = Path(against)
    if candidate.is_file():
        data = candidate.read_bytes()[:MAX_BYTES + 1]
        return _decode(data, against), str(candidate)
    config = Path(config_path).resolve()
    if against.startswith("-"):
        raise TierctlError(f"--against {against!r}: expected a git ref such as HEAD or main, or a file")
    done = _git(config.parent, "show", f"{against}:./{config.name}")
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise TierctlError(f"cannot read {config.name} at {against!r}: {why[-1] if why else 'git show failed'}; "
                           "--against takes a git ref that has this file (HEAD, main, a commit) or a file path")
    return _decode(done.stdout[:MAX_BYTES + 1], f"{against}:{config.name}"), f"{against}:{config.name}"


def _git(folder: Path, *args: str) -> "subprocess.CompletedProcess[bytes]":
    try:
        return subprocess.run(["git", *args], cwd=folder, capture_output=True, timeout=GIT_TIMEOUT, check=False)
    except FileNotFoundError:
        raise TierctlError("git is not installed; pass the old version as a file: --against OLD.yaml") from None
    except subprocess.TimeoutExpired:
        raise TierctlError(f"git {' '.join(args[:2])} took more than {GIT_TIMEOUT} s; pass the old version as a "
                           "file: --against OLD.yaml") from None


def templates_at(folder: Path, ref: str, templates: str, scratch: Path) -> Path | None:
    """The ``templates`` folder (relative to ``folder``) as it was at ``ref``, written under
    ``scratch``; None when it did not exist there."""
    listing = _git(folder, "ls-tree", "-r", "-z", "--name-only", ref, "--", f"./{templates}/")
    if listing.returncode != 0:
        return None
    names = [n for n in listing.stdout.decode("utf-8", "replace").split("\0") if n]
    if len(names) > MAX_TEMPLATES:
        raise TierctlError(f"{templates} has more than {MAX_TEMPLATES} files at {ref!r}; is it a template folder?")
    base = (folder / templates).resolve()
    out = scratch / "templates"
    for name in names:
        target = (out / (folder / name).resolve().relative_to(base)).resolve()
        if out.resolve() not in target.parents:  # a hostile path cannot escape the scratch folder
            continue
        shown = _git(folder, "show", f"{ref}:./{name}")
        if shown.returncode == 0:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(shown.stdout[:MAX_BYTES])
    return out


def _decode(data: bytes, label: str) -> str:
    if len(data) > MAX_BYTES:
        raise TierctlError(f"{label}: larger than {MAX_BYTES // 1024 // 1024} MiB; is this a tier file?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TierctlError(f"{label}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def load_old_config(config: "Config", against: str, host: "PluginHost",
                    scratch: Path | None = None) -> tuple["Config", str, "Config"]:
    """The old version validated like the current one, placed at the current file's path, its
    label, and the same version to render: with ``scratch`` (a folder that lives as long as
    the result is used), that one reads its templates as they were at the ref.

    Problems in it are reported with the label (``HEAD:tierctl.yaml:12:3: ...``).
    """
    text, label = old_text(config.path, against)
    # A name starting with "<" tells the loader the file is not on disk (no folder checks).
    data, smap = parse_yaml(text, f"<{label}>")
    old = build_config(data, smap, host)  # a ConfigError lists its problems at <label>:LINE:COL
    old._path = config.path
    old._source = smap
    to_render = old
    templates = old.render.templates
    if scratch is not None and templates and not Path(against).is_file():
        folder = templates_at(Path(config.path).parent, against, templates, scratch)
        if folder is not None:  # absolute: the renderer joins it to the config's folder
            to_render = old.model_copy(update={"render": old.render.model_copy(update={"templates": str(folder)})})
            to_render._path = config.path
    return old, label, to_render
