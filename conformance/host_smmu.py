"""Which host SMMUv3 the model is given for one scenario run (catalogue §5a).

The model predicts the host checks (H0-H11), 'auto' resolution (2b) and the CMDQV probe
from the host's ``IOMMU_GET_HW_INFO`` data.  That data belongs to the *tier*, like the
build's type hierarchy belongs to the binary, so it is probed by the tier's host, not
written into scenario files.  Precedence, first match wins:

1. the scenario's own ``host`` table: an explicit override (a scenario about a host the
   tier does not have, or a tier that cannot probe);
2. the tier's probe: a host object with a ``host_smmu()`` method (the nested tier's L1,
   :mod:`conformance.tiers.nested.hostprobe`) returns what it found, or ``None`` when it has
   no host SMMU to ask (TCG; the stock nested image without ``/dev/iommu``);
3. none: the model skips the host checks (``reference_model`` with ``host=None``).

If the tier *has* a host SMMU but its probe failed, a scenario that puts a VFIO device
behind an SMMU would be predicted against the wrong host, so it is an ``infra-error``
(:class:`~conformance.errors.HarnessError`) instead of a nonconformance blamed on QEMU;
scenarios without VFIO are unaffected.  The verdict records the host used
(``Verdict.host_smmu``: ``source`` is ``scenario`` or ``probed``).
"""

from __future__ import annotations

from typing import Any, Protocol

from catalogue.scenario import HostSmmu, Scenario
from conformance.errors import HarnessError
from conformance.tiers.host import QemuHost

#: device types whose attach runs the host checks (QEMU's set_iommu_device callers)
VFIO_DRIVERS = ("vfio-pci",)


class Probed(Protocol):
    """What a tier's ``host_smmu()`` returns."""

    smmu: HostSmmu

    def to_dict(self) -> dict[str, Any]: ...


def uses_vfio(s: Scenario) -> bool:
    """Whether the scenario attaches a VFIO device (command line or ``device_add``)."""
    argv = list(s.argv)
    for i, a in enumerate(argv[:-1]):
        if a in ("-device", "--device") and argv[i + 1].split(",", 1)[0] in VFIO_DRIVERS:
            return True
    return any(e.op == "device_add" and e.arguments.get("driver") in VFIO_DRIVERS
               for e in s.events)


def _record(h: HostSmmu, source: str) -> dict[str, Any]:
    return {"source": source, "idr0": hex(h.idr0), "idr1": hex(h.idr1), "idr3": hex(h.idr3),
            "idr5": hex(h.idr5), "info_type": h.info_type, "cmdqv": h.cmdqv,
            "vfio_group": h.vfio_group}


def model_host(s: Scenario, tier_host: QemuHost) -> tuple[HostSmmu | None,
                                                          dict[str, Any] | None]:
    """``(host for the model, record for the verdict)``; raises :class:`HarnessError`
    when the tier's probe failed and the scenario needs the host."""
    if s.host is not None:
        return s.host, _record(s.host, "scenario")
    getter = getattr(tier_host, "host_smmu", None)
    if getter is None:
        return None, None
    try:
        probed: Probed | None = getter()
    except HarnessError:
        if uses_vfio(s):
            raise
        return None, None
    if probed is None:
        return None, None
    return probed.smmu, {**_record(probed.smmu, "probed"), "probe": probed.to_dict()}


class HostFileError(ValueError):
    """A host SMMU file that cannot be read; ``str()`` is one line naming it."""


def load_host_file(path: str) -> HostSmmu:
    """A host SMMU from JSON: the nested probe's ``host-smmu.json`` (its ``host`` table),
    a verdict's ``host_smmu`` record, or a flat table of the scenario ``host`` keys
    (integers or hex strings)."""
    import json

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise HostFileError(f"--host-smmu {path}: cannot read JSON: "
                            f"{getattr(e, 'strerror', None) or e}") from None
    if isinstance(data, dict) and isinstance(data.get("host"), dict):
        data = data["host"]
    if not isinstance(data, dict):
        raise HostFileError(f"--host-smmu {path}: expected a JSON object")

    def num(key: str, default: int | None = None) -> int | None:
        v = data.get(key, default)
        if v is None or (isinstance(v, int) and not isinstance(v, bool)):
            return v
        try:
            return int(str(v), 0)
        except ValueError:
            raise HostFileError(f"--host-smmu {path}: '{key}' is not a number: {v!r}") from None

    regs = {k: num(k) for k in ("idr0", "idr1", "idr3", "idr5")}
    missing = [k for k, v in regs.items() if v is None]
    if missing:
        raise HostFileError(f"--host-smmu {path}: missing '{missing[0]}'")
    return HostSmmu(idr0=regs["idr0"] or 0, idr1=regs["idr1"] or 0, idr3=regs["idr3"] or 0,
                    idr5=regs["idr5"] or 0, info_type=num("info_type", 2) or 0,
                    cmdqv=bool(data.get("cmdqv", False)),
                    vfio_group=num("vfio_group"))
