# ruff: noqa: E501 - catalogue strings stay on one line so they can be grepped
"""§4 address spaces (rules/address_space.py): which address space each PCI device
gets.

Strings marked TCG✔ were also checked against QEMU 11.1.3 (``docs/model.md``).
"""

from __future__ import annotations

from .helpers import SMMU, run


def test_address_spaces_non_accel_and_per_bus() -> None:
    p = run(f"virt -device pxb-pcie,id=pxb1,bus_nr=10 -device {SMMU} "
            "-device pcie-root-port,id=rp1,chassis=1,bus=pcie.0 -device virtio-rng-pci,id=r1,bus=rp1 "
            "-device pcie-root-port,id=rp2,chassis=2,bus=pxb1 -device virtio-rng-pci,id=r2,bus=rp2")
    assert p.devices is not None
    got = {k: (d.address_space, d.smmu, d.rule) for k, d in p.devices.items()}
    assert got == {"gpex-root": ("iommu", "smmu0", "AS1"), "pxb1": ("iommu", "smmu0", "AS1"),
                   "rp1": ("iommu", "smmu0", "AS1"), "r1": ("iommu", "smmu0", "AS1"),
                   "rp2": ("system", None, "A6"), "r2": ("system", None, "A6")}


def test_default_bus_is_the_newest_pxb_root_bus() -> None:
    """qbus_find_recursive searches the newest sysbus child first (TCG: as1-default-bus-with-pxb)."""
    p = run(f"virt -device {SMMU} -device pcie-root-port,id=rp0,chassis=1 "
            "-device pxb-pcie,id=pxb1,bus_nr=10 -device pcie-root-port,id=rp1,chassis=2 "
            "-device pxb-pcie,id=pxb2,bus_nr=20,bus=pcie.0 -device pcie-root-port,id=rp2,chassis=3")
    assert p.devices is not None
    got = {k: d.address_space for k, d in p.devices.items() if k.startswith("rp")}
    assert got == {"rp0": "iommu", "rp1": "system", "rp2": "system"}
    assert [r.detail for r in p.rules if r.rule == "F.default-bus"] == ["pxb1", "pxb2"]
    p = run("virt -device pxb-pcie,id=pxb1,bus_nr=10 -device virtio-rng-pci,id=r0")
    assert p.outcome == "exits" and p.error == (
        "-device virtio-rng-pci,id=r0: PCI: Only PCI/PCIe bridges can be plugged into pxb-pcie")


def test_device_before_smmu_is_still_behind_it() -> None:
    p = run(f"virt -device virtio-rng-pci,id=early -device {SMMU}")
    assert p.devices is not None and p.devices["early"].smmu == "smmu0"


def test_legacy_reaches_pxb_unless_bypass() -> None:
    p = run("virt,iommu=smmuv3 -device pxb-pcie,id=a,bus_nr=10 "
            "-device pxb-pcie,id=b,bus_nr=20,bypass_iommu=on,bus=pcie.0 "
            "-device pcie-root-port,id=pa,chassis=1,bus=a -device virtio-rng-pci,id=ra,bus=pa "
            "-device pcie-root-port,id=pb,chassis=2,bus=b -device virtio-rng-pci,id=rb,bus=pb")
    assert p.devices is not None
    assert (p.devices["ra"].address_space, p.devices["rb"].address_space) == ("iommu", "system")
