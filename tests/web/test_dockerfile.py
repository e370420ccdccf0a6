"""The Dockerfile's steps, followed without Docker (no engine runs where the tests run), so the file
cannot rot: its COPY lines bring everything the install needs, its exact ``pip install`` line
installs a tierctl that works once the sources are deleted (as the image's RUN line does), and its
CMD, run in a config folder, serves ``/healthz`` (the HEALTHCHECK's own command says healthy).

What this does not check: the base image, the user and the ports as Docker maps them. The image
itself has not been built here (README, "In a container").
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from web_project import SECRET, make_project, wait_healthy

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent.parent


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's ``(INSTRUCTION, arguments)``, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        if raw.lstrip().startswith("#") and not current:
            continue
        current += raw.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        if current.strip():
            word, _, rest = current.strip().partition(" ")
            lines.append((word.upper(), rest.strip()))
        current = ""
    return lines


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_the_dockerfile_steps_install_and_serve(tmp_path):
    from tierctl.testing.sockets import unused_port

    steps = instructions()
    image_root = tmp_path / "image"
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    # The dependencies come from the environment running the tests (by path, so its editable
    # tierctl is not activated); the image would download them, the tests stay offline for them.
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "zz_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "TIERCTL_SERVE_SECRET": SECRET}
    env.pop("TIERCTL_LOAD_PLUGINS", None)
    env.pop("VIRTUAL_ENV", None)

    workdir = image_root
    cmd: list[str] = []
    healthcheck = ""
    exposed = []
    installed = False
    for word, args in steps:
        if word == "WORKDIR":
            workdir = image_root / args.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif word == "COPY":
            *sources, dest = shlex.split(args)
            target = workdir / dest
            for source in sources:
                origin = ROOT / source
                assert origin.exists(), f"Dockerfile: COPY {source}: no such file in the repository"
                if origin.is_dir():
                    shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, target / origin.name)
        elif word == "RUN" and "pip install" in args:
            for part in args.split("&&"):
                argv = shlex.split(part)
                if argv[:2] == ["pip", "install"]:
                    run([str(python), "-m", *argv], cwd=workdir, env=env)
                    installed = True
                elif argv[:2] == ["rm", "-rf"]:
                    for path in argv[2:]:
                        shutil.rmtree(image_root / path.lstrip("/"))  # the sources go: the install must stand alone
                else:
                    pytest.fail(f"Dockerfile: RUN {part.strip()!r} is not followed by this test; teach it")
        elif word == "CMD":
            cmd = json.loads(args)
        elif word == "HEALTHCHECK":
            healthcheck = args.split(" CMD ", 1)[1]
        elif word == "EXPOSE":
            exposed.append(args)
    assert installed and cmd and healthcheck and exposed == ["8080"]
    assert cmd[0] == "tierctl" and "--port" in cmd and cmd[cmd.index("--port") + 1] == "8080"
    assert not (image_root / "opt" / "tierctl").exists()

    # The container's config folder (WORKDIR /srv/tiers): a project with serve:, on a free port here.
    port = unused_port()
    config_dir = workdir
    make_project(config_dir, port)
    argv = [str(venv / "bin" / cmd[0]), *cmd[1:]]
    argv[argv.index("--port") + 1] = str(port)
    argv[argv.index("--host") + 1] = "127.0.0.1"  # tests listen on 127.0.0.1 only (the image: 0.0.0.0)
    proc = subprocess.Popen(argv, cwd=config_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        health = wait_healthy(port, proc, 60)
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        check = shlex.split(healthcheck.replace("127.0.0.1:8080", f"127.0.0.1:{port}"))
        assert check[0] == "python"
        run([str(python), *check[1:]], cwd=config_dir, env=env)  # the HEALTHCHECK says healthy
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
