"""Benchmark cases: every module here defines CASES, a list of harness.Case."""
