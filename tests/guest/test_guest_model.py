"""The guest model against the catalogue rows it cites (§5b, §5c, §6, §7a, O2/O5)."""

from __future__ import annotations

from typing import Any

import pytest

from catalogue.guest_steps import parse_steps
from reference_model import predict
from reference_model.guest import GuestModelError, msi_mechanism, predict_guest, setup
from reference_model.profiles import resolve

ACCEL = ["-M", "virt", "-accel", "kvm", "-cpu", "host", "-bios", "x",
         "-object", "iommufd,id=iommufd0",
         "-device", "arm-smmuv3,primary-bus=pcie.0,id=smmu0,accel=on,ats=off,ril=on,"
         "ssidsize=0,oas=44,cmdqv=off",
         "-device", "vfio-pci,host=0000:01:00.0,id=vf0,bus=pcie.0,addr=0x2,iommufd=iommufd0"]
CTL = ["-M", "virt", "-accel", "tcg", "-device", "arm-smmuv3,primary-bus=pcie.0,id=smmu0",
       "-device", "e1000e,bus=pcie.0,addr=0x2,romfile="]
SETUP = [{"stream_table": {"base": 0x41000000, "log2size": 8}},
         {"cmdq": {"base": 0x41100000, "log2size": 6}}]


def run(argv: list[str], raw: list[dict[str, Any]]) -> dict[str, Any]:
    main = predict(argv, observe=("msi_gpa",))
    return predict_guest(parse_steps("t", raw), setup(argv, main.smmus or {}, "msi-gpa"))


def test_viommu_sequence_only_with_accel_vfio() -> None:
    assert run(ACCEL, [{"read": "GERROR"}])["start"] == {
        "nest_parent_hwpts": 1, "viommus": [1], "nested_hwpts": 2}
    assert run(CTL, [{"read": "GERROR"}])["start"]["viommus"] == []


def test_msi_route_uses_msi_gpa_whatever_the_giova() -> None:
    p = run(ACCEL, [{"msi": {"doorbell": 0xDEAD040}}])
    assert p["steps"][0]["msi_routes"] == [["0xdead040", "0x8090040"]]
    assert run(CTL, [{"msi": {"doorbell": 0xDEAD040}}])["steps"][0]["msi_routes"] == []


def test_msi_gpa_zero_is_predicted_to_abort() -> None:
    argv = [a.replace("virt", "virt,its=off") if a == "virt" else a for a in ACCEL]
    assert run(argv, [{"msi": {"doorbell": 0xDEAD040}}])["guest"] == "crashed"


def test_ste_decision_table() -> None:
    def install(cr0: list[str], ste: dict[str, Any], gbpa: str | None = None) -> Any:
        raw: list[dict[str, Any]] = [*SETUP, {"cr0": cr0}, *([{"gbpa": gbpa}] if gbpa else []),
               {"ste": {"sid": 0x10, **ste}}, {"cmd": {"op": "CFGI_STE", "sid": 0x10}}]
        return run(ACCEL, raw)["steps"][-1]
    assert install(["cmdqen"], {"config": "abort"})["ste_installs"] == [["0x10", "bypass"]]
    assert install(["cmdqen"], {"config": "bypass"}, "abort")["ste_installs"] == [
        ["0x10", "abort"]]
    on = ["smmuen", "cmdqen"]
    assert install(on, {"config": "bypass", "valid": False})["ste_installs"] == [
        ["0x10", "abort"]]
    assert install(on, {"config": "bypass"})["ste_installs"] == [["0x10", "bypass"]]
    s1 = install(on, {"config": "s1", "cd": 0x41300000})
    assert s1["ste_installs"] == [["0x10", "translate"]]
    assert s1["translate_stes"] == [["0x10", "0:4130000b"]]
    s2 = install(on, {"config": "s2"})
    assert s2["ste_installs"] == [] and s2["report"]["err"] == "0x1"
    assert s1["vdevs"] == ["0x10"]


def test_invalidation_forwarding() -> None:
    raw: list[dict[str, Any]] = [
        *SETUP, {"cr0": ["smmuen", "cmdqen"]}, {"cmd": {"op": "CFGI_CD", "sid": 0x10}},
           {"cmd": {"op": "CFGI_STE", "sid": 0x10}}, {"cmd": {"op": "CFGI_CD", "sid": 0x10}},
           {"cmd": {"op": "TLBI_NH_ASID", "asid": 1}}, {"cmd": {"op": "TLBI_S12_VMALL"}},
           {"cmd": {"op": "SYNC"}}]
    steps = run(ACCEL, raw)["steps"]
    n = [len(s["invalidations"]) for s in steps[3:]]
    assert n == [0, 0, 1, 1, 0, 0]  # no vDEVICE yet; STE; CD; ASID; S12 (ILL); SYNC
    assert steps[7]["report"]["err"] == "0x1"
    ctl = run(CTL, raw)["steps"]
    assert sum(len(s["invalidations"]) for s in ctl) == 0
    assert ctl[7]["report"]["err"] == "0x1"  # stage 1 only: the same CERROR_ILL


