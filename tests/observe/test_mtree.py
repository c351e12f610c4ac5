"""`info mtree -o -D` parsing, on output recorded from QEMU 11.1.3."""

from pathlib import Path

from conformance.normalise import devices_from
from conformance.observe import mtree


def kinds(path: Path) -> dict[str, tuple[str, str | None]]:
    tree = mtree.parse(path.read_text())
    return {k: (d.address_space, d.smmu) for k, d in devices_from(tree).items()}


def test_each_root_complex_translates_through_its_own_smmu(recorded: Path) -> None:
    got = kinds(recorded / "mtree-as1-two-smmus-per-root-complex.txt")
    assert got == {
        "gpex-root": ("iommu", "smmu0"), "pxb1": ("iommu", "smmu0"),
        "rp0": ("iommu", "smmu0"), "rng0": ("iommu", "smmu0"),
        "rp1": ("iommu", "smmu1"), "rng1": ("iommu", "smmu1"),
    }


def test_legacy_smmu_is_keyed_legacy(recorded: Path) -> None:
    got = kinds(recorded / "mtree-as1-legacy-smmu.txt")
    assert got == {"gpex-root": ("iommu", "legacy"), "rng0": ("iommu", "legacy")}


def test_smmu_windows_give_base_and_size(recorded: Path) -> None:
    tree = mtree.parse((recorded / "mtree-as1-two-smmus-per-root-complex.txt").read_text())
    assert [(s.key, s.base, s.size) for s in tree.smmus()] == [
        ("smmu0", 0x0C000000, 0x20000), ("smmu1", 0x0C020000, 0x20000)]
    legacy = mtree.parse((recorded / "mtree-as1-legacy-smmu.txt").read_text()).smmus()
    assert [(s.key, s.base) for s in legacy] == [("legacy", 0x09050000)]


def test_alias_line_parses_target_owner_and_disabled() -> None:
    r = mtree.parse_region(
        "    0000000000000000-ffffffffffffffff (prio 0, container): alias bus master "
        "@smmuv3-iommu-memory-region-0-0 0000000000000000-ffffffffffffffff [disabled] "
        "owner:{dev id=rng0}")
    assert r is not None
    assert (r.name, r.alias_target, r.disabled, r.depth) == (
        "bus master", "smmuv3-iommu-memory-region-0-0", True, 2)
    assert r.owner == mtree.Owner("dev", "id", "rng0")


def test_io_typed_regions_parse() -> None:
    r = mtree.parse_region("      000000000c000000-000000000c01ffff (prio 0, i/o): arm-smmuv3 "
                           "owner:{dev id=smmu0}")
    assert r is not None and r.type == "i/o" and r.name == "arm-smmuv3"


ACCEL_SYNTHETIC = """\
address-space: smmuv3-accel-as-sysmem
  0000000000000000-ffffffffffffffff (prio 0, container): root
    0000000000000000-ffffffffffffffff (prio 0, container): alias smmuv3-accel-sysmem @system 0000000000000000-ffffffffffffffff

address-space: vfio-pci
  0000000000000000-ffffffffffffffff (prio 0, container): bus master container owner:{dev id=vf0}
    0000000000000000-ffffffffffffffff (prio 0, container): alias bus master @root 0000000000000000-ffffffffffffffff [disabled] owner:{dev id=vf0}
"""  # noqa: E501  (the AS4 layout the catalogue predicts; no TCG run can show it)


def test_accel_sysmem_alias_is_classified_as_accel_sysmem() -> None:
    tree = mtree.parse(ACCEL_SYNTHETIC)
    assert {k: d.address_space for k, d in devices_from(tree).items()} == {
        "vf0": "accel-sysmem"}


def test_unknown_target_is_reported_not_hidden() -> None:
    assert mtree.classify_target(mtree.parse(""), "virtio-iommu-mr") == "other:virtio-iommu-mr"
