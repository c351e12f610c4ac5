# ruff: noqa: E501 - QEMU's strings stay on one line so they can be grepped
"""Rules learnt from the nested KVM tier (docs/findings.md S3-S6, F7).

Each string here was printed by QEMU 11.1.3 (arm64) under KVM in L1.
"""

from __future__ import annotations

from catalogue.scenario import HostSmmu
from reference_model import predict

KVM = ["-accel", "kvm", "-cpu", "host", "-bios", "/dev/null"]
L1_HOST = HostSmmu(idr0=0x0D44101B, idr1=0x02730010, idr3=0x1414, idr5=0x74)
SMMU = "arm-smmuv3,primary-bus=pcie.0,id=smmu0"
RP = ["-device", "pcie-root-port,id=rp0,chassis=1,bus=pcie.0"]
VFIO_FD = "vfio-pci,host=0000:01:00.0,id=vf0,bus=rp0,iommufd=iommufd0"
VFIO_LEGACY = "vfio-pci,host=0000:01:00.0,id=vf0,bus=rp0"
IOMMUFD = ["-object", "iommufd,id=iommufd0"]


def identifiers(argv: list[str]) -> dict[str, int]:
    p = predict(argv)
    assert p.smmus is not None, p.error
    return {k: s.properties["identifier"] for k, s in p.smmus.items() if s.properties}


def test_s3_identifier_is_the_iort_node_id() -> None:
    pxb = ["-device", "pxb-pcie,id=pxb1,bus_nr=10",
           "-device", "arm-smmuv3,primary-bus=pxb1,id=smmu1,identifier=9"]
    # GICv2 (TCG default): no ITS group, creation index
    assert identifiers(["-M", "virt", "-device", f"{SMMU},identifier=7", *pxb]) == {
        "smmu0": 0, "smmu1": 1}
    # GICv3 has an ITS (node 0): the SMMUs follow it
    assert identifiers(["-M", "virt,gic-version=3", "-device", SMMU, *pxb]) == {
        "smmu0": 1, "smmu1": 2}
    assert identifiers(["-M", "virt,gic-version=3,its=off", "-device", SMMU]) == {"smmu0": 0}
    # KVM without gic-version takes the host's GICv3, so its ITS too
    assert identifiers(["-M", "virt", "-device", f"{SMMU},accel=on,ats=off,ril=off,"
                        "ssidsize=0,oas=44,cmdqv=off", *KVM]) == {"smmu0": 1}


def test_s4_oas_auto_alone_arms_p15() -> None:
    p = predict(["-M", "virt", "-device",
                 f"{SMMU},accel=on,ats=off,ril=on,ssidsize=0,cmdqv=off", *KVM])
    assert (p.outcome, p.exit_code, p.error) == (
        "exits", 1,
        "arm-smmuv3 accel=on with 'auto' properties requires at least one cold-plugged VFIO device")
    # every property explicit: no machine-done check, it starts
    p = predict(["-M", "virt", "-device",
                 f"{SMMU},accel=on,ats=off,ril=on,ssidsize=0,oas=44,cmdqv=off", *KVM])
    assert p.outcome == "starts"


def test_p15_wins_over_p16_when_both_apply() -> None:
    p = predict(["-M", "virt", "-device",
                 f"{SMMU},accel=on,ats=auto,ril=on,ssidsize=0,oas=44,cmdqv=on", *KVM])
    assert p.error == "arm-smmuv3 accel=on with 'auto' properties requires at least one cold-plugged VFIO device"


def test_s5_cmdqv_on_without_host_cmdqv_fails_at_attach() -> None:
    argv = ["-M", "virt", *IOMMUFD, "-device",
            f"{SMMU},accel=on,ats=off,ril=on,ssidsize=0,oas=44,cmdqv=on", *RP,
            "-device", VFIO_FD, *KVM]
    p = predict(argv, host=L1_HOST)
    assert (p.outcome, p.exit_code) == ("exits", 1)
    assert p.error == (f"-device {VFIO_FD}: vfio 0000:01:00.0: Failed to set vIOMMU: Failed to get hardware info: Operation not supported\n"
                       "CMDQV requested but not supported")
    assert "7b" in {r.row for r in p.rules}
    # a host with a Tegra241 CMDQV passes the probe; cmdqv=auto never asks for it
    assert predict(argv, host=HostSmmu(**{**L1_HOST.__dict__, "cmdqv": True})).outcome == "starts"
    auto = [a.replace("cmdqv=on", "cmdqv=auto") for a in argv]
    assert predict(auto, host=L1_HOST).outcome == "starts"


def test_s6_vfio_behind_a_non_accel_smmu_has_no_map_notifier() -> None:
    base = ["-M", "virt", "-device", SMMU, *RP]
    p = predict([*base[:2], *IOMMUFD, *base[2:], "-device", VFIO_FD, *KVM], host=L1_HOST)
    assert p.error == (f"-device {VFIO_FD}: vfio 0000:01:00.0: memory listener initialization failed: Region smmuv3-iommu-memory-region-0-0: device 00.00.0 requires iommu MAP notifier which is not currently supported")
    legacy_host = HostSmmu(**{**L1_HOST.__dict__, "vfio_group": 4})
    p = predict([*base, "-device", VFIO_LEGACY, *KVM], host=legacy_host)
    assert p.error == (f"-device {VFIO_LEGACY}: vfio 0000:01:00.0: failed to setup container for group 4: memory listener initialization failed: Region smmuv3-iommu-memory-region-0-0: device 00.00.0 requires iommu MAP notifier which is not currently supported")
    # the group is the host's: without it the model claims the exit, not the text
    p = predict([*base, "-device", VFIO_LEGACY, *KVM], host=L1_HOST)
    assert (p.outcome, p.exit_code, p.error) == ("exits", 1, None)
    # addr= picks the devfn the region is named after
    p = predict([*base, "-device", VFIO_LEGACY + ",addr=0.3", *KVM], host=legacy_host)
    assert p.error is not None and "smmuv3-iommu-memory-region-3-0: device 00.00.3 " in p.error


def test_vfio_without_any_smmu_is_not_o11() -> None:
    p = predict(["-M", "virt", *IOMMUFD, *RP, "-device", VFIO_FD, *KVM], host=L1_HOST)
    assert p.outcome == "starts"
    assert p.devices is not None and p.devices["vf0"].address_space == "system"
