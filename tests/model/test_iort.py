"""rules/iort.py: O1 revision per profile, O2 RMR and O3 ATS for accel SMMUs (PRED)."""

from reference_model import predict

KVM = ["-accel", "kvm", "-bios", "QEMU_EFI.fd", "-M", "virt,gic-version=3"]
ACCEL = "accel=on,ril=on,ssidsize=0,oas=44"


def test_iort_only_when_observed() -> None:
    argv = ["-M", "virt", "-accel", "tcg"]
    assert predict(argv).iort is None
    p = predict(argv, observe=("iort",))
    assert p.iort is not None and p.iort.revision == 5
    assert "O1.iort-revision" in {f.rule for f in p.rules}


def test_revision_by_profile() -> None:
    argv = ["-M", "virt", "-accel", "tcg"]
    revs = {prof: predict(argv, profile=prof, observe=("iort",)).iort
            for prof in ("qemu-11.1", "merged-v9", "series-v7", "series-v4")}
    assert {k: v.revision for k, v in revs.items() if v is not None} == {
        "qemu-11.1": 5, "merged-v9": 5, "series-v7": 3, "series-v4": 3}


def test_rmr_and_ats_for_accel_smmu() -> None:
    argv = [*KVM, "-device", "pxb-pcie,id=pxb1,bus_nr=0x80,bus=pcie.0",
            "-device", "arm-smmuv3,primary-bus=pcie.0,id=smmu0",
            "-device", f"arm-smmuv3,primary-bus=pxb1,id=smmu1,{ACCEL},ats=on,cmdqv=off"]
    p = predict(argv, observe=("iort",))
    assert p.outcome == "starts", p.error
    t = p.iort
    assert t is not None
    assert t.rc_ats == 1
    assert t.rmr_nodes == [{"smmu": 0x0C020000, "input": 0x8000, "count": 0xFF,
                            "ranges": [[0x8000000, 0x100000]]}]
    assert t.node_count == 1 + 2 + 1 + 1  # ITS, two SMMUs, RC, one RMR
    fired = {f.rule: f for f in p.rules}
    assert fired["O2.iort-rmr"].predicted


def test_no_rmr_without_accel() -> None:
    p = predict([*KVM, "-device", "arm-smmuv3,primary-bus=pcie.0,id=smmu0"],
                observe=("iort",))
    assert p.iort is not None
    assert (p.iort.rmr_nodes, p.iort.rc_ats) == ([], 0)
