"""Parse ``info mtree -o -D``: which address space each PCI device's DMA goes to.

Every PCI device has an address space named after its QOM type whose root is the
``bus master container``; inside it, an alias says where DMA goes::

    address-space: virtio-rng-pci
      0000000000000000-ffffffffffffffff (prio 0, container): bus master container \
          owner:{dev id=rng0}
        0000000000000000-ffffffffffffffff (prio 0, container): alias bus master \
          @smmuv3-iommu-memory-region-0-0 0000000000000000-ffffffffffffffff [disabled] \
          owner:{dev id=rng0}

(each entry is one line in QEMU's output; wrapped here).
``-o`` prints the owner (``{dev id=X}`` or ``{dev path=/machine/...}``) that ties the
block to a device; ``-D`` shows the alias even while bus mastering is off (``[disabled]``).
The alias target names the kind (catalogue §4):

* ``@system``: system memory (AS2, A6);
* ``@smmuv3-iommu-memory-region-<devfn>-<n>``: an SMMU's IOMMU region (AS1, AS3); the
  region's own ``address-space:`` block names the SMMU that owns it;
* the root of the ``smmuv3-accel-as-sysmem`` address space (``@root``): the shared accel
  alias of system memory (AS4).

SMMU instances are found from their MMIO windows (``arm-smmuv3 owner:{...}`` under the
platform bus, or at ``0x09050000`` for the legacy ``iommu=smmuv3`` one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from catalogue.vocabulary import IOMMU_MR_PREFIX, LEGACY_SMMU_BASE, SMMU_TYPE

_LINE_RE = re.compile(
    r"^(?P<indent>\s*)(?P<start>[0-9a-f]+)-(?P<end>[0-9a-f]+) "
    r"\(prio (?P<prio>-?\d+), (?P<type>[^)]+)\): (?P<rest>.*)$")
_OWNER_RE = re.compile(r" (?:owner|parent):\{(?P<kind>dev|obj) (?P<key>id|path)=(?P<val>[^}]*)\}$")
_ALIAS_RE = re.compile(r"^alias (?P<name>.+?) @(?P<target>\S+) [0-9a-f]+-[0-9a-f]+"
                       r"(?P<disabled> \[disabled\])?$")
_IOMMU_MR_RE = re.compile(rf"^{IOMMU_MR_PREFIX}-\d+-\d+$")

#: address space of the shared accel alias of system memory (AS4)
ACCEL_SYSMEM_AS = "smmuv3-accel-as-sysmem"


@dataclass(frozen=True)
class Owner:
    """``owner:{dev id=X}`` or ``owner:{dev path=/machine/...}``."""

    kind: str  # "dev" | "obj"
    key: str  # "id" | "path"
    value: str

    @property
    def id(self) -> str | None:
        return self.value if self.key == "id" else None

    @property
    def qom_path(self) -> str:
        return f"/machine/peripheral/{self.value}" if self.key == "id" else self.value


@dataclass(frozen=True)
class Region:
    """One line of a tree: a memory region (or alias) with its owner."""

    depth: int
    start: int
    end: int
    prio: int
    type: str
    name: str
    owner: Owner | None
    alias_target: str | None = None
    disabled: bool = False


@dataclass
class Block:
    """An ``address-space:`` (or ``memory-region:``) block: the names and its tree."""

    kind: str  # "address-space" | "memory-region"
    names: list[str]
    regions: list[Region] = field(default_factory=list)

    @property
    def root(self) -> Region | None:
        return self.regions[0] if self.regions else None


@dataclass(frozen=True)
class DeviceDma:
    """Where one PCI device's bus-master DMA goes."""

    key: str  # device id, or QOM type when it has none
    qom_type: str  # the address-space name (the device's QOM type)
    owner: Owner | None
    target: str | None  # alias target region name (None: no alias shown)
    enabled: bool  # bus mastering on


@dataclass(frozen=True)
class SmmuWindow:
    """One SMMUv3 MMIO window."""

    key: str  # id, "legacy", or the QOM type
    base: int
    size: int
    owner: Owner | None


_ANON_RE = re.compile(r"^/machine/(unattached|peripheral-anon)/device\[(\d+)\]$")


def _creation_rank(owner: Owner | None, listed: int) -> tuple[int, int]:
    """Sort key of an id-less device in creation order: board devices, then
    ``-device``/``device_add`` ones, each by index; unknown paths keep QEMU's order."""
    m = _ANON_RE.match(owner.value) if owner is not None and owner.key == "path" else None
    if m is None:
        return (2, listed)
    return (0 if m.group(1) == "unattached" else 1, int(m.group(2)))


