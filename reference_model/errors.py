"""The reference model's error root.

Every error the model raises on purpose (a command line, profile or type table it does
not cover) derives from :class:`ModelError`, so a caller can tell "the model does not
cover this" from a bug in the model.
"""


class ModelError(Exception):
    """Root of every error the reference model raises on purpose."""
