"""Scale-out on real QEMU 11.1.3 (TCG): N shards run one after another, then merged,
give the same verdicts as one run (issue #11).

The subset is three catalogue files of different cost (preconditions: quick refusals;
pci_slots and trace: machines that start and are observed), each scenario on the TCG
tier and on the nested tier (which skips them unless it is the nested tier itself, so
the partition also has to place skipped units).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.frontends.conftest import REPO, leftovers, run_cli
from tests.frontends.test_run_outputs import run_cli_pytest

SUBSET = ("preconditions.toml", "pci_slots.toml", "trace.toml")
N = 3


def table(verdicts: list[dict[str, str]]) -> list[tuple[str, str, str]]:
    return [(v["tier"], v["scenario"], v["status"]) for v in verdicts]


def test_cli_shards_merged_equal_one_run(qemu_11: str, tmp_path: Path) -> None:
    sel = [a for f in SUBSET for a in ("--scenario", f)]
    common = ["run", "--qemu", qemu_11, "--tier", "tcg", *sel, "-j", "2"]
    whole = run_cli(*common, "--html", str(tmp_path / "whole"), tmpdir=tmp_path)
    assert whole.returncode in (0, 1), whole.stderr[-2000:]
    one_run = json.loads((tmp_path / "whole" / "verdicts.json").read_text())
    assert sum(v["status"] == "pass" for v in one_run) > 20
    shards = []
    for k in range(1, N + 1):
        d = tmp_path / f"shard-{k}"
        r = run_cli(*common, "--shard", f"{k}/{N}", "--shard-durations",
                    str(tmp_path / "whole" / "verdicts.json"), "--html", str(d),
                    tmpdir=tmp_path)
        assert r.returncode in (0, 1), r.stderr[-2000:]
        assert f"shard {k}/{N}: " in r.stderr and "durations recorded" in r.stderr
        mine = json.loads((d / "verdicts.json").read_text())
        assert 0 < len(mine) < len(one_run)
        shards.append(d)
    merged = run_cli("merge", *map(str, shards), "--out", str(tmp_path / "merged"),
                     tmpdir=tmp_path)
    assert merged.returncode == whole.returncode, merged.stdout + merged.stderr
    got = json.loads((tmp_path / "merged" / "verdicts.json").read_text())
    assert table(got) == table(one_run)  # same runs, same statuses, same order
    junit = ET.parse(tmp_path / "merged" / "junit.xml").getroot().find("testsuite")
    assert junit is not None and junit.get("tests") == str(len(one_run))
    assert (tmp_path / "merged" / "index.html").exists()
    assert merged.stdout.startswith(f"merged {N} shard(s): {len(one_run)} scenario run(s)")
    # a lost shard is refused, not merged into a smaller green report
    partial = run_cli("merge", str(shards[0]), str(shards[2]), "--out",
                      str(tmp_path / "partial"), tmpdir=tmp_path)
    assert partial.returncode == 2
    assert partial.stderr.strip().endswith(f"shard(s) 2/{N} missing: the merged report "
                                           "would leave their scenarios out")
    assert leftovers(tmp_path) == []


def _cases(junit: Path) -> dict[str, str]:
    out = {}
    for tc in ET.parse(junit).getroot().iter("testcase"):
        kind = next((c.tag for c in tc if c.tag in ("failure", "error", "skipped")), "pass")
        out[tc.get("name", "")] = kind
    return out


def test_pytest_shards_merged_equal_one_run(qemu_11: str, tmp_path: Path) -> None:
    files = [a for f in SUBSET[:1] for a in ("--scenario-file", str(REPO / "scenarios" / f))]
    common = ["--qemu", qemu_11, "--tier", "tcg", *files, "-p", "no:cacheprovider",
              "--conformance-log-dir", str(tmp_path / "logs")]
    r = run_cli_pytest(tmp_path, *common, f"--junitxml={tmp_path / 'whole.xml'}")
    assert r.returncode in (0, 1), r.stdout[-2000:]
    one_run = _cases(tmp_path / "whole.xml")
    assert len(one_run) >= 20
    parts = []
    for k in range(1, N + 1):
        j = tmp_path / f"junit-{k}.xml"
        r = run_cli_pytest(tmp_path, *common, "--shard", f"{k}/{N}", "--shard-durations",
                           str(tmp_path / "whole.xml"), f"--junitxml={j}")
        assert r.returncode in (0, 1, 5), r.stdout[-2000:]
        assert f"shard {k}/{N}: " in r.stdout
        parts.append(j)
    merged = run_cli("merge", *map(str, parts), "--out", str(tmp_path / "merged"),
                     "--no-html", tmpdir=tmp_path)
    assert merged.returncode in (0, 1), merged.stderr
    assert _cases(tmp_path / "merged" / "junit.xml") == one_run
    assert leftovers(tmp_path) == []
