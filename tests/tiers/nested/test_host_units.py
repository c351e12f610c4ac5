"""Unit tests of the nested host's pure parts (no L1 needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.tiers.nested import machine
from conformance.tiers.nested.host import NestedHost, _listening

HEADER = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
          "   uid  timeout inode\n")


def test_listening_only_in_listen_state() -> None:
    listen = "   0: 00000000:115C 00000000:0000 0A 00000000:00000000 00:00000000 00000000\n"
    time_wait = "   1: 0F02000A:115C 0202000A:C350 06 00000000:00000000 03:00000E1B 00000000\n"
    other = "   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000\n"
    assert _listening(HEADER + listen)
    assert not _listening(HEADER + time_wait + other)
    assert not _listening(HEADER)


def test_l0_argv_is_loopback_only_and_names_the_agent_port(tmp_path: Path) -> None:
    argv = machine.l0_argv("qemu", "fw.fd", "Image", "initrd", tmp_path / "qga.sock",
                           tmp_path / "console.log", 40000)
    joined = " ".join(argv)
    assert "hostfwd=tcp:127.0.0.1:40000-10.0.2.15:4444" in joined
    assert "restrict=on" in joined
    assert "name=org.qemu.guest_agent.0" in joined
    assert "virt,virtualization=on,gic-version=3,iommu=smmuv3" in joined
    assert "e1000e,bus=l0rp0,romfile=" in joined


def test_bad_image_choice_is_an_unavailable_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMMUV3_NESTED_IMAGE", "bogus")
    h = NestedHost()
    assert h.unavailable_reason() == ("SMMUV3_NESTED_IMAGE='bogus' is not one of "
                                      "stock, iommufd, auto")


def test_missing_image_says_how_to_build(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    monkeypatch.setenv("SMMUV3_CONFORMANCE_CACHE", str(tmp_path))
    h = NestedHost(image="iommufd")
    assert h.unavailable_reason() == ("nested tier: image 'iommufd' is not built "
                                      "(run: python -m images build iommufd)")