def test_acpi_from_the_guest() -> None:
    assert run(ACCEL, [{"acpi": "IORT"}])["steps"][0]["acpi"] == {
        "rmr_nodes": [["0x8000000", "0x100000"]]}
    assert run(ACCEL, [{"acpi": "DSDT"}])["steps"][0]["acpi"] == {"dsm_functions": "0x21"}
    assert run(CTL, [{"acpi": "DSDT"}])["steps"][0]["acpi"] == {"dsm_functions": "0x0"}


def test_profiles_v4_v5_walk_the_giova_instead_of_msi_gpa() -> None:
    """M6: before v6 there is no msi-gpa; get_msi_address_space hands KVM the IOMMU AS,
    so with the SMMU off (GBPA bypass) the route gets the gIOVA itself."""

    assert msi_mechanism(resolve("qemu-11.1").b.msi_gpa_phase) == "msi-gpa"
    mech = msi_mechanism(resolve("series-v5").b.msi_gpa_phase)
    assert mech == "address-space"
    main = predict(ACCEL, observe=("msi_gpa",), profile="series-v5")
    st = setup(ACCEL, main.smmus or {}, mech)
    p = predict_guest(parse_steps("t", [{"msi": {"doorbell": 0xDEAD040}}]), st)
    assert p["steps"][0]["msi_routes"] == [["0xdead040", "0xdead040"]]


S1: list[dict[str, Any]] = [*SETUP, {"cr0": ["smmuen", "cmdqen"]},
      {"cd": {"address": 0x41300000, "asid": 3, "ttb0": 0x41400000}},
      {"map": {"ttb": 0x41400000, "iova": 0x43000000, "pa": 0x42000000}},
      {"ste": {"sid": 0x10, "config": "s1", "cd": 0x41300000}},
      {"cmd": {"op": "CFGI_STE", "sid": 0x10}}]
DMA: dict[str, Any] = {"dma": {"iova": 0x43000000, "at": [0x42000000, 0x43000000, 0x44000000]}}


def landed(argv: list[str], raw: list[dict[str, Any]]) -> list[str]:
    return [s["report"]["landed"] for s, r in zip(run(argv, raw)["steps"], raw, strict=True)
            if "dma" in r]


def test_dma_lands_where_the_installed_translation_says() -> None:
    """§5c: bypass at start (GBPA HWPT), then the S1 HWPT walks the guest's tables."""
    assert landed(ACCEL, [DMA]) == ["0x43000000"]
    assert landed(ACCEL, [*S1, DMA]) == ["0x42000000"]
    assert landed(CTL, [*S1, DMA]) == ["0x42000000"]
    p = run(ACCEL, [*S1, DMA])["steps"][-1]["report"]
    assert p == {"status": "ok", "landed": "0x42000000", "wb": "0x10001", "tdh": "0x1"}


def test_accel_reads_the_vste_only_at_cfgi_ste() -> None:
    abort = {"ste": {"sid": 0x10, "config": "abort"}}
    cfgi = {"cmd": {"op": "CFGI_STE", "sid": 0x10}}
    assert landed(ACCEL, [*S1, abort, DMA, cfgi, DMA]) == ["0x42000000", "0x0"]


def test_gbpa_attach_only_while_disabled() -> None:
    """5c.gbpa-attach: the intended rule (F9: 11.1.3 also attaches with SMMUEN=1)."""
    assert landed(ACCEL, [{"gbpa": "abort"}, DMA, {"gbpa": "bypass"}, DMA]) == [
        "0x0", "0x43000000"]
    assert landed(ACCEL, [*S1, {"gbpa": "bypass"}, DMA]) == ["0x42000000"]


def test_remap_needs_an_invalidation_that_reaches_the_smmu() -> None:
    remap = {"map": {"ttb": 0x41400000, "iova": 0x43000000, "pa": 0x44000000}}
    tlbi = {"cmd": {"op": "TLBI_NH_VA", "asid": 3, "addr": 0x43000000}}
    other_asid = {"cmd": {"op": "TLBI_NH_ASID", "asid": 4}}
    for argv in (ACCEL, CTL):
        assert landed(argv, [*S1, DMA, remap, tlbi, DMA]) == ["0x42000000", "0x44000000"]
        with pytest.raises(GuestModelError, match="architecturally unpredictable"):
            run(argv, [*S1, DMA, remap, other_asid, DMA])
    # never used before the remap: nothing cached, no invalidation needed
    assert landed(ACCEL, [*S1, remap, DMA]) == ["0x44000000"]


