"""L2's accel trace events and the fields the harness reads from them: one table.

Both guest runners read the same QEMU 11.1 trace events from L2's ``-D`` log: the
payload runner (:mod:`conformance.observe.guest`, per step) and the real-Linux-guest
runner (:mod:`conformance.tiers.nested.linux_guest`, per run).  :data:`FIELDS` holds,
per event, the regular expression over the event's arguments (as
:func:`conformance.observe.trace.parse_line` splits them) whose named groups are the
fields; the formats are those of ``hw/arm/trace-events``, ``backends/trace-events`` and
``target/arm/trace-events``::

    smmuv3_accel_install_ste vSID=0x10 ste type=translate hwpt_id=0x9
    iommufd_backend_alloc_vdev  iommufd=5 dev_id=2 viommu_id=5 virt_id=0x10 vdev_id=8 (0)
    kvm_arm_fixup_msi_route MSI iova = 0xdead040 is translated into 0x8090040

Adding an event is one entry here; :func:`fields` reads one line, :func:`scan` a log.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from conformance.observe.trace import parse

#: event name -> pattern over its arguments (named groups: the fields read)
FIELDS: dict[str, re.Pattern[str]] = {
    "smmuv3_accel_install_ste": re.compile(r"vSID=(?P<vsid>0x[0-9a-f]+) ste type=(?P<type>\w+)"),
    "smmuv3_accel_translate_ste": re.compile(
        r"vSID=(?P<vsid>0x[0-9a-f]+)(?:.*ste=(?P<ste>[0-9a-f]+:[0-9a-f]+))?"),
    "iommufd_backend_alloc_viommu": re.compile(r"type=(?P<type>\d+)"),
    "iommufd_backend_alloc_vdev": re.compile(r"virt_id=(?P<virt_id>0x[0-9a-f]+)"),
    "iommufd_backend_alloc_hwpt": re.compile(r"flags=(?P<flags>0x[0-9a-f]+) "
                                             r"hwpt_type=(?P<hwpt_type>\d+)"),
    "iommufd_backend_invalidate_cache": re.compile(
        r"data_type=(?P<type>\d+) entry_len=(?P<len>\d+) entry_num=(?P<num>\d+) "
        r"done_num=(?P<done>\d+).*\((?P<ret>-?\d+)\)"),
    "iommufd_viommu_alloc_eventq": re.compile(r"type=(?P<type>\d+) .*\((?P<ret>-?\d+)\)"),
    "kvm_arm_fixup_msi_route": re.compile(r"MSI iova = (?P<iova>0x[0-9a-f]+) is translated "
                                          r"into (?P<gpa>0x[0-9a-f]+)"),
    "smmuv3_cmdq_opcode": re.compile(r"<--- SMMU_(?P<op>CMD_\w+)"),
    "smmuv3_cmdq_cfgi_cd": re.compile(r"sid=(?P<sid>0x[0-9a-f]+)"),
}


def fields(name: str, args: str) -> dict[str, str] | None:
    """The fields of one event of :data:`FIELDS` (``None``: another event, or arguments
    in an unknown format)."""
    pattern = FIELDS.get(name)
    m = pattern.search(args) if pattern is not None else None
    return None if m is None else {k: v for k, v in m.groupdict().items() if v is not None}


def scan(trace_text: str, *names: str) -> Iterator[tuple[str, dict[str, str]]]:
    """``(event, fields)`` for every line of a log of one of ``names``, in order."""
    for name, args in parse(trace_text):
        if name in names:
            f = fields(name, args)
            if f is not None:
                yield name, f
