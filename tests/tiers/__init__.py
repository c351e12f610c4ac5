"""Tests of conformance/tiers/."""
