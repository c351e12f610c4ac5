"""§3 admission (rules/admission.py): which devices may sit behind an accel SMMU.

Strings marked TCG✔ were also checked against QEMU 11.1.3 (``docs/model.md``).
"""

from __future__ import annotations

import pytest

from catalogue.scenario import Event
from reference_model import TypeHierarchy, predict
from reference_model.rules.admission import classify

from .helpers import EXPLICIT, KVM, SMMU


def test_admission_classes_follow_the_hierarchy() -> None:
    t = TypeHierarchy.builtin()
    assert classify(t, "pcie-root-port", False) == "bridge"
    assert classify(t, "pxb-pcie", False) == "bridge"
    assert classify(t, "gpex-root", False) == "bridge"
    assert classify(t, "vfio-pci-nohotplug", True) == "vfio"
    assert classify(t, "vfio-pci", False) == "vfio-legacy"
    assert classify(t, "vfio-user-pci", True) == "emulated"  # not derived from vfio-pci
    assert classify(t, "e1000e", False) == "emulated"


def test_admission_from_custom_hierarchy() -> None:
    t = TypeHierarchy.from_qom_list_types([
        {"name": "device"}, {"name": "pci-device", "parent": "device"},
        {"name": "vfio-pci", "parent": "pci-device"},
        {"name": "vfio-user-pci", "parent": "vfio-pci"}])
    assert classify(t, "vfio-user-pci", True) == "vfio"


@pytest.mark.parametrize(("dev", "msg"), [
    ("e1000e,id=n,bus=rp0", "Emulated endpoint devices are not allowed when using "
                            "arm-smmuv3,accel=on"),
    ("vfio-pci,host=0000:01:00.0,id=v,bus=rp0",
     "vfio-pci endpoint devices without an iommufd backend not allowed when using "
     "arm-smmuv3,accel=on"),
])
def test_a3_a4_cold_and_hot(dev: str, msg: str) -> None:
    base = ["-M", "virt,gic-version=3", "-device", f"{SMMU},{EXPLICIT}", "-device",
            "pcie-root-port,id=rp0,chassis=1", *KVM]
    p = predict([*base, "-device", dev])
    assert (p.outcome, p.exit_code, p.error) == ("exits", 1, f"-device {dev}: {msg}")
    driver, *rest = dev.split(",")
    args = dict(x.split("=", 1) for x in rest)
    p = predict(base, [Event("device_add", {"driver": driver, **args})])
    assert p.events is not None
    assert (p.events[0].ok, p.events[0].error_class, p.events[0].error_desc) == (
        False, "GenericError", msg)


def test_v4_cold_exit_and_hot_accept() -> None:
    base = ["-M", "virt,gic-version=3", "-device", f"{SMMU},accel=on", "-device",
            "pcie-root-port,id=rp0,chassis=1", *KVM]
    p = predict([*base, "-device", "e1000e,bus=rp0"], profile="series-v4")
    assert p.error == ("-device e1000e,bus=rp0: Device(e1000e) not allowed. Only PCIe root "
                       "complex devices or PCI bridge devices or vfio-pci endpoint devices with "
                       "iommufd as backend is allowed with arm-smmuv3,accel=on")
    p = predict(base, [Event("device_add", {"driver": "e1000e", "id": "n", "bus": "rp0"})],
                profile="series-v4")
    assert p.events is not None and p.events[0].ok and p.devices is not None
    assert p.devices["n"].address_space == "iommu"
    p = predict(base, [Event("device_add", {"driver": "vfio-pci", "id": "v", "bus": "rp0",
                                            "host": "0000:01:00.0"})], profile="series-v4")
    assert p.warnings == ["warning: Hot plugging a vfio-pci device (0000:01:00.0) without "
                          "iommufd as backend is not supported"]
