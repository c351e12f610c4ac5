"""§3: which devices an accel SMMU admits (``smmuv3_accel_pdev_allowed``).

Decided from the QOM hierarchy, like ``object_dynamic_cast`` (A1-A4):

======================================  ===============================================
is-a ``base-pci-bridge`` / ``pxb-pcie``  allowed, IOMMU AS (A1/AS3)
/ ``gpex-root``
is-a ``vfio-pci`` with ``iommufd`` set   allowed, shared sysmem AS (A2/AS4)
is-a ``vfio-pci`` without ``iommufd``    ``vfio-pci endpoint devices without an iommufd
                                        backend not allowed ...`` (A3)
anything else (incl. ``vfio-user-pci``,  ``Emulated endpoint devices are not allowed ...``
which is not a ``vfio-pci``)             (A4)
======================================  ===============================================

The check runs at PCI registration (realize), both for cold and hot plug, so a
rejected cold plug ends QEMU with the ``-device`` prefix and exit 1, and a rejected
``device_add`` is a GenericError with the same text.
"""

from __future__ import annotations

from ..qom import (
    TYPE_GPEX_ROOT_DEVICE,
    TYPE_PCI_BRIDGE,
    TYPE_PXB_PCIE_DEV,
    TYPE_VFIO_PCI,
    TypeHierarchy,
)
from . import register

A1 = register("A1.bridge", "A1", "v4", doc="bridges, pxb-pcie, gpex-root are allowed")
A2 = register("A2.vfio-iommufd", "A2", "v4", doc="vfio-pci with iommufd is allowed")
A3 = register("A3.vfio-legacy", "A3", "v5", doc="vfio-pci without iommufd is refused")
A4 = register("A4.emulated", "A4", "v5", doc="emulated endpoints are refused")
A4_V4 = register("A4.v4-exit", "A4", "v4", predicted=True,
                 doc="v4: cold plug of a refused device: error_report + exit(1)")
A4_V4_HOT = register("A4.v4-hotplug-warn", "A4", "v4", predicted=True,
                     doc="v4: hot plug only warns (emulated: never, NULL pdev)")
A4_ESCAPE = register("A4.escape-before-smmu", "A4", "11.1", predicted=True,
                     doc="refused device created before the accel SMMU: assert at "
                         "machine-done (g_assert_not_reached in find_add_as)")

_ALLOWED_BASES = (TYPE_PCI_BRIDGE, TYPE_PXB_PCIE_DEV, TYPE_GPEX_ROOT_DEVICE)


def classify(types: TypeHierarchy, driver: str, iommufd: bool) -> str:
    """``"bridge"``, ``"vfio"``, ``"vfio-legacy"`` or ``"emulated"``."""
    anc = types.ancestors(driver)
    if any(b in anc for b in _ALLOWED_BASES):
        return "bridge"
    if TYPE_VFIO_PCI in anc:
        return "vfio" if iommufd else "vfio-legacy"
    return "emulated"


#: class -> (rule, message id or None when allowed)
TABLE: dict[str, tuple[str, str | None]] = {
    "bridge": (A1.id, None),
    "vfio": (A2.id, None),
    "vfio-legacy": (A3.id, "A3"),
    "emulated": (A4.id, "A4"),
}
