"""The rule registry (rules/__init__.py): every rule names its catalogue row.

Strings marked TCG✔ were also checked against QEMU 11.1.3 (``docs/model.md``).
"""

from __future__ import annotations

from reference_model import PROFILES
from reference_model.rules import RULES


def test_every_rule_names_a_catalogue_row() -> None:
    assert all(r.row and r.source for r in RULES.values())
    assert set(PROFILES) >= {"qemu-11.1", "merged-v9", "series-v4"}
