"""rules/pci_slots.py: devfn assignment, slot errors and the PCIe port warning, with the
texts of QEMU 11.1.3 (TCG-verified: scenarios/pci_slots.toml)."""

import shlex
from typing import Any

import pytest

from catalogue.prediction import Prediction
from catalogue.scenario import Event
from reference_model import predict
from reference_model.rules.pci_slots import parse_addr

BASE = "-S -nodefaults -display none -accel tcg -M virt "
RP = "-device pcie-root-port,id=rp0,chassis=1 "
RNG = "virtio-rng-pci"
WARN = ("warning: PCI: slot {slot} is not valid for {drv}, parent device only allows "
        "plugging into slot 0.")


def run(args: str, events: tuple[Event, ...] = (), profile: str = "qemu-11.1") -> Prediction:
    return predict(shlex.split(BASE + args), events=events, profile=profile)


def add(id: str, bus: str, driver: str = RNG, **extra: Any) -> Event:
    return Event("device_add", {"driver": driver, "id": id, "bus": bus, **extra})


@pytest.mark.parametrize("text,devfn", [
    ("0", 0), ("1", 8), ("1f", 0xF8), ("1f.7", 0xFF), ("3.1", 25), ("0x3", 24), ("A", 80),
    (" 3", 24), ("+3", 24), ("-0", 0)])
def test_addr_accepted(text: str, devfn: int) -> None:
    assert parse_addr(text) == devfn


@pytest.mark.parametrize("text", ["zz", "20", "1.8", "-1", "1.0.0", "0xff", "", "1.", "0x"])
def test_addr_refused(text: str) -> None:
    assert parse_addr(text) is None
    p = run(f"-device {RNG},addr={text}")
    assert (p.outcome, p.exit_code) == ("exits", 1)
    assert p.error == (f"-device {RNG},addr={text}: Property '{RNG}.addr' doesn't take "
                       f"value '{text}'")


def test_second_device_on_root_port_warns() -> None:
    p = run(RP + f"-device {RNG},bus=rp0 -device {RNG},bus=rp0,id=b")
    assert p.outcome == "starts"
    assert p.warnings == [f"-device {RNG},bus=rp0,id=b: " + WARN.format(slot=1, drv=RNG)]
    assert "F.pcie-port-slot0-warning" in [r.rule for r in p.rules]


@pytest.mark.parametrize("driver,warns", [
    ("e1000e", True), ("nvme", True), ("virtio-net-pci", True), ("qemu-xhci", True),
    ("pcie-pci-bridge", True), ("x3130-upstream", True),
    ("igb", False),  # ARI-capable
    ("e1000", False), ("rtl8139", False), ("pci-testdev", False),  # conventional PCI
])
def test_port_warning_by_device(driver: str, warns: bool) -> None:
    p = run(RP + f"-device {RNG},bus=rp0 -device {driver},bus=rp0")
    slot = [w for w in p.warnings if "slot" in w]
    assert slot == ([f"-device {driver},bus=rp0: " + WARN.format(slot=1, drv=driver)]
                    if warns else [])


def test_no_warning_on_root_bus_or_slot0() -> None:
    assert run(f"-device {RNG} -device {RNG} -device {RNG}").warnings == []
    assert run(RP + f"-device {RNG},bus=rp0,addr=0.1").warnings == []


def test_virtio_conventional_does_not_warn() -> None:
    p = run(RP + f"-device {RNG},bus=rp0 "
            f"-device {RNG},bus=rp0,disable-modern=on,disable-legacy=off")
    assert p.warnings == []


def test_explicit_addr_on_port_warns() -> None:
    p = run(RP + f"-device {RNG},bus=rp0,addr=1")
    assert p.warnings == [f"-device {RNG},bus=rp0,addr=1: " + WARN.format(slot=1, drv=RNG)]


def test_addr_in_use_gpex_root() -> None:
    p = run(f"-device {RNG},addr=0")
    assert (p.outcome, p.exit_code) == ("exits", 1)
    assert p.error == (f"-device {RNG},addr=0: PCI: slot 0 function 0 not available for "
                       f"{RNG}, in use by gpex-root,id=(null)")


def test_addr_in_use_by_named_and_auto_device() -> None:
    p = run(f"-device {RNG},addr=1,id=a -device {RNG},addr=1,id=b")
    assert p.error == (f"-device {RNG},addr=1,id=b: PCI: slot 1 function 0 not available "
                       f"for {RNG}, in use by {RNG},id=a")
    # an auto-placed device holds the next slot: pcie.0 gives 1, 2, ...
    p = run(f"-device {RNG} -device e1000e,addr=2,netdev=x -device {RNG},addr=2")
    assert p.error is not None and "in use by e1000e,id=(null)" in p.error


