"""Faults injected into real QEMU processes at named points of real scenarios.

For each fault the harness must (1) give the verdict of the rule in
docs/reliability.md (``Fault.expect``), and (2) leave nothing behind: no QEMU process,
no temporary folder or socket, no zombie child (``leaks``).  The benchmark
``benchmarks/fault_injection.py`` runs the same faults hundreds of times at random.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from catalogue.scenario import Scenario, default_dir, select
from conformance.result import Verdict
from conformance.runner import Phase, Runner, RunOptions
from conformance.testing.faults import Fault, leaks
from conformance.tiers.local import LocalHost

HOTPLUG = "hotplug.toml:hot-add-then-del"  # two events
TWO_SMMUS = "idregs.toml:idr-two-instances"  # two SMMUs: READ #0 and #1
PXB = "preconditions.toml:p8-second-smmu-on-pxb-starts"

CASES: list[tuple[str, str, Phase, int]] = [
    # (scenario, fault kind, phase, index)
    (HOTPLUG, "sigkill", Phase.CONNECTED, 0),
    (HOTPLUG, "sigkill", Phase.EVENT, 1),
    (HOTPLUG, "sigkill", Phase.STARTED, 0),
    (TWO_SMMUS, "sigsegv", Phase.READ, 1),
    (HOTPLUG, "sigabrt", Phase.EVENT, 0),
    (PXB, "sigabrt", Phase.QUIT, 0),
    (HOTPLUG, "sigterm", Phase.EVENT, 1),
    (PXB, "sigterm", Phase.OBSERVE, 0),
    (HOTPLUG, "sigstop", Phase.EVENT, 0),
    (TWO_SMMUS, "sigstop", Phase.READ, 0),
    (PXB, "sigstop", Phase.STARTED, 0),
    (HOTPLUG, "close-qmp", Phase.EVENT, 1),
    (PXB, "close-qmp", Phase.OBSERVE, 0),
    (PXB, "unlink-qmp", Phase.STARTED, 0),
    (HOTPLUG, "flood", Phase.CONNECTED, 0),
    (PXB, "flood", Phase.QUIT, 0),
    (HOTPLUG, "raise", Phase.EVENT, 0),
    (TWO_SMMUS, "raise", Phase.READ, 1),
    (PXB, "none", Phase.CONNECTED, 0),
]


def _scenario(ref: str) -> Scenario:
    return select(str(default_dir() / ref))[0]


def _runner(binary: str, tmp_root: Path, fault: Fault | None) -> Runner:
    host = LocalHost(binary, tmp_root=str(tmp_root))
    return Runner(host, binary, RunOptions(startup_timeout=1.5, command_timeout=1.5,
                                           scenario_timeout=20.0, fault=fault))


async def _baseline(binary: str, tmp_root: Path, s: Scenario) -> Verdict:
    v = await _runner(binary, tmp_root, None).run(s)
    assert v.status == "pass", f"baseline of {s.ref} is not a pass: {v.reason}"
    return v


@pytest.mark.asyncio
@pytest.mark.parametrize(("ref", "kind", "phase", "index"), CASES,
                         ids=[f"{k}@{p.value}#{i}-{r.split(':')[1]}" for r, k, p, i in CASES])
async def test_fault_classified_and_nothing_leaks(qemu_binary: str, tmp_root: Path, ref: str,
                                                  kind: str, phase: Phase, index: int) -> None:
    s = _scenario(ref)
    baseline = await _baseline(qemu_binary, tmp_root, s)
    fault = Fault(kind, phase, index)
    v = await _runner(qemu_binary, tmp_root, fault).run(s)
    assert fault.fired or kind == "none", f"{fault} never reached its phase"
    assert fault.expect(v, baseline) is None, fault.expect(v, baseline)
    if kind in ("sigsegv", "sigabrt"):
        assert v.signal is not None and v.signal > 0  # the signal is in the verdict
    if kind == "flood":  # MiBs of stderr: the verdict keeps a bounded tail
        assert len(v.stderr_tail.splitlines()) <= 20 and len(v.stderr_tail) < 64 * 1024
    lk = leaks(tmp_root)
    assert lk.count == 0, str(lk)


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["timer-sigkill", "timer-sigsegv"])
@pytest.mark.parametrize("delay", [0.02, 0.12])
async def test_signal_at_random_moment(qemu_binary: str, tmp_root: Path, kind: str,
                                       delay: float) -> None:
    s = _scenario(HOTPLUG)
    baseline = await _baseline(qemu_binary, tmp_root, s)
    fault = Fault(kind, delay=delay)
    v = await _runner(qemu_binary, tmp_root, fault).run(s)
    fault.cancel_timer()
    assert fault.expect(v, baseline) is None, fault.expect(v, baseline)
    lk = leaks(tmp_root)
    assert lk.count == 0, str(lk)


@pytest.mark.asyncio
@pytest.mark.parametrize(("ref", "phase", "index"),
                         [(HOTPLUG, Phase.EVENT, 1), (PXB, Phase.OBSERVE, 0),
                          (HOTPLUG, Phase.STARTED, 0)])
async def test_cancelled_run_reaps_qemu(qemu_binary: str, tmp_root: Path, ref: str,
                                        phase: Phase, index: int) -> None:
    """Cancellation (what Ctrl-C does to a pytest or CLI run) mid-scenario."""
    fault = Fault("cancel", phase, index)
    with pytest.raises(asyncio.CancelledError):
        await _runner(qemu_binary, tmp_root, fault).run(_scenario(ref))
    assert fault.fired
    lk = leaks(tmp_root)
    assert lk.count == 0, str(lk)


@pytest.mark.asyncio
async def test_host_cannot_create_temp_folder(qemu_binary: str, tmp_root: Path) -> None:
    """A host failure (temp root missing: like a full or read-only disk) is infra-error."""
    missing = tmp_root / "does-not-exist"
    base = _runner(qemu_binary, tmp_root, None)
    await base.capabilities()  # probe in a working root first
    r = Runner(LocalHost(qemu_binary, tmp_root=str(missing)), qemu_binary, RunOptions())
    r._caps, r._types = base._caps, base._types
    v = await r.run(_scenario(PXB))
    assert v.status == "infra-error", v.reason
    assert "cannot create a temporary folder" in v.reason and str(missing) in v.reason
    assert leaks(tmp_root).count == 0
