# ruff: noqa: E501 - catalogue strings stay on one line so they can be grepped
"""The option loop and QemuOpts (cmdline.py, rules/qdev.py F.option/F.machine):
command-line errors with QEMU's texts, and what the model does not cover.

Strings marked TCG✔ were also checked against QEMU 11.1.3 (``docs/model.md``).
"""

from __future__ import annotations

import pytest

from reference_model import CmdlineError, predict
from reference_model.cmdline import split_opts

from .helpers import SMMU, TCG, run


@pytest.mark.parametrize(("argv", "msg"), [
    (["-M", "virt", "-foo"], "-foo: invalid option"),
    (["-M", "virt", "-device"], "-device: requires an argument"),
    (["-M", "nosuch"], 'unsupported machine type: "nosuch"\nUse -machine help to list '
                       "supported machines"),
    (["-M", "virt,foo=1"], "Property 'virt-11.1-machine.foo' not found"),
    (["-M", "virt,iommu=bogus"], "Invalid iommu value\nValid values are none, smmuv3."),
    (["-M", "virt", "-device", "nosuch"], "-device nosuch: 'nosuch' is not a valid device model name"),
    (["-M", "virt", "-device", "e1000e,bus=nobus"], "-device e1000e,bus=nobus: Bus 'nobus' not found"),
    (["-M", "virt", "-device", "arm-smmuv3,primary-bus=nobus"],
     "-device arm-smmuv3,primary-bus=nobus: Device 'nobus' not found"),
    (["-M", "virt,gic-version=2,msi=its"], "GICv2 + ITS is an invalid configuration."),
])
def test_command_line_errors(argv: list[str], msg: str) -> None:
    p = predict([*TCG, *argv])
    assert (p.outcome, p.exit_code, p.error) == ("exits", 1, msg)


def test_comma_escape_and_bool_spellings() -> None:
    p = run(f"virt -device {SMMU},accel=yes")
    assert p.error is not None and "requires KVM" in p.error
    assert split_opts("e1000e,id=n,romfile=a,,b,x-y", "driver") == (
        ("driver", "e1000e"), ("id", "n"), ("romfile", "a,b"), ("x-y", "on"))
    p = run("virt -device virtio-rng-pci,id=a,,b")
    assert p.error is not None and p.error.endswith("Parameter 'id' expects an identifier\n"
        "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.")


def test_model_limits_are_errors() -> None:
    with pytest.raises(CmdlineError, match="only the virt machine"):
        predict(["-M", "sbsa-ref"])
