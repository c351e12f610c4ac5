"""§8 O1-O4: the ACPI IORT table virt builds at machine start.

Computed only when a scenario observes ``iort`` (the engine calls :func:`build` lazily),
so predictions that do not need it stay fast.

What the rules encode (TCG✔ on 11.1.3 unless marked PRED; read with ``-qtest`` and
fw_cfg DMA before any firmware ran, so bridges have no secondary bus numbers yet and
each SMMU covers exactly the root bus it is attached to):

* O1: header revision 5 since the merge (commit ``06c0c8fde7``), 3 before (series
  v4-v7 and older: from source, PRED for those profiles).
* O4 node order: ITS group (when the MSI controller is the ITS), the SMMUv3 nodes
  sorted by the first RID they translate, the root complex, then RMR nodes.
* O4 identifiers: a counter in creation order (ITS first); user-created SMMUs take the
  next values *before* sorting, so an SMMU created first on a pxb keeps the lower id
  although its node comes later (TCG✔).  The legacy ``iommu=smmuv3`` node always says
  0 but still consumes a counter value (TCG✔: ITS 0, SMMU 0, RC 2).
* O4 SMMU node: base, GSIVs in table order event, PRI, GERR, sync = irq, irq+1, irq+3,
  irq+2; user SMMU k (creation order) has irq 144 + 4k (platform bus), legacy 106;
  flags 1 (COHACC override).  Its own ID mapping goes to the ITS when there is one.
* O4 RC ID mappings: one per SMMU root bus ``[bus<<8, 0xff]`` (sorted), then the gaps
  of ``[0, 0xffff]`` to the ITS (when present); "number of IDs" is length minus one.
* O2 (PRED): one RMR node per accel SMMU, memory range 0x8000000 + 0x100000.
* O3: the RC ATS attribute is 1 if any accel SMMU has ATS enabled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..prediction import IortPrediction
from . import register, releases

O1 = register("O1.iort-revision", "O1", "merged",
              doc="IORT header revision: 5 since the RMR merge, 3 before")
O1_OLD = register("O1.iort-revision-old", "O1", "v4", predicted=True,
                  doc="IORT header revision 3 before the merge (source only)")
O4 = register("O4.iort-layout", "O4", "11.1",
              doc="ITS -> SMMUv3 nodes (sorted by RID) -> RC; RC maps SMMU bus ranges")
O4_LEGACY = register("O4.iort-legacy-identifier", "O4", "11.1",
                     doc="the legacy iommu=smmuv3 node says identifier 0 (counter consumed)")
O2 = register("O2.iort-rmr", "O2", "merged", predicted=True,
              doc="one RMR node per accel SMMU: 0x8000000 + 0x100000, MSI IOVA window")
O3 = register("O3.iort-rc-ats", "O3", "merged",
              doc="RC ATS attribute = any accel SMMU with ATS enabled")

PLATFORM_BUS_GSIV = 112 + 32  # VIRT_PLATFORM_BUS SPI base, as a GSIV
LEGACY_GSIV = 74 + 32  # VIRT_SMMU SPI
MSI_RMR = (0x8000000, 0x100000)
_ALL_RIDS = 0x10000


@dataclass(frozen=True)
class IortSmmu:
    """What the IORT needs to know about one SMMU, in creation order."""

    base: int
    legacy: bool
    accel: bool
    ats: bool
    buses: tuple[int, ...]  # root bus numbers whose RIDs it translates
    #: pci_bus_range of each root bus, (min, max), in the order of ``buses``; empty:
    #: each bus alone.  Before firmware numbers the bridges their secondary/subordinate
    #: bus registers read 0, so a root bus with a bridge on it ranges from 0 (O4, TCG✔,
    #: found by the fuzzer: pxb bus_nr=25 with a root port maps RIDs 0-0x19ff)
    ranges: tuple[tuple[int, int], ...] = ()

    def spans(self) -> list[tuple[int, int]]:
        return list(self.ranges) if self.ranges else [(b, b) for b in self.buses]


def _target(base: int) -> str:
    return f"smmu@0x{base:08x}"


def build(revision: int, its: bool, smmus: Sequence[IortSmmu], rmr: bool = True,
          its_always: bool = False, legacy_counter: bool = False, map_count: int = 0xFF,
          ) -> tuple[IortPrediction, list[str]]:
    """The IORT for this machine, and the ids of the rules that decided it.

    ``its_always``, ``legacy_counter`` and ``map_count`` are the releases before 10.2
    (:mod:`.releases`): an ITS node whatever the MSI controller, the legacy node's
    identifier from the counter, 7.2's count of 0x100.
    """
    fired = [O4.id]
    if its_always and not its:
        its = True
        fired.append(releases.IORT_ITS_ALWAYS.id)
    ident = 1 if its else 0
    nodes: list[tuple[int, int, dict[str, object], IortSmmu]] = []
    user = 0
    for s in smmus:
        if s.legacy:
            gsiv, node_id = LEGACY_GSIV, ident if legacy_counter else 0
            fired.append(releases.IORT_LEGACY_COUNTER.id if legacy_counter else O4_LEGACY.id)
        else:
            gsiv, node_id = PLATFORM_BUS_GSIV + 4 * user, ident
            user += 1
        ident += 1
        first = min((lo for lo, _ in s.spans()), default=0) << 8
        nodes.append((first, len(nodes), {
            "base": s.base, "gsiv": [gsiv, gsiv + 1, gsiv + 3, gsiv + 2],
            "identifier": node_id, "flags": 1}, s))
    nodes.sort(key=lambda n: (n[0], n[1]))
    maps: list[dict[str, object]] = []
    covered: list[tuple[int, int]] = []
    for _, _, _, s in nodes:
        for lo, hi in sorted(s.spans(), key=lambda sp: sp[0]):  # stable, by input
            # map_count: 0xFF per bus (a count is size - 1); 7.2's 0x100 is one more
            maps.append({"input": lo << 8, "count": ((hi - lo) << 8) + map_count,
                         "output": lo << 8, "target": _target(s.base)})
            covered.append((lo << 8, (hi + 1) << 8))
    if its:
        # build_iort: the SMMU ID maps sorted by input base (stable), then an ITS map for
        # each gap before a map, where the next gap starts at the end of the map just
        # passed, not the furthest end: with overlapping maps (before firmware, S23)
        # the ITS map restarts after the last one (TCG✔, found by the fuzzer)
        nxt = 0
        for lo, hi in sorted(covered, key=lambda c: c[0]):
            if lo > nxt:  # 7.2 (map_count 0x100): one more here too
                maps.append({"input": nxt, "count": lo - nxt - 0x100 + map_count, "output": nxt,
                             "target": "its"})
            nxt = hi
        if nxt < _ALL_RIDS:
            maps.append({"input": nxt, "count": _ALL_RIDS - nxt - 1, "output": nxt,
                         "target": "its"})
    rmrs: list[dict[str, object]] = []
    if rmr:
        for _, _, _, s in nodes:
            if s.accel and not s.legacy:
                b = min(s.buses, default=0)
                rmrs.append({"smmu": s.base, "input": b << 8, "count": 0xFF,
                             "ranges": [list(MSI_RMR)]})
        if rmrs:
            fired.append(O2.id)
    ats = any(s.accel and s.ats for s in smmus)
    fired.append(O3.id)
    fired.append(O1.id if revision >= 5 else O1_OLD.id)
    if map_count != 0xFF and nodes:
        fired.append(releases.IORT_SMMU_COUNT_256.id)
    pred = IortPrediction(
        revision=revision, node_count=int(its) + len(nodes) + 1 + len(rmrs),
        its_present=its, smmu_nodes=[n[2] for n in nodes], rc_ats=int(ats),
        rc_id_mappings=maps, rmr_nodes=rmrs)
    return pred, fired
