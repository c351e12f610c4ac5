# ruff: noqa: E501 - catalogue strings stay on one line so they can be grepped
"""§1 preconditions P1-P16 (rules/preconditions.py): one test per check, with the
catalogue's strings.

Strings marked TCG✔ were also checked against QEMU 11.1.3 (``docs/model.md``).
"""

from __future__ import annotations

import pytest

from catalogue.scenario import Event
from reference_model import predict

from .helpers import EXPLICIT, KVM, SMMU, fired, run


def test_p1_tcg_with_device_prefix() -> None:
    p = run(f"virt -device {SMMU},accel=on")
    assert (p.outcome, p.exit_code) == ("exits", 1)
    assert p.error == (f"-device {SMMU},accel=on: SMMUv3 accel=on requires KVM with "
                       "kernel-irqchip=on support")
    assert "P1" in fired(p)


def test_p1_global_on_legacy_has_no_prefix() -> None:
    p = run("virt,iommu=smmuv3 -global arm-smmuv3.accel=on")
    assert p.error == "SMMUv3 accel=on requires KVM with kernel-irqchip=on support"


def test_p1_kvm_without_irqchip() -> None:
    p = predict(["-M", "virt", "-accel", "kvm,kernel-irqchip=off", "-device",
                 f"{SMMU},{EXPLICIT}"])
    assert p.error is not None and p.error.endswith("requires KVM with kernel-irqchip=on support")


@pytest.mark.parametrize("extra", ["", ",stage=2", ",oas=32", ",primary-bus=rp0"])
def test_p1a_p1_beats_realize_checks(extra: str) -> None:
    dev = f"arm-smmuv3,accel=on{extra}"
    p = run(f"virt -device pcie-root-port,id=rp0,chassis=1 -device {dev}")
    assert p.error == f"-device {dev}: SMMUv3 accel=on requires KVM with kernel-irqchip=on support"


def test_p1a_parse_error_beats_p1() -> None:
    p = run(f"virt -device {SMMU},ssidsize=21,accel=on")
    assert p.error == f"-device {SMMU},ssidsize=21,accel=on: Parameter 'ssidsize' does not accept value '21'"


def test_p3_legacy_and_virtio() -> None:
    p = run(f"virt,iommu=smmuv3 -device {SMMU}")
    assert p.error == (f"-device {SMMU}: virt machine already has iommu=smmuv3 set. "
                       "Doesn't support incompatible iommus")
    p = run(f"virt -device virtio-iommu-pci -device {SMMU}")
    assert p.error is not None and p.error.endswith("already has virtio-iommu set. Doesn't support incompatible iommus")


def test_p3_with_accel_records_the_qemu_assertion() -> None:
    p = run(f"virt,iommu=smmuv3 -device {SMMU},accel=on")
    assert "P3.P1-double-error" in {r.rule for r in p.rules}


def test_p5_smmu_hotplug() -> None:
    p = run(f"virt -device {SMMU}", events=[Event("device_add", {"driver": "arm-smmuv3", "id": "s2"})])
    assert p.events is not None
    assert (p.events[0].ok, p.events[0].error_desc) == (
        False, "Device 'arm-smmuv3' does not support hotplugging")


@pytest.mark.parametrize(("dev", "msg"), [
    ("arm-smmuv3", "SMMU is not attached to any PCI bus!"),
    ("arm-smmuv3,primary-bus=rp0", "SMMU should be attached to a default PCIe root "
                                   "complex(pcie.0) or a pxb-pcie based root complex"),
])
def test_p6_p7(dev: str, msg: str) -> None:
    p = run(f"virt -device pcie-root-port,id=rp0,chassis=1 -device {dev}")
    assert p.error == f"-device {dev}: {msg}"


def test_p8_two_on_one_bus() -> None:
    p = run("virt -device arm-smmuv3,primary-bus=pcie.0 -device arm-smmuv3,primary-bus=pcie.0")
    assert p.error == "-device arm-smmuv3,primary-bus=pcie.0: An iommu is already attached to this bus"


@pytest.mark.parametrize("cmd", [
    "virt,default-bus-bypass-iommu=on -device arm-smmuv3,primary-bus=pcie.0",
    "virt -device pxb-pcie,id=pxb1,bus_nr=10,bypass_iommu=on -device arm-smmuv3,primary-bus=pxb1",
])
def test_p9_bypass(cmd: str) -> None:
    p = run(cmd)
    assert p.error is not None
    assert p.error.endswith(": Bypass option cannot be set for SMMUv3 associated PCIe RC")


def test_p10_dt_warning_and_accel_dt_error() -> None:
    dev = "arm-smmuv3,primary-bus=pxb1,id=s1"
    p = run(f"virt -device pxb-pcie,id=pxb1,bus_nr=10 -device {dev}")
    assert p.outcome == "starts"
    assert p.warnings == [f"-device {dev}: warning: SMMUv3 device only supported with pcie.0 for DT"]
    p = predict(["-M", "virt,gic-version=3", "-accel", "kvm", "-kernel", "Image",
                 "-device", f"{SMMU},{EXPLICIT}"])
    assert p.error == f"-device {SMMU},{EXPLICIT}: SMMUv3 with accel=on not supported for DT"


def test_p11_stage_on_kvm_and_profiles() -> None:
    dev = f"{SMMU},{EXPLICIT},stage=2"
    p = predict(["-M", "virt,gic-version=3", "-device", dev, *KVM])
    assert p.error == f"-device {dev}: Only stage1 is supported for SMMUv3 with accel=on"
    p = predict(["-M", "virt,gic-version=3", "-device", dev, *KVM], profile="series-v7")
    assert p.error == f"-device {dev}: Only stage1 is supported for SMMUV3 with accel=on"


def test_p15_auto_without_vfio_and_p16() -> None:
    p = predict(["-M", "virt,gic-version=3", "-device", f"{SMMU},accel=on", *KVM])
    assert (p.outcome, p.error) == ("exits", "arm-smmuv3 accel=on with 'auto' properties "
                                              "requires at least one cold-plugged VFIO device")
    p = predict(["-M", "virt,gic-version=3", "-device", f"{SMMU},{EXPLICIT},cmdqv=on", *KVM])
    assert p.error == "arm-smmuv3 cmdqv=on requires at least one cold-plugged VFIO device"
    p = predict(["-M", "virt,gic-version=3", "-device", f"{SMMU},accel=on", *KVM],
                profile="merged-v9")
    assert p.outcome == "starts"


def test_p14_only_migratable() -> None:
    p = predict(["-M", "virt,gic-version=3", "-only-migratable", "-device",
                 f"{SMMU},{EXPLICIT}", *KVM])
    assert p.error is not None and "Migration not supported with SMMUv3 accelerator" in p.error
