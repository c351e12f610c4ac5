"""``git bisect run ... bisect-run --build-cmd`` end to end on Debian's real builds.

A throwaway git repository stands in for a QEMU tree: each commit pins one Debian build
(``QEMU_RELEASE``) in version order, and its "build" (``build.sh``) links the
provisioned binary of that release to ``build/qemu-system-aarch64`` (never downloading:
a release that is not provisioned does not build).  One commit pins 10.0.8, which
Debian never packaged: its build fails, as a broken commit's would, and
``bisect-run`` answers 125 so ``git bisect`` skips it.

Judged against the ``qemu-10.1`` profile (``arm-smmuv3`` is not user-creatable), every
commit up to 10.0.13 is good and the first commit whose build creates ``-device
arm-smmuv3`` is bad: ``git bisect`` must name the 11.1.3 commit.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from artefacts.releases import provisioned
from tests.frontends.conftest import leftovers

ORDER = ["7.2", "10.0.2", "10.0.8", "10.0.13", "11.1.3", "11.1.3-sid"]
SCENARIO = """\
[[scenario]]
name = "smmu-user-creatable"
rows = ["P4"]
tiers = ["tcg"]
description = "-device arm-smmuv3 on pcie.0: refused before 10.2 (§10 row 1), starts after"
args = "-M virt -device arm-smmuv3,primary-bus=pcie.0,id=smmu0"
"""
BUILD_SH = """\
#!/bin/sh
# "Build" this commit: link the Debian build it pins (provisioned only, never downloaded).
rel=$(cat QEMU_RELEASE)
path=$("$SUITE_PYTHON" -c 'import sys
from artefacts.releases import provisioned
p = provisioned().get(sys.argv[1])
print(p or "")' "$rel")
if [ -z "$path" ]; then echo "build.sh: QEMU $rel: no such build" >&2; exit 1; fi
mkdir -p build && ln -sf "$path" build/qemu-system-aarch64 && echo "built QEMU $rel"
"""


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout


def make_repo(repo: Path) -> dict[str, str]:
    """One commit per release of :data:`ORDER`; returns release -> commit."""
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "master")
    (repo / "build.sh").write_text(BUILD_SH)
    (repo / ".gitignore").write_text("build/\n")
    commits = {}
    for rel in ORDER:
        (repo / "QEMU_RELEASE").write_text(rel + "\n")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", f"pin QEMU {rel}")
        commits[rel] = _git(repo, "rev-parse", "HEAD").strip()
    return commits


def test_bisect_finds_user_creatable_smmu(tmp_path: Path) -> None:
    have = provisioned()
    missing = [r for r in ORDER if r != "10.0.8" and r not in have]
    if missing:
        pytest.skip(f"releases not provisioned: {', '.join(missing)} (./setup.sh)")
    repo = tmp_path / "qemu"
    commits = make_repo(repo)
    scenario = tmp_path / "user_creatable.toml"
    scenario.write_text(SCENARIO)
    env = {**os.environ, "SUITE_PYTHON": sys.executable, "TMPDIR": str(tmp_path)}
    env.pop("QEMU_TEST_QEMU_BINARY", None)
    subprocess.run(["git", "-C", str(repo), "bisect", "start", commits["11.1.3-sid"],
                    commits["7.2"]], check=True, capture_output=True, env=env)
    t0 = time.monotonic()
    r = subprocess.run(
        ["git", "bisect", "run", sys.executable, "-m", "conformance", "bisect-run",
         "--build-cmd", "sh build.sh", "--qemu", "build/qemu-system-aarch64",
         "--profile", "qemu-10.1", "--scenario", f"{scenario}:smmu-user-creatable"],
        cwd=repo, capture_output=True, text=True, env=env, timeout=600)
    took = time.monotonic() - t0
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    first = re.search(r"^([0-9a-f]{40}) is the first bad commit", out, re.M)
    assert first and first[1] == commits["11.1.3"], out
    assert "pin QEMU 11.1.3" in out
    # every step ran a real build: good (0), bad (1) and the unbuildable 10.0.8 (125)
    assert "exit 0 (good" in out and "exit 1 (bad: nonconformance" in out, out
    assert "exit 125 (cannot test: build failed)" in out, out
    assert "QEMU 10.0.8: no such build" in out
    subprocess.run(["git", "-C", str(repo), "bisect", "reset"], capture_output=True)
    assert leftovers(tmp_path) == []
    print(f"\n{out}\nbisection: {took:.1f} s")
