"""Guest-driven rules: what a guest's programming of the vSMMU makes QEMU do.

These rules cover what only a running guest shows (the guest tier, catalogue §5b, §5c,
§6, §7a, §8 O2/O5); :mod:`reference_model.guest` plays a scenario's guest steps through
them.  The decision tables themselves stay with their siblings: the STE install table
in :mod:`.ste`, the forwarding table in :mod:`.invalidation`, the msi-gpa choice in
:mod:`.msi`; this module adds the parts around them (SMMU_SOURCE: SRC[13b9]
``hw/arm/smmuv3.c``/``smmuv3-accel.c``, ``target/arm/kvm.c``).
"""

from __future__ import annotations

from . import register, rule

#: §5b: at the first cold-plugged vfio-pci: nest-parent S2 HWPT (flags=1), the vIOMMU
#: (type 1, ARM_SMMUV3), then the abort and bypass nested HWPTs (type 2, 16-byte vSTE)
VIOMMU_SEQUENCE = register("5b.sequence", "5b", "merged",
                           doc="hwpt(flags=1) -> viommu(type=1) -> 2 x hwpt(type=2,len=16)")
#: §5b: a vDEVICE (virt_id = guest SID) at the first STE install for the device, even
#: when no STE can be fetched (``smmuv3_accel_alloc_vdev`` runs before ``smmu_find_ste``)
VDEV_AT_INSTALL = register("5b.vdev-lazy", "5b", "merged",
                           doc="iommufd_backend_alloc_vdev at the first CFGI_STE of the SID")
#: §5b: the vEVENTQ (type 1) is allocated when the guest enables the event queue and a
#: vIOMMU exists (``smmuv3_accel_alloc_veventq`` on every CR0 write; once)
VEVENTQ = register("5b.veventq", "5b", "11.1",
                   doc="iommufd_viommu_alloc_eventq type=1 at the first CR0.EVENTQEN")
#: §5c: the range forms install every accel device whose SID is in the range
CFGI_RANGE = register("5c.cfgi-range", "5c", "merged",
                      doc="CFGI_STE_RANGE/CFGI_ALL: install for accel devices in range")
#: §5c: a failed install is CERROR_ILL in CMDQ_CONS and GERROR.CMDQ_ERR; the Error is
#: printed (error_report_err at the end of the MMIO write)
INSTALL_ERROR = register("5c.cerror-ill", "5c", "merged",
                         doc="Invalid STE config -> CERROR_ILL, message on stderr")
#: §7a: stage-2 commands on a stage-1-only SMMU (every accel SMMU) are CERROR_ILL
STAGE2_ILL = register("7a.stage2-ill", "7a", "merged",
                      doc="TLBI_S12_VMALL/TLBI_S2_IPA without stage 2 -> CERROR_ILL")
#: §5c: STE fetch: linear tables cover SIDs < 2^log2size; a 2-level table also needs
#: a valid level-1 descriptor (else nothing is installed, no error)
STE_FETCH = register("5c.ste-fetch", "5c", "merged",
                     doc="no STE found (SID beyond the table, empty L1 descriptor): nothing")
#: O2 from the guest: one RMR node per accel SMMU, 0x8000000+0x100000
RMR_FROM_GUEST = register("O2.rmr-guest", "O2", "merged",
                          doc="IORT RMR nodes as the guest reads them (fw_cfg)")
#: O5: _DSM function 0 returns 0x21 (functions 0 and 5) when an accel SMMU exists
DSM5 = register("O5.dsm5", "O5", "merged",
                doc="DSDT _DSM function-0 bitmap 0x21 with an accel SMMU, else 0")

#: the vSTE fields the nested HWPT keeps (``STE0_MASK``/``STE1_MASK``, smmuv3-accel.c)
STE0_MASK = 0x1 | (0x7 << 1) | (0x3 << 4) | (((1 << 50) - 1) << 6) | (0x1F << 59)
STE1_MASK = 0x3 | (0x3 << 2) | (0x3 << 4) | (0x3 << 6) | (1 << 27) | (0x3 << 28)

CERROR_ILL = 1


@rule("M1.doorbell", "M1", "merged")
def doorbell(mechanism: str, as_is_system: bool, msi_gpa: int | None,
             giova: int) -> int | None:
    """The GPA KVM's MSI route gets for a doorbell the guest programmed (gIOVA).

    ``mechanism``: ``"msi-gpa"`` (v6+: the accel ops' ``get_msi_direct_gpa`` returns
    the SMMU's msi-gpa, the gIOVA is ignored), ``"translate"`` (no callback, M4: the
    gIOVA is walked through the guest's tables) or ``"address-space"`` (v4/v5:
    ``get_msi_address_space`` gave the IOMMU AS, then walked as M4).  ``None``: no
    route fix-up at all (the AS is ``address_space_memory``).
    """
    if as_is_system:
        return giova
    if mechanism == "msi-gpa":
        return msi_gpa
    return None  # a walk: the caller resolves it through the guest's S1 tables


