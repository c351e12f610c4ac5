"""Tests of conformance/tools/."""
