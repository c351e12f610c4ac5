"""Every provisioned Debian build, end to end: catalogue, fingerprint, diff, premerge.

The releases are those of :data:`artefacts.releases.RELEASES` that ``./setup.sh``
provisioned (``python -m conformance provision --release all``); a missing one is
skipped with that reason, nothing is downloaded here.  The whole TCG catalogue runs once
per release (about 8 s each) against the profile the release table names, and must give
0 nonconformance and 0 infra-error: a build without user-creatable ``arm-smmuv3``, without
``accel`` or with older messages is predicted by its profile or skipped with the precise
reason, never failed.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from artefacts.releases import RELEASES, provisioned
from conformance.tools.fingerprint import PROFILES as FP_PROFILES
from reference_model import PROFILES
from tests.frontends.conftest import REPO, leftovers, run_cli

HAVE = provisioned()


def _launcher(name: str) -> str:
    if name not in HAVE:
        pytest.skip(f"release {name} is not provisioned "
                    f"(python -m conformance provision --release {name}; ./setup.sh does it)")
    return str(HAVE[name])


def test_release_table() -> None:
    for r in RELEASES.values():
        assert r.profile in PROFILES, r.name
        assert r.profile in FP_PROFILES, r.name  # fingerprint can name it
        assert r.version.split(":")[1].startswith(r.upstream), r.name
    # two Debian builds of one release, and versions in order (the bisection relies on it)
    assert {"11.1.3", "11.1.3-sid"} <= set(RELEASES)
    ups = [tuple(int(x) for x in r.upstream.split(".")) for r in RELEASES.values()]
    assert ups == sorted(ups)


def test_debs_are_checked_against_the_index(tmp_path: Path) -> None:
    """A .deb whose SHA256 is not the index's is refused and removed (never reused)."""
    import hashlib

    from artefacts.provision import ProvisionError
    from artefacts.releases import _deb_spec, verify

    deb = tmp_path / "dmsetup_2%3a1.02.205-2_amd64.deb"
    deb.write_bytes(b"not really a deb")
    good = hashlib.sha256(deb.read_bytes()).hexdigest()
    assert _deb_spec(deb) == "dmsetup=2:1.02.205-2"
    assert verify([deb], {"dmsetup=2:1.02.205-2": good}) == {deb.name: good}
    with pytest.raises(ProvisionError, match="does not match the index"):
        verify([deb], {"dmsetup=2:1.02.205-2": "0" * 64})
    assert not deb.exists()


