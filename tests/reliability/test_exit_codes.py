"""The exit-code contract of every command (docs/reliability.md, "Exit codes").

One row per (command, situation): the status CI and ``git bisect run`` read.  Rows that
need a whole fingerprint or two builds are covered where those commands are tested
(tests/frontends/test_fingerprint.py, test_diff.py); signals in test_cli_signals.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.testing.faults import hung_binary

ROOT = Path(__file__).resolve().parents[2]
P1 = "preconditions.toml:p1-accel-on-tcg"
OAS48 = "properties.toml:prop-oas48-needs-accel"
HUNG = "{hung}"  # replaced by a build that hangs before QMP

#: (id, argv after python -m, expected exit status)
CONTRACT: list[tuple[str, list[str], int]] = [
    ("run-pass", ["conformance", "run", "--scenario", P1], 0),
    ("run-nonconformance", ["conformance", "run", "--profile", "merged-v9",
                            "--scenario", OAS48], 1),
    ("run-infra-error", ["conformance", "run", "--qemu", HUNG, "--timeout", "1",
                         "--scenario", P1], 1),
    ("run-not-covered", ["conformance", "run", "--", "-M", "virt", "-display", "gtk"], 0),
    ("run-usage", ["conformance", "run", "--jobs", "0"], 2),
    ("run-bisect-usage", ["conformance", "run", "--bisect", "--profile", "x"], 128),
    ("run-bisect-untestable", ["conformance", "run", "--bisect", "--qemu", HUNG,
                               "--timeout", "1", "--scenario", P1], 125),
    ("bisect-good", ["conformance", "bisect-run", "--scenario", P1], 0),
    ("bisect-bad", ["conformance", "bisect-run", "--profile", "merged-v9",
                    "--scenario", OAS48], 1),
    ("bisect-untestable", ["conformance", "bisect-run", "--qemu", HUNG, "--timeout", "1",
                           "--scenario", P1], 125),
    ("bisect-usage", ["conformance", "bisect-run", "--scenario", P1, "--profile", "x"], 128),
    ("bisect-option-typo", ["conformance", "bisect-run", "--scenaro", P1], 128),
    ("explain-ok", ["conformance", "explain", "--", "-M", "virt"], 0),
    ("explain-usage", ["conformance", "explain", "--profile", "x", "--", "-M", "virt"], 2),
    ("fingerprint-usage", ["conformance", "fingerprint", "--qemu", "/nonexistent"], 2),
    ("diff-usage", ["conformance", "diff", "--qemu-b", "/nonexistent"], 2),
    ("provision-cached", ["conformance", "provision"], 0),
    ("images-usage", ["conformance", "images", "--no-such-option"], 2),
    ("unknown-command", ["conformance", "frobnicate"], 2),
    ("avocado-usage", ["conformance.frontends.avocado_tests", "--scenario", "no-such.toml"], 2),
    ("pytest-plugin-usage", ["pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                             "tests/conformance", "--profile", "x"], 2),
]


@pytest.mark.parametrize("argv,code", [(a, c) for _, a, c in CONTRACT],
                         ids=[i for i, _, _ in CONTRACT])
def test_exit_code(argv: list[str], code: int, tmp_path: Path, tmp_root: Path) -> None:
    hung = str(hung_binary(tmp_path, "no-greeting"))
    argv = [hung if a == HUNG else a for a in argv]
    r = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True,
                       text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_root)})
    assert r.returncode == code, (r.returncode, r.stdout[-800:], r.stderr[-800:])
    assert "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_is_128_plus_signal(sig: signal.Signals, tmp_root: Path) -> None:
    # --repeat keeps the run going well past the signal (one pass of the file's TCG
    # scenarios can end within the 2 s, and then there is nothing to interrupt)
    p = subprocess.Popen([sys.executable, "-m", "conformance", "run", "--scenario",
                          "preconditions.toml", "--repeat", "20"], cwd=ROOT,
                         stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_root)})
    time.sleep(2.0)
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 128 + sig, err
