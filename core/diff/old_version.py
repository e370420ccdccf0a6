"""The config to compare with: a file, or the same file at a git ref (read with ``git show``).

Nothing in the working tree is touched: the old text is read into memory and validated
as if it sat where the config sits, so its relative paths (customers, templates) resolve
to the same folder.
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
    try:
        done = subprocess.run(["git", "show", f"{against}:./{config.name}"], cwd=config.parent,
                              capture_output=True, timeout=GIT_TIMEOUT, check=False)
    except FileNotFoundError:
        raise TierctlError("git is not installed; pass the old version as a file: --against OLD.yaml") from None
    except subprocess.TimeoutExpired:
        raise TierctlError(f"git show {against}:{config.name} took more than {GIT_TIMEOUT} s; "
                           "pass the old version as a file: --against OLD.yaml") from None
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise TierctlError(f"cannot read {config.name} at {against!r}: {why[-1] if why else 'git show failed'}; "
                           "--against takes a git ref that has this file (HEAD, main, a commit) or a file path")
    return _decode(done.stdout[:MAX_BYTES + 1], f"{against}:{config.name}"), f"{against}:{config.name}"


def _decode(data: bytes, label: str) -> str:
    if len(data) > MAX_BYTES:
        raise TierctlError(f"{label}: larger than {MAX_BYTES // 1024 // 1024} MiB; is this a tier file?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TierctlError(f"{label}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def load_old_config(config: "Config", against: str, host: "PluginHost") -> tuple["Config", str]:
    """The old version validated like the current one, placed at the current file's path.

    Problems in it are reported with the label (``HEAD:tierctl.yaml:12:3: ...``).
    """
    text, label = old_text(config.path, against)
    # A name starting with "<" tells the loader the file is not on disk (no folder checks).
    data, smap = parse_yaml(text, f"<{label}>")
    old = build_config(data, smap, host)  # a ConfigError lists its problems at <label>:LINE:COL
    old._path = config.path
    old._source = smap
    return old, label
