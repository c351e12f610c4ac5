"""Tests of the harness core: select, judge, the status table."""
