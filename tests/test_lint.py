"""Linters as tests: ruff and mypy --strict over the packages this suite ships."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff() -> None:
    r = run(str(BIN / "ruff"), "check", "conformance", "tests/harness", "tests/conformance",
            "tests/test_lint.py", "tests/reliability", "tests/fuzz", "benchmarks")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict() -> None:
    r = run(str(BIN / "mypy"), "conformance")
    assert r.returncode == 0, r.stdout + r.stderr
