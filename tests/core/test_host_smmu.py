"""The host SMMU the model is given: scenario override, else the tier's probe.

Unit tests of :mod:`conformance.host_smmu` and the pure parts of
:mod:`conformance.tiers.nested.hostprobe` (parsing ``smmu-hwinfo``, the guest-agent steps
against a fake agent).  The probe on a real L1 is ``tests/tiers/nested/test_hostprobe.py``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from catalogue.scenario import HostSmmu, select
from conformance.errors import HarnessError
from conformance.frontends.cmd_run import adhoc_scenario
from conformance.host_smmu import model_host, uses_vfio
from conformance.tiers import host_for
from conformance.tiers.nested import hostprobe
from conformance.tiers.nested.qga import ExecStatus
from reference_model import predict

HELPER_OUT = """info_type=2
data_len=40
flags=0x0
idr0=0xd44101b
idr1=0x2730010
idr2=0x0
idr3=0x1414
idr4=0x0
idr5=0x74
iidr=0x43b
aidr=0x1
capabilities=0x0
max_pasid_log2=0
cmdqv=0
cmdqv_errno=95
"""
#: the series' v7 example line (qemu-devel), as scenarios/nested_iommufd.toml holds it
QEMU_DEVEL = "nested_iommufd.toml:nested-qemu-devel-v7-cmdline"
KVM = ["-accel", "kvm", "-cpu", "host", "-bios", "/run/zero-bios.bin"]


class FakeTier:
    """A tier host with a probe (what NestedHost.host_smmu() offers)."""

    tier = "nested"

    def __init__(self, probed: hostprobe.ProbedHost | None = None,
                 error: str | None = None) -> None:
        self.probed, self.error = probed, error

    def host_smmu(self) -> hostprobe.ProbedHost | None:
        if self.error:
            raise HarnessError(self.error)
        return self.probed


def probed(**kw: Any) -> hostprobe.ProbedHost:
    raw = hostprobe.parse_helper_output(HELPER_OUT)
    return hostprobe.ProbedHost(smmu=hostprobe.host_smmu({**raw, **kw}, 4), raw=raw,
                                device="0000:01:00.0", cdev="/dev/vfio/devices/vfio0")


def test_helper_output_becomes_the_models_host() -> None:
    raw = hostprobe.parse_helper_output(HELPER_OUT)
    assert hostprobe.host_smmu(raw, 4) == HostSmmu(
        idr0=0x0D44101B, idr1=0x02730010, idr3=0x1414, idr5=0x74, info_type=2,
        cmdqv=False, vfio_group=4)
    assert hostprobe.host_smmu({**raw, "cmdqv": 1}, None).cmdqv is True


@pytest.mark.parametrize(("text", "message"), [
    ("error=IOMMU_GET_HW_INFO errno=95\n", "smmu-hwinfo failed at IOMMU_GET_HW_INFO errno=95"),
    ("idr0=0x1\n", "smmu-hwinfo output lacks info_type, idr1, idr3, idr5, cmdqv"),
    ("info_type=two\n", "smmu-hwinfo: info_type='two' is not a number"),
    ("garbage\n", "smmu-hwinfo printed an unexpected line: 'garbage'"),
])
def test_helper_failures_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(hostprobe.HostProbeError) as e:
        hostprobe.parse_helper_output(text)
    assert str(e.value) == message


@dataclass
class FakeAgent:
    """Answers the probe's two guest-exec scripts like L1 does."""

    sysfs: str = "group=4\ncdev=vfio0\n"
    helper: str = HELPER_OUT
    helper_exit: int = 0
    scripts: list[str] = field(default_factory=list)

    async def sh(self, script: str, timeout: float = 60.0) -> ExecStatus:
        self.scripts.append(script)
        if "readlink" in script:
            return ExecStatus(exited=True, exitcode=0, stdout=self.sysfs.encode())
        return ExecStatus(exited=True, exitcode=self.helper_exit, stdout=self.helper.encode())


def test_probe_reads_group_and_cdev_then_runs_the_helper(tmp_path: Path) -> None:
    agent = FakeAgent()
    found, err = asyncio.run(hostprobe.probe_l1(agent, {"vfio-iommufd"},  # type: ignore[arg-type]
                                                tmp_path))
    assert err is None and found is not None
    assert found.smmu.vfio_group == 4 and found.cdev == "/dev/vfio/devices/vfio0"
    assert agent.scripts[1].endswith("exec /usr/bin/smmu-hwinfo /dev/vfio/devices/vfio0")
    assert '"idr1": "0x2730010"' in (tmp_path / "host-smmu.json").read_text()


