"""The as-built replay of F9/F10 gives what 11.1.3 showed on the nested tier."""

from __future__ import annotations

from catalogue.scenario import select
from conformance.tools.accel_dma_triage import as_built, observed


def landed_as_built(name: str) -> list[str]:
    (s,) = select(f"vfio_attach.toml:{name}")
    return as_built(s.extra["guest"])


def test_the_recorded_f9_f10_scenarios_replay_as_observed() -> None:
    # observed on nested 11.1.3 (docs/findings.md F9, F10)
    assert landed_as_built("guest-dma-gbpa-while-enabled") == ["0x43000000"]
    assert landed_as_built("guest-dma-smmuen-enable") == ["0x43000000"]
    assert landed_as_built("guest-dma-smmuen-disable") == ["0x42000000", "0x42000000"]
    # where the architecture and 11.1.3 agree, so do the model and the replay
    assert landed_as_built("guest-dma-s1-translate") == ["0x42000000"]
    assert landed_as_built("guest-dma-ste-needs-cfgi") == ["0x42000000", "0x42000000",
                                                           "0x0"]


def test_observed_reads_the_payload_report() -> None:
    assert observed("G 3 dma ok landed=0x42000000 wb=0x10001 tdh=0x1 tpt=0x1\n"
                    "G 4 cmd ok err=0x0\n") == ["0x42000000"]
