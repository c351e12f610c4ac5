"""A fresh machine is the judge: nothing the project ships may rely on the caller's Python.

On a fresh Debian 12 machine the ``python3`` on ``PATH`` is the system one, without
``qemu.qmp``; only ``.venv`` (``./setup.sh``) has the suite's dependencies.  avocado
runs ``conformance/frontends/avocado_tests.py`` through its shebang, which is how the issue's
``ModuleNotFoundError: No module named 'qemu'`` happened.  These tests run every
executable the repository ships the way such a caller would (``PATH`` holding only the
system directories, no virtualenv activated), and check statically that no project
source starts a Python tool by bare name.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PATH = "/usr/bin:/bin"

#: every executable Python file the repository ships -> arguments for a run that needs
#: the suite's dependencies but starts no QEMU.  A new executable must be added here.
PYTHON_EXECUTABLES: dict[str, list[str]] = {
    "conformance/frontends/avocado_tests.py": ["--scenario", "preconditions.toml:p1-accel-on-tcg"],
}
#: shell scripts: may start Python only as .venv/bin/python (or "$PY" -m venv to make it)
SHELL_EXECUTABLES = {"setup.sh", ".ci/run", "images/recipe/qga.sh", "images/recipe/rcS"}
#: a Python tool in command position (line start, after ; && || | $( or exec/then/do/else)
_PY_CALL = re.compile(r"(?:^|[;&|(]|\b(?:exec|then|do|else|env|sudo))\s*"
                      r"(python3?|pytest|avocado|meson|pip3?)\b")


def _executables() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-s"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return sorted(line.split("\t", 1)[1] for line in out.splitlines()
                  if line.startswith("100755 "))


def _fresh_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "SMMUV3_PYTHON")}
    env["PATH"] = SYSTEM_PATH
    return env


def _system_python_lacks_deps() -> bool:
    r = subprocess.run(["/usr/bin/env", "python3", "-c", "import qemu.qmp"],
                       env=_fresh_env(), capture_output=True)
    return r.returncode != 0


def test_every_executable_is_accounted_for() -> None:
    shipped = set(_executables())
    known = set(PYTHON_EXECUTABLES) | SHELL_EXECUTABLES
    assert shipped <= known, (f"new executable(s) {sorted(shipped - known)}: add them to "
                              "this test with a run that needs the suite's dependencies")


@pytest.mark.parametrize("path", sorted(PYTHON_EXECUTABLES))
def test_python_executable_runs_from_a_bare_path(path: str, tmp_path: Path) -> None:
    """Executed through its shebang with only the system Python on PATH, it still works."""
    if not _system_python_lacks_deps():
        pytest.skip("the system python3 has qemu.qmp: this host cannot show the problem")
    exe = ROOT / path
    assert os.access(exe, os.X_OK)
    assert exe.read_text().startswith("#!"), f"{path} has no shebang"
    r = subprocess.run([str(exe), *PYTHON_EXECUTABLES[path]], cwd=tmp_path,
                       env=_fresh_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    if path == "conformance/frontends/avocado_tests.py":  # the runnables use the suite's Python too
        uris = {x["uri"] for x in json.loads(r.stdout)}
        assert uris and all(Path(u).is_absolute() for u in uris), uris
        for u in uris:
            ok = subprocess.run([u, "-c", "import qemu.qmp"], env=_fresh_env())
            assert ok.returncode == 0, f"runnable interpreter {u} lacks qemu.qmp"


def test_no_usable_python_is_one_line_exit_2(tmp_path: Path) -> None:
    """Without .venv and without SMMUV3_PYTHON: say what to do, exit 2, no traceback."""
    if not _system_python_lacks_deps():
        pytest.skip("the system python3 has qemu.qmp: this host cannot show the problem")
    copy = tmp_path / "repo"
    (copy / "conformance" / "frontends").mkdir(parents=True)
    for name in ("__init__.py", "launcher.py", "frontends/__init__.py",
                 "frontends/avocado_tests.py"):
        (copy / "conformance" / name).write_bytes((ROOT / "conformance" / name).read_bytes())
    exe = copy / "conformance" / "frontends" / "avocado_tests.py"
    exe.chmod(0o755)
    r = subprocess.run([str(exe)], env=_fresh_env(), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "setup.sh" in lines[0], r.stderr


@pytest.mark.parametrize("path", sorted(SHELL_EXECUTABLES))
def test_shell_scripts_use_the_venv(path: str) -> None:
    bad = []
    for n, line in enumerate((ROOT / path).read_text().splitlines(), 1):
        code = line.split("#", 1)[0] if not line.startswith("#!") else ""
        code = re.sub(r'"[^"]*"|\'[^\']*\'', '""', code)  # words in messages are not calls
        if _PY_CALL.search(code):
            bad.append(f"{path}:{n}: {line.strip()}")
    assert not bad, "starts a tool from PATH instead of .venv/bin:\n" + "\n".join(bad)


#: a Python tool started, or looked up, by bare name (PATH): another interpreter's
_TOOLS = r"(?:python3?|pytest|avocado|meson|ninja|pip3?)"
_BARE_SPAWN = re.compile(
    r"(?:(?:Popen|run|call|check_output|check_call|create_subprocess_exec|execv?p?)"
    r"\(\s*\[?\s*|shutil\.which\(\s*)[\"']" + _TOOLS + r"[\"']")


def test_no_source_spawns_a_python_tool_by_bare_name() -> None:
    """Subprocesses start sys.executable (or a tool beside it), never 'python3' from PATH."""
    bad = []
    for d in ("conformance", "reference_model", "images", "benchmarks", "tests"):
        for f in (ROOT / d).rglob("*.py"):
            for n, line in enumerate(f.read_text().splitlines(), 1):
                if _BARE_SPAWN.search(line):
                    bad.append(f"{f.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not bad, "\n".join(bad)


def test_python_shebang_files_use_the_launcher() -> None:
    """A Python file with a shebang re-executes itself in the project's interpreter."""
    for d in ("conformance", "reference_model", "images", "benchmarks", "tests"):
        for f in (ROOT / d).rglob("*.py"):
            text = f.read_text()
            if text.startswith("#!") and "python" in text.splitlines()[0]:
                assert "ensure_project_python(" in text, (
                    f"{f.relative_to(ROOT)} has a Python shebang but does not call "
                    "conformance.launcher.ensure_project_python before its imports")
    assert sys.executable  # this very test runs in the venv's interpreter
