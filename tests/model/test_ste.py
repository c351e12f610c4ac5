"""§5c (rules/ste.py): the STE install decision.

Strings marked TCG✔ were also checked against QEMU 11.1.3 (``docs/model.md``).
"""

from __future__ import annotations

from reference_model.rules import ste


def test_ste_install_table() -> None:
    assert ste.install_ste(True, True, True, False, False, True, 5) == "bypass"
    assert ste.install_ste(True, True, True, True, False, True, 5) == "translate"
    assert ste.install_ste(True, True, True, True, False, True, 6) is None
    assert ste.install_ste(False, True, True, True, False, True, 5) == ""
