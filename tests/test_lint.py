"""Linters as tests: ruff and mypy --strict over every package this project ships,
its tests and its benchmarks (one list, so a new package cannot be left out)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: every top-level package, the tests and the benchmarks
PATHS = ("catalogue", "reference_model", "conformance", "artefacts", "images", "tests",
         "benchmarks")


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_paths_are_every_package() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages <= set(PATHS), f"add {packages - set(PATHS)} to PATHS"


def test_ruff() -> None:
    r = run(str(BIN / "ruff"), "check", *PATHS)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict() -> None:
    r = run(str(BIN / "mypy"), *PATHS)
    assert r.returncode == 0, r.stdout + r.stderr
