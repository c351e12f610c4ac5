"""Tests of conformance/frontends/ (CLI, pytest plugin, TAP, avocado, bisect, HTML)."""
