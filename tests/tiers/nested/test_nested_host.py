"""The nested host against a real L0/L1 (slow: boots L1 under TCG once per session).

Checks the contract of :class:`conformance.tiers.host.QemuProcess` across the L0/L1
boundary: a started L2 reaches QMP through L0's hostfwd, its exit status and stderr come
back through the guest agent, a hung or stopped L2 is killed and leaves nothing in L1,
and L1 is recovered when an L2 leaves it in a bad state.  With the iommufd image it also
checks, through QEMU's own trace events, that a cold-plugged vfio-pci gets a
nesting-parent HWPT, an ARM SMMUv3 vIOMMU and the two nested (abort/bypass) HWPTs.
"""

from __future__ import annotations

import re

import pytest

from conformance.session import QmpSession
from conformance.tiers.host import ExitStatus
from conformance.tiers.nested.host import NestedHost

pytestmark = [pytest.mark.nested, pytest.mark.slow,
              pytest.mark.asyncio(loop_scope="session")]

ACCEL = ("-M", "virt", "-device", "arm-smmuv3,primary-bus=pcie.0,id=smmu0,accel=on,ats=off,"
         "ril=on,ssidsize=0,oas=44,cmdqv=off")


async def test_l2_reaches_qmp_and_quits(nested_host: NestedHost) -> None:
    proc = await nested_host.start([*ACCEL, *nested_host.tier_args()])
    s = QmpSession(proc, startup_timeout=60)
    assert await s.open() is None
    assert (await s.command("query-status"))["status"] == "prelaunch"
    assert await s.command("qom-get", {"path": "/machine/peripheral/smmu0",
                                       "property": "accel"}) is True
    status = await s.quit()
    assert status == ExitStatus(code=0)
    await proc.terminate()
    info = nested_host.l1.boot_info
    assert info is not None and {"kvm", "vfio"} <= info.capabilities


async def test_exit_status_and_stderr_come_back(nested_host: NestedHost) -> None:
    proc = await nested_host.start(["-M", "virt", "-device", "no-such-device",
                                    *nested_host.tier_args()])
    status = await proc.wait(60)
    assert status == ExitStatus(code=1)
    await proc.terminate()
    assert "'no-such-device' is not a valid device model name" in proc.stderr_text()


async def test_stopped_l2_is_killed_and_cleaned(nested_host: NestedHost) -> None:
    proc = await nested_host.start([*ACCEL, *nested_host.tier_args()])
    s = QmpSession(proc, startup_timeout=60)
    assert await s.open() is None
    await s.close()
    st = await nested_host.l1.qga.sh(f"kill -STOP {proc.pid}")
    assert st.ok
    status = await proc.terminate(grace=1.0)
    assert status.signal == 9  # SIGTERM cannot end a stopped process
    st = await nested_host.l1.qga.sh(f"pidof qemu-system-aarch64; ls {proc.workdir} 2>&1; true")
    assert "No such file" in st.stdout.decode()
    assert not re.search(r"\d", st.stdout.decode().split("ls:")[0])
    # the host marked L1 suspect and checks it before the next L2, which then runs
    proc2 = await nested_host.start([*ACCEL, *nested_host.tier_args()])
    s2 = QmpSession(proc2, startup_timeout=60)
    assert await s2.open() is None
    assert await s2.quit() == ExitStatus(code=0)
    await proc2.terminate()


async def test_unbound_device_is_rebound(nested_host: NestedHost) -> None:
    l1 = nested_host.l1
    st = await l1.qga.sh("echo 0000:01:00.0 > /sys/bus/pci/devices/0000:01:00.0/driver/unbind")
    assert st.ok
    assert await l1.healthy() == "the passthrough device is no longer bound to vfio-pci"
    nested_host.suspect("test unbound the device")
    proc = await nested_host.start([*ACCEL, *nested_host.tier_args()])
    await proc.terminate()
    assert await l1.healthy() is None


async def test_iommufd_viommu_and_hwpt_traces(nested_host: NestedHost) -> None:
    if nested_host.missing_requirement("vfio-iommufd"):
        pytest.skip(nested_host.missing_requirement("vfio-iommufd") or "")
    proc = await nested_host.start([
        "-M", "virt", "-object", "iommufd,id=iommufd0",
        "-device", "arm-smmuv3,primary-bus=pcie.0,id=smmu0,accel=on",
        "-device", "pcie-root-port,id=rp0,chassis=1,bus=pcie.0",
        "-device", "vfio-pci,host=0000:01:00.0,id=vf0,bus=rp0,iommufd=iommufd0",
        "-trace", "iommufd_backend_alloc_*",
        "-trace", "smmuv3_accel_set_iommu_device", *nested_host.tier_args()])
    s = QmpSession(proc, startup_timeout=90)
    assert await s.open() is None, proc.stderr_text()
    assert await s.quit() == ExitStatus(code=0)
    await proc.terminate()
    text = proc.stderr_text()  # the trace backend ("log") writes to stderr
    # nesting parent S2 HWPT (flags=0x1), then the ARM SMMUv3 vIOMMU (type=1) on it
    parent = re.search(r"iommufd_backend_alloc_hwpt .*flags=0x1 hwpt_type=0 .*out_hwpt=(\d+) "
                       r"\(0\)", text)
    assert parent, text
    viommu = re.search(rf"iommufd_backend_alloc_viommu .*type=1 hwpt_id={parent.group(1)} "
                       r".*viommu_id=(\d+) \(0\)", text)
    assert viommu, text
    nested = re.findall(rf"iommufd_backend_alloc_hwpt .*pt_id={viommu.group(1)} flags=0x0 "
                        r"hwpt_type=2 len=16 .*\(0\)", text)
    assert len(nested) == 2, text  # the abort and bypass vSTEs



async def test_broken_l1_is_rebooted(nested_host: NestedHost) -> None:
    l1 = nested_host.l1
    assert (await l1.qga.sh("rm /dev/kvm")).ok
    assert await l1.healthy() == "/dev/kvm disappeared"
    before = nested_host.reboots
    nested_host.suspect("test removed /dev/kvm")
    proc = await nested_host.start([*ACCEL, *nested_host.tier_args()])
    s = QmpSession(proc, startup_timeout=60)
    assert await s.open() is None
    assert await s.quit() == ExitStatus(code=0)
    await proc.terminate()
    assert nested_host.reboots == before + 1
    assert await nested_host.l1.healthy() is None
