"""Benchmarks: netladder beside its anchor tools, in the lab, reported as medians and ratios."""
