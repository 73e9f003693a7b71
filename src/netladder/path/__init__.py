"""Path check: traceroute and mtr-style per-hop statistics, with a verdict.

The programmatic API is `netladder.path.engine.trace` (async) → `TraceResult`; the data types
are in `netladder.path.model`, statistics in `.stats`, the verdict in `.verdict`.
"""
