"""Artefacts the harness runs on: the provisioned QEMU builds and the nested tier's images.

Lookup only (where is it, is it there, install it from the cache); the image *builders*
live in the top-level ``images`` package, which may import ``conformance.tiers.nested``
to boot L1.  Nothing here imports ``conformance`` or ``images``.
"""