@rule("M4.msi-write", "M4", "merged")
def msi_is_memory_write(accel_vfio: bool) -> bool:
    """Where a device's MSI goes: an emulated device behind a non-accel SMMU writes the
    MSI data to the doorbell through its IOMMU address space, so the guest's S1 tables
    translate the gIOVA (M4's walk, done by the emulated SMMU); an accel vfio device's
    MSI is a KVM route to msi-gpa (M1), never a write to guest memory."""
    return not accel_vfio


@rule("M5.msi-gpa-zero", "M5", "merged", predicted=True)
def msi_gpa_zero_aborts(msi_gpa: int | None) -> bool:
    """``g_assert(s->msi_gpa)``: a route set up with msi-gpa 0 aborts QEMU (PRED)."""
    return msi_gpa == 0


def mask_vste(w0: int, w1: int) -> tuple[int, int]:
    """The nested HWPT's vSTE (§5c Config 5: the fields kept for the host)."""
    return w0 & STE0_MASK, w1 & STE1_MASK


# ---------------------------------------------------------------------- DMA (§5c)
#: what a DMA meets: ``("identity",)``, ``("abort",)`` or ``("translate", CD address)``
Target = tuple[str, int]
IDENTITY: Target = ("identity", 0)
ABORT: Target = ("abort", 0)

#: the STE decode (IHI 0070 5.2) per Config, as a DMA meets it: 4 bypasses, 5 walks the
#: CD's tables; 0 aborts, and so do the reserved 1-3 and the stage-2 6/7 on these
#: stage-1-only SMMUs (C_BAD_STE)
_CONFIG_TARGET = {0: ABORT, 4: IDENTITY}


@rule("5c.dma-target", "5c", "merged")
def dma_target(smmuen: bool, gbpa_abort: bool, ste_w0: int | None) -> Target:
    """What the device's DMA meets, as the guest's SMMU state defines it: SMMUEN=0
    gives GBPA (abort or bypass, IHI 0070 6.3.14); else the STE: none (SID beyond the
    table) or invalid aborts, Config 4 bypasses, Config 5 walks the CD's tables, every
    other Config aborts.  The accel SMMU realises this with HWPTs (§5c), the emulated
    one by its own walk; both must give the guest the same result."""
    if not smmuen:
        return ABORT if gbpa_abort else IDENTITY
    if ste_w0 is None or not ste_w0 & 1:
        return ABORT
    config = (ste_w0 >> 1) & 7
    if config == 5:
        return ("translate", ste_w0 & 0xFFFFFFFFFFC0)
    return _CONFIG_TARGET.get(config, ABORT)


@rule("5c.ste-at-cfgi", "5c", "merged")
def accel_ste_in_use(at_last_cfgi: list[int] | None, cached: bool,
                     in_memory: list[int] | None) -> list[int] | None:
    """The STE an accel device's DMA uses: the vSTE as QEMU read it at the last
    CFGI_STE (or range) for the SID, which built the nested HWPT (a configuration cache
    refilled only by invalidation, as the architecture allows); before any CFGI_STE,
    the STE in memory (what an SMMU fetches with nothing cached).  11.1.3 attaches the
    HWPT for the SMMUEN and GBPA of that moment and does not revisit it when the guest
    toggles SMMUEN (F10) or writes GBPA with SMMUEN=1 (F9)."""
    return at_last_cfgi if cached else in_memory


#: F_TRANSLATION (IHI 0070 7.3.9): what a walk that finds no valid page records
F_TRANSLATION = 0x10


@rule("5b.vevent-delivery", "5b", "11.1")
def fault_event_reaches_guest(accel: bool, veventq: bool, eventqen: bool) -> bool:
    """A stage-1 translation fault of the device (CD.R set) is recorded in the guest's
    event queue: by the host SMMU through the vEVENTQ (accel: only once the vEVENTQ
    exists) or by the emulated SMMU itself (non-accel), while EVENTQEN is set."""
    return eventqen and (veventq or not accel)


@rule("AS1.emulated-walk", "AS1", "merged")
def emulated_ste_in_use(in_memory: list[int] | None) -> list[int] | None:
    """A device behind a non-accel SMMU is translated by QEMU's emulated SMMU, which
    decodes the STE in guest memory (its config cache is invalidated by CFGI_STE)."""
    return in_memory
