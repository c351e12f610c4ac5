"""Shared fixtures of the ecosystem tests.

Hand-built verdicts covering every status, for the renderers' unit tests.

They are shaped like the runner's records (real field names, a real-looking diff,
argv, stderr tail and QMP transcript) but need no QEMU; the end-to-end tests feed
the same renderers with verdicts from real runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.result import QmpExchange, Verdict

REPO = Path(__file__).resolve().parents[2]
ARGV = ["qemu-system-aarch64", "-S", "-nodefaults", "-display", "none", "-M", "virt",
        "-device", "arm-smmuv3,primary-bus=pcie.0,accel=on", "-accel", "tcg"]


def sample_verdicts() -> list[Verdict]:
    return [
        Verdict(scenario="preconditions.toml:p1-accel-on-tcg", tier="tcg", status="pass",
                rows=["P1"], argv=ARGV, exit_code=1, duration_s=0.21, profile="qemu-11.1",
                qemu="/usr/bin/qemu-system-aarch64", qemu_version="11.1.3"),
        Verdict(scenario="properties.toml:oas-48-non-accel", tier="tcg",
                status="nonconformance", rows=["2a"], profile="qemu-11.1",
                reason='error: expected "x", observed "y # not a directive"',
                differences=[{"path": "error",
                              "expected": "-device arm-smmuv3,oas=48: OAS must be 44 bits",
                              "observed": "-device arm-smmuv3,oas=48: oas must be 44 bits"},
                             {"path": "smmus.smmu0.idr.IDR5", "expected": 0x75,
                              "observed": 0x74}],
                argv=ARGV, exit_code=1, stderr_tail="qemu-system-aarch64: <oops> & \"q\"",
                qmp_transcript=[QmpExchange(">>>", {"execute": "query-status"}, 0.01),
                                QmpExchange("<<<", {"return": {"running": False}}, 0.02)],
                log_dir="/tmp/logs/tcg/oas-48-non-accel", duration_s=0.3),
        Verdict(scenario="admission.toml:a4-emulated-hotplug", tier="kvm", status="skipped",
                rows=["A4"], reason="native KVM tier needs an aarch64 host (this is x86_64)"),
        Verdict(scenario="address-spaces.toml:as1-bridge", tier="tcg",
                status="expected-nonconformance", rows=["AS1"],
                reason="QEMU bug #123: wrong AS", differences=[
                    {"path": "devices.rp0.address_space", "expected": "iommu",
                     "observed": "system"}]),
        Verdict(scenario="iort.toml:o1-iort-rev", tier="tcg", status="unexpected-pass",
                rows=["O1"], reason="known QEMU bug did not show: stale"),
        Verdict(scenario="misc.toml:hang", tier="tcg", status="infra-error", rows=[],
                reason="QMP socket did not appear within 30 s"),
    ]


@pytest.fixture
def verdicts() -> list[Verdict]:
    return sample_verdicts()


# --------------------------------------------------------------------- real binaries
DEBIAN_QEMU = Path("/usr/bin/qemu-system-aarch64")  # Debian 12's QEMU 7.2 (apt)


@pytest.fixture(scope="session")
def qemu_11() -> str:
    """The provisioned QEMU 11.1.3 launcher (``./setup.sh``)."""
    from artefacts.provision import install_for

    launcher = install_for().launcher
    if not launcher.exists():
        pytest.skip(f"{launcher}: QEMU 11.1.3 not provisioned (run ./setup.sh)")
    return str(launcher)


@pytest.fixture(scope="session")
def qemu_72() -> str:
    """Debian 12's own QEMU 7.2 (``apt-get install qemu-system-arm``; ./setup.sh does it)."""
    if not DEBIAN_QEMU.exists():
        pytest.skip(f"{DEBIAN_QEMU}: Debian's qemu-system-arm is not installed (./setup.sh)")
    return str(DEBIAN_QEMU)


def run_cli(*args: str, tmpdir: Path, timeout: float = 540) -> subprocess.CompletedProcess[str]:
    """``python -m conformance ARGS`` in a subprocess with ``TMPDIR=tmpdir``.

    A private TMPDIR lets tests assert that no QEMU temporary folder is left behind.
    """
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    env.pop("QEMU_TEST_QEMU_BINARY", None)
    return subprocess.run([sys.executable, "-m", "conformance", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=REPO)


def leftovers(tmpdir: Path) -> list[str]:
    """QEMU work folders (``smmuv3-conf-*``) still present under ``tmpdir``, and QEMUs
    (matched as ``pgrep -af 'bin/qemu-system-aarch64'`` would) still naming it."""
    from conformance.strays import qemu_processes
    return sorted(p.name for p in tmpdir.glob("smmuv3-conf-*")) + [
        f"pid {pid}: {cmd[:100]}" for pid, cmd in qemu_processes(f"{tmpdir}/")]
