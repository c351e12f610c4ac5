"""The project's vocabulary: names and QEMU facts the model and the harness must share.

When the model and an observer disagree about one of these constants the result is a
false nonconformance, so each lives here once and both sides import it.

* tiers (where a scenario can be shown) and host requirements a scenario may declare;
* the grammar of catalogue row ids (``P1``, ``AS3``, ``5c``...);
* QEMU facts: the SMMU's QOM type, the legacy ``iommu=smmuv3`` SMMU's MMIO base, the
  name prefix of an SMMU's IOMMU memory regions, and the arguments the harness adds to
  every QEMU it starts (the model reads them as part of the command line).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: tiers a scenario may list, cheapest first (see conformance.tiers for their hosts)
TIERS = ("tcg", "kvm", "nested", "hw")
#: host capabilities a scenario may require (``requires = [...]``)
REQUIREMENTS = ("iommufd", "vfio", "vfio-iommufd")
#: a catalogue row id (docs: /work/shared/spec, "rows")
ROW_RE = re.compile(r"^(P\d+a?|A\d+|AS\d+|H\d+|M\d+|O\d+|2a|2b|5[abc]|7[ab]|10|F\d*)$")

#: QOM type of the SMMUv3 device (``-device arm-smmuv3``; hw/arm/smmuv3.c TYPE_ARM_SMMUV3)
SMMU_TYPE = "arm-smmuv3"
#: MMIO base of the legacy machine-wide SMMU (``-M virt,iommu=smmuv3``: hw/arm/virt.c
#: memmap[VIRT_SMMU])
LEGACY_SMMU_BASE = 0x09050000
#: name prefix of an SMMU's per-device IOMMU memory regions
#: (``smmuv3-iommu-memory-region-<devfn>-<n>``, hw/arm/smmu-common.c)
IOMMU_MR_PREFIX = "smmuv3-iommu-memory-region"
#: arguments the harness adds to every QEMU it starts, before the tier's and the
#: scenario's (QMP comes after them, per host)
HARNESS_ARGS = ("-S", "-nodefaults", "-display", "none")

#: catalogue section of a row id (first match wins; ``AS`` before ``A``)
SECTIONS: tuple[tuple[str, str], ...] = (
    (r"^P\d+a?$", "§1 Preconditions"),
    (r"^2[ab]$", "§2 Properties and ID registers"),
    (r"^AS\d+$", "§4 Address space per device"),
    (r"^A\d+$", "§3 Device admission"),
    (r"^(H\d+|5[abc])$", "§5 vfio-pci attach"),
    (r"^M\d+$", "§6 MSI doorbell"),
    (r"^7[ab]$", "§7 Invalidation and CMDQV"),
    (r"^O\d+$", "§8 Other observables"),
    (r"^(10|F\d*)$", "§10 Series evolution"),
)
UNSECTIONED = "(no catalogue row)"


def section_of(rows: Sequence[str]) -> str:
    """The catalogue section a scenario belongs to (by its first row)."""
    for row in rows:
        for pattern, name in SECTIONS:
            if re.match(pattern, row):
                return name
    return UNSECTIONED


__all__ = ["HARNESS_ARGS", "IOMMU_MR_PREFIX", "LEGACY_SMMU_BASE", "REQUIREMENTS", "ROW_RE",
           "SECTIONS", "SMMU_TYPE", "TIERS", "UNSECTIONED", "section_of"]
