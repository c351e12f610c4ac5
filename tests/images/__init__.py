"""Tests of the images/ builders (units that need no L1 boot)."""
