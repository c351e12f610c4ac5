"""§6 M2 (rules/msi.py): the msi-gpa virt programs into an accel SMMU.

Strings marked TCG✔ were also checked against QEMU 11.1.3 (``docs/model.md``).
"""

from __future__ import annotations

from reference_model import predict

from .helpers import EXPLICIT, KVM, SMMU


def test_msi_gpa_table() -> None:
    for m, gpa in (("virt,gic-version=3", 0x08090040), ("virt,gic-version=2", 0x08020040),
                   ("virt,gic-version=3,its=off", 0), ("virt,gic-version=3,msi=off", 0)):
        p = predict(["-M", m, "-device", f"{SMMU},{EXPLICIT}", *KVM])
        assert p.smmus is not None and p.smmus["smmu0"].msi_gpa == gpa, m
    p = predict(["-M", "virt,gic-version=3,msi=off", "-device", f"{SMMU},{EXPLICIT}", *KVM],
                profile="series-v7")
    assert p.smmus is not None and p.smmus["smmu0"].msi_gpa == 0x08020040
