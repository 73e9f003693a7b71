"""One module per command, each with `register(parser)` and `run(args) -> int`."""
