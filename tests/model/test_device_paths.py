"""One device path: the inlined path for plain cold PCI devices
(``engine.devices.cold_plug``) predicts exactly what the general ``add_device`` does.

Hypothesis generates machines rich in what the fast path handles itself (buses given or
defaulted, pxb root buses, ports and SHPC bridges, slot warnings and refusals, ids and
type-numbered keys, NICs with and without netdev, iommufd backends that exist or not)
and in what switches it off (an accel SMMU, ``-global``, ``addr=``/``multifunction=``);
each machine is predicted twice, with the fast path and with every device through
``add_device`` (``devices.GENERAL_ONLY``), under every profile, with the lazy
observables too (devfns show in the trace).  The two ``to_dict()`` must be equal.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalogue.scenario import Event
from reference_model import PROFILES, predict
from reference_model.engine import devices

PLAIN = ["e1000e", "virtio-net-pci", "virtio-rng-pci", "nvme", "igb", "vfio-user-pci",
         "pcie-root-port", "pci-bridge", "pcie-pci-bridge", "virtio-blk-pci", "rtl8139"]
OTHER = ["vfio-pci", "pxb-pcie", "no-such-device", "virtio-iommu-pci"]
TIERS = [["-accel", "tcg"], ["-accel", "kvm", "-cpu", "host"],
         ["-accel", "kvm", "-cpu", "host", "-bios", "fw"]]


@st.composite
def machines(draw: st.DrawFn) -> tuple[list[str], list[Event]]:
    m = ["virt"]
    if draw(st.booleans()):
        m.append("gic-version=" + draw(st.sampled_from(["2", "3"])))
    argv = ["-M", ",".join(m), *draw(st.sampled_from(TIERS))]
    if draw(st.booleans()):
        argv.append("-nodefaults")
    if draw(st.integers(0, 3)) == 0:
        argv += ["-object", "iommufd,id=fd0"]
    if draw(st.integers(0, 5)) == 0:
        argv += ["-global", draw(st.sampled_from(
            ["e1000e.mac=52:54:00:12:34:56", "arm-smmuv3.ril=off", "nvme.serial=x"]))]
    buses = ["pcie.0"]
    names: list[str] = []
    for i in range(draw(st.integers(0, 12))):
        kind = draw(st.integers(0, 14))
        if kind == 0:  # an SMMU (accel: the fast path stops applying after it)
            accel = ",accel=on" if draw(st.booleans()) else ""
            argv += ["-device", f"arm-smmuv3,primary-bus={draw(st.sampled_from(buses))},"
                                f"id=s{i}{accel}"]
            continue
        driver = draw(st.sampled_from(OTHER if kind == 1 else PLAIN))
        props = [driver]
        ident = draw(st.sampled_from([f"d{i}", None, None]))
        if ident is not None:
            props.append(f"id={ident}")
        bus = "nowhere" if draw(st.integers(0, 15)) == 0 else draw(
            st.sampled_from([None, *buses, *buses]))
        if bus is not None:
            props.append(f"bus={bus}")
        if driver == "pxb-pcie":
            props.append(f"bus_nr={10 * (i + 1)}")
        if driver.startswith(("vfio", "nvme")) and draw(st.booleans()):
            props.append("iommufd=" + draw(st.sampled_from(["fd0", "fd9"])))
        if driver in ("e1000e", "igb", "virtio-net-pci", "rtl8139") and draw(st.booleans()):
            props.append("netdev=n0")
        if draw(st.integers(0, 7)) == 0:
            props.append(draw(st.sampled_from(["addr=0x3", "addr=2.1", "multifunction=on",
                                               "addr=zz"])))
        if driver == "vfio-pci":
            props.append("host=0000:01:00.0")
        argv += ["-device", ",".join(props)]
        if ident is not None and driver in ("pcie-root-port", "pci-bridge", "pcie-pci-bridge",
                                            "pxb-pcie"):
            buses.append(ident)
        if ident is not None:
            names.append(ident)
    events = [Event("device_add", {"driver": draw(st.sampled_from(PLAIN)), "id": f"h{i}",
                                   "bus": draw(st.sampled_from(buses))})
              for i in range(draw(st.integers(0, 2)))]
    if draw(st.booleans()) and names:
        events.append(Event("device_del", {"id": draw(st.sampled_from(names))}))
    return argv, events


@contextmanager
def general_only() -> Iterator[None]:
    """Every -device through add_device, for the length of the block."""
    devices.GENERAL_ONLY = True
    try:
        yield
    finally:
        devices.GENERAL_ONLY = False


def _both(argv: list[str], events: list[Event], profile: str, observe: tuple[str, ...]
          ) -> tuple[Any, Any]:
    def one() -> Any:
        try:
            return predict(argv, events, profile=profile, observe=observe).to_dict()
        except ValueError as e:  # CmdlineError etc: both paths must refuse alike
            return f"{type(e).__name__}: {e}"
    fast = one()
    with general_only():
        general = one()
    return fast, general


@settings(max_examples=int(os.environ.get("DEVICE_PATHS_EXAMPLES", "400")), deadline=None)
@given(machines(), st.sampled_from(sorted(PROFILES)),
       st.sampled_from([(), ("iort", "trace")]))
def test_fast_path_equals_general_path(machine: tuple[list[str], list[Event]], profile: str,
                                       observe: tuple[str, ...]) -> None:
    argv, events = machine
    fast, general = _both(argv, events, profile, observe)
    assert fast == general, argv


def test_the_fast_path_is_taken_and_general_only_turns_it_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard for the property test: plain cold devices really skip add_device unless
    GENERAL_ONLY is set (else the comparison would compare a path with itself)."""
    calls: list[str] = []
    real = devices.add_device

    def counting(run: Any, driver: str, *a: Any, **k: Any) -> Any:
        calls.append(driver)
        return real(run, driver, *a, **k)

    monkeypatch.setattr(devices, "add_device", counting)
    argv = ["-M", "virt", "-accel", "tcg", "-device", "pcie-root-port,id=rp0,chassis=1",
            "-device", "e1000e,bus=rp0", "-device", "virtio-rng-pci"]
    predict(argv)  # first sight of each type fills the type memo through add_device
    calls.clear()
    predict(argv)
    assert calls == []
    with general_only():
        predict(argv)
    assert calls == ["pcie-root-port", "e1000e", "virtio-rng-pci"]
