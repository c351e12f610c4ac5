"""The QOM type hierarchy, which decides what a device *is* for admission (§3).

QEMU asks ``object_dynamic_cast(dev, TYPE_X)``: is the device's type ``X`` or derived
from it?  The model answers the same question from a table of ``name -> parent``
pairs, taken either from a QEMU binary (QMP ``qom-list-types`` with
``"abstract": true``: every entry has ``name`` and ``parent``) or from the copy of
11.1.3's table shipped in ``data/qom-types-11.1.3.json``.

That matters because the classes are not what the names suggest: in 11.1.3
``vfio-pci-nohotplug`` derives from ``vfio-pci`` (so it is treated as vfio-pci),
while ``vfio-user-pci`` derives from ``vfio-pci-device`` *beside* ``vfio-pci`` (so
``smmuv3_accel_pdev_allowed`` sees an emulated endpoint); the root ports derive from
``base-pci-bridge`` (``TYPE_PCI_BRIDGE``) and ``pxb-cxl`` from ``pxb-pcie``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from catalogue.vocabulary import SMMU_TYPE

from .errors import ModelError

#: QOM type names the rules test against (QEMU's ``TYPE_*`` macros).
TYPE_PCI_DEVICE = "pci-device"
TYPE_PCI_BRIDGE = "base-pci-bridge"
TYPE_PXB_PCIE_DEV = "pxb-pcie"
TYPE_PXB_DEV = "pxb"
TYPE_GPEX_ROOT_DEVICE = "gpex-root"
TYPE_VFIO_PCI = "vfio-pci"
TYPE_ARM_SMMUV3 = SMMU_TYPE  # "arm-smmuv3", shared with the harness
TYPE_VIRTIO_IOMMU_PCI = "virtio-iommu-pci"
TYPE_SYS_BUS_DEVICE = "sys-bus-device"
TYPE_NIC_MARKERS = ("e1000e", "e1000", "virtio-net-pci", "virtio-net-pci-base", "igb",
                    "rtl8139", "vmxnet3", "pcnet", "ne2k_pci", "i82550", "i82551",
                    "i82557a", "i82557b", "i82557c", "i82558a", "i82558b", "i82559a",
                    "i82559b", "i82559c", "i82559er", "i82562", "i82801", "tulip",
                    "sungem", "rocker")

DATA_FILE = Path(__file__).resolve().parent / "data" / "qom-types-11.1.3.json"


class TypeHierarchyError(ModelError):
    """The type table is malformed (one line, names the entry)."""


class TypeHierarchy:
    """``name -> parent`` for every QOM type of one QEMU binary."""

    __slots__ = ("_abstract", "_ancestors", "_parent", "memo", "source")

    def __init__(self, parents: Mapping[str, str | None], abstract: Iterable[str] = (),
                 source: str = "") -> None:
        self._parent = dict(parents)
        self._abstract = frozenset(abstract)
        self._ancestors: dict[str, frozenset[str]] = {}
        self.source = source
        #: facts the engine derives from this table (type name -> traits, and its -M
        #: outcomes), filled on demand
        self.memo: dict[Any, Any] = {}

    # ------------------------------------------------------------ construction
    @classmethod
    def from_qom_list_types(cls, entries: list[dict[str, Any]], source: str = "qom-list-types"
                            ) -> TypeHierarchy:
        """From the ``return`` value of QMP ``qom-list-types`` (``abstract: true``)."""
        parents: dict[str, str | None] = {}
        abstract: list[str] = []
        for i, e in enumerate(entries):
            if not isinstance(e, dict) or not isinstance(e.get("name"), str):
                raise TypeHierarchyError(f"{source}: entry {i} has no string 'name'")
            p = e.get("parent")
            if p is not None and not isinstance(p, str):
                raise TypeHierarchyError(f"{source}: type '{e['name']}': 'parent' must be a string")
            parents[e["name"]] = p
            if e.get("abstract"):
                abstract.append(e["name"])
        return cls(parents, abstract, source)

    @classmethod
    def from_file(cls, path: str | Path) -> TypeHierarchy:
        """A JSON file holding either ``{"types": [...]}`` or a bare list of entries."""
        p = Path(path)
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise TypeHierarchyError(f"{p}: cannot read type table: {e}") from None
        entries = doc.get("types", doc.get("return")) if isinstance(doc, dict) else doc
        if not isinstance(entries, list):
            raise TypeHierarchyError(f"{p}: expected a list of {{name, parent}} entries")
        return cls.from_qom_list_types(entries, source=str(p))

    @staticmethod
    @cache
    def builtin() -> TypeHierarchy:
        """The hierarchy of QEMU 11.1.3 (captured from the provisioned binary)."""
        return TypeHierarchy.from_file(DATA_FILE)

    # ------------------------------------------------------------ queries
    def __contains__(self, name: object) -> bool:
        return name in self._parent

    def parent(self, name: str) -> str | None:
        return self._parent.get(name)

    def is_abstract(self, name: str) -> bool:
        return name in self._abstract

    def ancestors(self, name: str) -> frozenset[str]:
        """``name`` and every type it derives from."""
        got = self._ancestors.get(name)
        if got is None:
            chain: list[str] = []
            t: str | None = name
            while t is not None and t not in chain:
                chain.append(t)
                t = self._parent.get(t)
            got = frozenset(chain)
            self._ancestors[name] = got
        return got

    def is_a(self, name: str, base: str) -> bool:
        """``object_dynamic_cast(obj of type name, base) != NULL``."""
        return base in self.ancestors(name)
