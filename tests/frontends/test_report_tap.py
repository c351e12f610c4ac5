"""TAP 13 output parses with a TAP consumer and maps statuses as meson expects."""

from __future__ import annotations

import io
from typing import Any

import pytest

from conformance.result import Verdict

tap_parser = pytest.importorskip("tap.parser")

from conformance.frontends.report_tap import TapWriter, render_tap  # noqa: E402
from conformance.frontends.report_tap import test_name as tap_test_name  # noqa: E402


def parse(text: str) -> list[Any]:  # tap.py is untyped
    return list(tap_parser.Parser().parse_text(text))


def test_every_status_parses_and_maps(verdicts: list[Verdict]) -> None:
    vs = verdicts
    lines = parse(render_tap(vs))
    kinds = [ln.category for ln in lines]
    assert kinds[0] == "version" and kinds[1] == "plan"
    assert "unknown" not in kinds, render_tap(vs)
    tests = [ln for ln in lines if ln.category == "test"]
    assert len(tests) == len(vs)
    by_name = {t.description.split(" ")[1]: t for t in tests}  # "- name ..." -> name
    assert by_name["tcg-p1-accel-on-tcg"].ok
    assert not by_name["tcg-oas-48-non-accel"].ok
    skip = by_name["kvm-a4-emulated-hotplug"]
    assert skip.ok and skip.skip and "aarch64 host" in skip.directive.reason
    xfail = by_name["tcg-as1-bridge"]
    assert not xfail.ok and xfail.todo and "bug #123" in xfail.directive.reason
    assert not by_name["tcg-o1-iort-rev"].ok and not by_name["tcg-o1-iort-rev"].todo
    assert not by_name["tcg-hang"].ok


def test_yaml_block_carries_the_diff(verdicts: list[Verdict]) -> None:
    vs = verdicts
    tests = [ln for ln in parse(render_tap(vs)) if ln.category == "test"]
    nc = tests[1]
    y = nc.yaml_block
    assert y["status"] == "nonconformance"
    assert y["scenario"] == "properties.toml:oas-48-non-accel"
    assert y["differences"][1] == {"path": "smmus.smmu0.idr.IDR5", "expected": 0x75,
                                   "observed": 0x74}
    assert y["stderr_tail"] == ['qemu-system-aarch64: <oops> & "q"']
    assert y["log_dir"] == "/tmp/logs/tcg/oas-48-non-accel"
    assert y["argv"].startswith("qemu-system-aarch64 -S")
    # '#' in a reason must not turn into a directive
    assert not nc.skip and not nc.todo
    assert tests[0].yaml_block is None  # ok points carry no block


def test_writer_streams_with_trailing_plan(verdicts: list[Verdict]) -> None:
    out = io.StringIO()
    w = TapWriter(out)
    for v in verdicts[:2]:
        w.add(v)
    w.close()
    w.close()  # idempotent
    text = out.getvalue()
    assert text.splitlines()[0] == "TAP version 13"
    assert text.rstrip().splitlines()[-1] == "1..2"
    plans = [ln for ln in parse(text) if ln.category == "plan"]
    assert len(plans) == 1 and plans[0].expected_tests == 2


def test_bail_out_and_names(verdicts: list[Verdict]) -> None:
    out = io.StringIO()
    w = TapWriter(out, total=3)
    w.bail_out("QEMU binary\nmissing")
    w.close()
    lines = parse(out.getvalue())
    assert [ln.category for ln in lines] == ["version", "plan", "bail"]
    assert tap_test_name(verdicts[0]) == "tcg-p1-accel-on-tcg"
