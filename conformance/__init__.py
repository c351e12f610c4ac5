"""The conformance harness: runs real QEMU, observes it, asks the model, judges.

Layers, each importing only the ones below it (docs/architecture.md):

* :mod:`conformance.frontends`: the CLI commands, pytest plugin, avocado recipe, text/
  TAP/HTML reports (renderings of :class:`~conformance.result.Verdict`);
* :mod:`conformance.tools`: choosing the binary, fingerprinting a build, flakiness;
* the core: :mod:`~conformance.select` (which scenarios; the model's prediction for a
  scenario on a tier), :mod:`~conformance.runner` (one QMP session per scenario),
  :mod:`~conformance.classify`, :mod:`~conformance.interrupt`,
  :mod:`~conformance.normalise`, :mod:`~conformance.compare`,
  :mod:`~conformance.result` (the verdict and the one STATUS table),
  :mod:`~conformance.errors` (the ``HarnessError`` tree);
* :mod:`conformance.observe`: one observer per observable (``OBSERVERS``);
* :mod:`conformance.tiers`: where QEMU runs (``TIERS`` registry; hosts declare
  features; one reaper);
* :mod:`conformance.session`: the typed QMP session (``qemu.qmp``).

Below the harness: ``catalogue`` (the scenario/prediction contract and vocabulary),
``reference_model`` and ``artefacts``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conformance.result import STATUS, Verdict
    from conformance.select import load, predict_for

__all__ = ["STATUS", "Verdict", "load", "predict_for"]

#: the package face, imported on first use (PEP 562): ``import conformance.launcher``
#: must not pull in ``qemu.qmp``, since it runs before the interpreter is known to be the
#: project's (conformance/launcher.py), and a front end pays only for what it uses
_FACE = {"STATUS": "conformance.result", "Verdict": "conformance.result",
         "load": "conformance.select", "predict_for": "conformance.select"}


def __getattr__(name: str) -> Any:
    if name in _FACE:
        return getattr(importlib.import_module(_FACE[name]), name)
    raise AttributeError(f"module 'conformance' has no attribute {name!r}")
