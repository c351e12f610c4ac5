"""Tests of catalogue/ (the scenario contract and vocabulary)."""
