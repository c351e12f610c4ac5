"""The model's exceptions: one root, :class:`ModelError`.

Every error the model raises on purpose derives from :class:`ModelError`; anything else
that escapes :func:`~reference_model.predict` is a bug in the model.  A caller that
runs the model on arbitrary input (the harness, ``explain``, a fuzzer) catches
``ModelError`` as "the model does not cover this" and lets everything else surface.

The hierarchy::

    ValueError
     └── ModelError            the model refuses its input (one-line message)
          ├── CmdlineError     a command line the model does not cover (another machine
          │                    type, JSON -device, a non-PCI device...), or QEMU's own
          │                    option-syntax error (``qemu_text``: what QEMU prints)
          ├── ProfileError     an unknown profile name (the message lists the known ones)
          ├── TypeHierarchyError
          │                    a QOM type table that cannot be read (qom-list-types
          │                    output or a JSON file)
          └── GuestModelError  a guest step list the guest model does not cover

``ModelError`` is a ``ValueError`` so that callers written before it existed (``except
ValueError``) keep working.  Each subclass is defined beside the code that raises it
(:mod:`.cmdline`, :mod:`.profiles`, :mod:`.qom`, :mod:`.guest`) and re-exported by the
package.

Not here: ``ScenarioError`` (a scenario file that does not parse) belongs to the
scenario/prediction contract, not to the model.
"""

from __future__ import annotations

__all__ = ["ModelError"]


class ModelError(ValueError):
    """The model refuses its input; the message is one line that names what."""
