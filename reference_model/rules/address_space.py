"""§4 and A6: which address space a PCI device's DMA uses.

``pci_device_get_iommu_bus_devfn`` walks from the device's bus up to its root bus; an
SMMU attached there decides.  A pxb-pcie root bus without an SMMU of its own stops
the walk when the SMMU above is per-bus (every user-created SMMU on virt: virt forces
``smmu_per_bus``), so its devices see system memory (A6, TCG✔).  A root bus with
``bypass_iommu`` (pxb option, or ``default-bus-bypass-iommu`` for pcie.0) gives
system memory too (AS2).  Behind an accel SMMU, vfio-pci gets the shared
``smmuv3-accel-as-sysmem`` alias (AS4) and everything else the SMMU's IOMMU address
space (AS3).

Cold-plugged devices get their address space at machine-init-done
(``pcibus_machine_done``), so a device created *before* the SMMU on the command line
is still behind it (TCG✔: ``info mtree`` of a device listed first shows the
``smmuv3-iommu-memory-region``).
"""

from __future__ import annotations

from ..machine import Bus, Smmu
from . import register

AS1 = register("AS1.iommu", "AS1", "10.2", doc="behind a non-accel SMMU: its IOMMU AS")
AS2 = register("AS2.system", "AS2", "10.2", doc="behind no SMMU: address_space_memory")
AS2_BYPASS = register("AS2.bypass", "AS2", "10.2", doc="root bus with bypass_iommu: system")
A6 = register("A6.per-bus", "A6", "10.2", doc="pxb without own SMMU under a per-bus SMMU")
AS3 = register("AS3.accel-iommu", "AS3", "merged",
               doc="accel SMMU, bridge/root/gpex-root: the SMMU's IOMMU AS")
AS4 = register("AS4.accel-sysmem", "AS4", "merged",
               doc="accel SMMU, vfio-pci+iommufd: shared smmuv3-accel-as-sysmem")
AS4_V4 = register("AS4.v4-system", "AS4", "v4", predicted=True,
                  doc="v4: vfio-pci behind accel SMMU gets address_space_memory")
R_O11 = register("O11.vfio-no-map-notifier", "O11", "vfio",
                doc="vfio-pci behind a non-accel SMMU: no IOMMU MAP notifier, realize fails")


def iommu_for(bus: Bus) -> tuple[Smmu | None, str]:
    """The SMMU a device on ``bus`` sits behind, and the rule id that decided it."""
    root = bus.root_bus or bus
    if root.bypass:
        return None, AS2_BYPASS.id
    if root.smmu is not None:
        return root.smmu, ""
    if root.pxb and root.parent is not None:
        up = root.parent.root_bus or root.parent
        if up.smmu is not None:
            if up.smmu.per_bus:
                return None, A6.id
            if up.bypass:
                return None, AS2_BYPASS.id
            return up.smmu, ""
    return None, AS2.id
