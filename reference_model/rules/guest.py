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
RMR_FROM_GUEST = register("O2.rmr-guest", "O2", "merged", predicted=True,
                          doc="IORT RMR nodes as the guest reads them (fw_cfg)")
#: O5: _DSM function 0 returns 0x21 (functions 0 and 5) when an accel SMMU exists
DSM5 = register("O5.dsm5", "O5", "merged", predicted=True,
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

#: §5c "HWPT attached": the HWPT each install type attaches, as the DMA sees it
_HWPT_TARGET = {"bypass": IDENTITY, "abort": ABORT}


@rule("5c.dma-installed", "5c", "merged")
def accel_dma_target(installed: str, cd: int) -> Target:
    """An accel device's DMA goes through the HWPT the last install (or GBPA attach)
    attached (``bypass``/``abort``/``translate`` with the vSTE's CD): the host SMMU
    walks the guest's S1 tables; the vSTE in guest memory is read only at CFGI_STE."""
    return _HWPT_TARGET.get(installed, ("translate", cd))


@rule("5c.gbpa-attach", "5c", "merged")
def gbpa_attach_applies(smmuen: bool) -> bool:
    """A GBPA write with UPDATE re-attaches the GBPA HWPT to every accel device, as
    intended only while the SMMU is disabled (IHI 0070 6.3.14: GBPA applies when
    SMMUEN=0; ``smmuv3_accel_install_ste`` picks the GBPA HWPT only then).  11.1.3
    re-attaches it with SMMUEN=1 too (finding F9)."""
    return not smmuen


#: F_TRANSLATION (IHI 0070 7.3.9): what a walk that finds no valid page records
F_TRANSLATION = 0x10


@rule("5b.vevent-delivery", "5b", "11.1")
def fault_event_reaches_guest(accel: bool, veventq: bool, eventqen: bool) -> bool:
    """A stage-1 translation fault of the device (CD.R set) is recorded in the guest's
    event queue: by the host SMMU through the vEVENTQ (accel: only once the vEVENTQ
    exists) or by the emulated SMMU itself (non-accel), while EVENTQEN is set."""
    return eventqen and (veventq or not accel)


#: the emulated (non-accel) SMMU's STE decoding, per Config: what a DMA meets
_EMULATED_CONFIG = {0: ABORT, 4: IDENTITY}


@rule("AS1.emulated-walk", "AS1", "merged")
def emulated_dma_target(smmuen: bool, gbpa_abort: bool, ste_w0: int | None) -> Target:
    """A device behind a non-accel SMMU is translated by QEMU's emulated SMMU at each
    DMA: SMMUEN=0 gives GBPA; no STE, an invalid STE, Config 0, a reserved Config or a
    stage-2 Config on this stage-1-only SMMU aborts; Config 4 bypasses; Config 5 walks
    the CD's tables."""
    if not smmuen:
        return ABORT if gbpa_abort else IDENTITY
    if ste_w0 is None or not ste_w0 & 1:
        return ABORT
    config = (ste_w0 >> 1) & 7
    if config == 5:
        return ("translate", ste_w0 & 0xFFFFFFFFFFC0)
    return _EMULATED_CONFIG.get(config, ABORT)
