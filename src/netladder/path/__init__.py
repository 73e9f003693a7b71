"""Path check: traceroute and mtr-style per-hop statistics, with a verdict.

`netladder.api.trace(TraceOptions)` → `TraceResult` (the coroutine is `path.trace.trace`); the
records are in `.model`, the probes per protocol in `.probes`, the sans-IO session in
`.session`, statistics in `.stats`, the verdict (a typed finding) in `.verdict`.  What a
result means in words is `netladder.render.trace`.
"""