def test_auto_skips_explicit_slots() -> None:
    # addr=1 taken first: the auto device goes to slot 2, so addr=2 collides
    p = run(f"-device {RNG},addr=1,id=a -device {RNG},id=b -device {RNG},addr=2,id=c")
    assert p.error is not None and p.error.endswith(f"in use by {RNG},id=b")


def test_multifunction() -> None:
    p = run(f"-device {RNG},addr=1.1,id=x -device {RNG},addr=1.0,id=y")
    assert p.error == (f"-device {RNG},addr=1.0,id=y: PCI: 1.0 indicates single function, "
                       "but 1.1 is already populated.")
    p = run(f"-device {RNG},addr=1.0,id=y -device {RNG},addr=1.1,id=x")
    assert p.error == (f"-device {RNG},addr=1.1,id=x: PCI: single function device can't be "
                       "populated in function 1.1")
    p = run(f"-device {RNG},addr=1.0,id=y,multifunction=on -device {RNG},addr=1.1,id=x")
    assert p.outcome == "starts"
    p = run(f"-device {RNG},addr=a.0,multifunction=on -device {RNG},addr=a.3 "
            f"-device {RNG},addr=b.2 -device {RNG},addr=b.0")
    assert p.error is not None and p.error.endswith(
        "PCI: b.0 indicates single function, but b.2 is already populated.")


def test_no_free_slot() -> None:
    args = " ".join(f"-device {RNG}" for _ in range(31))
    assert run(args).outcome == "starts"  # gpex-root + 31
    p = run(args + f" -device {RNG},id=last")
    assert p.error == (f"-device {RNG},id=last: PCI: no slot/function available for {RNG}, "
                       "all in use or reserved")


def test_shpc_slot0() -> None:
    br = RP + "-device pcie-pci-bridge,id=br,bus=rp0 "
    p = run(br + f"-device {RNG},bus=br")
    assert p.error == (f"-device {RNG},bus=br: Unsupported PCI slot 0 for standard hotplug "
                       "controller. Valid slots are between 1 and 31.")
    assert run(br + f"-device {RNG},bus=br,addr=1").outcome == "starts"


def test_hotplug_function0_occupied_on_port() -> None:
    p = run(RP + "-device pcie-root-port,id=rp1,chassis=2 " + f"-device {RNG},bus=rp0,id=a",
            (add("h1", "rp0"), add("h2", "rp0", addr="0"), add("h3", "rp0", addr="2"),
             add("h4", "rp1", addr="0.1"), add("h5", "rp1", addr="1"), add("h6", "rp1")))
    occupied = (f"PCI: slot 0 function 0 already occupied by {RNG}, new func {RNG} cannot "
                "be exposed to guest.")
    assert p.events is not None
    assert [(e.ok, e.error_desc) for e in p.events] == [
        (False, occupied),
        (False, f"PCI: slot 0 function 0 not available for {RNG}, in use by {RNG},id=a"),
        (False, occupied),
        (True, None),
        (True, None),
        (False, "PCI: 0.0 indicates single function, but 0.1 is already populated."),
    ]
    # the hot-plug warning has no -device location
    assert p.warnings == [WARN.format(slot=1, drv=RNG)]


def test_hotplug_integer_addr_is_devfn() -> None:
    p = run(RP, (add("h1", "rp0", addr=1),))  # devfn 1 = 0.1
    assert p.events is not None and p.events[0].ok and p.warnings == []


def test_hot_unplug_frees_the_slot() -> None:
    p = run(RP, (add("h1", "rp0"), Event("device_del", {"id": "h1"}), add("h2", "rp0")))
    assert p.events is not None and [e.ok for e in p.events] == [True, True, True]


def test_cold_unplug_keeps_the_slot() -> None:
    p = run(RP + f"-device {RNG},bus=rp0,id=a",
            (Event("device_del", {"id": "a"}), add("h2", "rp0")))
    assert p.events is not None and [e.ok for e in p.events] == [True, False]


def test_slot_errors_before_admission() -> None:
    # accel SMMU: an emulated endpoint is refused (A4), but the devfn check runs first
    p = predict(shlex.split(
        "-S -nodefaults -display none -M virt -accel kvm -cpu host -bios z "
        "-device arm-smmuv3,primary-bus=pcie.0,accel=on,ats=off,ril=off,ssidsize=0,oas=44 "
        f"-device {RNG},addr=0"))
    assert p.error is not None and "in use by gpex-root" in p.error


@pytest.mark.parametrize("profile", ["qemu-11.1", "merged-v9", "series-v4"])
def test_profiles_share_the_rules(profile: str) -> None:
    p = run(RP + f"-device {RNG},bus=rp0 -device {RNG},bus=rp0", profile=profile)
    assert len([w for w in p.warnings if "slot 1 is not valid" in w]) == 1
