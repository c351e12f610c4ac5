"""The nested tier probes its host SMMU (issue #11 class 10), checked on a real L1.

* What L1's kernel reports through ``IOMMU_GET_HW_INFO`` (``smmu-hwinfo`` in L1) equals
  what QEMU's ``xp`` reads from the same SMMU's registers when L0's machine is started
  on its own (independent paths to L0's emulated SMMUv3: the kernel's readl in L1, QMP
  on the host).
* The qemu-devel command line (series v7 cover letter) run ad hoc, as a user would
  (``conformance run --tier nested -- ARGS``), is predicted exactly: exit 1 with
  ``Host SMMUv3 SSIDSIZE not compatible (host=0, QEMU=20)``, not "starts".
"""

from __future__ import annotations

import pytest

from artefacts.provision import install_for
from catalogue.scenario import select
from conformance.frontends.cmd_run import adhoc_scenario
from conformance.observe.registers import read_registers
from conformance.runner import Runner
from conformance.session import QmpSession
from conformance.tiers.local import LocalHost
from conformance.tiers.nested import machine
from conformance.tiers.nested.host import NestedHost

pytestmark = [pytest.mark.nested, pytest.mark.slow,
              pytest.mark.asyncio(loop_scope="session")]
L0_SMMU_BASE = 0x09050000  # the virt machine's own SMMUv3 (iommu=smmuv3)


def _need_iommufd(host: NestedHost) -> None:
    why = host.missing_requirement("vfio-iommufd")
    if why:
        pytest.skip(why)


async def test_probe_equals_l0_smmu_registers(nested_host: NestedHost) -> None:
    _need_iommufd(nested_host)
    await nested_host.ensure_l1()  # the probe runs at boot
    probed = nested_host.host_smmu()
    assert probed is not None, nested_host.host_probe_error
    assert probed.smmu.info_type == 2 and probed.smmu.cmdqv is False
    assert probed.raw["cmdqv_errno"] == 95  # EOPNOTSUPP: no Tegra241 CMDQV
    assert probed.smmu.vfio_group is not None and probed.cdev.startswith("/dev/vfio/devices/")

    l0 = install_for("amd64")
    host = LocalHost(str(l0.launcher), tier="l0", accel_args=())
    proc = await host.start(machine.machine_args(l0.firmware()))
    session = QmpSession(proc, startup_timeout=60, command_timeout=30)
    try:
        assert await session.open() is None, proc.stderr_text()
        regs = await read_registers(session, L0_SMMU_BASE)
        await session.quit()
    finally:
        await session.close()
        await proc.terminate()
    assert {k: probed.raw[k.lower()] for k in ("IDR0", "IDR1", "IDR3", "IDR5")} == \
        {k: regs[k] for k in ("IDR0", "IDR1", "IDR3", "IDR5")}
    assert (probed.raw["iidr"], probed.raw["aidr"]) == (regs["IIDR"], regs["AIDR"])


async def test_adhoc_qemu_devel_line_is_predicted_right(nested_host: NestedHost) -> None:
    """What ``run --tier nested -- ARGS`` does (cmd_run.adhoc_scenario + Runner), in this
    session's L1: an ad-hoc line carries no host table, the tier's probe is used."""
    _need_iommufd(nested_host)
    (s,) = select("nested_iommufd.toml:nested-qemu-devel-v7-cmdline")
    adhoc = adhoc_scenario(list(s.argv), "nested")
    assert adhoc.host is None
    v = await Runner(nested_host, "").run(adhoc)
    assert v.status == "pass", (v.reason, v.differences, v.stderr_tail)
    assert v.host_smmu is not None and v.host_smmu["source"] == "probed"
    assert v.prediction is not None and v.prediction["outcome"] == "exits"
    assert v.prediction["error"].endswith(
        "vfio 0000:01:00.0: Failed to set vIOMMU: Host SMMUv3 SSIDSIZE not compatible "
        "(host=0, QEMU=20)")
