"""ruff and mypy --strict over the nested tier's code (images/, conformance/nested/,
tests/nested/, benchmarks/nested_cost.py)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PATHS = ("images", "conformance/tiers/nested", "tests/nested", "benchmarks/nested_cost.py")


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_nested() -> None:
    r = run(str(BIN / "ruff"), "check", *PATHS)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict_nested() -> None:
    r = run(str(BIN / "mypy"), "--strict", *PATHS)
    assert r.returncode == 0, r.stdout + r.stderr
