"""§7a (rules/invalidation.py): which commands an accel SMMU forwards.

Strings marked TCG✔ were also checked against QEMU 11.1.3 (``docs/model.md``).
"""

from __future__ import annotations

from reference_model.rules import invalidation


def test_forwarded_commands() -> None:
    assert invalidation.forwarded("CMD_TLBI_NH_ASID", True, False, False)
    assert not invalidation.forwarded("CMD_CFGI_CD", True, False, False)
    assert invalidation.forwarded("CMD_ATC_INV", True, True, True)
    assert not invalidation.forwarded("CMD_CFGI_STE", True, True, True)