@dataclass
class Mtree:
    """The parsed ``info mtree -o -D`` output."""

    blocks: list[Block]

    def address_space(self, name: str) -> Block | None:
        for b in self.blocks:
            if b.kind == "address-space" and name in b.names:
                return b
        return None

    def devices(self) -> list[DeviceDma]:
        """Every PCI device's DMA target, in the order QEMU lists them.

        A device without an id is keyed by its QOM type; further id-less devices of the
        same type get ``type#2``, ``type#3`` ... in **creation order** (the model's
        order), which QEMU's listing does not follow: it is read from the owner's QOM
        path (board devices in ``/machine/unattached`` first, then ``-device`` and
        ``device_add`` ones in ``/machine/peripheral-anon``, each by its ``device[N]``).
        """
        found: list[tuple[str, str, Owner | None, str | None, bool]] = []
        for b in self.blocks:
            root = b.root
            if b.kind != "address-space" or root is None or root.name != "bus master container":
                continue
            alias = next((r for r in b.regions[1:] if r.alias_target is not None
                          and r.name == "bus master"), None)
            qom_type = b.names[-1]
            key = root.owner.id if root.owner and root.owner.id else qom_type
            found.append((key, qom_type, root.owner, alias.alias_target if alias else None,
                          bool(alias and not alias.disabled)))
        suffix: dict[int, int] = {}  # index in found -> 1-based rank among its key
        by_key: dict[str, list[int]] = {}
        for i, (key, *_rest) in enumerate(found):
            by_key.setdefault(key, []).append(i)
        for idx in by_key.values():
            for rank, i in enumerate(sorted(idx, key=lambda i: _creation_rank(found[i][2], i))):
                suffix[i] = rank + 1
        return [DeviceDma(key if suffix[i] == 1 else f"{key}#{suffix[i]}", qom_type, owner,
                          target, enabled)
                for i, (key, qom_type, owner, target, enabled) in enumerate(found)]

    def region_owner(self, region_name: str) -> Owner | None:
        """The owner of the root region of the address space named like the region."""
        b = self.address_space(region_name)
        if b is not None and b.root is not None and b.root.name == region_name:
            return b.root.owner
        for b in self.blocks:
            if b.kind == "memory-region" and region_name in b.names and b.root is not None:
                return b.root.owner
        return None

    def accel_sysmem_roots(self) -> set[str]:
        """Names of the root region(s) of the shared accel sysmem address space."""
        b = self.address_space(ACCEL_SYSMEM_AS)
        return {b.root.name} if b is not None and b.root is not None else set()

    def smmus(self) -> list[SmmuWindow]:
        out: list[SmmuWindow] = []
        sysmem = self.address_space("memory")
        for r in (sysmem.regions if sysmem else []):
            if r.name != SMMU_TYPE or r.alias_target is not None:
                continue
            if r.owner is not None and r.owner.id:
                key = r.owner.id
            elif r.start == LEGACY_SMMU_BASE:
                key = "legacy"
            else:
                key = SMMU_TYPE
            out.append(SmmuWindow(key, r.start, r.end - r.start + 1, r.owner))
        # several SMMUs without id: the model's keys (arm-smmuv3, arm-smmuv3#2, ...) go
        # by creation order, which is base-address order on the platform bus
        unnamed = sorted(w.base for w in out if w.key == SMMU_TYPE)
        if len(unnamed) < 2:
            return out
        nth = {b: SMMU_TYPE if n == 1 else f"{SMMU_TYPE}#{n}"
               for n, b in enumerate(unnamed, 1)}
        return [SmmuWindow(nth[w.base], w.base, w.size, w.owner) if w.key == SMMU_TYPE
                else w for w in out]

    def smmu_key_for_owner(self, owner: Owner | None) -> str | None:
        if owner is None:
            return None
        for s in self.smmus():
            if s.owner == owner:
                return s.key
        return owner.id or owner.value


def parse_region(line: str) -> Region | None:
    m = _LINE_RE.match(line)
    if not m:
        return None
    rest = m["rest"]
    owner = None
    om = _OWNER_RE.search(rest)
    if om:
        owner = Owner(om["kind"], om["key"], om["val"])
        rest = rest[:om.start()]
    target, disabled, name = None, False, rest
    am = _ALIAS_RE.match(rest)
    if am:
        name, target, disabled = am["name"], am["target"], bool(am["disabled"])
    return Region(depth=len(m["indent"]) // 2, start=int(m["start"], 16),
                  end=int(m["end"], 16), prio=int(m["prio"]), type=m["type"], name=name,
                  owner=owner, alias_target=target, disabled=disabled)


def parse(text: str) -> Mtree:
    """Parse the whole ``info mtree -o -D`` text (``\\r\\n`` or ``\\n`` line ends)."""
    blocks: list[Block] = []
    cur: Block | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line:
            cur = None
            continue
        for kind in ("address-space", "memory-region"):
            if line.startswith(kind + ": "):
                name = line[len(kind) + 2:]
                if cur is not None and cur.kind == kind and not cur.regions:
                    cur.names.append(name)  # several address spaces sharing one tree
                else:
                    cur = Block(kind, [name])
                    blocks.append(cur)
                break
        else:
            r = parse_region(line)
            if r is not None and cur is not None:
                cur.regions.append(r)
    return Mtree(blocks)


def classify_target(tree: Mtree, target: str | None) -> str:
    """The catalogue's address-space kind for an alias target (see module docstring)."""
    if target is None:
        return "none"
    if target == "system":
        return "system"
    if target in tree.accel_sysmem_roots():
        return "accel-sysmem"
    if _IOMMU_MR_RE.match(target):
        return "iommu"
    return f"other:{target}"
