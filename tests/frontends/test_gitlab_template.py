"""``.gitlab/conformance.yml``: the GitLab CI template, checked here without GitLab.

The structure GitLab relies on is checked on the parsed YAML (``parallel``, the
``--shard $CI_NODE_INDEX/$CI_NODE_TOTAL`` option, artefacts uploaded ``when: always``,
the JUnit report, the caches); then the jobs' ``script`` sections are executed by bash
the way a GitLab runner does (one shell per job, ``CI_*`` variables set, the suite
already checked out, so ``before_script``'s apt/clone/venv are not repeated), on real
QEMU 11.1.3 over one catalogue file: two pipelines in a row, the second balanced by
the durations the first one left.  The merged report must equal one unsharded run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.frontends.conftest import REPO, leftovers, run_cli

yaml = pytest.importorskip("yaml")
TEMPLATE = REPO / ".gitlab" / "conformance.yml"
SCENARIOS = "--scenario preconditions.toml"


def load() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(TEMPLATE.read_text())
    return data


def job(data: dict[str, Any], name: str) -> dict[str, Any]:
    """A job with its ``extends`` chain resolved (GitLab merges hashes key by key)."""
    j = dict(data[name])
    parent = j.pop("extends", None)
    if parent is None:
        return j
    base = job(data, parent)
    merged = {**base, **j}
    if "variables" in base or "variables" in j:
        merged["variables"] = {**base.get("variables", {}), **j.get("variables", {})}
    return merged


def test_template_structure() -> None:
    data = load()
    tcg, nested, report = (job(data, n) for n in ("smmuv3-conformance-tcg",
                                                   "smmuv3-conformance-nested",
                                                   "smmuv3-conformance-report"))
    assert tcg["parallel"] >= 2 and nested["parallel"] >= 2
    assert nested["variables"]["SMMUV3_TIER"] == "nested"
    assert nested["rules"] == [{"if": '$SMMUV3_NESTED == "1"'}]
    script = "\n".join(tcg["script"])
    assert '--shard "$CI_NODE_INDEX/$CI_NODE_TOTAL"' in script
    assert tcg["artifacts"]["when"] == "always" and report["artifacts"]["when"] == "always"
    assert report["artifacts"]["reports"]["junit"] == "smmuv3-report/junit.xml"
    assert "conformance merge" in "\n".join(report["script"])
    prepare = job(data, "smmuv3-conformance-prepare")
    (main_cache, _) = prepare["cache"]
    assert main_cache["policy"] == "pull-push"  # only prepare pushes QEMU and images
    assert all(c.get("policy", "pull") == "pull" for c in tcg["cache"])
    cached = set(main_cache["paths"])
    assert ".cache/accel-smmuv3-conformance/images/iommufd/" in cached
    assert not any("kernel-src" in p or "kernel-build" in p for p in cached)


def run_job(data: dict[str, Any], name: str, project: Path, env: dict[str, str]
            ) -> subprocess.CompletedProcess[str]:
    """Run a job's ``script`` like a GitLab shell executor: one bash, ``set -e``-style
    (each line must succeed), in ``$CI_PROJECT_DIR``."""
    lines = job(data, name)["script"]
    body = "set -eo pipefail\n" + "\n".join(lines) + "\n"
    return subprocess.run(["bash", "-c", body], cwd=project, env=env, capture_output=True,
                          text=True, timeout=600)


def pipeline(data: dict[str, Any], project: Path, qemu: str, n: int) -> dict[str, str]:
    """prepare, N tcg shards, report: what GitLab would run (artefacts and caches are
    the same folders here).  Returns the report job's output."""
    env = {**os.environ, "CI_PROJECT_DIR": str(project), "SMMUV3_CONFORMANCE_DIR": str(REPO),
           "SMMUV3_QEMU": qemu, "SMMUV3_NESTED": "0", "SMMUV3_CONFORMANCE_ARGS": SCENARIOS,
           "SMMUV3_TIER": "tcg", "TMPDIR": str(project)}
    env.pop("QEMU_TEST_QEMU_BINARY", None)
    r = run_job(data, "smmuv3-conformance-prepare", project, env)
    assert r.returncode == 0, r.stderr
    for k in range(1, n + 1):
        r = run_job(data, "smmuv3-conformance-tcg", project,
                    {**env, "CI_NODE_INDEX": str(k), "CI_NODE_TOTAL": str(n)})
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        assert f"shard {k}/{n} (tcg) exit " in r.stdout
    r = run_job(data, "smmuv3-conformance-report", project, env)
    return {"rc": str(r.returncode), "stdout": r.stdout, "stderr": r.stderr}


def test_template_jobs_on_real_qemu(qemu_11: str, tmp_path: Path) -> None:
    data = load()
    n = job(data, "smmuv3-conformance-tcg")["parallel"]
    whole = run_cli("run", "--qemu", qemu_11, "--tier", "tcg", SCENARIOS.split()[0],
                    SCENARIOS.split()[1], "--json", tmpdir=tmp_path)
    one_run = [(v["tier"], v["scenario"], v["status"]) for v in json.loads(whole.stdout)]
    project = tmp_path / "project"
    project.mkdir()
    first = pipeline(data, project, qemu_11, n)
    assert first["rc"] == str(whole.returncode), first
    merged = json.loads((project / "smmuv3-report" / "verdicts.json").read_text())
    assert [(v["tier"], v["scenario"], v["status"]) for v in merged] == one_run
    assert (project / "smmuv3-report" / "junit.xml").exists()
    # the next pipeline balances with the durations the report job cached
    assert (project / ".smmuv3-durations" / "verdicts.json").exists()
    for d in ("smmuv3-shards", "smmuv3-report", "smmuv3-pipeline", "smmuv3-logs"):
        shutil.rmtree(project / d)
    second = pipeline(data, project, qemu_11, n)
    assert second["rc"] == first["rc"], second
    manifest = json.loads((project / "smmuv3-shards" / "tcg-1" / "shard.json").read_text())
    assert manifest["durations_from"] == [str(project / "smmuv3-pipeline" / "durations.json")]
    merged = json.loads((project / "smmuv3-report" / "verdicts.json").read_text())
    assert [(v["tier"], v["scenario"], v["status"]) for v in merged] == one_run
    assert leftovers(project) == []
