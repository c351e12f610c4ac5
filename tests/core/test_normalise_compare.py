"""stderr splitting, argv scanning and the judging rules (strict xfail)."""

from catalogue.prediction import Prediction, SmmuPrediction
from catalogue.scenario import KnownNonconformance
from conformance.capabilities import scan_argv
from conformance.compare import judge
from conformance.normalise import split_stderr


def test_stderr_prefix_is_stripped_whatever_the_binary_path() -> None:
    err, warns = split_stderr(
        "/home/u/qemu/build/qemu-system-aarch64: -device arm-smmuv3,primary-bus=pxb1: "
        "warning: SMMUv3 device only supported with pcie.0 for DT\n"
        "qemu-system-aarch64: -device arm-smmuv3,accel=on: SMMUv3 accel=on requires KVM "
        "with kernel-irqchip=on support\n")
    assert warns == ["-device arm-smmuv3,primary-bus=pxb1: warning: SMMUv3 device only "
                     "supported with pcie.0 for DT"]
    assert err == ("-device arm-smmuv3,accel=on: SMMUv3 accel=on requires KVM with "
                   "kernel-irqchip=on support")


def test_scan_argv_finds_drivers_machines_and_smmu_keys() -> None:
    drivers, machines, keys = scan_argv(
        ["-M", "virt-10.1,iommu=smmuv3", "-device", "arm-smmuv3,primary-bus=pcie.0,id=s,accel=on",
         "-device", "driver=e1000e,bus=rp0", "-global", "arm-smmuv3.cmdqv=off"])
    assert drivers == ["arm-smmuv3", "e1000e"]
    assert machines == ["virt-10.1"]
    assert keys == ["primary-bus", "accel", "cmdqv"]


def exits(msg: str) -> Prediction:
    return Prediction(outcome="exits", exit_code=1, error=msg)


def test_equal_is_pass() -> None:
    assert judge(exits("x"), exits("x")).status == "pass"


def test_different_message_is_nonconformance_naming_the_field() -> None:
    j = judge(exits("x"), exits("y"))
    assert j.status == "nonconformance"
    assert j.reason.startswith("error: expected")


def test_extra_registers_read_are_not_differences() -> None:
    exp = Prediction(outcome="starts", smmus={"smmu0": SmmuPrediction(idr={"IDR0": 1})})
    obs = Prediction(outcome="starts",
                     smmus={"smmu0": SmmuPrediction(idr={"IDR0": 1, "GBPA": 0x1000})})
    assert judge(exp, obs).status == "pass"


KNOWN = KnownNonconformance(reason="bug", evidence="ml", fields=("error",))


def test_known_bug_showing_exactly_is_expected_nonconformance() -> None:
    assert judge(exits("x"), exits("y"), KNOWN).status == "expected-nonconformance"


def test_known_bug_not_showing_is_unexpected_pass() -> None:
    assert judge(exits("x"), exits("x"), KNOWN).status == "unexpected-pass"


def test_difference_beyond_known_bug_is_nonconformance() -> None:
    obs = Prediction(outcome="exits", exit_code=2, error="y")
    assert judge(exits("x"), obs, KNOWN).status == "nonconformance"


def test_known_bug_for_another_profile_does_not_apply() -> None:
    k = KnownNonconformance(reason="bug", evidence="ml", fields=("error",),
                            profiles=("merged-v9",))
    assert judge(exits("x"), exits("y"), k, profile="qemu-11.1").status == "nonconformance"
