"""§F generic qdev behaviour (rules/qdev.py): QMP hot plug and unplug.

Strings marked TCG✔ were also checked against QEMU 11.1.3 (``docs/model.md``).
"""

from __future__ import annotations

from catalogue.scenario import Event

from .helpers import SMMU, run


def test_hotplug_rules() -> None:
    p = run(f"virt -device {SMMU} -device pcie-root-port,id=rp0,chassis=1 -device "
            "e1000e,id=c0,bus=rp0,netdev=x", events=[
                Event("device_add", {"driver": "e1000e", "id": "n0"}),
                Event("device_add", {"driver": "e1000e", "id": "c0", "bus": "rp0"}),
                Event("device_del", {"id": "c0"}),
                Event("device_del", {"id": "nope"})])
    assert p.events is not None
    assert [(e.ok, e.error_class, e.error_desc) for e in p.events] == [
        (False, "GenericError", "Bus 'pcie.0' does not support hotplugging"),
        (False, "GenericError", "Duplicate device ID 'c0'"),
        (True, None, None),
        (False, "DeviceNotFound", "Device 'nope' not found")]
