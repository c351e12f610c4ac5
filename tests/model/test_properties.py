"""§2a properties (rules/properties.py): parsing, QDict order, validation, qom-get
values.

Strings marked TCG✔ were also checked against QEMU 11.1.3 (``docs/model.md``).
"""

from __future__ import annotations

import pytest

from reference_model.rules.properties import qdict_order

from .helpers import SMMU, run


@pytest.mark.parametrize(("opt", "msg"), [
    ("oas=32", "QEMU SMMUv3 model only implements auto, 44 bit, or 48 bit OAS. Other OasMode "
               "values are not supported."),
    ("oas=64", "Parameter 'oas' does not accept value '64'"),
    ("oas=48", "oas must be 44 bits when accel=off"),
    ("ril=off", "ril can only be disabled if accel=on"),
    ("ats=on", "ats can only be enabled if accel=on"),
    ("ssidsize=8", "ssidsize can only be greater than 0 bits if accel=on"),
    ("cmdqv=on", "cmdqv can only be enabled if accel=on"),
    ("accel=auto", "Parameter 'accel' expects 'on' or 'off'"),
    ("identifier=256", "Parameter 'identifier' expects uint8_t"),
    ("foo=1", "Property 'arm-smmuv3.foo' not found"),
    # validation order: oas range > ril > ats > oas > ssidsize > cmdqv (TCG✔)
    ("oas=32,ril=off", "QEMU SMMUv3 model only implements auto, 44 bit, or 48 bit OAS. "
                       "Other OasMode values are not supported."),
    ("ats=on,ril=off", "ril can only be disabled if accel=on"),
    ("oas=48,ats=on", "ats can only be enabled if accel=on"),
    ("ssidsize=3,oas=48", "oas must be 44 bits when accel=off"),
    ("cmdqv=on,ssidsize=3", "ssidsize can only be greater than 0 bits if accel=on"),
    # parse order is QDict bucket order, not command-line order (TCG✔)
    ("ssidsize=21,oas=64", "Parameter 'oas' does not accept value '64'"),
    ("ril=maybe,cmdqv=maybe", "Parameter 'cmdqv' does not accept value 'maybe'"),
])
def test_property_errors(opt: str, msg: str) -> None:
    p = run(f"virt -device {SMMU},{opt}")
    assert (p.outcome, p.error) == ("exits", f"-device {SMMU},{opt}: {msg}")


def test_merged_messages() -> None:
    p = run(f"virt -device {SMMU},oas=48", profile="merged-v9")
    assert p.error == f"-device {SMMU},oas=48: OAS must be 44 bits when accel=off"
    p = run(f"virt -device {SMMU},ril=auto", profile="merged-v9")
    assert p.error == f"-device {SMMU},ril=auto: Parameter 'ril' expects 'on' or 'off'"


def test_global_errors_and_unused_warning() -> None:
    p = run(f"virt -global arm-smmuv3.oas=64 -device {SMMU}")
    assert p.error == (f"-device {SMMU}: can't apply global arm-smmuv3.oas=64: "
                       "Parameter 'oas' does not accept value '64'")
    p = run("virt -global arm-smmuv3.accel=on")
    assert p.warnings == ["warning: global arm-smmuv3.accel=on not used"]


def test_qom_values_non_accel() -> None:
    p = run(f"virt -device {SMMU},smmu_per_bus=false")
    assert p.smmus is not None
    props = p.smmus["smmu0"].properties
    assert props is not None
    assert props["smmu_per_bus"] is True  # virt forces it (TCG✔)
    assert {k: props[k] for k in ("ats", "ril", "oas", "ssidsize", "cmdqv")} == dict.fromkeys(
        ("ats", "ril", "oas", "ssidsize", "cmdqv"), "auto")
    assert (props["accel"], props["msi-gpa"], props["stage"]) == (False, 0, "")


def test_qdict_order_is_bucket_order() -> None:
    assert qdict_order(("ssidsize", "oas", "primary-bus", "foo")) == (
        "oas", "ssidsize", "primary-bus", "foo")
