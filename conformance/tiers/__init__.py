"""Tiers: where a scenario can be shown, as a registry.

Each tier is one row of :data:`TIERS`: its name (a :data:`catalogue.vocabulary.TIERS`
entry), the arguments it adds to every scenario, and the factory of its
:class:`~conformance.tiers.host.QemuHost`.  A host declares its ``features`` (what it can
observe); nothing in the harness checks a host's class.

* ``tcg`` and ``kvm``: QEMU as a local child process (:mod:`conformance.tiers.local`);
* ``nested``: QEMU under test inside an arm64 L1 guest with KVM
  (:mod:`conformance.tiers.nested`);
* ``hw``: a host with an SMMUv3 and VFIO devices, not implemented: every scenario on it
  is skipped with that reason.

Adding a tier (e.g. a guest-driven one): a folder ``conformance/tiers/<name>/`` with its
host, one row here, its name in ``catalogue.vocabulary.TIERS`` and a pytest marker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from conformance.tiers.host import QemuHost
from conformance.tiers.local import LocalHost, kvm_unavailable_reason
from conformance.tiers.nested.host import TIER_ARGS as NESTED_ARGS
from conformance.tiers.nested.host import make_host as make_nested_host


@dataclass(frozen=True)
class Tier:
    """One row of the tier registry."""

    name: str
    #: arguments the tier adds to every scenario (unless the scenario picks -accel itself)
    args: tuple[str, ...]
    #: binary path -> the host that runs QEMU for this tier
    make_host: Callable[[str], QemuHost]


class _UnavailableHost(LocalHost):
    """A tier that cannot run here; every scenario on it is skipped with ``reason``."""

    def __init__(self, binary: str, tier: str, reason: str) -> None:
        super().__init__(binary, tier=tier, accel_args=(), unavailable=reason,
                         features=frozenset())


TCG_ARGS = ("-accel", "tcg")
KVM_ARGS = ("-accel", "kvm", "-cpu", "host")

#: tier name -> row, cheapest first
TIERS: dict[str, Tier] = {t.name: t for t in (
    Tier("tcg", TCG_ARGS, lambda b: LocalHost(b, tier="tcg", accel_args=TCG_ARGS)),
    Tier("kvm", KVM_ARGS, lambda b: LocalHost(b, tier="kvm", accel_args=KVM_ARGS,
                                               unavailable=kvm_unavailable_reason())),
    Tier("nested", NESTED_ARGS, make_nested_host),
    Tier("hw", (), lambda b: _UnavailableHost(
        b, "hw", "hardware tier (host SMMUv3 + VFIO) not implemented")),
)}

#: the tiers a run uses when none is given (any host can run TCG)
DEFAULT_TIERS: tuple[str, ...] = ("tcg",)

#: tier name -> factory(binary path) -> host (the registry's factories, by name)
TIER_HOSTS: dict[str, Callable[[str], QemuHost]] = {n: t.make_host for n, t in TIERS.items()}


def tier_row(tier: str) -> Tier:
    try:
        return TIERS[tier]
    except KeyError:
        raise ValueError(f"unknown tier '{tier}' (choose from {', '.join(TIERS)})") from None


def host_for(tier: str, binary: str) -> QemuHost:
    return tier_row(tier).make_host(binary)


__all__ = ["DEFAULT_TIERS", "TIERS", "TIER_HOSTS", "Tier", "host_for", "tier_row"]