def test_unknown_release_is_a_usage_error(tmp_path: Path) -> None:
    r = run_cli("provision", "--release", "9.9", tmpdir=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "unknown release '9.9'" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("name", list(RELEASES))
def test_provision_is_cached(name: str, tmp_path: Path) -> None:
    launcher = _launcher(name)
    r = run_cli("provision", "--release", name, "--print-path", tmpdir=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == launcher
    manifest = json.loads((Path(launcher).parent.parent / "manifest.json").read_text())
    assert manifest["version"] == RELEASES[name].version
    assert all(len(h) == 64 for h in manifest["debs"].values()) and manifest["debs"]


@pytest.mark.parametrize("name", list(RELEASES))
def test_catalogue_on_release(name: str, tmp_path: Path) -> None:
    """The whole catalogue (tcg tier) judged by the release's profile: no false
    nonconformance, no infra error, and the skips say why."""
    launcher = _launcher(name)
    prof = RELEASES[name].profile
    r = run_cli("run", "--qemu", launcher, "--profile", prof, "--tier", "tcg", "-j", "2",
                "--json", tmpdir=tmp_path)
    doc = json.loads(r.stdout)
    verdicts = doc["verdicts"] if isinstance(doc, dict) else doc
    counts = Counter(v["status"] for v in verdicts)
    bad = [f"{v['scenario']}: {v['status']} {v['reason']}" for v in verdicts
           if v["status"] in ("nonconformance", "unexpected-pass", "infra-error")]
    assert bad == [], "\n".join(bad)
    assert r.returncode == 0, r.stderr[-2000:]
    assert counts["pass"] >= 60, counts
    skipped = [v for v in verdicts if v["status"] == "skipped"]
    assert all(v["reason"] for v in skipped)
    if prof != "qemu-11.1":  # the older builds: their skips name what they lack
        reasons = {v["reason"] for v in skipped if "tier 'tcg'" not in v["reason"]}
        assert any("has no property 'accel'" in x for x in reasons), reasons
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", list(RELEASES))
def test_fingerprint_names_release(name: str, tmp_path: Path) -> None:
    launcher = _launcher(name)
    r = run_cli("fingerprint", "--qemu", launcher, "--json", tmpdir=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    matches = json.loads(r.stdout)["matches"]
    assert matches == [RELEASES[name].profile]
    # ... and that answer is accepted back by --profile
    back = run_cli("explain", "--profile", matches[0], "--", "-M", "virt", tmpdir=tmp_path)
    assert back.returncode == 0, back.stderr


def test_diff_10_0_13_to_11_1_3_fully_explained(tmp_path: Path) -> None:
    a, b = _launcher("10.0.13"), _launcher("11.1.3")
    r = run_cli("diff", "--qemu", a, "--qemu-b", b, "--json", "--html",
                str(tmp_path / "report"), tmpdir=tmp_path)
    assert r.returncode == 1, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    assert doc["profiles"] == ["qemu-10.1", "qemu-11.1"]
    changes = doc["changes"]
    assert len(changes) > 100
    unexplained = [c for c in changes if c["mark"] != "expected"]
    assert unexplained == [], json.dumps(unexplained[:3], indent=1)
    # each tied to a row, and (for observed fields) to the rules and revisions
    assert all(c["rows"] for c in changes)
    p6 = [c for c in changes if c["scenario"].endswith(":p6-no-primary-bus")
          and c["path"] == "error"]
    assert p6 and any("P4.not-user-creatable (row P4, 10.1)" in x for x in p6[0]["rules"])
    oas = [c for c in changes if c["scenario"].endswith(":prop-oas48-needs-accel")]
    assert oas and oas[0]["path"] == "status" and "'oas'" in oas[0]["why"]
    page = (tmp_path / "report" / "index.html").read_text()
    assert 'id="changes"' in page and "0 unexplained" in page
    assert leftovers(tmp_path) == []


def test_two_debian_builds_of_11_1_3_do_not_differ(tmp_path: Path) -> None:
    a, b = _launcher("11.1.3"), _launcher("11.1.3-sid")
    r = run_cli("diff", "--qemu", a, "--qemu-b", b, tmpdir=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert " 0 differ," in r.stdout
    assert r.stdout.splitlines()[0].endswith("[qemu-11.1]")


PRECONDITIONS = str(REPO / "scenarios" / "preconditions.toml")


def test_premerge_expected(tmp_path: Path) -> None:
    base, cand = _launcher("10.0.13"), _launcher("11.1.3")
    r = run_cli("premerge", "--base", base, "--candidate", cand, "--scenario", PRECONDITIONS,
                "--html", str(tmp_path / "review"), tmpdir=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("premerge: ") and " 0 unexplained" in last
    assert "expected     tcg   preconditions.toml:p6-no-primary-bus" in r.stdout
    page = (tmp_path / "review" / "index.html").read_text()
    assert 'id="changes"' in page and 'class="expected"' in page


def test_premerge_unexplained(tmp_path: Path) -> None:
    """A candidate judged by a profile that does not predict it: every change is
    unexplained and the command fails."""
    base, cand = _launcher("10.0.13"), _launcher("11.1.3")
    r = run_cli("premerge", "--base", base, "--candidate", cand, "--candidate-profile",
                "qemu-10.1", "--scenario", f"{PRECONDITIONS}:p6-no-primary-bus",
                "--json", tmpdir=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["changes"] and all(c["mark"] == "unexplained" for c in doc["changes"])
    assert "does not conform to its profile" in doc["changes"][0]["why"]


def test_premerge_usage_errors(tmp_path: Path) -> None:
    r = run_cli("premerge", "--base", str(tmp_path / "nope"), "--candidate", "x",
                tmpdir=tmp_path)
    assert r.returncode == 2 and "nope" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("premerge", "--base", "a", "--candidate", "b", "--base-profile", "qemu-9",
                tmpdir=tmp_path)
    assert r.returncode == 2 and "unknown profile" in r.stderr


def test_run_profile_auto(tmp_path: Path) -> None:
    """``run --profile auto`` judges a build by the profile its fingerprint names."""
    launcher = _launcher("7.2")
    r = run_cli("run", "--qemu", launcher, "--profile", "auto", "--scenario",
                str(REPO / "scenarios" / "iort.toml"), tmpdir=tmp_path)
    assert "profile: qemu-7.2 (fingerprint)" in r.stderr, r.stderr
    assert r.returncode == 0, r.stdout[-3000:]
    assert "nonconformance" not in r.stdout


def test_diff_7_2_to_10_0_13_only_the_gbpa_finding(tmp_path: Path) -> None:
    """7.2 -> 10.0.13: everything is predicted by qemu-7.2 / qemu-10.1 except the legacy
    SMMU's GBPA, on which the model makes no claim (docs/findings.md R8)."""
    a, b = _launcher("7.2"), _launcher("10.0.13")
    r = run_cli("diff", "--qemu", a, "--qemu-b", b, "--json", tmpdir=tmp_path)
    doc = json.loads(r.stdout)
    assert doc["profiles"] == ["qemu-7.2", "qemu-10.1"]
    unexplained = [(c["scenario"].rpartition(":")[2], c["path"]) for c in doc["changes"]
                   if c["mark"] != "expected"]
    assert unexplained == [("idr-legacy-iommu-smmuv3", "smmus.legacy.idr.GBPA")]
    marks = {c["path"]: c["why"] for c in doc["changes"] if c["path"] == "status"}
    assert any("no trace event 'smmu_reset_exit'" in w for w in marks.values())


def test_pytest_plugin_profile_auto(tmp_path: Path) -> None:
    """The pytest plugin's ``--profile auto``: 7.2's IORT scenarios pass as qemu-7.2."""
    import subprocess
    import sys

    launcher = _launcher("7.2")
    r = subprocess.run([sys.executable, "-m", "pytest", "tests/conformance", "-m", "tcg",
                        "-k", "iort", "--qemu", launcher, "--profile", "auto", "-q",
                        "-p", "no:cacheprovider", "--conformance-log-dir",
                        str(tmp_path / "logs")], cwd=REPO, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-3000:]
    assert " passed" in r.stdout.splitlines()[-1] and "failed" not in r.stdout
