"""Benchmarks: scripts that drive the real server and print measured figures."""
