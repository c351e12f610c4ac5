"""Which :class:`~conformance.tiers.host.QemuHost` serves each tier.

A table, so a tier plugs in by adding a row: ``tcg`` and ``kvm`` run QEMU as a local
child process (:class:`~conformance.tiers.local.LocalHost`); ``nested`` comes from
``conformance.tiers.nested`` (the nested-KVM tier, owned separately), looked up lazily so that
its absence only makes the tier unavailable, with the reason.  ``hw`` needs a host with
an SMMUv3 and VFIO devices and has no host implementation yet.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from conformance.tiers.host import QemuHost
from conformance.tiers.local import LocalHost, kvm_unavailable_reason


class _UnavailableHost(LocalHost):
    """A tier that cannot run here; every scenario on it is skipped with ``reason``."""

    def __init__(self, binary: str, tier: str, reason: str) -> None:
        super().__init__(binary, tier=tier, accel_args=(), unavailable=reason)


def _tcg(binary: str) -> QemuHost:
    return LocalHost(binary, tier="tcg", accel_args=("-accel", "tcg"))


def _kvm(binary: str) -> QemuHost:
    return LocalHost(binary, tier="kvm", accel_args=("-accel", "kvm", "-cpu", "host"),
                     unavailable=kvm_unavailable_reason())


def _nested(binary: str) -> QemuHost:
    try:
        mod = importlib.import_module("conformance.tiers.nested")
    except ImportError as e:
        return _UnavailableHost(binary, "nested", f"nested tier not installed ({e})")
    factory = getattr(mod, "make_host", None)
    if factory is None:
        return _UnavailableHost(binary, "nested",
                                "conformance.tiers.nested has no make_host(binary) yet")
    host: QemuHost = factory(binary)
    return host


def _hw(binary: str) -> QemuHost:
    return _UnavailableHost(binary, "hw", "hardware tier (host SMMUv3 + VFIO) not implemented")


#: tier name -> factory(binary path) -> host
TIER_HOSTS: dict[str, Callable[[str], QemuHost]] = {
    "tcg": _tcg,
    "kvm": _kvm,
    "nested": _nested,
    "hw": _hw,
}


def host_for(tier: str, binary: str) -> QemuHost:
    try:
        return TIER_HOSTS[tier](binary)
    except KeyError:
        raise ValueError(f"unknown tier '{tier}' (choose from {', '.join(TIER_HOSTS)})") from None
