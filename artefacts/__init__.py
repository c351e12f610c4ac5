"""Artefacts the harness runs on: the provisioned QEMU builds and the nested tier's images.

Lookup and installation from the cache only: :mod:`artefacts.provision` (QEMU 11.1.3
from Debian into a private prefix, ``python -m conformance provision``) and
:mod:`artefacts.images` (where a built L1 image is).  The image *builders* live in the
top-level ``images`` package, which may import ``conformance.tiers.nested`` to boot L1;
nothing here imports ``conformance`` or ``images``, so the harness can depend on this
package without a cycle.

Errors, one root (the harness turns them into skip reasons or usage errors where it
meets them)::

    ArtefactError
     +-- artefacts.provision.ProvisionError   apt, dpkg-deb or the launcher failed
     +-- images.ImageError                    building an L1 image failed
"""

from __future__ import annotations


class ArtefactError(RuntimeError):
    """Root of the artefact errors; ``str()`` is one line saying what and why."""


__all__ = ["ArtefactError"]
