"""Signals to the runner itself: the CLI and pytest, as real subprocesses.

``python -m conformance run`` interrupted by SIGINT (Ctrl-C) or SIGTERM mid-run must
exit ``128 + signum``, print no summary (a partial run is not a result) and leave no
QEMU, temporary folder or socket behind.  A pytest-xdist worker killed with SIGKILL
(no Python clean-up at all) must not leave any behind either once the run is over:
its QEMUs die with it (``PR_SET_PDEATHSIG``) and the surviving controller removes its
folders (``sweep_stale`` at exit).  SIGTERM to pytest itself (a CI timeout) ends the
run like Ctrl-C, with every clean-up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.testing.faults import leaks

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_root: Path) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(tmp_root), "PYTHONPATH": str(ROOT)}


def _qemu_pids(tmp_root: Path) -> list[int]:
    return [int(p.split()[0]) for p in leaks(tmp_root).processes]


def _wait_for_qemu(tmp_root: Path, proc: subprocess.Popen[str], timeout: float = 30.0,
                   count: int = 1) -> None:
    deadline = time.monotonic() + timeout
    while len(_qemu_pids(tmp_root)) < count:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"runner ended (exit {proc.returncode}) before starting "
                                 f"QEMU: {out[-1500:]}")
        assert time.monotonic() < deadline, "no QEMU appeared"
        time.sleep(0.005)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("after", [0.0, 0.3])
def test_cli_signal_mid_run(qemu_binary: str, tmp_root: Path, sig: signal.Signals,
                            after: float) -> None:
    p = subprocess.Popen([sys.executable, "-m", "conformance", "run", "--qemu", qemu_binary,
                          "--scenario", str(ROOT / "scenarios" / "hotplug.toml"),
                          "--scenario", str(ROOT / "scenarios" / "idregs.toml"),
                          "--repeat", "50"],  # long enough never to end before the signal
                         cwd=ROOT, env=_env(tmp_root), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_qemu(tmp_root, p)
        time.sleep(after)
        p.send_signal(sig)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 128 + sig, (p.returncode, err)
    assert "Traceback" not in err, err
    assert f"interrupted by {sig.name}" in err
    assert "scenario run(s):" not in out, "a partial run was reported as a result"
    lk = leaks(tmp_root)
    assert lk.count == 0, str(lk)


def test_xdist_worker_killed(qemu_binary: str, tmp_root: Path) -> None:
    """SIGKILL one pytest-xdist worker while it runs QEMU: nothing is left afterwards."""
    p = subprocess.Popen([sys.executable, "-m", "pytest", "-n", "2", "-q", "-p",
                          "no:cacheprovider", "--qemu", qemu_binary, "--conformance-log-dir",
                          str(tmp_root / "logs"), "tests/conformance", "-k",
                          "hot or idr or as"],
                         cwd=ROOT, env={**_env(tmp_root), "PYTEST_ADDOPTS": ""},
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for_qemu(tmp_root, p, timeout=60)
        victim = None
        for q in _qemu_pids(tmp_root):
            stat = Path(f"/proc/{q}/stat").read_text()
            ppid = int(stat[stat.rfind(")") + 2:].split()[1])
            if ppid != p.pid:
                victim = ppid
                break
        assert victim is not None, "no worker-owned QEMU found"
        os.kill(victim, signal.SIGKILL)
        out, _ = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert "crashed" in out.lower() or "worker" in out.lower(), out[-2000:]
    lk = leaks(tmp_root)
    assert lk.count == 0, str(lk)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_pytest_sigterm_cleans_up(qemu_binary: str, tmp_root: Path, workers: list[str]
                                  ) -> None:
    """SIGTERM to pytest (a CI job's timeout) ends it like Ctrl-C: interrupted (exit 2,
    or 130 from pytest-xdist's controller), and no QEMU, folder or socket is left."""
    p = subprocess.Popen([sys.executable, "-m", "pytest", *workers, "-q", "-p",
                          "no:cacheprovider", "--qemu", qemu_binary, "--conformance-log-dir",
                          str(tmp_root / "logs"), "tests/conformance", "-k", "tcg"],
                         cwd=ROOT, env={**_env(tmp_root), "PYTEST_ADDOPTS": ""},
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for_qemu(tmp_root, p, timeout=60)
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode in (2, 130), (p.returncode, out[-2000:])
    assert "KeyboardInterrupt" in out, out[-2000:]
    lk = leaks(tmp_root)
    assert lk.count == 0, str(lk)
