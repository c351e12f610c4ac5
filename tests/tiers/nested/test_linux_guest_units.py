"""Linux-guest scenarios without L1: parsing, the model's prediction, the observation.

The console and trace texts are shaped like a real run's (linux-accel-dma-domain on the
iommufd image: QEMU 11.1.3's trace formats, the guest's ``L2GUEST`` lines).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from catalogue.scenario import ScenarioError
from conformance.tiers.nested import linux_guest as lg

CONSOLE = """\
EFI stub: Booting Linux Kernel...
L2GUEST start 7.3.4+deb13-arm64
L2GUEST smmu-dmesg arm-smmu-v3 arm-smmu-v3.0.auto: ias 44-bit, oas 44-bit (features 0x00008305)
L2GUEST iommu smmu3.0x000000000c000000
L2GUEST pci 0000:00:00.0 0x1b36:0x0008 driver=none group=0 domain=DMA-FQ
L2GUEST pci 0000:00:02.0 0x8086:0x10d3 driver=e1000e group=1 domain=DMA-FQ
L2GUEST netdev-up eth0
L2GUEST irq-before eth0-rx-0 2
L2GUEST irq-before eth0 3
L2GUEST irq-after eth0-rx-0 4
L2GUEST irq-after eth0 3
L2GUEST done ok
"""
TRACE = """\
iommufd_backend_alloc_hwpt  iommufd=5 dev_id=2 pt_id=3 flags=0x1 hwpt_type=0 len=0 \
data_ptr=0x0 out_hwpt=4 (0)
iommufd_backend_alloc_viommu  iommufd=5 dev_id=2 type=1 hwpt_id=4 data_ptr=0x0 \
data_len=0x0 viommu_id=5 (0)
smmuv3_accel_install_ste vSID=0x10 ste type=bypass hwpt_id=0x7
iommufd_backend_alloc_vdev  iommufd=5 dev_id=2 viommu_id=5 virt_id=0x10 vdev_id=8 (0)
smmuv3_accel_translate_ste vSID=0x10 hwpt_id=0x9 ste=0:3
smmuv3_accel_install_ste vSID=0x10 ste type=translate hwpt_id=0x9
kvm_arm_fixup_msi_route MSI iova = 0xfffff040 is translated into 0x8090040
"""


def scenarios() -> dict[str, lg.LinuxGuestScenario]:
    return {s.name: s for s in lg.load()}


def test_catalogue_loads_and_predictions_come_from_the_model() -> None:
    s = scenarios()
    assert set(s) >= {"linux-accel-dma-domain", "linux-accel-identity-domain",
                      "linux-nonaccel-emulated-control"}
    dma = s["linux-accel-dma-domain"]
    p = lg.predict(dma, lg.l2_argv(dma))
    assert (p["ste_last"], p["translate_traced"], p["msi_targets"], p["vdev_virt_ids"]) == (
        "translate", True, [0x08090040], [0x10])
    ident = s["linux-accel-identity-domain"]
    assert lg.predict(ident, lg.l2_argv(ident))["ste_last"] == "bypass"
    ctl = s["linux-nonaccel-emulated-control"]
    pc = lg.predict(ctl, lg.l2_argv(ctl))
    assert pc["ste_last"] is None and "msi_targets" not in pc


def test_observation_and_judgement() -> None:
    s = scenarios()["linux-accel-dma-domain"]
    p = lg.predict(s, lg.l2_argv(s))
    o = lg.observe(s, CONSOLE, TRACE, p)
    assert o["done"] and o["driver"] == "e1000e" and o["domain"] == "DMA"
    assert (o["ste_last"], o["msi_targets"], o["msi_iovas"]) == ("translate", [0x08090040],
                                                                  [0xfffff040])
    assert lg.judge(p, o) == []
    hung = lg.observe(s, CONSOLE.replace("L2GUEST done ok\n", ""), TRACE, p)
    assert not hung["done"]
    bad = lg.observe(s, CONSOLE, TRACE.replace("into 0x8090040", "into 0x0"), p)
    assert lg.judge(p, bad) == [
        {"path": "msi_targets", "expected": [0x08090040], "observed": [0]},
        {"path": "smmus", "expected": {"smmu0": {"msi_gpa": 0x08090040}},
         "observed": {"smmu0": {"msi_gpa": 0}}}]


def test_bad_files_are_one_line_errors(tmp_path: Path) -> None:
    f = tmp_path / "x.toml"
    f.write_text('[[linux_guest]]\nname = "a"\nrows = ["5c"]\n'
                 'args = "-M virt -device vfio-pci,host=0000:01:00.0,bus=pcie.0"\n')
    with pytest.raises(ScenarioError, match=r"needs bus=pcie\.0 and an explicit addr="):
        lg.load([f])
    f.write_text('[[linux_guest]]\nname = "a"\nrows = ["5c"]\nargs = ""\nkernel = "x"\n')
    with pytest.raises(ScenarioError, match="unknown field 'kernel'"):
        lg.load([f])


class _Qga:
    def __init__(self, console: str) -> None:
        self.console = console

    async def sh(self, script: str, timeout: float = 60.0) -> None:
        return None

    async def execute(self, cmd: str, args: object = None, timeout: float = 0) -> object:
        return 1

    async def read_file(self, path: str) -> bytes:
        return self.console.encode() if path.endswith(lg.CONSOLE) else b""


class _Proc:
    argv = ("qemu-system-aarch64",)
    workdir = "/run/nested/1"

    def __init__(self) -> None:
        self.terminated = False

    def qmp_ready(self) -> bool:
        return True

    async def wait(self, timeout: float) -> None:
        import asyncio

        await asyncio.sleep(min(timeout, 0.05))

    async def terminate(self) -> object:
        from conformance.tiers.host import ExitStatus

        self.terminated = True
        return ExitStatus(code=None, signal=9)

    def stderr_text(self) -> str:
        return ""


class _Host:
    def __init__(self, console: str) -> None:
        self.l1 = type("L1", (), {"qga": _Qga(console), "boots": 1})()
        self.proc = _Proc()

    def unavailable_reason(self) -> None:
        return None

    def missing_requirement(self, req: str) -> None:
        return None

    async def ensure_l1(self) -> object:
        return self.l1

    async def start(self, argv: list[str]) -> _Proc:
        return self.proc


@pytest.mark.asyncio
async def test_hung_guest_is_reported_with_its_console_tail(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    async def qmp(proc: object, command: str) -> str:
        return "QEMU emulator version 11.1.3"

    monkeypatch.setattr(lg, "_qmp", qmp)
    # the lookup the runner calls (artefacts.images.l2guest_find, imported as lg.find): a
    # built guest, whatever this machine's cache holds
    monkeypatch.setattr(lg, "find", lambda: type("G", (), {"files": lambda self: ()})())
    s = dataclasses.replace(scenarios()["linux-accel-dma-domain"], timeout=0.3)
    host = _Host("EFI stub: Booting Linux Kernel...\nL2GUEST start 7.3.4\n")
    v = await lg.run(host, s)
    assert v.status == "nonconformance"
    assert v.reason.startswith("guest hung: no 'L2GUEST done' within 0.3 s; console tail: ")
    assert "L2GUEST start 7.3.4" in v.reason
    assert host.proc.terminated and v.qemu_version == "QEMU emulator version 11.1.3"


def test_forwarding_follows_the_model_table() -> None:
    """§7a over the guest's command stream: TLBIs forwarded once the vIOMMU exists,
    CFGI_CD only for a SID with a vDEVICE, CFGI_STE and CMD_SYNC never."""
    trace = "\n".join([
        "smmuv3_cmdq_opcode <--- SMMU_CMD_TLBI_NH_ALL",  # before the vIOMMU: not sent
        "iommufd_backend_alloc_viommu  iommufd=5 dev_id=2 type=1 hwpt_id=4 viommu_id=5 (0)",
        "smmuv3_cmdq_opcode <--- SMMU_CMD_CFGI_CD",  # no vDEVICE yet
        "smmuv3_cmdq_cfgi_cd sid=0x10",
        "smmuv3_cmdq_opcode <--- SMMU_CMD_TLBI_NH_ASID",
        "iommufd_backend_alloc_vdev  iommufd=5 dev_id=2 viommu_id=5 virt_id=0x10 vdev_id=8 (0)",
        "smmuv3_cmdq_opcode <--- SMMU_CMD_CFGI_CD",  # the host bridge: no vDEVICE
        "smmuv3_cmdq_cfgi_cd sid=0x0",
        "smmuv3_cmdq_opcode <--- SMMU_CMD_CFGI_CD",
        "smmuv3_cmdq_cfgi_cd sid=0x10",
        "smmuv3_cmdq_opcode <--- SMMU_CMD_CFGI_STE",
        "smmuv3_cmdq_opcode <--- SMMU_CMD_TLBI_NH_VA",
        "smmuv3_cmdq_opcode <--- SMMU_CMD_SYNC",
        "smmuv3_cmdq_opcode <--- SMMU_CMD_ATC_INV",  # ats=off
    ])
    n, seen = lg.forwarding(trace, ats=False)
    assert n == 3  # TLBI_NH_ASID, CFGI_CD (with vDEVICE), TLBI_NH_VA
    assert seen["CMD_CFGI_CD"] == 3 and seen["CMD_SYNC"] == 1
    assert lg.forwarding(trace, ats=True)[0] == 4
