"""rules/trace.py: O7 smmu_reset_exit counts and AS1 smmu_add_mr names (TCG-verified)."""

import shlex

import pytest

from catalogue.prediction import TracePrediction
from catalogue.scenario import Event, ScenarioError, parse_scenario
from reference_model import predict

BASE = "-S -nodefaults -display none -accel tcg "


def mr(*pairs: tuple[int, int]) -> list[str]:
    return [f"smmuv3-iommu-memory-region-{d}-{n}" for d, n in pairs]


def trace(args: str, events: tuple[Event, ...] = ()) -> TracePrediction:
    p = predict(shlex.split(BASE + args), events=events, observe=("trace",))
    assert p.outcome == "starts", p.error
    assert p.trace is not None
    return p.trace


def add(id: str, bus: str) -> Event:
    return Event("device_add", {"driver": "virtio-rng-pci", "id": id, "bus": bus})


RESET = Event("system_reset", {})


def test_trace_only_when_observed() -> None:
    assert predict(shlex.split(BASE + "-M virt")).trace is None


def test_no_smmu_no_lines() -> None:
    assert trace("-M virt -device virtio-rng-pci", (RESET,)) == TracePrediction(
        add_mr=[[], []], reset_exit=[0, 0])


def test_reset_once_per_smmu_per_reset() -> None:
    t = trace("-M virt -device pxb-pcie,id=pxb1,bus_nr=8 "
              "-device arm-smmuv3,primary-bus=pcie.0,id=s0 "
              "-device arm-smmuv3,primary-bus=pxb1,id=s1 "
              "-device pcie-root-port,id=rp0,chassis=1,bus=pxb1 "
              "-device virtio-rng-pci,id=a,bus=rp0 -device virtio-rng-pci,id=b,bus=pcie.0",
              (RESET, RESET))
    assert t.reset_exit == [2, 2, 2]
    # newest bus first (rp0's, the pxb's, pcie.0), devfn order, one counter for both
    assert t.add_mr == [mr((0, 0), (0, 1), (0, 2), (8, 3), (16, 4)), [], []]


def test_cold_order_addr_and_first_free_slot() -> None:
    t = trace("-M virt -device pcie-root-port,id=rp0,chassis=1 "
              "-device virtio-rng-pci,id=a,bus=rp0 -device virtio-rng-pci,id=c,addr=5.2 "
              "-device arm-smmuv3,primary-bus=pcie.0,id=s0 "
              "-device pcie-root-port,id=rp1,chassis=2 -device virtio-rng-pci,id=d,bus=rp1 "
              "-device virtio-rng-pci,id=e")
    # rp1's bus, rp0's bus, then pcie.0: gpex-root 0, rp0 8, rp1 16, e 24, c 5.2 = 42
    assert t.add_mr == [mr((0, 0), (0, 1), (0, 2), (8, 3), (16, 4), (24, 5), (42, 6))]


def test_legacy_smmu_covers_pxb() -> None:
    t = trace("-M virt,iommu=smmuv3 -device pxb-pcie,id=pxb1,bus_nr=8 "
              "-device pcie-root-port,id=rp0,chassis=1,bus=pxb1 "
              "-device virtio-rng-pci,id=a,bus=rp0 -device virtio-rng-pci,id=b,bus=pcie.0")
    assert t.add_mr == [mr((0, 0), (0, 1), (0, 2), (8, 3), (16, 4))]
    assert t.reset_exit == [1]


def test_hotplug_once_per_smmu_bus_devfn() -> None:
    t = trace("-M virt -device arm-smmuv3,primary-bus=pcie.0,id=s0 "
              "-device pcie-root-port,id=rp0,chassis=1 -device pcie-root-port,id=rp1,chassis=2",
              (add("h1", "rp0"), Event("device_del", {"id": "h1"}), add("h2", "rp0"),
               add("h3", "rp1"), add("h4", "pcie.0"), RESET))
    assert t.add_mr == [mr((0, 0), (8, 1), (16, 2)), mr((0, 3)), [], [], mr((0, 4)), [], []]
    assert t.reset_exit == [1, 0, 0, 0, 0, 0, 1]


@pytest.mark.parametrize(("args", "why"), [
    ("-M virt -device arm-smmuv3,primary-bus=pcie.0 -device pcie-pci-bridge,id=br0 "
     "-device virtio-rng-pci,bus=br0,addr=1", "conventional PCI bridge"),
    ("-M virt -device arm-smmuv3,primary-bus=pcie.0 -device virtio-iommu-pci",
     "virtio-iommu-pci"),
])
def test_no_claim_where_the_order_is_open(args: str, why: str) -> None:
    p = predict(shlex.split(BASE + args), observe=("trace",))
    assert p.trace is not None and p.trace.add_mr is None
    assert p.trace.reset_exit == [1]
    details = [f.detail for f in p.rules if f.rule == "AS1.add-mr-no-claim"]
    assert len(details) == 1 and why in details[0]


def test_no_claim_without_nodefaults() -> None:
    p = predict(["-M", "virt", "-accel", "tcg", "-device", "arm-smmuv3,primary-bus=pcie.0"],
                observe=("trace",))
    assert p.trace is not None and p.trace.add_mr is None


def test_unknown_failure_stops_later_claims() -> None:
    t = trace("-M virt -device arm-smmuv3,primary-bus=pcie.0 "
              "-device pcie-root-port,id=rp0,chassis=1",
              (add("h1", "rp0"), add("h1", "rp0"), add("h2", "rp0"), RESET))
    assert t.add_mr == [mr((0, 0), (8, 1)), mr((0, 2)), None, None, None]
    assert t.reset_exit == [1, 0, 0, 0, 1]


def test_exits_makes_no_trace_claim() -> None:
    p = predict(shlex.split(BASE + "-M virt -device arm-smmuv3"), observe=("trace",))
    assert p.outcome == "exits" and p.trace is None


def test_rules_cite_rows() -> None:
    p = predict(shlex.split(BASE + "-M virt -device arm-smmuv3,primary-bus=pcie.0"),
                events=(RESET,), observe=("trace",))
    rows = {f.rule: f.row for f in p.rules}
    assert rows["O7.reset-exit-start"] == "O7"
    assert rows["O7.reset-exit-system-reset"] == "O7"
    assert rows["AS1.add-mr-machine-done"] == "AS1"
    assert p.events is not None and p.events[0].op == "system_reset" and p.events[0].ok


def test_scenario_system_reset_event() -> None:
    s = parse_scenario({"name": "x", "rows": ["O7"], "tiers": ["tcg"], "args": "-M virt",
                        "observe": ["trace"], "events": [{"system_reset": {}}]})
    assert s.events == (Event("system_reset", {}),) and s.observe == ("trace",)
    with pytest.raises(ScenarioError, match="system_reset takes no arguments"):
        parse_scenario({"name": "x", "rows": ["O7"], "tiers": ["tcg"], "args": "-M virt",
                        "events": [{"system_reset": {"x": 1}}]})
