"""Harness tools used by front ends: choosing the binary, fingerprinting a build, flakes."""