def test_emulated_smmu_aborts_what_it_cannot_decode() -> None:
    s2 = {"ste": {"sid": 0x10, "config": "s2"}}
    cfgi = {"cmd": {"op": "CFGI_STE", "sid": 0x10}}
    assert landed(CTL, [*S1, s2, cfgi, DMA]) == ["0x0"]
    assert landed(CTL, [DMA]) == ["0x43000000"]
    unmapped = {"dma": {"iova": 0x45000000, "at": [0x45000000]}}
    assert landed(CTL, [*S1, unmapped]) == ["0x0"]


def test_fault_events_reach_the_guest_event_queue() -> None:
    """5b.vevent-delivery: a translation fault is an F_TRANSLATION record with the vSID;
    the accel path needs the vEVENTQ (EVENTQEN), the emulated SMMU records it itself."""
    evq: list[dict[str, Any]] = [{"eventq": {"base": 0x41200000, "log2size": 7}},
           {"cr0": ["smmuen", "cmdqen", "eventqen"]}]
    unmapped: dict[str, Any] = {"dma": {"iova": 0x45000000, "at": [0x45000000]}}
    read: dict[str, Any] = {"eventq_read": {}}
    for argv in (ACCEL, CTL):
        p = run(argv, [*S1, *evq, read, unmapped, read])["steps"]
        assert p[-3]["report"] == {"status": "ok", "count": "0x0"}
        assert p[-1]["report"] == {"status": "ok", "type": "0x10", "sid": "0x10"}
    # no EVENTQEN: nothing recorded
    assert run(ACCEL, [*S1, unmapped, read])["steps"][-1]["report"]["count"] == "0x0"


def test_msi_write_walks_the_s1_tables_only_for_an_emulated_device() -> None:
    """M4.msi-write: an emulated device's MSI is a write the SMMU translates; an accel
    vfio device's is a KVM route (nothing lands in guest memory); INTx writes nothing."""
    s1 = [*S1[:3], {"cd": {"address": 0x41300000, "asid": 3, "ttb0": 0x41400000}},
          {"map": {"ttb": 0x41400000, "iova": 0x43000000, "pa": 0x42000000}}, *S1[5:]]
    msi: dict[str, Any] = {"msi": {"doorbell": 0x43000040, "data": 0x21}}
    irq: dict[str, Any] = {"irq": {"at": [0x42000040, 0x43000040]}}
    assert run(CTL, [*s1, msi, irq])["steps"][-1]["report"] == {
        "status": "ok", "landed": "0x42000040", "val": "0x21"}
    assert run(ACCEL, [*s1, msi, irq])["steps"][-1]["report"] == {
        "status": "ok", "landed": "0x0", "val": "0x0"}
    assert run(CTL, [irq])["steps"][-1]["report"] == {"status": "ok", "landed": "0x0"}


def test_smmuen_decides_with_the_ste_read_at_cfgi() -> None:
    """5c.dma-target + 5c.ste-at-cfgi: enabling the SMMU applies the STE invalidated
    while it was off (abort); disabling it applies GBPA at once (F10: 11.1.3 keeps the
    HWPT attached at the CFGI_STE)."""
    off = {"cr0": ["cmdqen"]}
    on = {"cr0": ["smmuen", "cmdqen"]}
    abort_ste = [{"ste": {"sid": 0x10, "config": "abort"}},
                 {"cmd": {"op": "CFGI_STE", "sid": 0x10}}]
    assert landed(ACCEL, [*SETUP, off, *abort_ste, DMA, on, DMA]) == ["0x43000000", "0x0"]
    assert landed(ACCEL, [*S1, DMA, off, DMA]) == ["0x42000000", "0x43000000"]
    assert landed(CTL, [*SETUP, off, *abort_ste, DMA, on, DMA]) == ["0x43000000", "0x0"]


def test_a_rewritten_cd_needs_a_cfgi_that_reaches_the_smmu() -> None:
    """CFGI_CD is forwarded once the vDEVICE exists (§7a); the next DMA walks the new
    CD's tables.  Without it the CD in use is unpredictable: not covered."""
    new_cd = [{"map": {"ttb": 0x41500000, "iova": 0x43000000, "pa": 0x44000000}},
              {"cd": {"address": 0x41300000, "asid": 4, "ttb0": 0x41500000}}]
    cfgi_cd = {"cmd": {"op": "CFGI_CD", "sid": 0x10}}
    for argv in (ACCEL, CTL):
        assert landed(argv, [*S1, DMA, *new_cd, cfgi_cd, DMA]) == ["0x42000000",
                                                                   "0x44000000"]
        with pytest.raises(GuestModelError, match="rewrote the CD"):
            run(argv, [*S1, DMA, *new_cd, DMA])


def test_every_forwardable_command_fires_the_forwarding_rule() -> None:
    """7a.forward is evidence for every command the table decides, forwarded or not."""
    for argv in (ACCEL, CTL):
        p = run(argv, [*SETUP, {"cr0": ["smmuen", "cmdqen"]},
                       {"cmd": {"op": "TLBI_NH_VA", "asid": 1, "addr": 0x1000}}])
        assert "7a.forward" in p["rules"]
