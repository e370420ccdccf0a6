"""The built wheel is a working tierctl: the package-dir mapping (core/ ->
tierctl, plugins/ -> tierctl.plugins, templates/ -> tierctl.templates), the
templates as package data, the console script and the entry points.

This builds a real wheel and installs it into a fresh virtualenv, so it takes
some seconds; it runs in the default suite all the same.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IGNORE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                "tests", "benchmarks", ".tierctl", "outbox")


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Build from a copy: an in-tree build would leave build/ behind (also the
    # default render output folder) and could pick up stale files from it.
    src = tmp_path_factory.mktemp("src") / "tierctl"
    shutil.copytree(ROOT, src, ignore=IGNORE)
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", str(out),
         str(src)])
    wheels = list(out.glob("tierctl-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_contents(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
    for required in ("tierctl/__init__.py", "tierctl/cli/__init__.py", "tierctl/plugins/html_site.py",
                     "tierctl/plugins/markdown_sales.py", "tierctl/templates/website/index.html",
                     "tierctl/templates/website/base.html", "tierctl/templates/sales/tier.md"):
        assert required in names, f"{required} missing from {wheel.name}"
    assert not any(n.startswith(("core/", "plugins/", "templates/", "tests/")) for n in names), \
        "source folders leaked into the wheel under their own names"
    parser = configparser.ConfigParser()
    parser.read_string(entry_points)
    assert parser["console_scripts"]["tierctl"] == "tierctl.cli:main"
    assert parser["tierctl"]["html"] == "tierctl.plugins.html_site"
    assert parser["tierctl"]["markdown"] == "tierctl.plugins.markdown_sales"
    assert parser["tierctl"]["filters"] == "tierctl.plugins.filters"


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "v"
    run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)])
    python = venv / "bin" / "python"
    # The dependencies come from the environment running the tests (by path,
    # so its editable tierctl is not activated), tierctl itself from the wheel.
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "zz_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    run([str(python), "-m", "pip", "install", "--no-deps", "--disable-pip-version-check", "-q", str(wheel)])
    return venv


def test_installed_wheel_renders_the_example(venv: Path, tmp_path: Path) -> None:
    python, tierctl = venv / "bin" / "python", venv / "bin" / "tierctl"
    where = run([str(python), "-c", "import tierctl, tierctl.plugins.html_site as h, tierctl.render as r; "
                 "print(tierctl.__file__); print(h.__file__); print(r.builtin_templates())"], cwd=tmp_path)
    for line in where.stdout.split():
        assert Path(line).resolve().is_relative_to(venv.resolve()), f"imported from outside the venv: {line}"
        assert not Path(line).resolve().is_relative_to(ROOT), f"imported from the checkout: {line}"
    assert tierctl.is_file()
    out = tmp_path / "out"
    proc = run([str(tierctl), "-c", str(ROOT / "config.example.yaml"), "render", "--out", str(out)], cwd=tmp_path)
    assert "website: 4 files" in proc.stdout and "sales: 5 files" in proc.stdout, proc.stdout
    for name in ("website/index.html", "website/basic.html", "website/standard.html", "website/advanced.html",
                 "sales/README.md", "sales/comparison.md", "sales/basic.md"):
        assert (out / name).is_file(), name
    assert 'id="comparison"' in (out / "website" / "index.html").read_text()
    listing = run([str(tierctl), "plugins", "--json"], cwd=tmp_path).stdout
    assert '"distribution": "tierctl"' in listing
    assert "Exit codes:" in run([str(tierctl), "--help"], cwd=tmp_path).stdout
