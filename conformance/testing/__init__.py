"""Test-only hooks into the harness (fault injection); never used in production runs."""
