"""§6 M2: the doorbell GPA virt programs into an accel SMMU's ``msi-gpa``.

virt's MSI controller comes from ``gic-version``, ``its`` and ``msi`` (``auto``,
``gicv2m``, ``its``, ``off``): TCG✔ for which regions exist (``gicv3_its`` at
0x08080000, ``gicv2m`` at 0x08020000).  Default GIC: under TCG ``gic-version`` unset
is GICv2 (TCG✔); under KVM it follows the host, and the model assumes a GICv3 host
without GICv2 emulation (the SMMUv3 servers accel targets), marked predicted.
"""

from __future__ import annotations

from . import register, rule

ITS_DOORBELL = 0x08080000 + 0x10000 + 0x40
GICV2M_DOORBELL = 0x08020000 + 0x40

#: (gic major, msi option, its option) -> controller  (None in the key: any)
CONTROLLER: dict[tuple[int, str, bool], str] = {
    (2, "auto", True): "gicv2m", (2, "auto", False): "gicv2m",
    (2, "gicv2m", True): "gicv2m", (2, "gicv2m", False): "gicv2m",
    (2, "off", True): "none", (2, "off", False): "none",
    (3, "auto", True): "its", (3, "auto", False): "none",
    (3, "its", True): "its", (3, "its", False): "its",  # msi=its beats its=off (TCG✔)
    (3, "gicv2m", True): "gicv2m", (3, "gicv2m", False): "gicv2m",
    (3, "off", True): "none", (3, "off", False): "none",
}
GIC_DEFAULT = register("M2.gic-default-kvm", "M2", "11.1",
                       doc="gic-version unset under KVM: assume a GICv3-only host")


#: GICv2 with msi=its: board init error (TCG✔)
GICV2_ITS = "GICv2 + ITS is an invalid configuration."
#: an explicit its=on with no msi= is an ITS request too (TCG✔, found by the fuzzer:
#: ``-M virt,its=on`` and ``-M virt,gic-version=2,its=on`` exit; with ``msi=auto``
#: given, its=on is ignored on GICv2 and the board starts with the GICv2m)
ITS_ON_GICV2 = register("M2.its-on-gicv2", "M2", "11.1",
                        doc="its=on without msi= on a GICv2 board: GICv2 + ITS error")
#: gic-version=host without KVM: board init error before the MSI check (TCG✔, fuzzer)
GIC_HOST_NEEDS_KVM = register("M2.gic-host-needs-kvm", "M2", "11.1",
                              doc="gic-version=host under TCG exits")
GIC_HOST_KVM = "gic-version=host requires KVM"


def controller(gic: int, msi: str, its: bool) -> str | None:
    """``"its"``, ``"gicv2m"``, ``"none"``; ``None`` for GICv2 + msi=its (an error)."""
    return CONTROLLER.get((min(gic, 3), msi, its))


@rule("M2.msi-gpa", "M2", "merged")
def msi_gpa(ctrl: str, rule_kind: str) -> int:
    """ITS -> 0x08090040, GICv2m -> 0x08020040, none -> 0 (v6/v7: else GICv2m)."""
    if ctrl == "its":
        return ITS_DOORBELL
    if ctrl == "gicv2m" or rule_kind == "its-else-v2m":
        return GICV2M_DOORBELL
    return 0
