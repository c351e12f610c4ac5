"""The model of the guest-driven tier: what each guest step makes QEMU do.

:func:`predict_guest` plays a scenario's guest steps (:mod:`.guest_steps`) against a
small model of the vSMMU's state (CR0, GBPA, stream table, STEs written, the vIOMMU
and each device's vDEVICE) and predicts, per step, what the harness observes
(:mod:`conformance.observe.guest` builds the same shape from the payload's report and
L2's trace):

``report``
    the payload's fields the model can know (``status``; ``sid`` of ``pci_find``;
    ``err``/``gerror`` of ``cmd``; ``enabled`` of ``msi``; ``val`` of ``read``);
``ste_installs``
    ``[vSID, type]`` per ``smmuv3_accel_install_ste`` (§5c);
``translate_stes``
    ``[vSID, "ste1:ste0"]`` per ``smmuv3_accel_translate_ste`` (the masked vSTE);
``vdevs``
    the ``virt_id`` of each ``iommufd_backend_alloc_vdev`` (§5b);
``invalidations``
    one ``"type=1 len=16 num=1 done=1 ret=0"`` per ``iommufd_backend_invalidate_cache``
    (§7a: one entry per forwarded command, no batching);
``msi_routes``
    ``[gIOVA, GPA]`` per ``kvm_arm_fixup_msi_route`` (§6 M1/M4);
``veventqs``
    ``"type=1 ret=0"`` per ``iommufd_viommu_alloc_eventq`` (§5b: at the first CR0
    write with EVENTQEN once a vIOMMU exists);
``acpi``
    for ``acpi`` steps: the RMR nodes of the IORT (O2) or the DSDT ``_DSM`` function-0
    bitmap (O5).

A ``dma`` step's report predicts ``landed`` (the guest physical address the device's
write reached, ``0x0`` for none of the step's candidates), ``wb`` (the status dword
written back) and ``tdh``.  Where it lands follows the translation the device meets
(:func:`.rules.guest.dma_target`: SMMUEN/GBPA, then the STE in use, which for an accel
device is the vSTE read at its last CFGI_STE, :func:`.rules.guest.accel_ste_in_use`, and
behind a non-accel SMMU the STE in memory) and, for stage 1, the guest's page tables
(``map`` steps).  A DMA
through a mapping the guest changed after a DMA used it, with no TLB invalidation that
reached the translating SMMU since, is architecturally unpredictable: the model refuses
it (:class:`GuestModelError`, reported as not covered).

and, for the whole run, ``start`` (the §5b allocations before the guest runs),
``guest`` (``completed``, or ``crashed``/``hung`` when the model predicts so) and
``errors`` (stderr lines the guest's actions cause).  Every value is a plain JSON type
(hex strings for addresses) so prediction and observation compare with ``==``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from catalogue.guest_steps import COMMANDS, GuestStep, ste_words

from . import cmdline
from .errors import ModelError
from .rules import guest as g
from .rules import invalidation, ste

#: trace events the guest tier enables in L2 (names from QEMU 11.1's trace-events)
TRACE_EVENTS = (
    "smmuv3_write_mmio",  # only the payload's step markers (offset 0xe00) are kept
    "smmuv3_accel_install_ste", "smmuv3_accel_translate_ste",
    "iommufd_backend_alloc_viommu", "iommufd_backend_alloc_vdev",
    "iommufd_backend_alloc_hwpt", "iommufd_backend_invalidate_cache",
    "kvm_arm_fixup_msi_route", "iommufd_viommu_alloc_eventq",
)
#: the payload reads the first user-created SMMU here (§0)
FIRST_SMMU_BASE = 0x0C000000
RMR_RANGE = ["0x8000000", "0x100000"]
#: SMMU register offsets the model can answer for a ``read`` step
_READABLE = {"GERROR", "GBPA", "CR0", "CR0ACK"}


class GuestModelError(ModelError):
    """The guest scenario is outside what the model covers (one line)."""


def hx(v: int) -> str:
    return f"0x{v:x}"


@dataclass
class _Dev:
    sid: int
    vfio: bool  # vfio-pci with iommufd (an accel device when the SMMU is accel)
    vdev: bool = False
    cached: bool = False  # a CFGI_STE for the SID has run (accel: the HWPT was built)
    ste_used: bool = False  # emulated SMMU: a DMA read the STE since the last CFGI_STE
    ste_stale: bool = False  # ... and the guest rewrote it since, without a CFGI_STE
    ste_at_cfgi: list[int] | None = None  # the vSTE QEMU read then (None: none found)


@dataclass
class _Smmu:
    accel: bool
    ats: bool
    msi_gpa: int | None
    viommu: bool
    smmuen: bool = False
    cmdqen: bool = False
    gbpa_abort: bool = False
    gerror: int = 0
    strtab: tuple[int, int, int] | None = None  # (format 0/1, log2size, split)
    stes: dict[int, list[int]] = field(default_factory=dict)
    cmd_error: bool = False  # CMDQ_ERR pending (acknowledged by the payload)
    veventq: bool = False  # the vEVENTQ exists
    cds: dict[int, tuple[int, bool, int]] = field(default_factory=dict)  # (ttb0, V, ASID)
    pages: dict[tuple[int, int], int | None] = field(default_factory=dict)  # (ttb, iova)
    tlb: set[tuple[int, int]] = field(default_factory=set)  # (ASID, iova) a DMA used
    stale: set[tuple[int, int]] = field(default_factory=set)  # remapped since, no TLBI
    cd_used: set[int] = field(default_factory=set)  # CDs a DMA used since the last CFGI
    cd_stale: set[int] = field(default_factory=set)  # rewritten since, no CFGI reached
    eventqen: bool = False
    msi: tuple[int, int, bool] | None = None  # the MSI capability: doorbell, data, enable
    #: (type, SID) of the event records since the last read; None: not known
    events: list[tuple[int, int]] | None = field(default_factory=list)


@dataclass
class GuestSetup:
    """What the command line decides for the guest run."""

    smmu: _Smmu
    devices: dict[int, _Dev]
    mechanism: str  # "msi-gpa", "address-space" (v4/v5) or "translate" (non-accel)
    start: dict[str, Any]


def _sid_of(d: cmdline.DeviceOpt) -> int | None:
    bus = d.props.get("bus", "pcie.0")
    addr = d.props.get("addr")
    if bus != "pcie.0" or addr is None:
        return None
    slot, _, fn = addr.partition(".")
    return (int(slot, 0) << 3) | (int(fn, 0) if fn else 0)


def setup(argv: Sequence[str], smmus: dict[str, Any], profile_mechanism: str) -> GuestSetup:
    """The guest-visible configuration of ``argv`` (the main model's ``smmus``)."""
    parsed = cmdline.parse(list(argv))
    smmu_opts = [d for d in parsed.devices if d.driver == "arm-smmuv3"]
    if len(smmu_opts) != 1:
        raise GuestModelError("guest scenarios model exactly one -device arm-smmuv3")
    so = smmu_opts[0]
    accel = cmdline.parse_bool("accel", so.props.get("accel", "off"))
    ats = so.props.get("ats", "auto") == "on"
    pred = next(iter(smmus.values()), None) if smmus else None
    msi_gpa = getattr(pred, "msi_gpa", None)
    devices: dict[int, _Dev] = {}
    for d in parsed.devices:
        if d.driver in ("arm-smmuv3", "pcie-root-port"):
            continue
        sid = _sid_of(d)
        if sid is None:
            raise GuestModelError(f"guest scenarios put endpoints on pcie.0 with addr= "
                                  f"(device {d.driver})")
        devices[sid] = _Dev(sid, vfio=d.driver == "vfio-pci" and d.iommufd is not None)
    viommu = accel and any(d.vfio for d in devices.values())
    start: dict[str, Any] = {"nest_parent_hwpts": 0, "viommus": [], "nested_hwpts": 0}
    if viommu:
        start = {"nest_parent_hwpts": 1, "viommus": [1], "nested_hwpts": 2}
    mechanism = profile_mechanism if accel else "translate"
    return GuestSetup(_Smmu(accel, ats, msi_gpa, viommu), devices, mechanism, start)


def _empty() -> dict[str, Any]:
    return {"report": {"status": "ok"}, "ste_installs": [], "translate_stes": [],
            "vdevs": [], "invalidations": [], "msi_routes": [], "veventqs": []}


FORWARD_ENTRY = "type=1 len=16 num=1 done=1 ret=0"


class _Play:
    def __init__(self, st: GuestSetup) -> None:
        self.st = st
        self.s = st.smmu
        self.errors: list[str] = []
        self.crash: str | None = None
        self.fired: list[str] = []

    # -------------------------------------------------------------- §5c
    def _ste(self, sid: int, fire: bool = True) -> list[int] | None:
        """The STE ``smmu_find_ste`` fetches, or None (no table, out of range, no L2);
        ``fire``: record the fetch rule (an install decides with it, a DMA does not)."""
        s = self.s
        if s.strtab is None:
            return None
        fmt, log2, _split = s.strtab
        if sid >= (1 << log2):
            return None
        if sid in s.stes:
            return s.stes[sid]
        if fmt == 1:
            if fire:
                self.fired.append(g.STE_FETCH.id)
            return None  # the payload fills a level-1 descriptor only for written SIDs
        return [0] * 8

    def _install(self, sid: int, out: dict[str, Any]) -> bool:
        """``smmuv3_accel_install_ste`` for one device; False: CERROR_ILL."""
        s, dev = self.s, self.st.devices.get(sid)
        if not s.viommu or dev is None or not dev.vfio:
            return True
        if not dev.vdev:
            dev.vdev = True
            out["vdevs"].append(hx(sid))
            self.fired.append(g.VDEV_AT_INSTALL.id)
        words = self._ste(sid)
        dev.cached, dev.ste_at_cfgi = True, words
        if words is None:
            return True
        w0 = words[0]
        kind = ste.install_ste(viommu=True, accel_vfio_dev=True, ste_found=True,
                               smmu_enabled=s.smmuen, gbpa_abort=s.gbpa_abort,
                               ste_valid=bool(w0 & 1), config=(w0 >> 1) & 7)
        self.fired.append("5c.install-ste")
        if kind is None:
            self.errors.append(f"Invalid STE config for sid {hx(sid)}")
            self.fired.append(g.INSTALL_ERROR.id)
            return False
        if kind == "translate":
            m0, m1 = g.mask_vste(words[0], words[1])
            out["translate_stes"].append([hx(sid), f"{m1:x}:{m0:x}"])
        out["ste_installs"].append([hx(sid), kind])
        return True

    # -------------------------------------------------------------- §7a
    def _cmd(self, a: dict[str, Any], out: dict[str, Any]) -> None:
        s = self.s
        name = a["op"]
        err = 0
        if not s.cmdqen:
            out["report"] = {"status": "fail"}  # the payload times out waiting for CONS
            return
        if name in ("CMD_CFGI_STE", "CMD_CFGI_STE_RANGE", "CMD_CFGI_ALL"):
            sids = self._cfgi_sids(a)
            for sid in sids:  # the emulated SMMU drops the SIDs' cached STEs
                self.st.devices[sid].ste_used = self.st.devices[sid].ste_stale = False
        if name == "CMD_CFGI_STE":
            if sids and not self._install(a["sid"], out):
                err = g.CERROR_ILL
            elif sids:
                self._config_invalidated()
        elif name in ("CMD_CFGI_STE_RANGE", "CMD_CFGI_ALL"):
            self.fired.append(g.CFGI_RANGE.id)
            ok = True
            for sid in sids:
                if not self._install(sid, out):
                    self.errors.append(f"Device {hx(sid)}: Failed to install STE")
                    ok = False
            if not ok:
                self.errors.append("Failed to install all STEs properly")
                err = g.CERROR_ILL
            elif sids:
                self._config_invalidated()
        elif name in ("CMD_TLBI_S12_VMALL", "CMD_TLBI_S2_IPA"):
            err = g.CERROR_ILL  # every SMMU the guest tier builds is stage 1 only
            self.fired.append(g.STAGE2_ILL.id)
        tlbi = name.startswith("CMD_TLBI_NH") or name == "CMD_TLBI_NSNH_ALL"
        if tlbi and not err and (not s.accel
                                 or invalidation.forwarded(name, s.viommu, True, s.ats)):
            self._tlbi(name, a)
        if name in invalidation.FORWARD and not err:
            dev = self.st.devices.get(a["sid"])
            # SID-based commands need an SMMUDevice for the SID at all (else no-op)
            sid_ok = name not in ("CMD_CFGI_CD", "CMD_CFGI_CD_ALL", "CMD_ATC_INV") \
                or dev is not None
            if sid_ok and invalidation.forwarded(name, s.viommu,
                                                 bool(dev and dev.vdev), s.ats):
                out["invalidations"].append(FORWARD_ENTRY)
                if name in ("CMD_CFGI_CD", "CMD_CFGI_CD_ALL"):
                    self._config_invalidated()
            self.fired.append("7a.forward")
        if name in ("CMD_CFGI_CD", "CMD_CFGI_CD_ALL") and not s.accel \
                and a["sid"] in self.st.devices:
            self._config_invalidated()  # the emulated SMMU drops its config cache
        if err:
            s.gerror ^= 1
        out["report"] = {"status": "ok", "err": hx(err), "gerror": hx(1 if err else 0)}

    # -------------------------------------------------------------- DMA
    def _cfgi_sids(self, a: dict[str, Any]) -> list[int]:
        """The devices' SIDs a CFGI_STE, CFGI_STE_RANGE or CFGI_ALL covers."""
        mask = 0 if a["op"] == "CMD_CFGI_STE" else (1 << (a["range"] + 1)) - 1
        lo = a["sid"] & ~mask
        return [sid for sid in sorted(self.st.devices) if lo <= sid <= lo + mask]

    def _config_invalidated(self) -> None:
        """A configuration invalidation reached the translating SMMU for the device:
        the next DMA re-reads the CD."""
        self.s.cd_used.clear()
        self.s.cd_stale.clear()

    def _tlbi(self, name: str, a: dict[str, Any]) -> None:
        """A TLB invalidation that reached the translating SMMU: entries it covers are
        no longer stale."""
        page: int = a["addr"] & ~0xFFF
        want: int = a["asid"]

        def covered(e: tuple[int, int]) -> bool:
            asid, iova = e
            return {"CMD_TLBI_NH_VA": asid == want and iova == page,
                    "CMD_TLBI_NH_VAA": iova == page,
                    "CMD_TLBI_NH_ASID": asid == want}.get(name, True)
        for e in [e for e in self.s.tlb if covered(e)]:
            self.s.tlb.discard(e)
            self.s.stale.discard(e)

    def _map(self, a: dict[str, Any]) -> None:
        s = self.s
        s.pages[(a["ttb"], a["iova"])] = a["pa"] if a["valid"] else None
        for ttb, _valid, asid in s.cds.values():
            if ttb == a["ttb"] and (asid, a["iova"]) in s.tlb:
                s.stale.add((asid, a["iova"]))

    def _eventq_read(self) -> dict[str, Any]:
        """The first record's type and SID (how many records a fault gives depends on
        the device's accesses: not predicted), or ``count`` 0 when none can be there."""
        ev, self.s.events = self.s.events, []
        if ev is None:
            return {"status": "ok"}
        if not ev:
            return {"status": "ok", "count": "0x0"}
        return {"status": "ok", "type": hx(ev[0][0]), "sid": hx(ev[0][1])}

    def _accel_dev(self, dev: _Dev) -> bool:
        """The host SMMU translates ``dev`` through the vIOMMU (an accel vfio device)."""
        return self.s.accel and self.s.viommu and dev.vfio

    def _target(self, dev: _Dev) -> g.Target:
        s = self.s
        in_memory = self._ste(dev.sid, fire=False) if s.strtab is not None else None
        if self._accel_dev(dev):
            self.fired.append(g.accel_ste_in_use.id)
            words = g.accel_ste_in_use(dev.ste_at_cfgi, dev.cached, in_memory)
        else:
            if s.smmuen and dev.ste_stale:
                raise GuestModelError(f"the guest rewrote the STE of SID {hx(dev.sid)} after "
                                      f"a DMA used it and no CFGI_STE reached the SMMU "
                                      f"since (architecturally unpredictable)")
            self.fired.append(g.emulated_ste_in_use.id)
            words = g.emulated_ste_in_use(in_memory)
            dev.ste_used = dev.ste_used or s.smmuen
        self.fired.append(g.dma_target.id)
        return g.dma_target(s.smmuen, s.gbpa_abort, words[0] if words else None)

    def _translate(self, dev: _Dev, address: int, what: str) -> int | None:
        """The guest physical address a write of ``dev`` to ``address`` reaches, or
        None (aborted, or a fault: recorded in the model's event list when it is)."""
        kind, cd = self._target(dev)
        page, offset = address & ~0xFFF, address & 0xFFF
        if kind == "identity":
            return address
        if kind == "abort":
            self.s.events = None  # an abort may or may not be recorded (C_BAD_STE, ...)
            return None
        if cd in self.s.cd_stale:
            raise GuestModelError(f"{what} at {hx(address)}: the guest rewrote the CD at "
                                  f"{hx(cd)} after a DMA used it and no CFGI reached the "
                                  f"SMMU since (architecturally unpredictable)")
        self.s.cd_used.add(cd)
        ttb, valid, asid = self.s.cds.get(cd, (0, False, 0))
        if (asid, page) in self.s.stale:
            raise GuestModelError(f"{what} at {hx(address)}: the guest remapped it after a "
                                  f"DMA used it and no TLBI reached the SMMU since "
                                  f"(architecturally unpredictable)")
        pa = self.s.pages.get((ttb, page)) if valid else None
        if pa is not None:
            self.s.tlb.add((asid, page))
            return pa + offset
        if not valid:
            self.s.events = None
        elif self.s.events is not None and g.fault_event_reaches_guest(
                self.s.accel, self.s.veventq, self.s.eventqen):
            self.fired.append(g.fault_event_reaches_guest.id)
            self.s.events.append((g.F_TRANSLATION, dev.sid))
        return None

    def _dma(self, a: dict[str, Any], out: dict[str, Any]) -> None:
        if not self.st.devices:
            out["report"] = {"status": "fail"}
            return
        dev = self.st.devices[min(self.st.devices)]
        gpa = self._translate(dev, a["iova"], "dma")
        at: list[int] = list(a["at"])
        hit = at.index(gpa) if gpa is not None and gpa in at else -1
        out["report"] = {"status": "ok", "landed": hx(at[hit] if hit >= 0 else 0),
                         "wb": hx(((hit + 1) << 16) | 1 if hit >= 0 else 0), "tdh": "0x1"}

    def _irq(self, a: dict[str, Any], out: dict[str, Any]) -> None:
        """M1/M4 from the device's side: where the device's MSI write lands."""
        if not self.st.devices:
            out["report"] = {"status": "fail"}
            return
        dev = self.st.devices[min(self.st.devices)]
        if self.s.msi is None or not self.s.msi[2]:
            out["report"] = {"status": "ok", "landed": "0x0"}  # INTx: nothing written
            return
        doorbell, data, _enabled = self.s.msi
        if not data:
            out["report"] = {"status": "ok"}  # data 0: a write of 0 is not seen
            return
        self.fired.append(g.msi_is_memory_write.id)
        gpa = (self._translate(dev, doorbell, "MSI")
               if g.msi_is_memory_write(self._accel_dev(dev)) else None)
        hit = gpa is not None and gpa in a["at"]
        out["report"] = {"status": "ok", "landed": hx(gpa) if hit and gpa else "0x0",
                         "val": hx(data if hit else 0)}

    # -------------------------------------------------------------- §6
    def _msi(self, a: dict[str, Any], out: dict[str, Any]) -> None:
        st = self.st
        self.s.msi = (a["doorbell"], a["data"], a["enable"])
        out["report"] = {"status": "ok", "enabled": hx(int(a["enable"]))}
        vfio = any(d.vfio for d in st.devices.values())
        if not a["enable"] or not vfio:
            return  # emulated devices get no KVM route (no irqfd), nothing to fix up
        gpa = g.doorbell(st.mechanism, False, st.smmu.msi_gpa, a["doorbell"])
        self.fired.append("M1.doorbell")
        if st.mechanism == "msi-gpa" and g.msi_gpa_zero_aborts(st.smmu.msi_gpa):
            self.crash = "SIGABRT"
            out["report"] = {"status": "missing"}  # QEMU dies inside the config write
            self.fired.append("M5.msi-gpa-zero")
            return
        if gpa is None and st.mechanism != "msi-gpa":
            gpa = self._walk(a["doorbell"])  # v4/v5: the IOMMU AS translates the gIOVA
        if gpa is not None:
            out["msi_routes"].append([hx(a["doorbell"]), hx(gpa)])

    def _walk(self, iova: int) -> int | None:
        """The emulated SMMU's translation of an MSI gIOVA for the (single) vfio device,
        where it is an identity: SMMU disabled with GBPA bypass, or a bypass STE.  An
        abort leaves no route (the fix-up fails); an S1 walk is not modelled (None)."""
        s = self.s
        if not s.smmuen:
            return None if s.gbpa_abort else iova
        dev = next((d for d in self.st.devices.values() if d.vfio), None)
        words = self._ste(dev.sid) if dev is not None else None
        if words is None or not words[0] & 1:
            return None
        return iova if (words[0] >> 1) & 7 == 4 else None

    # -------------------------------------------------------------- one step
    def step(self, s: GuestStep) -> dict[str, Any]:
        out = _empty()
        a = dict(s.args)
        sm = self.s
        k = s.kind
        if k == "pci_find":
            found = [d for d in self.st.devices.values()]
            if found:
                out["report"] = {"status": "ok", "sid": hx(min(d.sid for d in found))}
            else:
                out["report"] = {"status": "fail"}
        elif k == "stream_table":
            sm.strtab = (int(a["format"] == "2lvl"), a["log2size"], a["split"])
            sm.stes.clear()
        elif k == "ste":
            sm.stes[a["sid"]] = ste_words(a)
            dev = self.st.devices.get(a["sid"])
            if dev is not None and dev.ste_used:
                dev.ste_stale = True
        elif k == "cr0":
            sm.smmuen, sm.cmdqen, sm.eventqen = a["smmuen"], a["cmdqen"], a["eventqen"]
            if a["eventqen"] and sm.viommu and not sm.veventq:
                sm.veventq = True
                out["veventqs"].append("type=1 ret=0")
                self.fired.append(g.VEVENTQ.id)
        elif k == "gbpa":
            sm.gbpa_abort = a["abort"]
            out["report"] = {"status": "ok", "gbpa": hx(g_gbpa(a["abort"]))}
        elif k == "cmd":
            self._cmd(a, out)
        elif k == "eventq_read":
            out["report"] = self._eventq_read()
        elif k == "cd":
            sm.cds[a["address"]] = (a["ttb0"], a["valid"], a["asid"])
            if a["address"] in sm.cd_used:
                sm.cd_stale.add(a["address"])
        elif k == "map":
            self._map(a)
        elif k == "dma":
            self._dma(a, out)
        elif k == "irq":
            self._irq(a, out)
        elif k in ("msi", "msix"):
            self._msi(a, out)
        elif k == "read" and a["register"] == "GERROR":
            out["report"] = {"status": "ok", "val": hx(sm.gerror)}
        elif k == "acpi":
            out["acpi"] = self._acpi(a["table"])
        return out

    def _acpi(self, table: str) -> dict[str, Any]:
        if table == "IORT":
            self.fired.append(g.RMR_FROM_GUEST.id)
            return {"rmr_nodes": [RMR_RANGE] if self.s.accel else []}
        self.fired.append(g.DSM5.id)
        return {"dsm_functions": "0x21" if self.s.accel else "0x0"}


def g_gbpa(abort: bool) -> int:
    return (1 << 20) if abort else 0


def predict_guest(steps: Sequence[GuestStep], st: GuestSetup) -> dict[str, Any]:
    """The per-step prediction of a guest run (see the module docstring)."""
    play = _Play(st)
    out_steps: list[dict[str, Any]] = []
    for s in steps:
        out = play.step(s)
        out_steps.append(out)
        if play.crash is not None:
            break
    result: dict[str, Any] = {
        "guest": "crashed" if play.crash else "completed",
        "start": st.start,
        "steps": out_steps,
        "errors": play.errors,
    }
    if play.crash:
        result["signal"] = play.crash
    result["rules"] = sorted(set(play.fired) | ({g.VIOMMU_SEQUENCE.id} if st.start["viommus"]
                                                 else set()))
    return result


def msi_mechanism(msi_gpa_phase: str | None) -> str:
    """§6 M6: v6+ program msi-gpa (``get_msi_direct_gpa``); v4/v5 return the IOMMU AS
    from ``get_msi_address_space`` and the gIOVA is walked."""
    return "msi-gpa" if msi_gpa_phase is not None else "address-space"


__all__ = ["COMMANDS", "TRACE_EVENTS", "GuestModelError", "GuestSetup", "msi_mechanism",
           "predict_guest", "setup"]
