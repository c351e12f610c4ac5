"""Run a file the project ships as an executable in the project's own interpreter.

A file executed through its shebang (``avocado run --resolver-run-executables
conformance/frontends/avocado_tests.py``, ``./benchmarks/x.py``) starts in whatever ``python3``
is first on ``PATH``: on a fresh machine that is the system Python, which has none of
the suite's dependencies (``qemu.qmp``...).  Such a file calls
:func:`ensure_project_python` before importing anything outside the standard library;
it returns at once when the dependencies import, and otherwise re-executes the file
with, in order:

1. ``$SMMUV3_PYTHON`` (an explicit choice);
2. the repository's ``.venv/bin/python`` (what ``./setup.sh`` creates);

and when neither has them, prints one line saying what to do and exits 2.

This module must import nothing but the standard library: it runs before the
interpreter is known to be the right one.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

#: modules whose presence means "this interpreter has the suite installed"
REQUIRED = ("qemu.qmp", "tomllib")
#: set in the environment of a re-executed file, so a wrong interpreter cannot loop
GUARD = "SMMUV3_REEXEC"
REPO = Path(__file__).resolve().parent.parent
USAGE_EXIT = 2


def has_dependencies() -> bool:
    for name in REQUIRED:
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except ModuleNotFoundError:  # the parent package is missing
            return False
    return True


def project_python() -> str | None:
    """The interpreter that should run the project's files (``None``: none found)."""
    env = os.environ.get("SMMUV3_PYTHON")
    if env:
        return env
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else None


def ensure_project_python(script: str) -> None:
    """Return if this interpreter can run the suite, else re-exec ``script`` in one that can."""
    if has_dependencies():
        return
    prog = os.path.basename(script)
    py = project_python()
    if py is None or os.environ.get(GUARD) == py:
        where = f"{py} also lacks them" if py else f"no {REPO / '.venv'}"
        print(f"{prog}: error: {sys.executable} lacks the suite's dependencies "
              f"({', '.join(REQUIRED)}) and {where}: run ./setup.sh, or set "
              "SMMUV3_PYTHON to an interpreter that has them", file=sys.stderr)
        sys.exit(USAGE_EXIT)
    os.environ[GUARD] = py
    sys.stdout.flush()
    os.execv(py, [py, os.path.abspath(script), *sys.argv[1:]])
