"""Guest step sequences for the fuzzer: what a guest does to the vSMMU, drawn at random.

``fuzz --guest control`` (any tier with the payload: TCG, nested) and ``fuzz --guest
accel`` (the nested tier's passed-through e1000e) draw one fixed command line and a
random :mod:`catalogue.guest_steps` list: stream table (linear or 2-level), command and
event queues, then mutations of a stage-1 set-up: CR0 and GBPA writes, STEs of every
Config, CDs, page-table maps and unmaps over two TTBs, CFGI and TLBI commands, DMAs
(``dma``: where does the device's write land?) and event-queue reads.  A coherent S1
set-up comes first in most cases, so that translations succeed often enough for the
mutations to matter.

The model refuses what the architecture leaves unpredictable (a remapped IOVA, a
rewritten CD or, behind the emulated SMMU, a rewritten STE, with no invalidation that
reached the SMMU since): those cases end ``not-covered`` and are not buckets.  Every
choice is a Hypothesis draw, so a failing case shrinks like a command-line case: to
fewer and simpler steps.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

#: the two command lines: the non-accel control group (emulated e1000e) and the accel
#: SMMU with the nested tier's passed-through e1000e (docs/guest.md)
ARGV: dict[str, tuple[str, ...]] = {
    "control": ("-M", "virt", "-device", "arm-smmuv3,primary-bus=pcie.0,id=smmu0",
                "-device", "e1000e,bus=pcie.0,addr=0x2,romfile="),
    "accel": ("-M", "virt", "-object", "iommufd,id=iommufd0",
              "-device", "arm-smmuv3,primary-bus=pcie.0,id=smmu0,accel=on,ats=off,ril=on,"
              "ssidsize=0,oas=44,cmdqv=off",
              "-device", "vfio-pci,host=0000:01:00.0,id=vf0,bus=pcie.0,addr=0x2,"
              "iommufd=iommufd0"),
}
REQUIRES: dict[str, tuple[str, ...]] = {"control": (), "accel": ("vfio-iommufd",)}
KINDS = tuple(ARGV)

SID = 0x10
#: guest RAM pages a DMA may land on (L2 has 128 MiB at 0x40000000); the IOVAs are in
#: RAM too, so that an identity (bypass) DMA lands somewhere the payload can look
PAGES = (0x42000000, 0x43000000, 0x44000000, 0x45000000)
IOVAS = (0x43000000, 0x46000000, 0x47000000)
CDS = (0x41300000, 0x41310000)
TTBS = (0x41400000, 0x41500000)
AT = tuple(sorted({*PAGES, *IOVAS}))
_CMDS = ("CFGI_STE", "CFGI_STE", "CFGI_ALL", "CFGI_CD", "CFGI_CD_ALL", "TLBI_NH_VA",
         "TLBI_NH_ASID", "TLBI_NH_ALL", "TLBI_NSNH_ALL", "TLBI_NH_VAA")


def _dma(draw: st.DrawFn) -> dict[str, Any]:
    return {"dma": {"iova": draw(st.sampled_from(IOVAS)), "at": list(AT)}}


@st.composite
def _mutation(draw: st.DrawFn, evq: bool) -> dict[str, Any]:
    k = draw(st.sampled_from(("dma", "dma", "cmd", "map", "ste", "cd", "cr0", "gbpa",
                              "eventq_read")))
    if k == "dma":
        return _dma(draw)
    if k == "cmd":
        return {"cmd": {"op": draw(st.sampled_from(_CMDS)), "sid": SID,
                        "asid": draw(st.integers(1, 3)),
                        "addr": draw(st.sampled_from(IOVAS))}}
    if k == "map":
        return {"map": {"ttb": draw(st.sampled_from(TTBS)),
                        "iova": draw(st.sampled_from(IOVAS)),
                        "pa": draw(st.sampled_from(PAGES)),
                        "valid": draw(st.integers(0, 6)) > 0}}
    if k == "ste":
        config = draw(st.sampled_from(("s1", "abort", "bypass", "s1", "s2")))
        ste: dict[str, Any] = {"sid": SID, "config": config}
        if config == "s1":
            ste["cd"] = draw(st.sampled_from(CDS))
        if draw(st.integers(0, 9)) == 0:
            ste["valid"] = False
        return {"ste": ste}
    if k == "cd":
        return {"cd": {"address": draw(st.sampled_from(CDS)), "asid": draw(st.integers(1, 3)),
                       "ttb0": draw(st.sampled_from(TTBS))}}
    if k == "cr0":
        bits = ["cmdqen"]
        if draw(st.integers(0, 9)) < 7:
            bits.insert(0, "smmuen")
        if evq and draw(st.booleans()):
            bits.append("eventqen")
        return {"cr0": bits}
    if k == "gbpa":
        return {"gbpa": draw(st.sampled_from(("bypass", "abort")))}
    return {"eventq_read": {}} if evq else _dma(draw)


@st.composite
def guest_steps(draw: st.DrawFn) -> list[dict[str, Any]]:
    """One random step list (raw TOML-shaped tables, as a scenario file holds them)."""
    steps: list[dict[str, Any]] = [{"pci_find": "8086:10d3"}]
    table: dict[str, Any] = {"base": 0x41000000, "log2size": 8}
    if draw(st.booleans()):
        table["format"] = "2lvl"
    steps += [{"stream_table": table}, {"cmdq": {"base": 0x41100000, "log2size": 6}}]
    evq = draw(st.booleans())
    if evq:
        steps.append({"eventq": {"base": 0x41200000, "log2size": 7}})
    if draw(st.integers(0, 9)) < 7:  # a coherent S1 set-up first
        steps.append({"cr0": ["smmuen", "cmdqen", *(["eventqen"] if evq else [])]})
        ttb = draw(st.sampled_from(TTBS))
        steps.append({"cd": {"address": CDS[0], "asid": 2, "ttb0": ttb}})
        for iova in IOVAS:
            if draw(st.integers(0, 4)) > 0:
                steps.append({"map": {"ttb": ttb, "iova": iova,
                                      "pa": draw(st.sampled_from(PAGES))}})
        steps += [{"ste": {"sid": SID, "config": "s1", "cd": CDS[0]}},
                  {"cmd": {"op": "CFGI_STE", "sid": SID}}]
    steps += draw(st.lists(_mutation(evq), min_size=1, max_size=14))
    return steps
