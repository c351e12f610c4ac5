"""Bad input to ``python -m conformance run``: one line naming the place, exit 2.

Never a traceback, never a partial run reported as success (nothing on stdout).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

GOOD = '''
[[scenario]]
name = "ok"
rows = ["P1"]
tiers = ["tcg"]
args = "-M virt"
'''

BAD_FILES: dict[str, tuple[str, str]] = {
    # name: (file text, words the error must contain)
    "toml-syntax": ("[[scenario]\nname = 'x'\n", "TOML syntax error"),
    "unknown-key": (GOOD + 'colour = "red"\n', "unknown field 'colour'"),
    "wrong-type": (GOOD.replace('args = "-M virt"', 'args = 5'), "field 'args'"),
    "unknown-tier": (GOOD.replace('"tcg"', '"tgc"'), "tgc"),
    "unknown-device-id": (GOOD + 'events = [{device_del = "nope"}]\n', "'nope'"),
    "duplicate-name": (GOOD + GOOD, "duplicate name"),
    "bad-event": (GOOD + 'events = [{device_add = {id = "x"}}]\n', "driver"),
    "not-a-table": ('scenario = 3\n', "array of tables"),
}


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance", "run", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def _one_line_error(r: subprocess.CompletedProcess[str], *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr[-1500:])
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stdout == "", f"something was reported as a result: {r.stdout[:300]}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_malformed_scenario_file(tmp_path: Path, case: str) -> None:
    text, words = BAD_FILES[case]
    f = tmp_path / f"{case}.toml"
    f.write_text(text)
    _one_line_error(_run("--scenario", str(f)), f.name, words)


def test_scenario_file_missing(tmp_path: Path) -> None:
    _one_line_error(_run("--scenario", str(tmp_path / "nope.toml")), "nope.toml")


def test_scenario_name_missing() -> None:
    spec = f"{ROOT / 'scenarios' / 'hotplug.toml'}:no-such-scenario"
    _one_line_error(_run("--scenario", spec), "no-such-scenario")


@pytest.mark.parametrize(("args", "words"), [
    (["--jobs", "0"], ["--jobs"]),
    (["--repeat", "0"], ["--repeat"]),
    (["--timeout", "0"], ["--timeout"]),
    (["--timeout", "nan"], ["--timeout"]),
])
def test_bad_option_values(args: list[str], words: list[str]) -> None:
    _one_line_error(_run(*args), *words)


@pytest.mark.parametrize("args", [["--jobs", "two"], ["--tier", "bogus"], ["--frobnicate"]])
def test_argparse_errors(args: list[str]) -> None:
    """argparse prints its usage line, then one error line naming the option."""
    r = _run(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stdout == ""
    last = r.stderr.strip().splitlines()[-1]
    assert "error:" in last and args[0].lstrip("-")[:5] in last, last


@pytest.mark.parametrize(("qemu", "words"), [
    ("/bin/true", ["/bin/true", "not a QEMU system emulator"]),
    ("/nonexistent/qemu-system-aarch64", ["/nonexistent/qemu-system-aarch64",
                                          "no such file"]),
    ("/tmp", ["/tmp", "is a directory"]),
    (str(ROOT / "README.md"), ["README.md", "not executable"]),
])
def test_not_a_qemu(qemu: str, words: list[str]) -> None:
    _one_line_error(_run("--qemu", qemu), *words)


def test_qemu_from_env_var_named() -> None:
    r = _run(env={"QEMU_TEST_QEMU_BINARY": "/bin/false"})
    _one_line_error(r, "/bin/false", "QEMU_TEST_QEMU_BINARY")


@pytest.mark.skipif(not os.path.exists("/usr/bin/qemu-system-arm"),
                    reason="no QEMU of another target installed (/usr/bin/qemu-system-arm)")
def test_qemu_of_another_target() -> None:
    _one_line_error(_run("--qemu", "/usr/bin/qemu-system-arm"), "qemu-system-arm",
                    "emulates 'arm', not aarch64")