def test_probe_failure_and_no_iommufd() -> None:
    agent = FakeAgent(sysfs="group=4\n")
    found, err = asyncio.run(hostprobe.probe_l1(agent, {"vfio-iommufd"}))  # type: ignore[arg-type]
    assert found is None and err == ("0000:01:00.0 has no VFIO cdev in L1 (not bound to "
                                     "vfio-pci, or no CONFIG_VFIO_DEVICE_CDEV)")
    agent = FakeAgent(helper="error=VFIO_DEVICE_BIND_IOMMUFD errno=16\n", helper_exit=1)
    found, err = asyncio.run(hostprobe.probe_l1(agent, {"vfio-iommufd"}))  # type: ignore[arg-type]
    assert err == "smmu-hwinfo failed at VFIO_DEVICE_BIND_IOMMUFD errno=16"
    agent = FakeAgent(helper="no-smmu-hwinfo\n", helper_exit=1)
    found, err = asyncio.run(hostprobe.probe_l1(agent, {"vfio-iommufd"}))  # type: ignore[arg-type]
    assert err == ("/usr/bin/smmu-hwinfo is not in this L1 image (built before the host "
                   "probe existed): rebuild it with python -m images build iommufd (the "
                   "kernel stays cached)")
    # the stock image: no /dev/iommu, nothing to ask, nothing run
    agent = FakeAgent()
    assert asyncio.run(hostprobe.probe_l1(agent, {"vfio"})) == (None, None)  # type: ignore[arg-type]
    assert agent.scripts == []


def test_scenario_host_overrides_the_probe() -> None:
    (s,) = select("nested_iommufd.toml:nested-vfio-iommufd-cold")
    override = HostSmmu(idr0=0x0D44141A, idr1=0x02730290, idr3=0x1004, idr5=0x75)
    s_with = type(s)(**{**s.__dict__, "host": override})
    host, rec = model_host(s_with, FakeTier(probed()))  # type: ignore[arg-type]
    assert host == override and rec is not None and rec["source"] == "scenario"
    host, rec = model_host(s, FakeTier(probed()))  # type: ignore[arg-type]
    assert host == probed().smmu and rec is not None and rec["source"] == "probed"
    assert rec["probe"]["cdev"] == "/dev/vfio/devices/vfio0"


def test_tiers_without_a_probe_give_no_host() -> None:
    (s,) = select("nested_iommufd.toml:nested-vfio-iommufd-cold")
    assert model_host(s, host_for("tcg", "/bin/false")) == (None, None)
    assert model_host(s, FakeTier(None)) == (None, None)  # type: ignore[arg-type]


def test_failed_probe_is_an_infra_error_only_for_vfio_scenarios() -> None:
    broken = FakeTier(error="nested L1: host SMMU probe failed: no cdev")
    (vfio,) = select("nested_iommufd.toml:nested-vfio-iommufd-cold")
    (novfio,) = select("nested_properties.toml:" + _first_name("nested_properties.toml"))
    assert uses_vfio(vfio) and not uses_vfio(novfio)
    with pytest.raises(HarnessError, match="host SMMU probe failed"):
        model_host(vfio, broken)  # type: ignore[arg-type]
    assert model_host(novfio, broken) == (None, None)  # type: ignore[arg-type]
    hot = next(x for x in select("nested_iommufd.toml")
               if any(e.arguments.get("driver") == "vfio-pci" for e in x.events))
    assert uses_vfio(hot)


def _first_name(file: str) -> str:
    return next(s.name for s in select(file) if not uses_vfio(s))


def test_adhoc_qemu_devel_line_is_predicted_with_the_probed_host() -> None:
    """Issue #11 class 10: an ad-hoc line got no host, so this line was predicted to start
    while QEMU refuses the device; with the tier's probe it is predicted exactly."""
    (s,) = select(QEMU_DEVEL)
    adhoc = adhoc_scenario(list(s.argv), "nested")
    assert adhoc.host is None
    assert predict([*adhoc.argv, *KVM], host=None).outcome == "starts"  # the old answer
    host, _rec = model_host(adhoc, FakeTier(probed()))  # type: ignore[arg-type]
    p = predict([*adhoc.argv, *KVM], host=host)
    assert (p.outcome, p.exit_code) == ("exits", 1)
    assert p.error is not None and p.error.endswith(
        "vfio 0000:01:00.0: Failed to set vIOMMU: Host SMMUv3 SSIDSIZE not compatible "
        "(host=0, QEMU=20)")


def test_explain_takes_a_probed_host_file(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """``explain --host-smmu host-smmu.json`` (what a nested L1 leaves in its log
    folder) predicts the host checks the scenario files no longer paste."""
    from conformance.frontends.cli import main

    probe_file = tmp_path / "host-smmu.json"
    probe_file.write_text(__import__("json").dumps(probed().to_dict()))
    assert main(["explain", "--host-smmu", str(probe_file), "--scenario", QEMU_DEVEL]) == 0
    out = capsys.readouterr().out
    assert "outcome: exits (exit code 1)" in out
    assert "Host SMMUv3 SSIDSIZE not compatible (host=0, QEMU=20)" in out
    assert main(["explain", "--scenario", QEMU_DEVEL]) == 0  # no host: no host checks
    assert "outcome: starts" in capsys.readouterr().out
    # a verdict's record (hex strings) works too; a bad file is a usage error
    record = tmp_path / "verdict-host.json"
    record.write_text('{"source": "probed", "idr0": "0xd44101b", "idr1": "0x2730010", '
                      '"idr3": "0x1414", "idr5": "0x74", "vfio_group": 4}')
    assert main(["explain", "--host-smmu", str(record), "--scenario", QEMU_DEVEL]) == 0
    assert "SSIDSIZE not compatible" in capsys.readouterr().out
    record.write_text('{"idr0": 1}')
    assert main(["explain", "--host-smmu", str(record), "--", "-M", "virt"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"python -m conformance explain: error: --host-smmu {record}: missing 'idr1'")
