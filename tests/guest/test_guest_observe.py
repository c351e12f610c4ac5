"""The guest observer on recorded payload/trace text (real lines from a nested run)."""

from __future__ import annotations

from typing import Any

from catalogue.guest_steps import parse_steps
from catalogue.scenario import parse_scenario
from conformance.observe.guest import GuestRun, observe, parse_serial, split_phases
from conformance.tiers.nested.guest import guest_argv, judge_guest

SERIAL = """G begin steps=3
G 0 pci_find ok sid=0x10 id=0x10d38086
G 1 cmd ok err=0x0 gerror=0x0
G 2 msi ok enabled=0x1
G end
"""
TRACE = """\
iommufd_backend_alloc_hwpt  iommufd=22 dev_id=1 pt_id=2 flags=0x1 hwpt_type=0 len=0 data_ptr=0x0 out_hwpt=3 (0)
iommufd_backend_alloc_viommu  iommufd=22 dev_id=1 type=1 hwpt_id=3 data_ptr=0x0 data_len=0x0 viommu_id=4 (0)
iommufd_backend_alloc_hwpt  iommufd=22 dev_id=1 pt_id=4 flags=0x0 hwpt_type=2 len=16 data_ptr=0xffffec4ecd00 out_hwpt=5 (0)
iommufd_backend_alloc_hwpt  iommufd=22 dev_id=1 pt_id=4 flags=0x0 hwpt_type=2 len=16 data_ptr=0xffffec4eccf0 out_hwpt=6 (0)
smmuv3_write_mmio addr: 0xe00 val:0x5e900000 size: 0x4(0)
smmuv3_write_mmio addr: 0xe00 val:0x5e900001 size: 0x4(0)
smmuv3_write_mmio addr: 0x98 val:0x1 size: 0x4(0)
iommufd_backend_alloc_vdev  iommufd=22 dev_id=1 viommu_id=4 virt_id=0x10 vdev_id=7 (0)
smmuv3_accel_install_ste vSID=0x10 ste type=bypass hwpt_id=0x6
smmuv3_write_mmio addr: 0xe00 val:0x5e900002 size: 0x4(0)
kvm_arm_fixup_msi_route MSI iova = 0xdead040 is translated into 0x8090040
"""  # noqa: E501 (recorded trace lines)
STEPS = parse_steps("t", [{"pci_find": "8086:10d3"},
                          {"cmd": {"op": "CFGI_STE", "sid": 0x10}},
                          {"msi": {"doorbell": 0xDEAD040}}])


def test_serial_and_phases() -> None:
    reports, _data, last = parse_serial(SERIAL)
    assert reports[0] == {"status": "ok", "sid": "0x10", "id": "0x10d38086"}
    assert last == "G end"
    start, steps = split_phases(TRACE)
    assert len(start) == 4 and sorted(steps) == [0, 1, 2]
    assert [n for n, _ in steps[1]] == ["iommufd_backend_alloc_vdev",
                                        "smmuv3_accel_install_ste"]


def test_observation_shape() -> None:
    o = observe(GuestRun(SERIAL, TRACE, "", "completed"), list(STEPS))
    assert o["start"] == {"nest_parent_hwpts": 1, "viommus": [1], "nested_hwpts": 2}
    assert o["steps"][1]["ste_installs"] == [["0x10", "bypass"]]
    assert o["steps"][1]["vdevs"] == ["0x10"]
    assert o["steps"][2]["msi_routes"] == [["0xdead040", "0x8090040"]]


def test_hang_keeps_last_line_and_judges_report_by_predicted_keys() -> None:
    o = observe(GuestRun("G begin steps=3\nG 0 pci_find ok sid=0x10 id=0x1\n", "", "",
                         "hung"), list(STEPS))
    assert o["guest"] == "hung" and o["last_report"].startswith("G 0 pci_find")
    s = parse_scenario({"name": "g", "rows": ["M1"], "tiers": ["nested"], "args": "-M virt",
                        "guest": [{"pci_find": "8086:10d3"}]})
    exp = {"guest": "completed", "steps": [{"report": {"status": "ok", "sid": "0x10"}}]}
    obs: dict[str, Any] = {"guest": "completed",
                           "steps": [{"report": {"status": "ok", "sid": "0x10",
                                                       "id": "0x10d38086"}}]}
    assert judge_guest(exp, obs, s, "qemu-11.1")[0] == "pass"
    obs["steps"][0]["report"]["sid"] = "0x18"
    st, _reason, diffs = judge_guest(exp, obs, s, "qemu-11.1")
    assert st == "nonconformance" and diffs[0]["path"] == "steps[0].report.sid"


def test_argv_replaces_bios_and_adds_plumbing() -> None:
    class F:
        dir = "/run/guest/1"
    argv = guest_argv(["-M", "virt", "-accel", "kvm", "-cpu", "host", "-bios", "/z"],
                      F(), "/run/guest/1/payload.bin")  # type: ignore[arg-type]
    assert argv.count("-bios") == 1 and "/z" not in argv
    assert "name=opt/smmuv3/steps,file=/run/guest/1/steps.bin" in argv
    assert "-cpu" in argv and argv.count("-cpu") == 1
