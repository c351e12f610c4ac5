"""``--shard K/N`` and ``conformance merge``: unit tests (no QEMU).

The end-to-end check with real QEMU (N shards run one after another give the same
verdicts as one run) is ``tests/frontends/test_shard_merge.py``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from catalogue.scenario import load_catalogue
from conformance.frontends.merge import MergeError, junit_case, merge, verdict_table, write
from conformance.result import Verdict
from conformance.shard import (
    DEFAULT_SECONDS,
    SKIP_SECONDS,
    Shard,
    ShardError,
    Unit,
    apply,
    load_durations,
    manifest_for,
    partition,
    write_manifest,
)


def units(n: int, tier: str = "tcg") -> list[Unit]:
    return [Unit(f"{tier}-s{i:03d}", tier) for i in range(n)]


@pytest.mark.parametrize(("text", "message"), [
    ("0/3", "--shard '0/3': K must be between 1 and N (N >= 1)"),
    ("4/3", "--shard '4/3': K must be between 1 and N (N >= 1)"),
    ("1/0", "--shard '1/0': K must be between 1 and N (N >= 1)"),
    ("2", "--shard '2': expected K/N (e.g. 2/4)"),
    ("a/b", "--shard 'a/b': expected K/N (e.g. 2/4)"),
])
def test_bad_shard_specs(text: str, message: str) -> None:
    with pytest.raises(ShardError) as e:
        Shard.parse(text)
    assert str(e.value) == message


@pytest.mark.parametrize("total", [1, 2, 3, 7, 250])
def test_every_unit_in_exactly_one_shard(total: int) -> None:
    us = units(205)
    rec = {u.key: random.Random(u.key).uniform(0.01, 3.0) for u in us[::2]}
    plan = partition(us, total, rec)
    flat = [k for s in plan.shards for k in s]
    assert sorted(flat) == sorted(u.key for u in us)
    assert len(plan.shards) == total


def test_same_inputs_same_partition_whatever_the_order_of_durations() -> None:
    us = units(60)
    rec = {u.key: (i % 7) * 0.3 for i, u in enumerate(us)}
    a = partition(us, 4, rec)
    b = partition(us, 4, dict(reversed(list(rec.items()))))
    assert a.shards == b.shards and a.fingerprint() == b.fingerprint()
    # each shard keeps the run's own order (catalogue order), not the balancing order
    order = [u.key for u in us]
    for s in a.shards:
        assert s == sorted(s, key=order.index)


def test_balanced_by_recorded_durations() -> None:
    """One slow scenario and many quick ones: the slow one gets a shard nearly alone."""
    us = units(31)
    rec = {u.key: 0.1 for u in us}
    rec["tcg-s000"] = 3.0
    plan = partition(us, 2, rec)
    loads = sorted(plan.load(i) for i in (1, 2))
    assert loads == pytest.approx([3.0, 3.0])  # 30 x 0.1 against 3.0: exactly balanced
    assert plan.recorded == 31
    # without records, by count (every unit the default)
    plain = partition(us, 2)
    assert sorted(len(s) for s in plain.shards) == [15, 16]


def test_default_estimates() -> None:
    us = [Unit("tcg-a", "tcg"), Unit("nested-a", "nested"), Unit("nested-b", "nested"),
          Unit("nested-skip", "nested", runs=False), Unit("tests/x.py::t")]
    plan = partition(us, 1, {"nested-b": 4.0})
    assert plan.estimates == {"tcg-a": DEFAULT_SECONDS["tcg"],
                              "nested-a": 4.0,  # the tier's recorded median
                              "nested-b": 4.0, "nested-skip": SKIP_SECONDS,
                              "tests/x.py::t": 0.1}


def test_duplicate_units_are_refused() -> None:
    with pytest.raises(ShardError, match="unit 'tcg-s000' appears twice"):
        partition([*units(2), *units(1)], 2)


def test_durations_from_verdicts_and_junit(tmp_path: Path) -> None:
    v = tmp_path / "verdicts.json"
    v.write_text(json.dumps([Verdict("preconditions.toml:p6-no-primary-bus", "tcg", "pass",
                                     duration_s=0.25).to_dict()]))
    j = tmp_path / "junit.xml"
    j.write_text('<testsuites><testsuite><testcase classname="tests.conformance.'
                 'test_catalogue" name="test_conformance[nested-p1-x]" time="1.5"/>'
                 '<testcase classname="tests.harness.test_a" name="test_b" time="0.5"/>'
                 "</testsuite></testsuites>")
    assert load_durations([v, j]) == {"tcg-p6-no-primary-bus": 0.25, "nested-p1-x": 1.5,
                                      "tests.harness.test_a::test_b": 0.5}
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ShardError, match=r"bad.json: expected a list of verdicts"):
        load_durations([bad])
    bad.write_text("<x")
    with pytest.raises(ShardError, match=r"bad.json: not valid XML"):
        load_durations([bad])


def test_apply_to_the_catalogue() -> None:
    cat = load_catalogue()
    sf = {"tcg": cat, "nested": cat}
    parts = [apply(sf, f"{k}/3")[0] for k in (1, 2, 3)]
    for tier in sf:
        got = sorted(s.ref for p in parts for s in p[tier])
        assert got == sorted(s.ref for s in cat)
    _, m, note = apply(sf, "2/3")
    assert m.shard == "2/3" and m.total_units == 2 * len(cat)
    assert note.startswith(f"shard 2/3: {len(m.units)} of {2 * len(cat)} scenario runs")


# ------------------------------------------------------------------ merge
def verdicts_for(keys: list[str], status: str = "pass") -> list[Verdict]:
    return [Verdict(f"f.toml:{k.split('-', 1)[1]}", k.split("-", 1)[0], status,  # type: ignore[arg-type]
                    duration_s=0.1) for k in keys]


def shard_dirs(tmp_path: Path, total: int, fail: str | None = None) -> list[Path]:
    us = units(10)
    plan = partition(us, total)
    dirs = []
    for k in range(1, total + 1):
        d = tmp_path / f"shard-{k}"
        d.mkdir(parents=True)
        vs = verdicts_for(plan.shards[k - 1])
        for v in vs:
            if fail and v.scenario.endswith(fail):
                v.status, v.reason = "nonconformance", "differs"
        (d / "verdicts.json").write_text(json.dumps([v.to_dict() for v in vs]))
        write_manifest(d, manifest_for(plan, Shard(k, total)))
        dirs.append(d)
    return dirs


def test_merge_of_all_shards(tmp_path: Path) -> None:
    m = merge(shard_dirs(tmp_path, 3))
    assert len(m.verdicts) == 10 and m.failed == 0 and m.shards == 3
    assert [v.scenario for v in m.verdicts] == sorted(v.scenario for v in m.verdicts)
    out = write(m, tmp_path / "report", html=False)
    assert [p.name for p in out] == ["verdicts.json", "junit.xml"]
    junit = (tmp_path / "report/junit.xml").read_text()
    assert 'tests="10"' in junit and 'name="conformance_partition"' in junit
    assert m.summary() == ("merged 3 shard(s): 10 scenario run(s): 10 pass; "
                           "JUnit 10 test case(s)")


def test_merge_keeps_failures(tmp_path: Path) -> None:
    m = merge(shard_dirs(tmp_path, 2, fail="s004"))
    assert m.failed == 1
    assert verdict_table(m.verdicts)["tcg f.toml:s004"] == "nonconformance"


def test_missing_duplicate_and_foreign_shards_are_refused(tmp_path: Path) -> None:
    dirs = shard_dirs(tmp_path / "a", 3)
    with pytest.raises(MergeError, match=r"shard\(s\) 2/3 missing"):
        merge([dirs[0], dirs[2]])
    with pytest.raises(MergeError, match=r"shard 1/3 given twice"):
        merge([dirs[0], dirs[0], dirs[1], dirs[2]])
    # unsharded verdict files that overlap (e.g. two runs of one scenario)
    with pytest.raises(MergeError, match=r"tcg f.toml:s\d+ appears in both .*/a/shard-1/"
                                         r"verdicts.json and .*copy.json"):
        (tmp_path / "copy.json").write_text((dirs[0] / "verdicts.json").read_text())
        merge([dirs[0] / "verdicts.json", tmp_path / "copy.json"])
    other = shard_dirs(tmp_path / "b", 2)  # a shard of another partition
    with pytest.raises(MergeError, match=r"shard\(s\) 1/2 of partition \w+ missing"):
        merge([*dirs, other[1]])
    (dirs[1] / "verdicts.json").write_text("[]")
    with pytest.raises(MergeError, match=r"lists other scenario runs than its verdicts\.json"):
        merge(dirs)
    with pytest.raises(MergeError, match=r"no verdicts\.json"):
        merge([tmp_path])


def test_two_sharded_runs_merge_in_tier_order(tmp_path: Path) -> None:
    """A TCG run in 3 shards and a nested run in 2 shards make one report."""
    tcg = shard_dirs(tmp_path / "tcg", 3)
    us = units(4, "nested")
    plan = partition(us, 2)
    nested = []
    for k in (1, 2):
        d = tmp_path / "nested" / f"shard-{k}"
        d.mkdir(parents=True)
        (d / "verdicts.json").write_text(json.dumps(
            [v.to_dict() for v in verdicts_for(plan.shards[k - 1])]))
        write_manifest(d, manifest_for(plan, Shard(k, 2)))
        nested.append(d)
    m = merge([*nested, *tcg])
    assert [v.tier for v in m.verdicts] == ["tcg"] * 10 + ["nested"] * 4
    assert m.shards == 5
    with pytest.raises(MergeError, match=r"shard\(s\) 2/2 of partition \w+ missing"):
        merge([nested[0], *tcg])


def test_junit_inputs_merge_and_count(tmp_path: Path) -> None:
    files = []
    for k, status in ((1, "pass"), (2, "nonconformance")):
        cases = [junit_case(v) for v in verdicts_for([f"tcg-s{k}a", f"tcg-s{k}b"], status)]
        from conformance.frontends.merge import junit
        p = tmp_path / f"j{k}.xml"
        junit(cases, properties={"conformance_shard": f"{k}/2",
                                 "conformance_partition": "abc"}).write(p)
        files.append(p)
    m = merge(files)
    assert m.failed == 2 and m.shards == 2
    root = m.junit.getroot()
    suite = root.find("testsuite") if root is not None else None
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("4", "2")
    with pytest.raises(MergeError, match=r"shard\(s\) 2/2 missing"):
        merge(files[:1])
    files[1].write_text(files[1].read_text().replace('value="2/2"', 'value="two"'))
    with pytest.raises(MergeError, match=r"j2.xml: shard 'two': expected K/N"):
        merge(files)


@pytest.mark.parametrize(("argv", "message"), [
    (["--shard", "4/3"], "--shard '4/3': K must be between 1 and N (N >= 1)"),
    (["--shard-durations", "x.json"], "--shard-durations needs --shard K/N"),
    (["--shard", "1/2", "--shard-durations", "/nonexistent.json"],
     "--shard-durations /nonexistent.json: cannot read: No such file or directory"),
])
def test_run_shard_usage_errors_exit_2_before_any_qemu(
        argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    from conformance.frontends.cli import main

    # /bin/false as the binary: anything that tried to start it would not say this
    assert main(["run", "--qemu", "/bin/false", "--scenario", "preconditions.toml",
                 *argv]) == 2
    assert capsys.readouterr().err.strip() == f"python -m conformance run: error: {message}"
