"""Choosing the binary: one-line errors for a missing, non-QEMU or directory path."""

from pathlib import Path

import pytest

from conformance.errors import BinaryError
from conformance.tools.qemu_binary import ENV_VAR, choose, resolve_path


def test_explicit_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "/from/env")
    assert resolve_path("/from/flag") == (Path("/from/flag"), "--qemu")
    assert resolve_path(None) == (Path("/from/env"), ENV_VAR)


def test_missing_binary(tmp_path: Path) -> None:
    with pytest.raises(BinaryError, match=r"no such file"):
        choose(str(tmp_path / "qemu-system-aarch64"))


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(BinaryError, match="is a directory"):
        choose(str(tmp_path))


def test_not_qemu(tmp_path: Path) -> None:
    fake = tmp_path / "qemu-system-aarch64"
    fake.write_text("#!/bin/sh\necho hello\n")
    fake.chmod(0o755)
    with pytest.raises(BinaryError, match="not a QEMU system emulator") as e:
        choose(str(fake))
    assert "\n" not in str(e.value)
