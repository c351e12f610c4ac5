"""The probe classes of issue #11: nothing a user types may mislead CI or ``git bisect``.

One section per class; each test failed before its fix.  Most cases end before any QEMU
starts (that is the point), so they are cheap; the rest use the provisioned 11.1.3.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from catalogue.scenario import Scenario
from conformance.runner import Runner
from conformance.strays import qemu_processes
from conformance.testing.faults import hung_binary, leaks
from conformance.tiers.local import LocalHost

ROOT = Path(__file__).resolve().parents[2]
P1 = "preconditions.toml:p1-accel-on-tcg"


def cli(*args: str, tmp: Path | None = None, stdout: Any = subprocess.PIPE,
        timeout: float = 120, command: str = "run") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    return subprocess.run([sys.executable, "-m", "conformance", command, *args], cwd=ROOT,
                          env=env, stdout=stdout, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)


def one_line(r: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr[-1500:])
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def scenario_file(tmp_path: Path, args: str, extra: str = "", name: str = "s.toml") -> Path:
    f = tmp_path / name
    f.write_text(f'[[scenario]]\nname = "s"\nrows = ["P1"]\ntiers = ["tcg"]\n'
                 f'args = {json.dumps(args)}\n{extra}')
    return f


# ----------------------------------------------------------------- 1. broken build once
@pytest.mark.parametrize("mode", ["no-socket", "no-greeting"])
def test_1_hung_build_is_probed_once_and_fast(mode: str, tmp_root: Path,
                                              tmp_path: Path) -> None:
    fake = hung_binary(tmp_path, mode)
    t0 = time.monotonic()
    r = cli("--qemu", str(fake), "--timeout", "1", "--json", "--scenario",
            "preconditions.toml", tmp=tmp_root, timeout=60)
    took = time.monotonic() - t0
    verdicts = json.loads(r.stdout)
    # the section file also holds KVM-only scenarios (the tier is a field): those are
    # skipped for the tier, before any probe; every scenario TCG can show is infra-error
    shown = [v for v in verdicts if not v["reason"].startswith("tier 'tcg' cannot show")]
    assert r.returncode == 1 and len(shown) > 20
    assert {v["status"] for v in shown} == {"infra-error"}
    assert r.stderr.count("capability probe failed") == 1, r.stderr
    assert took < 20, f"{took:.1f} s: the probe was repeated (or waited 30 s)"
    assert leaks(tmp_root).count == 0


# ----------------------------------------------------------------- 2. exit codes
def test_2_invalid_utf8_is_a_usage_error(tmp_path: Path) -> None:
    f = tmp_path / "latin1.toml"
    f.write_bytes(b'[[scenario]]\nname = "caf\xe9"\n')
    one_line(cli("--scenario", str(f)), 2, "latin1.toml", "UTF-8")
    one_line(cli("--scenario", str(f), command="bisect-run"), 128, "UTF-8")
    one_line(cli("--scenario", str(f), "--bisect"), 128, "UTF-8")


def test_2_profile_checked_before_any_qemu(tmp_root: Path) -> None:
    r = cli("--scenario", "preconditions.toml", "--profile", "qemu-11.2", tmp=tmp_root)
    one_line(r, 2, "--profile qemu-11.2", "unknown profile")
    assert r.stdout == ""
    r = cli("--scenario", P1, "--profile", "pre-10.2", command="bisect-run", tmp=tmp_root)
    assert r.returncode == 128 and "unknown profile" in r.stderr, r.stderr


# ----------------------------------------------------------------- 3. -daemonize
def test_3_daemonize_refused_at_load(tmp_path: Path) -> None:
    one_line(cli("--scenario", str(scenario_file(tmp_path, "-M virt -daemonize"))), 2,
             "-daemonize", "not allowed")


def test_3_daemonized_qemu_is_contained(qemu_binary: str, tmp_root: Path) -> None:
    """Through the API (no load check) the daemon forks away; it must still not leak."""
    s = Scenario(name="d", rows=("P1",), tiers=("tcg",), argv=("-M", "virt", "-daemonize"))

    async def go() -> None:
        host = LocalHost(qemu_binary, tmp_root=str(tmp_root))
        for _ in range(3):
            await Runner(host, qemu_binary).run(s)

    asyncio.run(go())
    lk = leaks(tmp_root)
    assert lk.count == 0, str(lk)


def test_3_leak_check_sees_the_provisioned_qemu(qemu_binary: str, tmp_root: Path) -> None:
    """The provisioned QEMU runs as ld-linux: match the command line, not the name."""
    async def go() -> None:
        host = LocalHost(qemu_binary, tmp_root=str(tmp_root))
        proc = await host.start(["-M", "none"])
        try:
            # the provisioned binary is a sh wrapper that execs the loader: until it has,
            # the process is "sh ..." (a window that grows with the machine's load)
            deadline = time.monotonic() + 10.0
            found = qemu_processes(f"{tmp_root}/")
            while not found and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
                found = qemu_processes(f"{tmp_root}/")
            assert [p for p, _ in found] == [proc.pid]
            assert leaks(tmp_root).processes
        finally:
            await proc.terminate()

    asyncio.run(go())
    assert not qemu_processes(f"{tmp_root}/")


# ----------------------------------------------------------------- 4. --log-dir
@pytest.mark.parametrize("target", ["file", "under-file"])
def test_4_unusable_log_dir_exits_2_before_qemu(target: str, tmp_path: Path) -> None:
    f = tmp_path / "regular"
    f.write_text("x")
    r = cli("--scenario", P1, "--log-dir", str(f if target == "file" else f / "logs"))
    one_line(r, 2, "--log-dir")
    assert r.stdout == ""


def test_4_stale_verdicts_cleared_and_second_run_refused(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    stale = logs / "tcg" / "old-scenario"
    stale.mkdir(parents=True)
    (stale / "verdict.json").write_text('{"status": "pass"}')
    r = cli("--scenario", P1, "--log-dir", str(logs))
    assert r.returncode == 0, r.stderr
    assert not stale.exists()
    assert (logs / "tcg" / "p1-accel-on-tcg" / "verdict.json").exists()
    fd = os.open(logs / ".smmuv3-conformance.lock", os.O_RDWR)
    try:  # another run holds the directory
        fcntl.flock(fd, fcntl.LOCK_EX)
        one_line(cli("--scenario", P1, "--log-dir", str(logs)), 2, "another run")
    finally:
        os.close(fd)


# ----------------------------------------------------------------- 5. output errors
def test_5_full_disk_and_closed_stdout_exit_2() -> None:
    with open("/dev/full", "w") as full:
        one_line(cli("--scenario", P1, "--json", stdout=full), 2, "No space left")
    r = subprocess.run(["/bin/sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m",
                        "conformance", "run", "--scenario", P1], cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    one_line(r, 2, "stdout is closed")


def test_5_closed_pipe_is_not_a_nonconformance() -> None:
    """Quiet too: QMP connections cut short by the early end must not print asyncio's
    "Task exception was never retrieved" (1 in ~10 runs before; fault injection #499)."""
    for _ in range(4):
        r, w = os.pipe()
        os.close(r)
        try:
            p = cli("--scenario", "preconditions.toml", stdout=w)
        finally:
            os.close(w)
        assert p.returncode == 141, p.stderr  # 128 + SIGPIPE, like `cat | head`
        assert p.stderr == ""


# ----------------------------------------------------------------- 6. testing nothing
def test_6_empty_file_and_typos_are_usage_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("# nothing yet\n")
    one_line(cli("--scenario", str(empty)), 2, "holds no scenarios")
    typo = scenario_file(tmp_path, "-M virt -device virtio-net-pcie", name="typo.toml")
    one_line(cli("--scenario", str(typo)), 2, "virtio-net-pcie", "did you mean 'virtio-net-pci'")
    ev = scenario_file(tmp_path, "-M virt", 'events = [{device_add = {driver = "e1000ee"}}]\n',
                       name="ev.toml")
    one_line(cli("--scenario", str(ev)), 2, "e1000ee")
    num = tmp_path / "num.toml"
    num.write_text('[[scenario]]\nname = "s"\nrows = ["P1"]\ntiers = ["tcg"]\n'
                   'args = ["-M", "virt", "-m", 512]\n')
    one_line(cli("--scenario", str(num)), 2, "field 'args'", "512")


def test_6_property_no_build_has_is_predicted_not_skipped() -> None:
    r = cli("--json", "--", "-M", "virt", "-device",
            "arm-smmuv3,primary-bus=pcie.0,accel=on,pasid=on")
    (v,) = json.loads(r.stdout)
    assert v["status"] == "pass", v["reason"]
    assert "Property 'arm-smmuv3.pasid' not found" in v["observation"]["error"]


# ----------------------------------------------------------------- 7. owned/unmodelled
@pytest.mark.parametrize("opt", ["-D /tmp/x.log", "-qtest unix:/tmp/q", "-qmp stdio",
                                 "-monitor stdio", "-daemonize", "-pidfile /tmp/p",
                                 "-trace smmu_add_mr", "-chroot /"])
def test_7_harness_owned_options_refused(opt: str, tmp_path: Path) -> None:
    one_line(cli("--scenario", str(scenario_file(tmp_path, f"-M virt {opt}"))), 2,
             opt.split()[0], "not allowed")
    one_line(cli("--", "-M", "virt", *opt.split()), 2, opt.split()[0])


@pytest.mark.parametrize("args", [["-display", "gtk"], ["-readconfig", "/dev/null"],
                                  ["disk.img"],
                                  ["-chardev", "socket,id=c0,path=/tmp/c0.sock,server=on"]])
def test_7_unmodelled_options_are_not_covered(args: list[str], tmp_root: Path) -> None:
    r = cli("--json", "--", "-M", "virt", *args, tmp=tmp_root)
    (v,) = json.loads(r.stdout)
    assert v["status"] == "not-covered", v
    assert r.returncode == 0
    assert leaks(tmp_root).count == 0


def test_7_device_add_values_are_qmp_scalars(tmp_path: Path) -> None:
    f = scenario_file(tmp_path, "-M virt", 'events = [{device_add = {driver = '
                      '"virtio-net-pci", id = "n0", bus = ["pcie.0"]}}]\n')
    one_line(cli("--scenario", str(f)), 2, "argument 'bus'", "list")


# ----------------------------------------------------------------- 8. trust model
@pytest.mark.parametrize("opt", ["-serial file:{d}/serial.log",
                                 "-device loader,file={d}/blob,addr=0x40000000",
                                 "-readconfig {d}/cfg", "-bios {d}/bios.bin"])
def test_8_scenario_files_may_not_name_host_paths(opt: str, tmp_path: Path) -> None:
    f = scenario_file(tmp_path, f"-M virt {opt.format(d=tmp_path)}")
    one_line(cli("--scenario", str(f)), 2, "host path", "--allow-host-paths")


def test_8_allow_host_paths_lets_qemu_write_there(tmp_path: Path, tmp_root: Path) -> None:
    out = tmp_path / "serial.log"
    f = scenario_file(tmp_path, f"-M virt -serial file:{out}")
    r = cli("--scenario", str(f), "--allow-host-paths", tmp=tmp_root)
    assert r.returncode in (0, 1), r.stderr
    assert "host path" not in r.stderr and out.exists()


# ----------------------------------------------------------------- 9. stderr summary
def test_9_large_stderr_summary() -> None:
    from conformance.classify import classify_end
    from conformance.normalise import split_stderr
    from conformance.stderr_summary import WARNINGS_KEPT, tail
    from conformance.tiers.host import ExitStatus
    from conformance.tiers.local import STDERR_READ_LIMIT

    warn = b"qemu-system-aarch64: warning: flood " + b"w" * 60 + b"\n"
    body = warn * (2 * STDERR_READ_LIMIT // len(warn))
    last = b"qemu-system-aarch64: -device x: the real error"  # no final newline
    data = body + last
    text = tail(data[-STDERR_READ_LIMIT:], len(data))
    assert text.startswith("[... ") and "dropped" in text.splitlines()[0]
    error, warnings = split_stderr(text)
    assert error == "-device x: the real error"
    assert len(warnings) == WARNINGS_KEPT + 1 and "more warning lines" in warnings[-1]
    _status, reason = classify_end(ExitStatus(code=1), text, "during 'device_add'")
    assert reason.endswith("the real error")
    # one enormous last line (longer than the read limit) is still the last line
    huge = b"qemu-system-aarch64: " + b"e" * (STDERR_READ_LIMIT + 10) + b"\n"
    t2 = tail(huge[-STDERR_READ_LIMIT:], len(huge))
    err2, _ = split_stderr(t2)
    assert err2 is not None and err2.startswith("eee")


# ----------------------------------------------------------------- 11. misc
def test_11_bad_html_dir_found_before_the_run(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    r = cli("--scenario", "preconditions.toml", "--html", str(f / "report"))
    one_line(r, 2, "--html")
    assert r.stdout == ""


def test_11_diff_names_qemu_b(tmp_path: Path) -> None:
    r = cli("--qemu-b", str(tmp_path / "nope"), "--scenario", P1, command="diff")
    one_line(r, 2, "from --qemu-b")


def test_11_arm64_binary_named_as_such(tmp_path: Path) -> None:
    import platform

    if platform.machine() == "aarch64":
        pytest.skip("this host runs aarch64 binaries")
    fake = tmp_path / "qemu-system-aarch64"
    # an ELF header for an aarch64 executable (e_machine 183), as a cross build has
    fake.write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"\x02\x00\xb7\x00"
                     + b"\0" * 44)
    fake.chmod(0o755)
    one_line(cli("--qemu", str(fake), "--scenario", P1), 2, "aarch64 executable",
             platform.machine())


def test_11_known_nonconformance_fields_validated(tmp_path: Path) -> None:
    f = scenario_file(tmp_path, "-M virt", 'nonconformance = { reason = "r", evidence = '
                      '"e", fields = ["eror"] }\n')
    one_line(cli("--scenario", str(f)), 2, "nonconformance.fields", "'eror'")


def test_11_repeated_scenario_runs_once() -> None:
    r = cli("--json", "--scenario", P1, "--scenario", P1)
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)) == 1


def test_11_bisect_errors_on_stderr(tmp_path: Path) -> None:
    r = cli("--qemu", str(tmp_path / "nope"), "--scenario", P1, command="bisect-run")
    assert r.returncode == 125
    assert r.stdout == "" and "no such file" in r.stderr


def test_11_full_temp_dir_not_blamed_on_the_binary(qemu_binary: str, tmp_root: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins
    import errno

    from conformance.errors import HostError

    real_open = builtins.open

    def full_open(file: object, *a: object, **k: object) -> object:
        if str(file).endswith("stderr.log"):
            raise OSError(errno.ENOSPC, "No space left on device", str(file))
        return real_open(file, *a, **k)  # type: ignore[call-overload]

    monkeypatch.setattr(builtins, "open", full_open)

    async def go() -> str:
        try:
            await LocalHost(qemu_binary, tmp_root=str(tmp_root)).start(["-M", "none"])
        except HostError as e:
            return str(e)
        return "started"

    msg = asyncio.run(go())
    assert "No space left" in msg and "the host, not" in msg, msg
    assert not msg.startswith(f"cannot start {qemu_binary}")
    assert leaks(tmp_root).count == 0
