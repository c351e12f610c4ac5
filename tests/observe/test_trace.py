"""conformance/observe/trace.py: the -D log of QEMU 11.1.3's log trace backend."""

from pathlib import Path

from catalogue.prediction import TracePrediction
from conformance.normalise import RawObservation, normalise
from conformance.observe.trace import TraceReader, parse, parse_line, trace_prediction


def _log(path: Path) -> str:
    """A recorded log without its '#' header lines (the command that produced it)."""
    return "".join(ln for ln in path.read_text().splitlines(keepends=True)
                   if not ln.startswith("#"))


def test_plain_lines_keep_arguments_and_drop_trailing_blank() -> None:
    assert parse_line("smmu_add_mr smmuv3-iommu-memory-region-0-0\n") == (
        "smmu_add_mr", "smmuv3-iommu-memory-region-0-0")
    assert parse_line("smmu_reset_exit \n") == ("smmu_reset_exit", "")
    assert parse_line("smmu_reset_exit") == ("smmu_reset_exit", "")
    assert parse_line("   \n") is None


def test_prefixes_are_removed() -> None:
    # -msg timestamp=on (11.1.3), and the PID@SECONDS: prefix of older log backends
    assert parse_line("2026-11-21T20:23:59.194608Z smmu_add_mr smmuv3-iommu-memory-region-8-3"
                      ) == ("smmu_add_mr", "smmuv3-iommu-memory-region-8-3")
    assert parse_line("4242@1700000000.123456:smmu_reset_exit ") == ("smmu_reset_exit", "")


def test_a_line_that_is_no_event_is_kept() -> None:
    assert parse_line("--- something else") == ("", "--- something else")


def test_recorded_timestamped_log(recorded: Path) -> None:
    events = parse(_log(recorded / "trace-two-smmus-pxb-timestamp.log"))
    assert [a for e, a in events if e == "smmu_add_mr"] == [
        f"smmuv3-iommu-memory-region-{d}-{n}" for n, d in enumerate((0, 0, 0, 8, 16))]
    assert sum(e == "smmu_reset_exit" for e, _ in events) == 4  # two SMMUs, two resets


def test_reader_takes_phases_and_waits_for_complete_lines(tmp_path: Path,
                                                          recorded: Path) -> None:
    lines = _log(recorded / "trace-as1-hotplug.log").splitlines(keepends=True)
    log = tmp_path / "trace.log"
    r = TraceReader(log)
    assert r.take() == []  # QEMU has not created the file yet
    log.write_text("".join(lines[:4]) + lines[4][:10])  # start + half of a line
    start = r.take()
    assert [e for e, _ in start] == ["smmu_add_mr"] * 3 + ["smmu_reset_exit"]
    with open(log, "a") as f:
        f.write(lines[4][10:])
    assert r.take() == [("smmu_add_mr", "smmuv3-iommu-memory-region-0-3")]
    assert r.take() == []
    assert r.text == "".join(lines[:5])


def test_phases_normalise_to_a_trace_prediction() -> None:
    phases = [[("smmu_add_mr", "smmuv3-iommu-memory-region-0-0"), ("smmu_reset_exit", "")],
              [], [("smmu_reset_exit", "")]]
    assert trace_prediction(phases) == TracePrediction(
        add_mr=[["smmuv3-iommu-memory-region-0-0"], [], []], reset_exit=[1, 0, 1])
    raw = RawObservation(started=True, exit=None, stderr="", observe=("trace",),
                         trace=phases)
    assert normalise(raw).trace == trace_prediction(phases)
    raw.observe = ("address_spaces",)
    assert normalise(raw).trace is None
